/* SPDX-License-Identifier: MIT */
/*
 * Host-side decompression of a Linux bzImage payload, with the Debian
 * libraries (zlib, liblzma, libzstd, liblz4, libbz2): no decoder of our own.
 * Kernel payloads carry trailing bytes after the compressed stream (the
 * build appends the decompressed size), so every decoder stops at the end of
 * its stream and ignores what follows.  The output is bounded by the caller.
 */
#ifndef MINIVMM_DECOMPRESS_H
#define MINIVMM_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

enum decompress_format {
	DECOMPRESS_UNKNOWN,
	DECOMPRESS_NONE,  /* uncompressed ELF ("\x7fELF") */
	DECOMPRESS_GZIP,  /* 1f 8b */
	DECOMPRESS_XZ,    /* fd 37 7a 58 5a 00 */
	DECOMPRESS_ZSTD,  /* 28 b5 2f fd */
	DECOMPRESS_LZMA,  /* 5d 00 00 (lzma "alone") */
	DECOMPRESS_BZIP2, /* "BZh" */
	DECOMPRESS_LZ4,   /* 02 21 4c 18: the lz4 legacy frame (lz4 -l) */
	DECOMPRESS_LZ4F,  /* 04 22 4d 18: the lz4 frame format (lz4) */
	DECOMPRESS_LZO,   /* 89 "LZO" 00 0d 0a 1a 0a: recognised, not supported */
};

/* The format of in[0, len) by its magic; DECOMPRESS_UNKNOWN when none match. */
enum decompress_format decompress_detect(const uint8_t *in, size_t len);
/* "gzip", "xz", ..., "uncompressed", "unknown". */
const char *decompress_format_name(enum decompress_format fmt);

/*
 * Decompresses in[0, len) into a malloc'd *out of *out_len bytes, at most
 * max_out.  fmt_name (may be NULL) receives the format's name.
 * Errors, each logged once: -EINVAL (unknown format, corrupt or truncated
 * stream), -ENOTSUP (a known format without a host decoder), -EFBIG (output
 * larger than max_out), -ENOMEM.  *out is untouched on failure.
 */
int decompress(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len,
	       size_t max_out, char *fmt_name, size_t fmt_len);

/*
 * One compressed member of a concatenation (an initrd): decompresses the
 * stream that starts at in[0, len) (format by magic, uncompressed ELF not
 * accepted), stops at its end and sets *used to the input bytes it took;
 * what follows may be another member, padding or junk.  what names the
 * member in messages ("initrd: gzip member at 0x200").  Errors as for
 * decompress(); an empty output is not one.
 */
int decompress_member(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len,
		      size_t max_out, size_t *used, const char *what);

#endif

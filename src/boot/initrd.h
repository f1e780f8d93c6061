/* SPDX-License-Identifier: MIT */
/*
 * Host-side initramfs decompression.  An initrd is what the kernel's
 * init/initramfs.c unpacks: newc cpio entries ("070701"/"070702") at
 * 4-byte-aligned offsets, zero padding, and compressed members (gzip, xz,
 * zstd, lz4, lzma, bzip2) whose output is again entries and padding.  Real
 * ones are concatenations: an uncompressed early-microcode archive, then a
 * compressed main archive, or several compressed members.
 *
 * initrd_unpack walks the file as the kernel would, decompresses every
 * member with the host's libraries and checks that each member's output is
 * a well-formed stream of entries.  The result is one uncompressed archive
 * in which every piece keeps its own 4-byte alignment, so the guest kernel
 * creates the same files, in the same order, without decompressing anything
 * in (slow, emulated) ring 0.  The user's file is never changed.
 */
#ifndef MINIVMM_BOOT_INITRD_H
#define MINIVMM_BOOT_INITRD_H

#include <stddef.h>
#include <stdint.h>

struct initrd_unpacked {
	/* malloc'd uncompressed archive; NULL: hand the file over untouched
	 * (it is uncompressed already, or the kernel must see it as it is). */
	uint8_t *data;
	size_t len;
	unsigned int members;         /* compressed members decompressed */
	unsigned int cpio_pieces;     /* uncompressed runs of entries */
	char formats[64];             /* "cpio + gzip", "xz", ... */
	char why_untouched[96];       /* when data is NULL: the reason */
};

/*
 * Decompresses in[0, len) (what names the file in messages) into at most
 * max_out bytes.  0 with out->data set, or 0 with out->data NULL and
 * out->why_untouched saying why the kernel gets the file as it is: already
 * uncompressed; not an initramfs (an old-style initrd image, junk after
 * the archive: the kernel's own reaction must stay the same); a member
 * format the host cannot decode (lzo).
 * Errors, one line logged naming what: -EINVAL (a member that is truncated
 * or corrupt), -EFBIG (the output would exceed max_out: a decompression
 * bomb or an initrd too large for the guest), -ENOMEM.
 */
int initrd_unpack(const uint8_t *in, size_t len, size_t max_out, const char *what,
		  struct initrd_unpacked *out) __attribute__((warn_unused_result));

#endif

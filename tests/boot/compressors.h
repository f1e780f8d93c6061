/* SPDX-License-Identifier: MIT */
/*
 * Test helpers: compress a buffer with each format the kernel (and so
 * minivmm's host-side decompression) knows, through the same libraries the
 * command-line tools use.  Streams are heap buffers with 8 spare bytes.
 */
#ifndef MINIVMM_TESTS_BOOT_COMPRESSORS_H
#define MINIVMM_TESTS_BOOT_COMPRESSORS_H

#include <bzlib.h>
#include <lz4.h>
#include <lz4frame.h>
#include <lzma.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define LZ4_MAGIC  0x184C2102u

struct stream {
	uint8_t *p;
	size_t len;
};

static inline void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline struct stream alloc_stream(size_t cap)
{
	struct stream s = { .p = malloc(cap + 8), .len = 0 };

	assert_non_null(s.p);
	return s;
}

static inline struct stream gzip_of(const uint8_t *in, size_t len)
{
	struct stream s = alloc_stream(compressBound(len) + 64);
	z_stream zs = { 0 };

	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (uint8_t *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = s.p;
	zs.avail_out = (uInt)(compressBound(len) + 64);
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	s.len = zs.total_out;
	deflateEnd(&zs);
	return s;
}

/* As the kernel: x86 BCJ filter, LZMA2, CRC32 check. */
static inline struct stream xz_of(const uint8_t *in, size_t len)
{
	size_t cap = lzma_stream_buffer_bound(len);
	struct stream s = alloc_stream(cap);
	lzma_options_lzma opt;
	lzma_filter filters[3] = {
		{ .id = LZMA_FILTER_X86 }, { .id = LZMA_FILTER_LZMA2, .options = &opt },
		{ .id = LZMA_VLI_UNKNOWN },
	};

	assert_false(lzma_lzma_preset(&opt, 6));
	assert_int_equal(lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC32, NULL, in, len,
						   s.p, &s.len, cap), LZMA_OK);
	return s;
}

/* lzma "alone", piped as the kernel does: size unknown, end marker. */
static inline struct stream lzma_alone_of(const uint8_t *in, size_t len)
{
	size_t cap = lzma_stream_buffer_bound(len);
	struct stream s = alloc_stream(cap);
	lzma_stream ls = LZMA_STREAM_INIT;
	lzma_options_lzma opt;

	assert_false(lzma_lzma_preset(&opt, 6));
	assert_int_equal(lzma_alone_encoder(&ls, &opt), LZMA_OK);
	ls.next_in = in;
	ls.avail_in = len;
	ls.next_out = s.p;
	ls.avail_out = cap;
	assert_int_equal(lzma_code(&ls, LZMA_FINISH), LZMA_STREAM_END);
	s.len = ls.total_out;
	lzma_end(&ls);
	return s;
}

/* With the content checksum, as the zstd command line writes it. */
static inline struct stream zstd_of(const uint8_t *in, size_t len)
{
	size_t cap = ZSTD_compressBound(len);
	struct stream s = alloc_stream(cap);
	ZSTD_CCtx *cctx = ZSTD_createCCtx();

	assert_non_null(cctx);
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 19)));
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)));
	s.len = ZSTD_compress2(cctx, s.p, cap, in, len);
	assert_false(ZSTD_isError(s.len));
	ZSTD_freeCCtx(cctx);
	return s;
}

static inline struct stream bzip2_of(const uint8_t *in, size_t len)
{
	unsigned int cap = (unsigned int)(len + len / 100 + 600);
	struct stream s = alloc_stream(cap);

	assert_int_equal(BZ2_bzBuffToBuffCompress((char *)s.p, &cap, (char *)(uintptr_t)in,
						  (unsigned int)len, 9, 0, 0), BZ_OK);
	s.len = cap;
	return s;
}

static inline void lz4_block(struct stream *s, const uint8_t *in, int len)
{
	int n = LZ4_compress_default((const char *)in, (char *)s->p + s->len + 4, len,
				     LZ4_compressBound(len));

	assert_true(n > 0);
	put_le32(s->p + s->len, (uint32_t)n);
	s->len += 4 + (size_t)n;
}

/* The legacy frame ("lz4 -l"), built by hand around two blocks. */
static inline struct stream lz4_of(const uint8_t *in, size_t len)
{
	size_t half = len / 3;
	struct stream s = alloc_stream(4 + 2 * (4 + (size_t)LZ4_COMPRESSBOUND(len)));

	put_le32(s.p, LZ4_MAGIC);
	s.len = 4;
	lz4_block(&s, in, (int)half);
	lz4_block(&s, in + half, (int)(len - half));
	return s;
}

/* The lz4 frame format (plain "lz4"), content checksum on. */
static inline struct stream lz4f_of(const uint8_t *in, size_t len)
{
	LZ4F_preferences_t prefs = { .frameInfo = { .contentChecksumFlag = LZ4F_contentChecksumEnabled } };
	size_t cap = LZ4F_compressFrameBound(len, &prefs);
	struct stream s = alloc_stream(cap);

	s.len = LZ4F_compressFrame(s.p, cap, in, len, &prefs);
	assert_false(LZ4F_isError(s.len));
	return s;
}

#endif

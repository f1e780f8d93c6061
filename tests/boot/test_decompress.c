// SPDX-License-Identifier: MIT
/*
 * Host-side decompression: format detection by magic, and round trips for
 * every format through the same libraries' compressors, each stream followed
 * by the 4-byte size the kernel build appends.  Inputs are heap copies of
 * their exact length so ASan catches any read past the end.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/decompress.h"
#include "compressors.h"
#include "base/util.h"

#define DATA_LEN   (300u * 1024)

static uint8_t data[DATA_LEN];

/* Compressible but not trivial: an ELF-looking start, text and noise. */
static void make_data(void)
{
	uint32_t x = 12345;

	for (size_t i = 0; i < DATA_LEN; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (i % 64 < 48) ? (uint8_t)("minivmm boots linux "[i % 20])
					: (uint8_t)(x >> 24);
	}
	memcpy(data, "\x7f" "ELF\x02\x01\x01", 7);
}

/* Appends the decompressed size, as the kernel's size_append does. */
static void append_size(struct stream *s)
{
	put_le32(s->p + s->len, DATA_LEN);
	s->len += 4;
}

static struct stream gzip_stream(void) { return gzip_of(data, DATA_LEN); }
static struct stream xz_stream(void) { return xz_of(data, DATA_LEN); }
static struct stream lzma_stream_alone(void) { return lzma_alone_of(data, DATA_LEN); }
static struct stream zstd_stream(void) { return zstd_of(data, DATA_LEN); }
static struct stream bzip2_stream(void) { return bzip2_of(data, DATA_LEN); }
static struct stream lz4_stream(void) { return lz4_of(data, DATA_LEN); }
static struct stream lz4f_stream(void) { return lz4f_of(data, DATA_LEN); }

static const struct {
	enum decompress_format fmt;
	const char *name;
	struct stream (*make)(void);
} formats[] = {
	{ DECOMPRESS_GZIP, "gzip", gzip_stream },
	{ DECOMPRESS_XZ, "xz", xz_stream },
	{ DECOMPRESS_LZMA, "lzma", lzma_stream_alone },
	{ DECOMPRESS_ZSTD, "zstd", zstd_stream },
	{ DECOMPRESS_BZIP2, "bzip2", bzip2_stream },
	{ DECOMPRESS_LZ4, "lz4", lz4_stream },
	{ DECOMPRESS_LZ4F, "lz4 frame", lz4f_stream },
};
#define NR_FORMATS ARRAY_SIZE(formats)

/* Decompresses an exact-length copy of in[0, len). */
static int run(const uint8_t *in, size_t len, size_t max, uint8_t **out, size_t *out_len,
	       char *name)
{
	uint8_t *copy = malloc(len ? len : 1);
	int err;

	assert_non_null(copy);
	memcpy(copy, in, len);
	err = decompress(copy, len, out, out_len, max, name, 16);
	free(copy);
	return err;
}

static void test_detect(void **state)
{
	static const struct {
		const char *magic;
		size_t len;
		enum decompress_format fmt;
	} cases[] = {
		{ "\x1f\x8b\x08", 3, DECOMPRESS_GZIP },
		{ "\xfd" "7zXZ\0\0", 7, DECOMPRESS_XZ },
		{ "\x28\xb5\x2f\xfd", 4, DECOMPRESS_ZSTD },
		{ "\x5d\0\0\x80\0", 5, DECOMPRESS_LZMA },
		{ "BZh9", 4, DECOMPRESS_BZIP2 },
		{ "\x02\x21\x4c\x18", 4, DECOMPRESS_LZ4 },
		{ "\x04\x22\x4d\x18", 4, DECOMPRESS_LZ4F },
		{ "\x89LZO\0\r\n\x1a\n", 9, DECOMPRESS_LZO },
		{ "\x7f" "ELF\x02", 5, DECOMPRESS_NONE },
		/* Cut short or off by one byte. */
		{ "\x1f", 1, DECOMPRESS_UNKNOWN },
		{ "\xfd" "7zXZ", 5, DECOMPRESS_UNKNOWN },
		{ "\xfd" "7zXZ\1", 6, DECOMPRESS_UNKNOWN },
		{ "\x28\xb5\x2f", 3, DECOMPRESS_UNKNOWN },
		{ "\x5d\0\1", 3, DECOMPRESS_UNKNOWN },
		{ "BZ", 2, DECOMPRESS_UNKNOWN },
		{ "\x02\x21\x4c\x19", 4, DECOMPRESS_UNKNOWN },
		{ "\x89LZO\0\r\n\x1a", 8, DECOMPRESS_UNKNOWN },
		{ "\x7f" "ELG", 4, DECOMPRESS_UNKNOWN },
		{ "", 0, DECOMPRESS_UNKNOWN },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t *p = malloc(cases[i].len + 1);

		memcpy(p, cases[i].magic, cases[i].len);
		if (decompress_detect(p, cases[i].len) != cases[i].fmt)
			fail_msg("case %zu detected as %s", i,
				 decompress_format_name(decompress_detect(p, cases[i].len)));
		free(p);
	}
	for (size_t i = 0; i < NR_FORMATS; i++)
		assert_string_equal(decompress_format_name(formats[i].fmt), formats[i].name);
	assert_string_equal(decompress_format_name(DECOMPRESS_NONE), "uncompressed");
	assert_string_equal(decompress_format_name(DECOMPRESS_UNKNOWN), "unknown");
}

static void test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < NR_FORMATS; i++) {
		struct stream s = formats[i].make();
		uint8_t *out = NULL;
		size_t out_len = 0;
		char name[16];

		assert_int_equal(decompress_detect(s.p, s.len), formats[i].fmt);
		/* With the kernel's size trailer, and without it. */
		for (int trailer = 0; trailer < 2; trailer++) {
			if (trailer)
				append_size(&s);
			if (run(s.p, s.len, 1u << 20, &out, &out_len, name))
				fail_msg("%s (trailer %d) failed", formats[i].name, trailer);
			assert_string_equal(name, formats[i].name);
			assert_int_equal(out_len, DATA_LEN);
			assert_memory_equal(out, data, DATA_LEN);
			free(out);
		}
		/* Exactly at the limit is fine. */
		assert_int_equal(run(s.p, s.len, DATA_LEN, &out, &out_len, name), 0);
		free(out);
		free(s.p);
	}
}

static void test_too_large(void **state)
{
	(void)state;
	for (size_t i = 0; i < NR_FORMATS; i++) {
		struct stream s = formats[i].make();
		uint8_t *out = (uint8_t *)0x1;
		size_t out_len = 77;

		append_size(&s);
		if (run(s.p, s.len, DATA_LEN - 1, &out, &out_len, NULL) != -EFBIG)
			fail_msg("%s: one byte over the limit not refused", formats[i].name);
		if (run(s.p, s.len, 4096, &out, &out_len, NULL) != -EFBIG)
			fail_msg("%s: far over the limit not refused", formats[i].name);
		assert_ptr_equal(out, (uint8_t *)0x1);
		assert_int_equal(out_len, 77);
		free(s.p);
	}
}

static void test_corrupt(void **state)
{
	(void)state;
	for (size_t i = 0; i < NR_FORMATS; i++) {
		struct stream s = formats[i].make();
		uint8_t *out = NULL;
		size_t out_len, cuts[] = { s.len / 2, s.len - 1, 12 };
		uint8_t *bad = malloc(s.len);
		int err;

		/* Truncated streams. */
		for (size_t c = 0; c < ARRAY_SIZE(cuts); c++) {
			err = run(s.p, cuts[c], 1u << 20, &out, &out_len, NULL);
			if (err != -EINVAL)
				fail_msg("%s cut at %zu: %d", formats[i].name, cuts[c], err);
		}
		/* Damaged in the middle (past any header). */
		memcpy(bad, s.p, s.len);
		for (size_t k = s.len / 3; k < s.len / 3 + 64; k++)
			bad[k] ^= 0x5a;
		err = run(bad, s.len, 1u << 20, &out, &out_len, NULL);
		/* lz4 legacy and lzma alone carry no checksum: garbage may decode. */
		if (err != -EINVAL && err != -EFBIG &&
		    !(err == 0 && (formats[i].fmt == DECOMPRESS_LZ4 ||
				   formats[i].fmt == DECOMPRESS_LZMA)))
			fail_msg("%s damaged: %d", formats[i].name, err);
		if (!err)
			free(out);
		free(bad);
		free(s.p);
	}
}

static void test_lz4_frames(void **state)
{
	struct stream s = alloc_stream(8 + 2 * (4 + LZ4_COMPRESSBOUND(DATA_LEN)));
	uint8_t *out;
	size_t out_len;

	(void)state;
	/* Two legacy frames back to back, as concatenated lz4 -l output. */
	put_le32(s.p, LZ4_MAGIC);
	s.len = 4;
	lz4_block(&s, data, 1000);
	put_le32(s.p + s.len, LZ4_MAGIC);
	s.len += 4;
	lz4_block(&s, data + 1000, DATA_LEN - 1000);
	assert_int_equal(run(s.p, s.len, 1u << 20, &out, &out_len, NULL), 0);
	assert_int_equal(out_len, DATA_LEN);
	assert_memory_equal(out, data, DATA_LEN);
	free(out);
	/* Block sizes: zero, larger than any 8 MiB block can compress to. */
	put_le32(s.p + 4, 0);
	assert_int_equal(run(s.p, s.len, 1u << 20, &out, &out_len, NULL), -EINVAL);
	put_le32(s.p + 4, 0x7fffffff);
	assert_int_equal(run(s.p, s.len, 1u << 20, &out, &out_len, NULL), -EINVAL);
	/* The magic alone. */
	assert_int_equal(run(s.p, 4, 1u << 20, &out, &out_len, NULL), -EINVAL);
	free(s.p);
}

static void test_zstd_two_frames(void **state)
{
	size_t cap = 2 * ZSTD_compressBound(DATA_LEN);
	struct stream s = alloc_stream(cap);
	uint8_t *out;
	size_t out_len, n;

	(void)state;
	n = ZSTD_compress(s.p, cap, data, 5000, 3);
	assert_false(ZSTD_isError(n));
	s.len = ZSTD_compress(s.p + n, cap - n, data + 5000, DATA_LEN - 5000, 3);
	assert_false(ZSTD_isError(s.len));
	s.len += n;
	append_size(&s);
	assert_int_equal(run(s.p, s.len, 1u << 20, &out, &out_len, NULL), 0);
	assert_int_equal(out_len, DATA_LEN);
	assert_memory_equal(out, data, DATA_LEN);
	free(out);
	free(s.p);
}

static void test_uncompressed_and_unknown(void **state)
{
	uint8_t *out = (uint8_t *)0x1;
	size_t out_len = 77;
	char name[16];

	(void)state;
	assert_int_equal(run(data, DATA_LEN, DATA_LEN, &out, &out_len, name), 0);
	assert_string_equal(name, "uncompressed");
	assert_int_equal(out_len, DATA_LEN);
	assert_memory_equal(out, data, DATA_LEN);
	free(out);
	out = (uint8_t *)0x1;
	out_len = 77;
	assert_int_equal(run(data, DATA_LEN, DATA_LEN - 1, &out, &out_len, NULL), -EFBIG);
	assert_int_equal(run((const uint8_t *)"\x89LZO\0\r\n\x1a\n\0", 10, 1u << 20, &out,
			     &out_len, name), -ENOTSUP);
	assert_string_equal(name, "lzo");
	assert_int_equal(run((const uint8_t *)"hello", 5, 1u << 20, &out, &out_len, name),
			 -EINVAL);
	assert_string_equal(name, "unknown");
	assert_int_equal(run(data, 0, 1u << 20, &out, &out_len, NULL), -EINVAL);
	/* Outputs untouched on failure. */
	assert_ptr_equal(out, (uint8_t *)0x1);
	assert_int_equal(out_len, 77);
}

/* Streams that are well formed but give nothing, a member that is an ELF,
 * and a legacy lz4 block that does not decode. */
static void test_empty_elf_member_lz4_legacy(void **state)
{
	static const uint8_t empty_gz[] = { 0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03,
					     0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t lz4_legacy[] = { 0x02, 0x21, 0x4C, 0x18, 8, 0, 0, 0,
					      0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
	uint8_t elf[64] = { 0x7F, 'E', 'L', 'F', 2, 1, 1 };
	uint8_t *out = NULL;
	size_t out_len = 0, used = 0;
	char name[16];

	(void)state;
	assert_int_equal(decompress(empty_gz, sizeof(empty_gz), &out, &out_len, 1u << 20,
				    name, sizeof(name)), -EINVAL);
	assert_string_equal(name, "gzip");
	/* As an initrd member an empty stream is fine. */
	assert_int_equal(decompress_member(empty_gz, sizeof(empty_gz), &out, &out_len, 1u << 20,
					   &used, "initrd"), 0);
	assert_int_equal(out_len, 0);
	free(out);
	assert_int_equal(decompress_member(elf, sizeof(elf), &out, &out_len, 1u << 20, &used,
					   "initrd"), -EINVAL);
	assert_int_equal(decompress(lz4_legacy, sizeof(lz4_legacy), &out, &out_len, 1u << 20,
				    name, sizeof(name)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_empty_elf_member_lz4_legacy),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_lz4_frames),
		cmocka_unit_test(test_zstd_two_frames),
		cmocka_unit_test(test_uncompressed_and_unknown),
	};

	make_data();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

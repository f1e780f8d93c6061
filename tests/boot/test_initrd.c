// SPDX-License-Identifier: MIT
/*
 * Host-side initramfs unpacking: newc archives built here, compressed with
 * every format's library, alone and concatenated as real initrds are (an
 * uncompressed early archive, then compressed members, zero padding), and
 * the cases where the kernel must get the file untouched or minivmm must
 * refuse it.  Inputs are heap copies of their exact length (ASan).
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

#include "base/util.h"
#include "boot/initrd.h"
#include "compressors.h"

/* A growing byte buffer. */
struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *src, size_t n)
{
	if (n == 0)
		return;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void pad4(struct buf *b)
{
	static const uint8_t z[4];

	put(b, z, (4 - b->len % 4) % 4);
}

/* One newc entry, as `cpio -o -H newc` writes it. */
static void entry(struct buf *b, const char *name, uint32_t mode, const void *data,
		  size_t len)
{
	char hdr[128];
	static uint32_t ino = 100;

	snprintf(hdr, sizeof(hdr),
		 "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino++, mode,
		 0u, 0u, 1u, 0u, (uint32_t)len, 0u, 0u, 0u, 0u, (uint32_t)strlen(name) + 1, 0u);
	put(b, hdr, 110);
	put(b, name, strlen(name) + 1);
	pad4(b);
	put(b, data, len);
	pad4(b);
}

static void trailer(struct buf *b)
{
	entry(b, "TRAILER!!!", 0, NULL, 0);
}

/* The main archive: a directory, a compressible file, noise, a symlink. */
static struct buf main_archive(void)
{
	struct buf b = { 0 };
	size_t n = 200 * 1024;
	uint8_t *d = malloc(n);
	uint32_t x = 7;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		d[i] = i % 128 < 100 ? (uint8_t)("initramfs "[i % 10]) : (uint8_t)(x >> 24);
	}
	entry(&b, "bin", 040755, NULL, 0);
	entry(&b, "bin/tool", 0100755, d, n);
	entry(&b, "bin/sh", 0120777, "tool", 4);
	entry(&b, "etc/motd", 0100644, "hello\n", 6);
	trailer(&b);
	free(d);
	return b;
}

/* The early-microcode archive that distributions put first, uncompressed. */
static struct buf early_archive(void)
{
	struct buf b = { 0 };

	entry(&b, "kernel", 040755, NULL, 0);
	entry(&b, "kernel/x86/microcode/GenuineIntel.bin", 0100644, "ucode!", 6);
	trailer(&b);
	return b;
}

static int unpack(const uint8_t *in, size_t len, size_t max, struct initrd_unpacked *u)
{
	uint8_t *copy = malloc(len ? len : 1);
	int err;

	assert_non_null(copy);
	memcpy(copy, in, len);
	err = initrd_unpack(copy, len, max, "test.img", u);
	free(copy);
	return err;
}

typedef struct stream (*compressor)(const uint8_t *in, size_t len);
static const struct {
	const char *name;
	compressor make;
} formats[] = {
	{ "gzip", gzip_of }, { "xz", xz_of }, { "lzma", lzma_alone_of },
	{ "zstd", zstd_of }, { "bzip2", bzip2_of }, { "lz4", lz4_of },
	{ "lz4 frame", lz4f_of },
};

static void test_each_format(void **state)
{
	struct buf a = main_archive();

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
		struct stream s = formats[i].make(a.p, a.len);
		struct initrd_unpacked u;

		if (unpack(s.p, s.len, 64u << 20, &u))
			fail_msg("%s failed", formats[i].name);
		assert_non_null(u.data);
		assert_int_equal(u.len, a.len);
		assert_memory_equal(u.data, a.p, a.len);
		assert_string_equal(u.formats, formats[i].name);
		assert_int_equal(u.members, 1);
		free(u.data);
		/* Zero padding after the member (block-aligned images). */
		memset(s.p + s.len, 0, 8);
		assert_int_equal(unpack(s.p, s.len + 8, 64u << 20, &u), 0);
		assert_int_equal(u.len, a.len);
		free(u.data);
		free(s.p);
	}
	free(a.p);
}

/* early (uncompressed) + zeros + gzip(main) + zeros + xz(early) + zstd(main)
 * at an unaligned offset: every piece, in order, each 4-byte aligned. */
static void test_concatenated(void **state)
{
	struct buf a = main_archive(), e = early_archive(), img = { 0 }, want = { 0 };
	struct stream g = gzip_of(a.p, a.len), x = xz_of(e.p, e.len), z = zstd_of(a.p, a.len);
	static const uint8_t zeros[512];
	struct initrd_unpacked u;

	(void)state;
	put(&img, e.p, e.len);
	put(&img, zeros, 12);
	put(&img, g.p, g.len);
	put(&img, zeros, 512);
	put(&img, x.p, x.len);
	put(&img, z.p, z.len);
	put(&want, e.p, e.len);
	put(&want, a.p, a.len);
	put(&want, e.p, e.len);
	put(&want, a.p, a.len);
	assert_int_equal(unpack(img.p, img.len, 64u << 20, &u), 0);
	assert_non_null(u.data);
	assert_int_equal(u.len, want.len);
	assert_memory_equal(u.data, want.p, want.len);
	assert_string_equal(u.formats, "cpio + gzip + xz + zstd");
	assert_int_equal(u.members, 3);
	assert_int_equal(u.cpio_pieces, 1);
	free(u.data);
	free(img.p);
	free(want.p);
	free(g.p);
	free(x.p);
	free(z.p);
	free(a.p);
	free(e.p);
}

/* Nothing to do, or nothing minivmm may do: the kernel gets the file. */
static void test_untouched(void **state)
{
	struct buf a = main_archive(), img = { 0 };
	uint8_t noise[4096];
	struct stream s;
	struct initrd_unpacked u;

	(void)state;
	for (size_t i = 0; i < sizeof(noise); i++)
		noise[i] = (uint8_t)(i * 37 + 11);
	/* Already uncompressed. */
	assert_int_equal(unpack(a.p, a.len, 64u << 20, &u), 0);
	assert_null(u.data);
	assert_string_equal(u.why_untouched, "uncompressed already");
	/* An old-style initrd: a compressed filesystem image, not cpio. */
	s = gzip_of(noise, sizeof(noise));
	assert_int_equal(unpack(s.p, s.len, 64u << 20, &u), 0);
	assert_null(u.data);
	assert_non_null(strstr(u.why_untouched, "not a cpio archive"));
	free(s.p);
	/* Junk, at the start and after a good member. */
	assert_int_equal(unpack(noise + 2, 100, 64u << 20, &u), 0);
	assert_null(u.data);
	assert_non_null(strstr(u.why_untouched, "unknown data at offset 0x0"));
	s = gzip_of(a.p, a.len);
	put(&img, s.p, s.len);
	put(&img, "junk", 4);
	assert_int_equal(unpack(img.p, img.len, 64u << 20, &u), 0);
	assert_null(u.data);
	/* An lzo member (no host decoder). */
	img.len = 0;
	put(&img, s.p, s.len);
	put(&img, "\x89LZO\0\r\n\x1a\n", 9);
	assert_int_equal(unpack(img.p, img.len, 64u << 20, &u), 0);
	assert_null(u.data);
	assert_non_null(strstr(u.why_untouched, "lzo"));
	/* odc cpio, which the kernel refuses itself. */
	img.len = 0;
	put(&img, "070707", 6);
	put(&img, noise, 200);
	assert_int_equal(unpack(img.p, img.len, 64u << 20, &u), 0);
	assert_null(u.data);
	assert_non_null(strstr(u.why_untouched, "odc"));
	free(s.p);
	free(img.p);
	free(a.p);
}

/* A member whose output breaks the kernel's rules goes untouched too. */
static void test_bad_member_output(void **state)
{
	struct buf a = main_archive(), bad = { 0 };
	struct initrd_unpacked u;
	struct stream s;

	(void)state;
	/* Cut in the middle of an entry. */
	s = zstd_of(a.p, a.len - 100);
	assert_int_equal(unpack(s.p, s.len, 64u << 20, &u), 0);
	assert_null(u.data);
	assert_non_null(strstr(u.why_untouched, "cut short"));
	free(s.p);
	/* An entry at an unaligned offset after padding. */
	put(&bad, "\0\0", 2);
	put(&bad, a.p, a.len);
	s = gzip_of(bad.p, bad.len);
	assert_int_equal(unpack(s.p, s.len, 64u << 20, &u), 0);
	assert_null(u.data);
	assert_non_null(strstr(u.why_untouched, "unaligned"));
	free(s.p);
	/* A name without its NUL. */
	memcpy(bad.p, a.p, a.len);
	bad.len = a.len;
	bad.p[110 + 3] = 'X'; /* "bin\0" -> "binX" */
	s = gzip_of(bad.p, bad.len);
	assert_int_equal(unpack(s.p, s.len, 64u << 20, &u), 0);
	assert_null(u.data);
	assert_non_null(strstr(u.why_untouched, "NUL"));
	free(s.p);
	free(bad.p);
	free(a.p);
}

/* Truncated members and outputs over the cap are refused (one line). */
static void test_refused(void **state)
{
	struct buf a = main_archive(), e = early_archive(), img = { 0 };
	struct initrd_unpacked u;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
		struct stream s = formats[i].make(a.p, a.len);
		int err = unpack(s.p, s.len / 2, 64u << 20, &u);

		if (err != -EINVAL)
			fail_msg("%s cut in half: %d", formats[i].name, err);
		assert_null(u.data);
		/* Exactly the cap is fine, one byte less is a bomb. */
		assert_int_equal(unpack(s.p, s.len, a.len, &u), 0);
		free(u.data);
		if (unpack(s.p, s.len, a.len - 1, &u) != -EFBIG)
			fail_msg("%s over the cap not refused", formats[i].name);
		free(s.p);
	}
	/* The cap counts the uncompressed pieces and the alignment too. */
	{
		struct stream g = gzip_of(a.p, a.len);

		put(&img, e.p, e.len);
		put(&img, g.p, g.len);
		assert_int_equal(unpack(img.p, img.len, e.len + a.len, &u), 0);
		free(u.data);
		assert_int_equal(unpack(img.p, img.len, e.len + a.len - 1, &u), -EFBIG);
		free(g.p);
	}
	free(img.p);
	free(a.p);
	free(e.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_format),
		cmocka_unit_test(test_concatenated),
		cmocka_unit_test(test_untouched),
		cmocka_unit_test(test_bad_member_output),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

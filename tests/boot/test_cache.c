// SPDX-License-Identifier: MIT
/* The boot cache (src/boot/cache.c) in a temporary $XDG_CACHE_HOME. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot/cache.h"

static char home[64];

static int setup(void **state)
{
	snprintf(home, sizeof(home), "/tmp/minivmm-cache-test-XXXXXX");
	if (!mkdtemp(home))
		return -1;
	setenv("XDG_CACHE_HOME", home, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_round_trip(void **state)
{
	const uint8_t in[] = "compressed bytes", other[] = "other bytes";
	uint8_t data[5000], *out = NULL;
	struct boot_cache c;
	struct boot_cache_key k, k2;
	char note[64], dir[128];
	size_t len = 0;
	struct stat st;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13);
	boot_cache_open(&c, true, BOOT_CACHE_DEFAULT_MAX);
	snprintf(dir, sizeof(dir), "%s/minivmm", home);
	assert_string_equal(c.dir, dir);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	boot_cache_key(&c, "kernel", in, sizeof(in), &k);
	assert_int_equal(boot_cache_get(&c, &k, sizeof(data), &out, &len, note, sizeof(note)), 0);
	assert_int_equal(boot_cache_put(&c, &k, data, sizeof(data), "xz"), 0);
	assert_int_equal(boot_cache_get(&c, &k, sizeof(data), &out, &len, note, sizeof(note)), 1);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(out, data, sizeof(data));
	assert_string_equal(note, "xz");
	free(out);
	/* Another input, or the same bytes as another kind: another entry. */
	boot_cache_key(&c, "kernel", other, sizeof(other), &k2);
	assert_int_equal(boot_cache_get(&c, &k2, sizeof(data), &out, &len, note, sizeof(note)), 0);
	boot_cache_key(&c, "initrd", in, sizeof(in), &k2);
	assert_int_equal(boot_cache_get(&c, &k2, sizeof(data), &out, &len, note, sizeof(note)), 0);
	/* More than this guest may take: a miss, and the entry stays. */
	assert_int_equal(boot_cache_get(&c, &k, sizeof(data) - 1, &out, &len, note, sizeof(note)), 0);
	assert_int_equal(access(k.path, F_OK), 0);
}

/* A damaged entry is a miss and is removed: flipped byte, truncation,
 * wrong magic. */
static void test_damaged_entries(void **state)
{
	const uint8_t in[] = "input";
	uint8_t data[300], *out = NULL;
	struct boot_cache c;
	struct boot_cache_key k;
	char note[64];
	size_t len;
	FILE *f;

	memset(data, 0x5A, sizeof(data));
	boot_cache_open(&c, true, BOOT_CACHE_DEFAULT_MAX);
	boot_cache_key(&c, "initrd", in, sizeof(in), &k);
	for (int damage = 0; damage < 3; damage++) {
		assert_int_equal(boot_cache_put(&c, &k, data, sizeof(data), "gzip"), 0);
		if (damage == 0) {
			f = fopen(k.path, "r+b");
			assert_non_null(f);
			fseek(f, -10, SEEK_END);
			fputc(0x00, f);
			fclose(f);
		} else if (damage == 1) {
			assert_int_equal(truncate(k.path, 100), 0);
		} else {
			f = fopen(k.path, "r+b");
			assert_non_null(f);
			fputc('X', f);
			fclose(f);
		}
		assert_int_equal(boot_cache_get(&c, &k, sizeof(data), &out, &len, note, sizeof(note)), 0);
		assert_int_not_equal(access(k.path, F_OK), 0);
	}
}

/* Over the limit, the least recently used entries go; a fresh hit counts
 * as a use. */
static void test_eviction(void **state)
{
	static uint8_t data[100000];
	struct boot_cache c;
	struct boot_cache_key k[4];
	uint8_t in[4] = { 1, 2, 3, 4 }, *out;
	char note[8];
	size_t len;
	struct timespec past[2];

	boot_cache_open(&c, true, 3 * sizeof(data) + 1000); /* room for three */
	for (int i = 0; i < 3; i++) {
		boot_cache_key(&c, "kernel", &in[i], 1, &k[i]);
		assert_int_equal(boot_cache_put(&c, &k[i], data, sizeof(data), ""), 0);
		/* distinct ages: entry i is i hours old from the oldest side */
		past[0].tv_sec = past[1].tv_sec = 1000000 + i * 3600;
		past[0].tv_nsec = past[1].tv_nsec = 0;
		assert_int_equal(utimensat(AT_FDCWD, k[i].path, past, 0), 0);
	}
	/* Using entry 0 makes entry 1 the oldest. */
	assert_int_equal(boot_cache_get(&c, &k[0], sizeof(data), &out, &len, note, sizeof(note)), 1);
	free(out);
	boot_cache_key(&c, "kernel", &in[3], 1, &k[3]);
	assert_int_equal(boot_cache_put(&c, &k[3], data, sizeof(data), ""), 0);
	assert_int_equal(access(k[0].path, F_OK), 0);
	assert_int_not_equal(access(k[1].path, F_OK), 0);
	assert_int_equal(access(k[2].path, F_OK), 0);
	assert_int_equal(access(k[3].path, F_OK), 0);
	/* An entry larger than the whole cache is not stored. */
	c.max_bytes = 1000;
	assert_int_not_equal(boot_cache_put(&c, &k[1], data, sizeof(data), ""), 0);
}

/* Off: --no-cache, or nowhere to put it. */
static void test_off(void **state)
{
	const uint8_t in[] = "x";
	struct boot_cache c;
	struct boot_cache_key k;
	uint8_t *out;
	size_t len;
	char note[8];
	char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

	boot_cache_open(&c, false, BOOT_CACHE_DEFAULT_MAX);
	assert_string_equal(c.dir, "");
	boot_cache_key(&c, "kernel", in, 1, &k);
	assert_int_equal(boot_cache_put(&c, &k, in, 1, ""), 0);
	assert_int_equal(boot_cache_get(&c, &k, 1, &out, &len, note, sizeof(note)), 0);
	/* A relative $XDG_CACHE_HOME is ignored (XDG); no $HOME either: off. */
	setenv("XDG_CACHE_HOME", "relative/dir", 1);
	unsetenv("HOME");
	boot_cache_open(&c, true, BOOT_CACHE_DEFAULT_MAX);
	assert_string_equal(c.dir, "");
	/* $XDG_CACHE_HOME is a file: off, not an error. */
	setenv("XDG_CACHE_HOME", "/dev/null", 1);
	boot_cache_open(&c, true, BOOT_CACHE_DEFAULT_MAX);
	assert_string_equal(c.dir, "");
	if (old_home)
		setenv("HOME", old_home, 1);
	free(old_home);
	setenv("XDG_CACHE_HOME", home, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eviction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_off, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

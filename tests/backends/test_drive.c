// SPDX-License-Identifier: MIT
/* -drive spellings: every option, and the hostile ones refused in one line. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backends/block/drive.h"

static struct drive_config cfg;
static char err[256];

static int parse(const char *spec)
{
	memset(&cfg, 0x5A, sizeof(cfg));
	return drive_parse(spec, &cfg, err, sizeof(err));
}

/* Refused with -EINVAL and a one-line message containing `what`. */
static void assert_refused(const char *spec, const char *what)
{
	if (parse(spec) != -EINVAL)
		fail_msg("'%.60s' was not refused", spec);
	if (!strstr(err, what))
		fail_msg("'%.60s': message '%s' lacks '%s'", spec, err, what);
	assert_null(strchr(err, '\n'));
}

static void test_minimal(void **state)
{
	assert_int_equal(parse("file=disk.img,if=virtio"), 0);
	assert_string_equal(cfg.file, "disk.img");
	assert_false(cfg.readonly);
	assert_false(cfg.format_given);
	assert_int_equal(cfg.cache, DRIVE_CACHE_WRITEBACK);
	assert_int_equal(cfg.aio, DRIVE_AIO_IO_URING);
	assert_false(cfg.aio_given);
	assert_string_equal(cfg.serial, "");
	assert_string_equal(cfg.id, "");
	assert_string_equal(err, "");
	/* Order does not matter. */
	assert_int_equal(parse("if=virtio,file=/a/b"), 0);
	assert_string_equal(cfg.file, "/a/b");
}

static void test_every_option(void **state)
{
	assert_int_equal(parse("file=x.raw,if=virtio,format=raw,readonly=on,cache=none,"
			       "aio=threads,serial=ABC-123 x,id=disk0"), 0);
	assert_string_equal(cfg.file, "x.raw");
	assert_true(cfg.format_given);
	assert_true(cfg.readonly);
	assert_int_equal(cfg.cache, DRIVE_CACHE_NONE);
	assert_int_equal(cfg.aio, DRIVE_AIO_THREADS);
	assert_true(cfg.aio_given);
	assert_string_equal(cfg.serial, "ABC-123 x");
	assert_string_equal(cfg.id, "disk0");

	assert_int_equal(parse("file=x,if=virtio,cache=unsafe,aio=io_uring,readonly=off"), 0);
	assert_int_equal(cfg.cache, DRIVE_CACHE_UNSAFE);
	assert_int_equal(cfg.aio, DRIVE_AIO_IO_URING);
	assert_true(cfg.aio_given);
	assert_false(cfg.readonly);
	assert_int_equal(parse("file=x,if=virtio,cache=writeback"), 0);
	assert_int_equal(cfg.cache, DRIVE_CACHE_WRITEBACK);
	assert_string_equal(drive_cache_name(DRIVE_CACHE_NONE), "none");
	assert_string_equal(drive_aio_name(DRIVE_AIO_THREADS), "threads");
}

static void test_readonly_spellings(void **state)
{
	static const char *const yes[] = { "on", "yes", "true" };
	static const char *const no[] = { "off", "no", "false" };
	char spec[64];

	for (int i = 0; i < 3; i++) {
		snprintf(spec, sizeof(spec), "file=x,if=virtio,readonly=%s", yes[i]);
		assert_int_equal(parse(spec), 0);
		assert_true(cfg.readonly);
		snprintf(spec, sizeof(spec), "file=x,if=virtio,readonly=%s", no[i]);
		assert_int_equal(parse(spec), 0);
		assert_false(cfg.readonly);
	}
	assert_refused("file=x,if=virtio,readonly=1", "readonly=1");
	assert_refused("file=x,if=virtio,readonly=ON", "expected on or off");
	assert_refused("file=x,if=virtio,readonly=", "expected on or off");
}

static void test_comma_escaping(void **state)
{
	assert_int_equal(parse("file=a,,b.img,if=virtio"), 0);
	assert_string_equal(cfg.file, "a,b.img");
	assert_int_equal(parse("if=virtio,file=a,,,,b"), 0);
	assert_string_equal(cfg.file, "a,,b");
	/* A doubled comma at the very end belongs to the value. */
	assert_int_equal(parse("if=virtio,file=a,,"), 0);
	assert_string_equal(cfg.file, "a,");
	assert_int_equal(parse("if=virtio,file=,,"), 0);
	assert_string_equal(cfg.file, ",");
	assert_int_equal(parse("file=x,if=virtio,serial=a,,b"), 0);
	assert_string_equal(cfg.serial, "a,b");
	/* '=' inside a value is just a byte. */
	assert_int_equal(parse("file=a=b,if=virtio"), 0);
	assert_string_equal(cfg.file, "a=b");
}

static void test_refusals(void **state)
{
	assert_refused("", "empty drive description");
	assert_refused("file=x", "missing if=virtio");
	assert_refused("if=virtio", "missing file=");
	assert_refused("file=,if=virtio", "file= is empty");
	assert_refused("file=x,if=ide", "if=ide is not supported");
	assert_refused("file=x,if=none", "only if=virtio");
	assert_refused("file=x,if=virtio,format=qcow2", "qemu-img convert -O raw");
	assert_refused("file=x,if=virtio,format=", "format= is not supported");
	assert_refused("file=x,if=virtio,cache=directsync", "none, writeback or unsafe");
	assert_refused("file=x,if=virtio,cache=writethrough", "cache=writethrough");
	assert_refused("file=x,if=virtio,aio=native", "io_uring or threads");
	assert_refused("file=x,if=virtio,media=cdrom", "unknown option 'media'");
	assert_refused("file=x,if=virtio,File=y", "unknown option 'File'");
}

static void test_hostile_syntax(void **state)
{
	assert_refused(",", "empty option");
	assert_refused(",file=x,if=virtio", "empty option");
	assert_refused("file=x,if=virtio,", "trailing comma");
	assert_refused("file=x,,if=virtio", "missing if=virtio");   /* file is "x,if=virtio" */
	assert_int_equal(parse("file=x,,,if=virtio"), 0);             /* file is "x," */
	assert_string_equal(cfg.file, "x,");
	assert_refused("file=x,if=virtio,,", "if=virtio, is not");  /* if is "virtio," */
	assert_refused("file=x,if=virtio,,,", "if=virtio, is not");
	assert_refused("file=x,if=virtio,,,,", "if=virtio,");
	assert_refused("file=x,,,,if=virtio", "missing if=virtio");
	assert_refused("file", "option 'file' has no value");
	assert_refused("file=x,if=virtio,readonly", "has no value");
	assert_refused("=x,if=virtio", "has no name");
	assert_refused("file=x,if=virtio,=", "has no name");
	assert_refused("file=x,if=virtio,cache=none,cache=none", "'cache' is given twice");
	assert_refused("file=x,file=y,if=virtio", "'file' is given twice");
	assert_refused("file=x,if=virtio,if=virtio", "given twice");
	assert_refused("file=x,if=virtio,\x1b[2Jkey=1", "unknown option '?[2Jkey'");
	assert_refused("file=x,if=virtio,serial=a\tb", "printable ASCII");
	assert_refused("file=x,if=virtio,serial=\x7f", "printable ASCII");
}

static void test_lengths(void **state)
{
	static char spec[3 * PATH_MAX], longval[2 * PATH_MAX];

	/* serial: 20 bytes fit, 21 do not; escaped commas count once. */
	assert_int_equal(parse("file=x,if=virtio,serial=01234567890123456789"), 0);
	assert_string_equal(cfg.serial, "01234567890123456789");
	assert_refused("file=x,if=virtio,serial=012345678901234567890", "longer than 20");
	assert_int_equal(parse("file=x,if=virtio,serial=,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,"), 0);
	assert_int_equal(strlen(cfg.serial), 20);
	/* id: 31 characters fit, 32 do not; it must start with a letter. */
	assert_int_equal(parse("file=x,if=virtio,id=a123456789012345678901234567890"), 0);
	assert_int_equal(strlen(cfg.id), 31);
	assert_refused("file=x,if=virtio,id=a1234567890123456789012345678901", "id=");
	assert_refused("file=x,if=virtio,id=0disk", "expected a letter");
	assert_refused("file=x,if=virtio,id=", "expected a letter");
	assert_refused("file=x,if=virtio,id=d/1", "expected a letter");

	/* The longest path that fits, then one byte more, then far more. */
	memset(longval, 'p', PATH_MAX - 1);
	longval[PATH_MAX - 1] = '\0';
	snprintf(spec, sizeof(spec), "if=virtio,file=%s", longval);
	assert_int_equal(parse(spec), 0);
	assert_int_equal(strlen(cfg.file), PATH_MAX - 1);
	snprintf(spec, sizeof(spec), "if=virtio,file=%sp", longval);
	assert_refused(spec, "longer than");
	memset(longval, 'q', 2 * PATH_MAX - 1);
	longval[2 * PATH_MAX - 1] = '\0';
	assert_refused(longval, "has no value");
	snprintf(spec, sizeof(spec), "if=virtio,cache=%.*s", PATH_MAX + 8, longval);
	assert_refused(spec, "is too long");
	snprintf(spec, sizeof(spec), "if=virtio,%.*s=1", PATH_MAX, longval);
	assert_refused(spec, "unknown option 'qqqqqqqqqqqqqqqq'");
}

static void test_error_sinks(void **state)
{
	char small[8];

	/* A short buffer gets a truncated, terminated message; none is fine too. */
	assert_int_equal(drive_parse("if=virtio", &cfg, small, sizeof(small)), -EINVAL);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(drive_parse("if=virtio", &cfg, small, 0), -EINVAL);
	assert_int_equal(drive_parse(NULL, &cfg, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_every_option),
		cmocka_unit_test(test_readonly_spellings),
		cmocka_unit_test(test_comma_escaping),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_hostile_syntax),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_error_sinks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

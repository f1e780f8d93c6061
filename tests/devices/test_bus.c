// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "devices/bus.h"
#include "base/log.h"

#include "fake_dev.h"
#include "quiet_log.h"

static const struct device_ops ops_any = {
	.read = fake_read, .write = fake_write,
};
static const struct device_ops ops_w1 = {
	.access_size = 1, .read = fake_read, .write = fake_write,
};
static const struct device_ops ops_w2 = {
	.access_size = 2, .read = fake_read, .write = fake_write,
};
static const struct device_ops ops_w4 = {
	.access_size = 4, .read = fake_read, .write = fake_write,
};

static void test_insert_refusals(void **state)
{
	struct fake_dev a, b;
	struct bus bus;

	fake_init(&a, &ops_any, "fake", 0, false);
	fake_init(&b, &ops_any, "fake", 0, false);
	bus_init(&bus, "pio");

	assert_int_equal(bus_insert(&bus, 0x100, 0, &a.dev), -EINVAL);
	assert_int_equal(bus_insert(&bus, 0x100, 1, NULL), -EINVAL);
	/* Wrapping past 2^64 is refused; ending exactly at 2^64 is not. */
	assert_int_equal(bus_insert(&bus, UINT64_MAX, 2, &a.dev), -EINVAL);
	assert_int_equal(bus_insert(&bus, 1, UINT64_MAX, &a.dev), 0);
	bus_destroy(&bus);

	bus_init(&bus, "pio");
	assert_int_equal(bus_insert(&bus, UINT64_MAX - 0xF, 0x11, &a.dev), -EINVAL);
	assert_int_equal(bus_insert(&bus, UINT64_MAX - 0xF, 0x10, &a.dev), 0);
	assert_int_equal(bus_insert(&bus, UINT64_MAX, 1, &b.dev), -EEXIST);

	assert_int_equal(bus_insert(&bus, 0x100, 0x10, &a.dev), 0);
	/* Overlaps on the left, on the right, inside and around. */
	assert_int_equal(bus_insert(&bus, 0xF8, 0x9, &b.dev), -EEXIST);
	assert_int_equal(bus_insert(&bus, 0x10F, 0x4, &b.dev), -EEXIST);
	assert_int_equal(bus_insert(&bus, 0x104, 0x2, &b.dev), -EEXIST);
	assert_int_equal(bus_insert(&bus, 0xF0, 0x100, &b.dev), -EEXIST);
	assert_int_equal(bus_insert(&bus, 0x100, 0x10, &b.dev), -EEXIST);
	/* Adjacent on both sides is fine. */
	assert_int_equal(bus_insert(&bus, 0xF8, 0x8, &b.dev), 0);
	assert_int_equal(bus_insert(&bus, 0x110, 0x8, &b.dev), 0);
	assert_int_equal(bus.nr_ranges, 4);
	for (unsigned int i = 1; i < bus.nr_ranges; i++)
		assert_true(bus.ranges[i - 1].base < bus.ranges[i].base);
	bus_destroy(&bus);
}

static void test_insert_many_sorted(void **state)
{
	struct fake_dev a;
	struct bus bus;

	fake_init(&a, &ops_any, "fake", 0, false);
	bus_init(&bus, "mmio");
	/* Reverse and interleaved order forces growth and middle inserts. */
	for (uint64_t i = 0; i < 40; i++)
		assert_int_equal(bus_insert(&bus, (79 - 2 * i) * 0x10, 0x10, &a.dev), 0);
	for (uint64_t i = 0; i < 40; i++)
		assert_int_equal(bus_insert(&bus, (2 * i) * 0x10, 0x10, &a.dev), 0);
	assert_int_equal(bus.nr_ranges, 80);
	for (unsigned int i = 0; i < bus.nr_ranges; i++)
		assert_int_equal(bus.ranges[i].base, i * 0x10);
	assert_int_equal(bus_insert(&bus, 0x4F8, 0x10, &a.dev), -EEXIST);
	bus_destroy(&bus);
}

static void test_find_edges(void **state)
{
	struct fake_dev a, b;
	struct bus bus;
	const struct bus_range *r;

	fake_init(&a, &ops_any, "fake", 0, false);
	fake_init(&b, &ops_any, "fake", 0, false);
	bus_init(&bus, "pio");
	assert_null(bus_find(&bus, 0));
	assert_int_equal(bus_insert(&bus, 0x3F8, 8, &a.dev), 0);
	assert_int_equal(bus_insert(&bus, 0x400, 1, &b.dev), 0);
	assert_int_equal(bus_insert(&bus, UINT64_MAX, 1, &b.dev), 0);

	assert_null(bus_find(&bus, 0));
	assert_null(bus_find(&bus, 0x3F7));
	r = bus_find(&bus, 0x3F8);
	assert_non_null(r);
	assert_ptr_equal(r->dev, &a.dev);
	assert_ptr_equal(bus_find(&bus, 0x3FF)->dev, &a.dev);
	assert_ptr_equal(bus_find(&bus, 0x400)->dev, &b.dev);
	assert_null(bus_find(&bus, 0x401));
	assert_null(bus_find(&bus, UINT64_MAX - 1));
	assert_ptr_equal(bus_find(&bus, UINT64_MAX)->dev, &b.dev);
	bus_destroy(&bus);
}

static void test_offsets_relative(void **state)
{
	struct fake_dev a;
	struct bus bus;
	uint8_t buf[4] = { 0x11, 0x22, 0x33, 0x44 };

	fake_init(&a, &ops_any, "fake", 0x40, false);
	bus_init(&bus, "mmio");
	assert_int_equal(bus_insert(&bus, 0xFEB00000, 0x1000, &a.dev), 0);
	assert_true(bus_access(&bus, 0xFEB00010, buf, 4, true));
	assert_int_equal(a.nr_calls, 1);
	assert_int_equal(a.calls[0].offset, 0x10);
	assert_int_equal(a.calls[0].len, 4);
	assert_memory_equal(a.calls[0].data, buf, 4);

	assert_true(bus_access(&bus, 0xFEB00FF8, buf, 4, false));
	assert_int_equal(a.calls[1].offset, 0xFF8);
	assert_int_equal(buf[0], (uint8_t)(0x40 + 0xF8));
	assert_int_equal(atomic_load(&bus.unclaimed), 0);
	bus_destroy(&bus);
}

/* [0x10,0x13) dev a | gap [0x13,0x15) | [0x15,0x20) dev b: one 8-byte
 * access at 0x10 splits 3 + 2 + 3. */
static void test_straddle_devices_and_gap(void **state)
{
	struct fake_dev a, b;
	struct bus bus;
	uint8_t wr[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t rd[8];

	fake_init(&a, &ops_any, "fake", 0xA0, false);
	fake_init(&b, &ops_any, "fake", 0xB0, false);
	bus_init(&bus, "mmio");
	assert_int_equal(bus_insert(&bus, 0x10, 3, &a.dev), 0);
	assert_int_equal(bus_insert(&bus, 0x15, 0xB, &b.dev), 0);

	assert_false(bus_access(&bus, 0x10, wr, 8, true));
	assert_int_equal(a.nr_calls, 1);
	assert_int_equal(a.calls[0].offset, 0);
	assert_int_equal(a.calls[0].len, 3);
	assert_memory_equal(a.calls[0].data, wr, 3);
	assert_int_equal(b.nr_calls, 1);
	assert_int_equal(b.calls[0].offset, 0);
	assert_int_equal(b.calls[0].len, 3);
	assert_memory_equal(b.calls[0].data, wr + 5, 3);
	assert_int_equal(atomic_load(&bus.unclaimed), 1);

	memset(rd, 0, sizeof(rd));
	assert_false(bus_access(&bus, 0x10, rd, 8, false));
	const uint8_t want[8] = { 0xA0, 0xA1, 0xA2, 0xFF, 0xFF, 0xB0, 0xB1, 0xB2 };
	assert_memory_equal(rd, want, 8);
	assert_int_equal(atomic_load(&bus.unclaimed), 2);

	/* Straddling two adjacent devices is fully claimed. */
	a.nr_calls = b.nr_calls = 0;
	assert_int_equal(bus_insert(&bus, 0x13, 2, &a.dev), 0);
	assert_true(bus_access(&bus, 0x14, rd, 2, false));
	assert_int_equal(rd[0], 0xA1);
	assert_int_equal(rd[1], 0xB0);
	assert_int_equal(atomic_load(&bus.unclaimed), 2);
	bus_destroy(&bus);
}

static void test_access_size_split(void **state)
{
	struct fake_dev w1, w2, w4;
	struct bus bus;
	uint8_t wr[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t rd[8];

	fake_init(&w1, &ops_w1, "fake", 0x10, false);
	fake_init(&w2, &ops_w2, "fake", 0x20, false);
	fake_init(&w4, &ops_w4, "fake", 0x40, false);
	bus_init(&bus, "pio");
	assert_int_equal(bus_insert(&bus, 0x3F8, 8, &w1.dev), 0);
	assert_int_equal(bus_insert(&bus, 0x1000, 0x10, &w2.dev), 0);
	assert_int_equal(bus_insert(&bus, 0x2000, 0x10, &w4.dev), 0);

	/* outl to a byte-wide device: four 1-byte writes, in order. */
	assert_true(bus_access(&bus, 0x3F9, wr, 4, true));
	assert_int_equal(w1.nr_calls, 4);
	for (unsigned int i = 0; i < 4; i++) {
		assert_int_equal(w1.calls[i].offset, 1 + i);
		assert_int_equal(w1.calls[i].len, 1);
		assert_int_equal(w1.calls[i].data[0], wr[i]);
	}

	/* 8 bytes at offset 1 of a 2-wide device: 1 + 2 + 2 + 2 + 1. */
	assert_true(bus_access(&bus, 0x1001, rd, 8, false));
	assert_int_equal(w2.nr_calls, 5);
	const uint64_t off2[5] = { 1, 2, 4, 6, 8 };
	const uint32_t len2[5] = { 1, 2, 2, 2, 1 };
	for (unsigned int i = 0; i < 5; i++) {
		assert_int_equal(w2.calls[i].offset, off2[i]);
		assert_int_equal(w2.calls[i].len, len2[i]);
	}
	for (unsigned int i = 0; i < 8; i++)
		assert_int_equal(rd[i], 0x21 + i);

	/* A narrow access crossing a 4-byte boundary is cut there; an
	 * aligned one within the width is passed whole. */
	assert_true(bus_access(&bus, 0x2003, wr, 2, true));
	assert_int_equal(w4.nr_calls, 2);
	assert_int_equal(w4.calls[0].offset, 3);
	assert_int_equal(w4.calls[0].len, 1);
	assert_int_equal(w4.calls[1].offset, 4);
	assert_int_equal(w4.calls[1].len, 1);
	assert_true(bus_access(&bus, 0x2004, wr, 2, true));
	assert_int_equal(w4.nr_calls, 3);
	assert_int_equal(w4.calls[2].offset, 4);
	assert_int_equal(w4.calls[2].len, 2);
	assert_true(bus_access(&bus, 0x2008, wr, 8, true));
	assert_int_equal(w4.nr_calls, 5);
	assert_int_equal(w4.calls[3].len, 4);
	assert_memory_equal(w4.calls[4].data, wr + 4, 4);
	bus_destroy(&bus);
}

static void test_unclaimed(void **state)
{
	struct bus bus;
	uint8_t buf[8];
	uint8_t ones[8];
	char line[256];
	FILE *log;

	memset(ones, 0xFF, sizeof(ones));
	bus_init(&bus, "pio");
	log = tmpfile();
	assert_non_null(log);
	log_set_sink(log);

	memset(buf, 0, sizeof(buf));
	assert_false(bus_access(&bus, 0x2F8, buf, 4, false));
	assert_memory_equal(buf, ones, 4);
	assert_int_equal(buf[4], 0);
	buf[0] = 0x41;
	assert_false(bus_access(&bus, 0x2F8, buf, 1, true));
	assert_int_equal(atomic_load(&bus.unclaimed), 2);
	/* Bad sizes are refused, not performed. */
	assert_false(bus_access(&bus, 0x2F8, buf, 0, false));
	assert_false(bus_access(&bus, 0x2F8, buf, 9, false));

	rewind(log);
	assert_non_null(fgets(line, sizeof(line), log));
	assert_string_equal(line,
		"minivmm: warning: unclaimed pio read of 4 bytes at 0x2f8\n");
	assert_non_null(fgets(line, sizeof(line), log));
	assert_string_equal(line,
		"minivmm: warning: unclaimed pio write of 1 byte at 0x2f8 (value 0x41)\n");
	fclose(log);
	log_set_sink(quiet_log);
	bus_destroy(&bus);
}

static void test_unclaimed_ratelimited(void **state)
{
	struct bus bus;
	uint8_t buf[1] = { 0 };
	char line[256];
	unsigned int lines = 0;
	FILE *log;

	bus_init(&bus, "pio");
	log = tmpfile();
	assert_non_null(log);
	log_set_sink(log);
	for (unsigned int i = 0; i < 1000; i++)
		assert_false(bus_access(&bus, 0x80 + i, buf, 1, true));
	assert_int_equal(atomic_load(&bus.unclaimed), 1000);
	rewind(log);
	while (fgets(line, sizeof(line), log))
		lines++;
	/* A burst plus one "suppressed" line, not a thousand lines. */
	assert_true(lines >= 2 && lines <= 64);
	fclose(log);
	log_set_sink(quiet_log);
	bus_destroy(&bus);
}

static void test_access_at_top(void **state)
{
	struct fake_dev a;
	struct bus bus;
	uint8_t buf[4];

	fake_init(&a, &ops_any, "fake", 0x50, false);
	bus_init(&bus, "mmio");
	assert_int_equal(bus_insert(&bus, UINT64_MAX - 1, 2, &a.dev), 0);
	assert_true(bus_access(&bus, UINT64_MAX - 1, buf, 2, false));
	assert_int_equal(buf[0], 0x50);
	assert_int_equal(buf[1], 0x51);
	/* Bytes past 2^64 wrap to 0, where nothing lives. */
	assert_false(bus_access(&bus, UINT64_MAX - 1, buf, 4, false));
	assert_int_equal(a.calls[1].len, 2);
	assert_int_equal(buf[2], 0xFF);
	assert_int_equal(buf[3], 0xFF);
	bus_destroy(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_refusals),
		cmocka_unit_test(test_insert_many_sorted),
		cmocka_unit_test(test_find_edges),
		cmocka_unit_test(test_offsets_relative),
		cmocka_unit_test(test_straddle_devices_and_gap),
		cmocka_unit_test(test_access_size_split),
		cmocka_unit_test(test_unclaimed),
		cmocka_unit_test(test_unclaimed_ratelimited),
		cmocka_unit_test(test_access_at_top),
	};

	return cmocka_run_group_tests(tests, quiet_log_setup, quiet_log_teardown);
}

// SPDX-License-Identifier: MIT
/*
 * Guest ranges as iovecs, slot by slot: straddling slots, gaps (the MMIO
 * hole), the top of RAM, wrapping ranges and the iovec limit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "abi/board.h"
#include "mmu/iovec.h"

#define MiB BOARD_MiB
#define GiB BOARD_GiB

static struct mem_map map; /* chunks:2M over 16 MiB: slots every 2 MiB */
static struct mem_map split_map; /* 3 GiB + 1 GiB: RAM on both sides of the hole */

static int setup(void **state)
{
	assert_int_equal(mem_map_create(&map,
		&(struct mem_layout_spec){ MEM_LAYOUT_CHUNKS, 2 * MiB },
		MEM_BACKING_ANON, 16 * MiB, 64), 0);
	assert_int_equal(mem_map_create(&split_map,
		&(struct mem_layout_spec){ MEM_LAYOUT_SPLIT, 0 },
		MEM_BACKING_ANON, 4 * GiB, 64), 0);
	return 0;
}

static int teardown(void **state)
{
	mem_map_destroy(&map);
	mem_map_destroy(&split_map);
	return 0;
}

static void test_one_slot(void **state)
{
	struct iovec iov[4];
	unsigned int n = 99;

	assert_int_equal(mem_gpa_to_iov(&map, 0x1000, 0x2000, iov, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_ptr_equal(iov[0].iov_base, mem_gpa_to_hva(&map, 0x1000, 0x2000));
	assert_int_equal(iov[0].iov_len, 0x2000);
	/* Exactly to the end of the slot and of RAM. */
	assert_int_equal(mem_gpa_to_iov(&map, 2 * MiB - 16, 16, iov, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(mem_gpa_to_iov(&map, 16 * MiB - 1, 1, iov, 4, &n), 0);
	assert_int_equal(n, 1);
}

static void test_zero_length(void **state)
{
	struct iovec iov[1];
	unsigned int n = 99;

	assert_int_equal(mem_gpa_to_iov(&map, 0x1000, 0, iov, 1, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(mem_gpa_to_iov(&map, 0x1000, 0, iov, 0, &n), 0);
}

static void test_spans_slots(void **state)
{
	struct iovec iov[4];
	unsigned int n;

	assert_int_equal(mem_gpa_to_iov(&map, 2 * MiB - 0x100, 0x300, iov, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_ptr_equal(iov[0].iov_base, mem_gpa_to_hva(&map, 2 * MiB - 0x100, 0x100));
	assert_int_equal(iov[0].iov_len, 0x100);
	assert_ptr_equal(iov[1].iov_base, mem_gpa_to_hva(&map, 2 * MiB, 0x200));
	assert_int_equal(iov[1].iov_len, 0x200);
	/* Three slots: a whole one in the middle. */
	assert_int_equal(mem_gpa_to_iov(&map, 2 * MiB - 1, 2 * MiB + 2, iov, 4, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(iov[1].iov_len, 2 * MiB);
	assert_int_equal(iov[2].iov_len, 1);
	/* ...but not into two iovecs. */
	assert_int_equal(mem_gpa_to_iov(&map, 2 * MiB - 1, 2 * MiB + 2, iov, 2, &n), -E2BIG);
}

static void test_outside_ram(void **state)
{
	struct iovec iov[4];
	unsigned int n;

	assert_int_equal(mem_gpa_to_iov(&map, 16 * MiB, 1, iov, 4, &n), -EFAULT);
	assert_int_equal(mem_gpa_to_iov(&map, 16 * MiB - 1, 2, iov, 4, &n), -EFAULT);
	assert_int_equal(mem_gpa_to_iov(&map, BOARD_MMIO_HOLE_START, 16, iov, 4, &n), -EFAULT);
	assert_int_equal(mem_gpa_to_iov(&map, 0x1000, UINT64_MAX, iov, 4, &n), -EFAULT);
	assert_int_equal(mem_gpa_to_iov(&map, UINT64_MAX, 2, iov, 4, &n), -EFAULT);
	assert_int_equal(mem_gpa_to_iov(&map, UINT64_MAX - 0xFFF, 0x2000, iov, 4, &n), -EFAULT);
	assert_false(mem_range_is_ram(&map, 16 * MiB - 1, 2));
	assert_false(mem_range_is_ram(&map, 0x1000, UINT64_MAX));
	assert_true(mem_range_is_ram(&map, 0, 16 * MiB));
	assert_true(mem_range_is_ram(&map, 123, 0));
}

static void test_across_the_hole(void **state)
{
	struct iovec iov[4];
	unsigned int n;
	uint64_t hole = BOARD_MMIO_HOLE_START, high = BOARD_HIGH_RAM_START;

	/* RAM ends at the hole and resumes at 4 GiB: a range may not jump it. */
	assert_int_equal(mem_gpa_to_iov(&split_map, hole - 8, 8, iov, 4, &n), 0);
	assert_int_equal(mem_gpa_to_iov(&split_map, high, 8, iov, 4, &n), 0);
	assert_int_equal(mem_gpa_to_iov(&split_map, hole - 8, 16, iov, 4, &n), -EFAULT);
	assert_int_equal(mem_gpa_to_iov(&split_map, hole - 8, high - hole + 16, iov, 4, &n),
			 -EFAULT);
	assert_false(mem_range_is_ram(&split_map, hole - 8, high - hole + 16));
}

/* The test guests' MMU regions (mailbox, page-table pool, shadow store) are
 * slots of the map, but not guest RAM: a device must not reach them. */
static void test_other_slot_kinds(void **state)
{
	struct mem_map m;
	struct iovec iov[4];
	uint8_t buf[16] = { 0 };
	unsigned int n;

	assert_int_equal(mem_map_create(&m, &(struct mem_layout_spec){ MEM_LAYOUT_SINGLE, 0 },
					MEM_BACKING_ANON, 16 * MiB, 64), 0);
	assert_int_equal(mem_map_add(&m, BOARD_MMIO_HOLE_START, 0x1000, MEM_MMU_MAILBOX, false), 0);
	assert_int_equal(mem_map_add(&m, BOARD_MMIO_HOLE_START + 0x1000, 0x2000, MEM_PT_POOL, true),
			 0);
	assert_int_equal(mem_gpa_to_iov(&m, BOARD_MMIO_HOLE_START, 16, iov, 4, &n), -EFAULT);
	assert_int_equal(mem_gpa_to_iov(&m, BOARD_MMIO_HOLE_START + 0x1800, 16, iov, 4, &n),
			 -EFAULT);
	/* Straddling the mailbox and the pool, both mapped: still refused. */
	assert_int_equal(mem_gpa_to_iov(&m, BOARD_MMIO_HOLE_START + 0xFF8, 16, iov, 4, &n),
			 -EFAULT);
	assert_false(mem_range_is_ram(&m, BOARD_MMIO_HOLE_START, 16));
	assert_false(mem_range_is_ram(&m, BOARD_MMIO_HOLE_START + 0x1000, 0x2000));
	assert_int_equal(mem_read_span(&m, BOARD_MMIO_HOLE_START, buf, sizeof(buf)), -EFAULT);
	assert_int_equal(mem_write_span(&m, BOARD_MMIO_HOLE_START + 0x1000, buf, sizeof(buf)),
			 -EFAULT);
	/* RAM still is. */
	assert_int_equal(mem_gpa_to_iov(&m, 16 * MiB - 16, 16, iov, 4, &n), 0);
	assert_true(mem_range_is_ram(&m, 0, 16 * MiB));
	mem_map_destroy(&m);
}

static void test_span_copies(void **state)
{
	uint8_t in[32], out[32];

	for (unsigned int i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	assert_int_equal(mem_write_span(&map, 4 * MiB - 10, in, sizeof(in)), 0);
	assert_int_equal(mem_read(&map, 4 * MiB, out, 22), 0);
	assert_memory_equal(out, in + 10, 22);
	memset(out, 0, sizeof(out));
	assert_int_equal(mem_read_span(&map, 4 * MiB - 10, out, sizeof(out)), 0);
	assert_memory_equal(out, in, sizeof(in));
	assert_int_equal(mem_read_span(&map, 16 * MiB - 10, out, sizeof(out)), -EFAULT);
	assert_int_equal(mem_write_span(&map, 16 * MiB - 10, in, sizeof(in)), -EFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_slot),
		cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_spans_slots),
		cmocka_unit_test(test_outside_ram),
		cmocka_unit_test(test_across_the_hole),
		cmocka_unit_test(test_span_copies),
		cmocka_unit_test(test_other_slot_kinds),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

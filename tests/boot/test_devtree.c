// SPDX-License-Identifier: MIT
/*
 * The device tree built by devtree_build for a real mem_map, read back with
 * libfdt and checked against docs/guest-boot.md.
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
#include <libfdt.h>

#include "abi/board.h"
#include "abi/mmu_port.h"
#include "boot/devtree.h"
#include "mmu/memory.h"
#include "fake_mem.h"

#define MiB BOARD_MiB
#define GiB BOARD_GiB
#define DT_BUF 0x10000

struct fixture {
	struct mem_map split;   /* 3200M: RAM on both sides of the hole */
	struct mem_map chunked; /* 3200M in 512M chunks: 7 slots, 2 ranges */
	struct mem_map small;   /* 64M, one range */
	uint8_t *buf;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (fake_mem_init(&f->split, "split", 3200 * MiB) ||
	    fake_mem_init(&f->chunked, "chunks:512M", 3200 * MiB) ||
	    fake_mem_init(&f->small, "split", 64 * MiB))
		return -1;
	f->buf = malloc(DT_BUF);
	if (!f->buf)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fake_mem_destroy(&f->split);
	fake_mem_destroy(&f->chunked);
	fake_mem_destroy(&f->small);
	free(f->buf);
	free(f);
	return 0;
}

static const struct devtree_reserved boot_reserved[] = {
	{ BOARD_BOOT_GDT, 0xF000 - BOARD_BOOT_GDT },
	{ 0x100000, 0x5000 },
};

static void build(struct fixture *f, const struct mem_map *mem, unsigned int nr_vcpus,
		  const char *bootargs, const struct devtree_reserved *res, unsigned int nr_res)
{
	struct devtree_params p = {
		.mem = mem, .nr_vcpus = nr_vcpus, .bootargs = bootargs,
		.reserved = res, .nr_reserved = nr_res,
	};

	memset(f->buf, 0xEE, DT_BUF);
	assert_int_equal(devtree_build(f->buf, DT_BUF, &p), 0);
	assert_int_equal(fdt_check_header(f->buf), 0);
	assert_true(devtree_size(f->buf) <= DT_BUF);
	assert_int_equal(devtree_size(f->buf), fdt_totalsize(f->buf));
}

static int node(const void *fdt, const char *path)
{
	int off = fdt_path_offset(fdt, path);

	if (off < 0)
		fail_msg("no node %s: %s", path, fdt_strerror(off));
	return off;
}

static uint32_t prop_u32(const void *fdt, int off, const char *name)
{
	int len;
	const fdt32_t *v = fdt_getprop(fdt, off, name, &len);

	assert_non_null(v);
	assert_int_equal(len, 4);
	return fdt32_to_cpu(*v);
}

static const char *prop_str(const void *fdt, int off, const char *name)
{
	int len;
	const char *s = fdt_getprop(fdt, off, name, &len);

	assert_non_null(s);
	assert_true(len >= 1);
	assert_int_equal(s[len - 1], '\0');
	return s;
}

static void test_root_cells(void **state)
{
	struct fixture *f = *state;
	int root;

	build(f, &f->split, 1, "x", NULL, 0);
	root = node(f->buf, "/");
	assert_int_equal(prop_u32(f->buf, root, "#address-cells"), 2);
	assert_int_equal(prop_u32(f->buf, root, "#size-cells"), 2);
	assert_string_equal(prop_str(f->buf, root, "compatible"), "minivmm,pc-lite");
	/* interrupt-parent points at the PIC. */
	assert_int_equal(fdt_node_offset_by_phandle(f->buf,
			 prop_u32(f->buf, root, "interrupt-parent")),
			 node(f->buf, "/ioports/interrupt-controller@20"));
}

/* Memory nodes (device_type = "memory") in tree order, as (addr, size). */
static int memory_nodes(const void *fdt, uint64_t (*out)[2], int max)
{
	int n = 0;

	for (int off = fdt_node_offset_by_prop_value(fdt, -1, "device_type", "memory", 7);
	     off >= 0;
	     off = fdt_node_offset_by_prop_value(fdt, off, "device_type", "memory", 7)) {
		int len;
		const uint8_t *reg = fdt_getprop(fdt, off, "reg", &len);
		fdt64_t cells[2];
		char want[40];

		assert_true(n < max);
		assert_non_null(reg);
		assert_int_equal(len, 16);
		/* Properties are only 4-byte aligned. */
		memcpy(cells, reg, sizeof(cells));
		out[n][0] = fdt64_to_cpu(cells[0]);
		out[n][1] = fdt64_to_cpu(cells[1]);
		/* The unit address matches reg. */
		snprintf(want, sizeof(want), "memory@%llx", (unsigned long long)out[n][0]);
		assert_string_equal(fdt_get_name(fdt, off, NULL), want);
		/* Directly under the root. */
		assert_int_equal(fdt_parent_offset(fdt, off), 0);
		n++;
	}
	return n;
}

static void test_memory_split(void **state)
{
	struct fixture *f = *state;
	uint64_t mem[8][2];

	build(f, &f->split, 1, NULL, NULL, 0);
	assert_int_equal(memory_nodes(f->buf, mem, 8), 2);
	assert_int_equal(mem[0][0], 0);
	assert_int_equal(mem[0][1], 3 * GiB);
	assert_int_equal(mem[1][0], BOARD_HIGH_RAM_START);
	assert_int_equal(mem[1][1], 128 * MiB);
}

static void test_memory_chunks_merged(void **state)
{
	struct fixture *f = *state;
	uint64_t mem[8][2];

	/* 7 slots, still one node per contiguous range. */
	assert_int_equal(f->chunked.nr_slots, 7);
	build(f, &f->chunked, 1, NULL, NULL, 0);
	assert_int_equal(memory_nodes(f->buf, mem, 8), 2);
	assert_int_equal(mem[0][0], 0);
	assert_int_equal(mem[0][1], 3 * GiB);
	assert_int_equal(mem[1][0], BOARD_HIGH_RAM_START);
	assert_int_equal(mem[1][1], 128 * MiB);
}

static void test_memory_small(void **state)
{
	struct fixture *f = *state;
	uint64_t mem[8][2];

	build(f, &f->small, 1, NULL, NULL, 0);
	assert_int_equal(memory_nodes(f->buf, mem, 8), 1);
	assert_int_equal(mem[0][0], 0);
	assert_int_equal(mem[0][1], 64 * MiB);
}

static void test_bootargs(void **state)
{
	struct fixture *f = *state;
	int chosen;

	build(f, &f->small, 1, "count=100000 console=ttyS0", NULL, 0);
	chosen = node(f->buf, "/chosen");
	assert_string_equal(prop_str(f->buf, chosen, "bootargs"), "count=100000 console=ttyS0");
	assert_string_equal(prop_str(f->buf, chosen, "stdout-path"), "/ioports/serial@3f8");
	node(f->buf, prop_str(f->buf, chosen, "stdout-path"));

	build(f, &f->small, 1, NULL, NULL, 0);
	assert_string_equal(prop_str(f->buf, node(f->buf, "/chosen"), "bootargs"), "");
	build(f, &f->small, 1, "", NULL, 0);
	assert_string_equal(prop_str(f->buf, node(f->buf, "/chosen"), "bootargs"), "");
}

static int count_cpus(const void *fdt)
{
	int cpus = node(fdt, "/cpus"), n = 0, off;

	assert_int_equal(prop_u32(fdt, cpus, "#address-cells"), 1);
	assert_int_equal(prop_u32(fdt, cpus, "#size-cells"), 0);
	fdt_for_each_subnode(off, fdt, cpus) {
		char want[16];

		snprintf(want, sizeof(want), "cpu@%x", (unsigned int)n);
		assert_string_equal(fdt_get_name(fdt, off, NULL), want);
		assert_string_equal(prop_str(fdt, off, "device_type"), "cpu");
		assert_int_equal(prop_u32(fdt, off, "reg"), n);
		n++;
	}
	return n;
}

static void test_cpus(void **state)
{
	struct fixture *f = *state;

	build(f, &f->small, 1, NULL, NULL, 0);
	assert_int_equal(count_cpus(f->buf), 1);
	build(f, &f->small, 4, NULL, NULL, 0);
	assert_int_equal(count_cpus(f->buf), 4);
	node(f->buf, "/cpus/cpu@3");
	build(f, &f->split, 255, NULL, NULL, 0);
	assert_int_equal(count_cpus(f->buf), 255);
	node(f->buf, "/cpus/cpu@fe");
}

static void test_serial_and_ports(void **state)
{
	struct fixture *f = *state;
	const fdt32_t *reg;
	int ioports, serial, len;

	build(f, &f->small, 1, NULL, NULL, 0);
	ioports = node(f->buf, "/ioports");
	assert_int_equal(prop_u32(f->buf, ioports, "#address-cells"), 1);
	assert_int_equal(prop_u32(f->buf, ioports, "#size-cells"), 1);
	serial = node(f->buf, "/ioports/serial@3f8");
	assert_string_equal(prop_str(f->buf, serial, "compatible"), "ns16550a");
	reg = fdt_getprop(f->buf, serial, "reg", &len);
	assert_non_null(reg);
	assert_int_equal(len, 8);
	assert_int_equal(fdt32_to_cpu(reg[0]), BOARD_COM1_BASE);
	assert_int_equal(fdt32_to_cpu(reg[1]), BOARD_COM1_SIZE);
	assert_int_equal(prop_u32(f->buf, serial, "interrupts"), BOARD_COM1_GSI);
	assert_int_equal(prop_u32(f->buf, serial, "clock-frequency"), BOARD_COM1_CLOCK_HZ);

	reg = fdt_getprop(f->buf, node(f->buf, "/ioports/debug-exit@501"), "reg", &len);
	assert_non_null(reg);
	assert_int_equal(len, 8);
	assert_int_equal(fdt32_to_cpu(reg[0]), BOARD_DEBUG_EXIT_PORT);
	assert_int_equal(fdt32_to_cpu(reg[1]), 1);
	node(f->buf, "/ioports/post@80");
	node(f->buf, "/ioports/i8042@60");
}

static void test_memreserve(void **state)
{
	struct fixture *f = *state;
	const struct devtree_reserved many[] = {
		{ 0x1000, 0x1000 }, { 0x200000, 0x3000 }, { 0x100000000ULL, 0x1000 },
		{ 0, 1 }, { 0xFFFF0000ULL, 0x10000 },
	};
	uint64_t addr, size;

	build(f, &f->small, 1, NULL, boot_reserved, 2);
	assert_int_equal(fdt_num_mem_rsv(f->buf), 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(fdt_get_mem_rsv(f->buf, i, &addr, &size), 0);
		assert_int_equal(addr, boot_reserved[i].addr);
		assert_int_equal(size, boot_reserved[i].size);
	}

	/* Exactly as passed: order and values kept, nothing added. */
	build(f, &f->split, 2, NULL, many, 5);
	assert_int_equal(fdt_num_mem_rsv(f->buf), 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(fdt_get_mem_rsv(f->buf, i, &addr, &size), 0);
		assert_int_equal(addr, many[i].addr);
		assert_int_equal(size, many[i].size);
	}

	build(f, &f->small, 1, NULL, NULL, 0);
	assert_int_equal(fdt_num_mem_rsv(f->buf), 0);
}

static void test_too_small(void **state)
{
	struct fixture *f = *state;
	struct devtree_params p = {
		.mem = &f->split, .nr_vcpus = 2, .bootargs = "console=ttyS0",
		.reserved = boot_reserved, .nr_reserved = 2,
	};
	size_t need;
	uint8_t *exact;

	assert_int_equal(devtree_build(f->buf, 64, &p), -ENOSPC);
	assert_int_equal(devtree_build(f->buf, 512, &p), -ENOSPC);
	assert_int_equal(devtree_build(f->buf, 0, &p), -ENOSPC);

	/* The exact size works, one byte less does not (ASan sees overruns). */
	assert_int_equal(devtree_build(f->buf, DT_BUF, &p), 0);
	need = devtree_size(f->buf);
	exact = malloc(need);
	assert_non_null(exact);
	assert_int_equal(devtree_build(exact, need - 1, &p), -ENOSPC);
	assert_int_equal(devtree_build(exact, need, &p), 0);
	assert_int_equal(fdt_check_header(exact), 0);
	assert_int_equal(devtree_size(exact), need);
	assert_memory_equal(exact, f->buf, need);
	free(exact);
}

static void test_fits_boot_area(void **state)
{
	struct fixture *f = *state;
	struct devtree_params p = {
		.mem = &f->chunked, .nr_vcpus = 255,
		.bootargs = "a fairly long command line with count=100000 and more",
		.reserved = boot_reserved, .nr_reserved = 2,
	};

	/* The largest machine still fits the area vm.c gives the tree. */
	assert_int_equal(devtree_build(f->buf, BOARD_BOOT_FDT_MAX, &p), 0);
	assert_true(devtree_size(f->buf) <= BOARD_BOOT_FDT_MAX);
}

static uint64_t prop_u64_at(const void *fdt, int off, const char *name, int idx, int count)
{
	int len;
	const uint8_t *v = fdt_getprop(fdt, off, name, &len);
	fdt64_t x;

	assert_non_null(v);
	assert_int_equal(len, 8 * count);
	memcpy(&x, v + 8 * idx, sizeof(x)); /* properties are only 4-byte aligned */
	return fdt64_to_cpu(x);
}

/* /minivmm-mmu as the guests read it (docs/shadow-mmu.md), both modes. */
static void test_mmu_node(void **state)
{
	struct fixture *f = *state;
	struct mmu_plan plan;
	struct devtree_params p = { .mem = &f->split, .nr_vcpus = 1, .mmu = &plan };
	int off;

	/* Without a plan (Linux) there is no node. */
	build(f, &f->small, 1, NULL, NULL, 0);
	assert_true(fdt_path_offset(f->buf, "/minivmm-mmu") < 0);

	mmu_plan_make(MMU_TDP, false, 16 * MiB, &f->split, &plan);
	assert_int_equal(devtree_build(f->buf, DT_BUF, &p), 0);
	off = node(f->buf, "/minivmm-mmu");
	assert_string_equal(prop_str(f->buf, off, "compatible"), "minivmm,mmu");
	assert_string_equal(prop_str(f->buf, off, "mode"), "tdp");
	assert_null(fdt_getprop(f->buf, off, "fill", NULL));
	assert_int_equal(prop_u64_at(f->buf, off, "mailbox", 0, 2), BOARD_MMU_MAILBOX);
	assert_int_equal(prop_u64_at(f->buf, off, "mailbox", 1, 2), PAGE_SIZE_4K);
	assert_int_equal(prop_u64_at(f->buf, off, "pool", 0, 2), BOARD_MMU_POOL_BASE);
	assert_int_equal(prop_u64_at(f->buf, off, "pool", 1, 2), 16 * MiB);
	assert_int_equal(prop_u64_at(f->buf, off, "pool-free", 0, 1), BOARD_MMU_POOL_BASE);
	assert_int_equal(prop_u64_at(f->buf, off, "boot-root", 0, 1), BOARD_BOOT_PML4);
	assert_int_equal(prop_u32(f->buf, off, "io-port"), BOARD_MMU_PORT);

	/* Shadow: the boot tables move into the pool (PML4, PDPT, one PD per
	 * GiB up to 4.25 GiB = 5, the mailbox PT), the store is 4x the pool. */
	mmu_plan_make(MMU_SHADOW, true, 16 * MiB, &f->split, &plan);
	assert_int_equal(plan.boot_pages, 1 + 1 + 5 + 1);
	assert_int_equal(plan.store_gpa, BOARD_MMU_STORE_BASE);
	assert_int_equal(plan.store_size, 64 * MiB);
	assert_int_equal(devtree_build(f->buf, DT_BUF, &p), 0);
	off = node(f->buf, "/minivmm-mmu");
	assert_string_equal(prop_str(f->buf, off, "mode"), "shadow");
	assert_string_equal(prop_str(f->buf, off, "fill"), "lazy");
	assert_int_equal(prop_u64_at(f->buf, off, "boot-root", 0, 1), BOARD_MMU_POOL_BASE);
	assert_int_equal(prop_u64_at(f->buf, off, "pool-free", 0, 1),
			 BOARD_MMU_POOL_BASE + 8 * PAGE_SIZE_4K);

	/* The store never exceeds its window. */
	mmu_plan_make(MMU_SHADOW, true, BOARD_MMU_POOL_MAX, &f->split, &plan);
	assert_true(plan.store_size <= BOARD_MMU_STORE_MAX);
	assert_true(plan.pool_gpa + plan.pool_size <= plan.store_gpa);
}

#define T(fn) cmocka_unit_test(fn)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_root_cells),
		T(test_memory_split),
		T(test_memory_chunks_merged),
		T(test_memory_small),
		T(test_bootargs),
		T(test_cpus),
		T(test_serial_and_ports),
		T(test_memreserve),
		T(test_too_small),
		T(test_fits_boot_area),
		T(test_mmu_node),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

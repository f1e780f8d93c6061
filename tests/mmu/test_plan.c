// SPDX-License-Identifier: MIT
/* The MMU plan, its regions in the memory map, and the identity-map builder
 * (walked back with the software walker). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "abi/mmu_port.h"
#include "base/util.h"
#include "mmu/idmap.h"
#include "mmu/memory.h"
#include "mmu/plan.h"
#include "mmu/ptw.h"

#define MiB (1024ULL * 1024)
#define GiB (1024 * MiB)

static int setup(void **state)
{
	static struct mem_map map;
	struct mem_layout_spec split = { .kind = MEM_LAYOUT_SPLIT };

	if (mem_map_create(&map, &split, MEM_BACKING_ANON, 64 * MiB, 16))
		return -1;
	*state = &map;
	return 0;
}

static int teardown(void **state)
{
	mem_map_destroy(*state);
	return 0;
}

static void test_plan_tdp(void **state)
{
	struct mmu_plan p;

	mmu_plan_make(MMU_TDP, false, 16 * MiB, *state, &p);
	assert_int_equal(p.pool_gpa, BOARD_MMU_POOL_BASE);
	assert_int_equal(p.pool_size, 16 * MiB);
	assert_int_equal(p.store_size, 0);
	assert_int_equal(p.boot_root, BOARD_BOOT_PML4);
	assert_int_equal(p.pool_free, p.pool_gpa);
	/* The identity map reaches the end of the pool, beyond RAM. */
	assert_int_equal(p.map_top, BOARD_MMU_POOL_BASE + 16 * MiB);
}

static void test_plan_shadow(void **state)
{
	struct mmu_plan p;

	mmu_plan_make(MMU_SHADOW, true, 8 * MiB, *state, &p);
	assert_true(p.lazy);
	assert_int_equal(p.store_gpa, BOARD_MMU_STORE_BASE);
	assert_int_equal(p.store_size, 32 * MiB);
	/* PML4, one PDPT, 4 PDs (to 3.008 GiB: 4 GiB rounded), the mailbox PT. */
	assert_int_equal(p.boot_pages, 1 + 1 + 4 + 1);
	assert_int_equal(p.boot_root, p.pool_gpa);
	assert_int_equal(p.pool_free, p.pool_gpa + 7 * PAGE_SIZE_4K);
	mmu_plan_make(MMU_SHADOW, false, BOARD_MMU_POOL_MAX, *state, &p);
	assert_int_equal(p.store_size, BOARD_MMU_STORE_MAX);
}

static void test_regions(void **state)
{
	struct mem_map *map = *state;
	struct mmu_plan p;
	const struct mem_slot *pool, *store, *mb;
	unsigned int before = map->nr_slots;
	uint64_t top = mem_map_top(map);

	mmu_plan_make(MMU_SHADOW, false, 4 * MiB, map, &p);
	assert_int_equal(mmu_plan_add_regions(&p, map), 0);
	assert_int_equal(map->nr_slots, before + 3);
	mb = mem_find_kind(map, MEM_MMU_MAILBOX);
	pool = mem_find_kind(map, MEM_PT_POOL);
	store = mem_find_kind(map, MEM_SHADOW_STORE);
	assert_non_null(mb);
	assert_non_null(pool);
	assert_non_null(store);
	assert_true(pool->readonly);
	assert_false(store->readonly || mb->readonly);
	/* Sorted by address, ids in creation order. */
	for (unsigned int i = 1; i < map->nr_slots; i++)
		assert_true(map->slots[i - 1].gpa + map->slots[i - 1].size <= map->slots[i].gpa);
	assert_int_equal(pool->id, before + 1);
	/* Reached through the one checked path; RAM-only helpers and the
	 * guest's memory map do not see them. */
	assert_ptr_equal(mem_gpa_to_hva(map, p.pool_gpa + 8, 8), pool->hva + 8);
	assert_null(mem_gpa_to_hva(map, p.pool_gpa + p.pool_size - 4, 8));
	assert_null(mem_ram_to_hva(map, p.pool_gpa, 8));
	assert_non_null(mem_ram_to_hva(map, 0x1000, 8));
	assert_int_equal(mem_map_top(map), top);
	assert_int_equal(mem_ram_ranges(map, NULL, 0), 1);
	/* Bad regions are refused: overlap, unaligned, empty, wrapping. */
	assert_int_equal(mem_map_add(map, 0, PAGE_SIZE_4K, MEM_MMU_MAILBOX, false), -EEXIST);
	assert_int_equal(mem_map_add(map, p.pool_gpa + p.pool_size - PAGE_SIZE_4K,
				     2 * PAGE_SIZE_4K, MEM_MMU_MAILBOX, false), -EEXIST);
	assert_int_equal(mem_map_add(map, 0xE0000800, PAGE_SIZE_4K, MEM_MMU_MAILBOX, false),
			 -EINVAL);
	assert_int_equal(mem_map_add(map, 0xE0000000, 0, MEM_MMU_MAILBOX, false), -EINVAL);
	assert_int_equal(mem_map_add(map, UINT64_MAX - 0xFFF, 2 * PAGE_SIZE_4K,
				     MEM_MMU_MAILBOX, false), -EINVAL);
	assert_int_equal(map->nr_slots, before + 3);
}

static void test_no_slot_left(void **state)
{
	struct mem_map map;
	struct mem_layout_spec single = { .kind = MEM_LAYOUT_SINGLE };
	struct mmu_plan p;

	(void)state;
	assert_int_equal(mem_map_create(&map, &single, MEM_BACKING_ANON, 16 * MiB, 2), 0);
	mmu_plan_make(MMU_SHADOW, false, 2 * MiB, &map, &p);
	assert_int_equal(mmu_plan_add_regions(&p, &map), -E2BIG);
	mem_map_destroy(&map);
}

static const void *map_gpa(void *ctx, uint64_t gpa, uint64_t len)
{
	return mem_gpa_to_hva(ctx, gpa, len);
}

static int walk(struct mem_map *map, uint64_t root, uint64_t gva, struct ptw_result *r)
{
	struct ptw_mem mem = { .map = map_gpa, .ctx = map };
	struct ptw_regs regs = { .cr0 = 0x80000001, .cr3 = root, .cr4 = 0x20,
				 .efer = 0x500, .maxphyaddr = 46 };

	return ptw_walk(&mem, &regs, gva, PTW_WRITE | PTW_USER, r);
}

static void test_idmap(void **state)
{
	struct mem_map *map = *state;
	struct idmap_spec s = {
		.tables_gpa = 0x100000, .top = 5 * GiB,
		.hole_gpa = 0xD0000000, .hole_size = 64 * MiB, .lone_page = 0xC0000000,
	};
	struct ptw_result r;

	assert_int_equal(idmap_pages(&s), 1 + 1 + 5 + 1);
	assert_int_equal(idmap_build(map, &s), 0);
	/* Identity, 2 MiB pages, user and writable, below and above 4 GiB. */
	static const uint64_t ok[] = { 0, 0x1234, 63 * MiB + 5, 0xC0200000, 4 * GiB + 0x3000,
				       5 * GiB - 1 };
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		walk(map, s.tables_gpa, ok[i], &r);
		assert_int_equal(r.fault, PTW_OK);
		assert_int_equal(r.gpa, ok[i]);
		assert_int_equal(r.page_size, 2 * MiB);
	}
	/* The lone page alone, by a 4 KiB entry; the rest of its 2 MiB and
	 * the hole are not mapped, nor anything past top. */
	walk(map, s.tables_gpa, 0xC0000010, &r);
	assert_int_equal(r.fault, PTW_OK);
	assert_int_equal(r.gpa, 0xC0000010);
	assert_int_equal(r.page_size, 4096);
	walk(map, s.tables_gpa, 0xC0001000, &r);
	assert_int_equal(r.fault, PTW_PAGE_FAULT);
	walk(map, s.tables_gpa, 0xD0000000 + 63 * MiB, &r);
	assert_int_equal(r.fault, PTW_PAGE_FAULT);
	walk(map, s.tables_gpa, 0xD4000000, &r);
	assert_int_equal(r.fault, PTW_OK);
	walk(map, s.tables_gpa, 5 * GiB, &r);
	assert_int_equal(r.fault, PTW_PAGE_FAULT);
	/* Tables that do not fit in one slot. */
	s.tables_gpa = 64 * MiB - PAGE_SIZE_4K;
	assert_int_equal(idmap_build(map, &s), -EFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_tdp),
		cmocka_unit_test(test_plan_shadow),
		cmocka_unit_test(test_regions),
		cmocka_unit_test(test_no_slot_left),
		cmocka_unit_test(test_idmap),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

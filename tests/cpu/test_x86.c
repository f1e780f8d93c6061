// SPDX-License-Identifier: MIT
/*
 * x86 boot state of the test-guest protocol (docs/guest-boot.md): the GDT,
 * TSS and identity page tables written into a small mmap'd mem_map, the
 * long-mode sregs, and the per-vCPU CPUID fix-ups.  No KVM needed.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "abi/board.h"
#include "abi/paging.h"
#include "base/util.h"
#include "mmu/memory.h"
#include "cpu/x86.h"
#include "fake_mem.h"

#define TSS_LIMIT_EXPECTED (X86_TSS64_SIZE + X86_TSS_IOMAP_BYTES)

/* Descriptor fields (SDM vol. 3, 3.4.5). */
#define DESC_TYPE(d)  (((d) >> 40) & 0xF)
#define DESC_S(d)     (((d) >> 44) & 1)
#define DESC_DPL(d)   (((d) >> 45) & 3)
#define DESC_P(d)     (((d) >> 47) & 1)
#define DESC_L(d)     (((d) >> 53) & 1)
#define DESC_DB(d)    (((d) >> 54) & 1)
#define DESC_G(d)     (((d) >> 55) & 1)

static int setup(void **state)
{
	struct mem_map *map = fake_mem_new("split", 16 * BOARD_MiB);

	if (!map)
		return -1;
	/* Garbage everywhere, so the tests see what was really written. */
	memset(map->host_base, 0x5A, 1 * BOARD_MiB);
	*state = map;
	return 0;
}

static int teardown(void **state)
{
	fake_mem_free(*state);
	return 0;
}

static void *gpa(const struct mem_map *map, uint64_t addr, uint64_t len)
{
	void *p = mem_gpa_to_hva(map, addr, len);

	assert_non_null(p);
	return p;
}

static uint64_t gdt_entry(const struct mem_map *map, unsigned int sel)
{
	uint64_t d;

	assert_int_equal(mem_read(map, BOARD_BOOT_GDT + (sel & ~7u), &d, sizeof(d)), 0);
	return d;
}

static void write_tables(const struct mem_map *map, uint64_t top, uint64_t *end)
{
	assert_int_equal(x86_write_boot_tables(map, top, end), 0);
}

static void test_gdt_segments(void **state)
{
	const struct mem_map *map = *state;
	uint64_t end, d;

	write_tables(map, mem_map_top(map), &end);
	assert_int_equal(gdt_entry(map, 0), 0);

	/* Kernel code: 64-bit (L=1, D=0), DPL 0, executable. */
	d = gdt_entry(map, BOARD_SEL_KCODE);
	assert_int_equal(DESC_P(d), 1);
	assert_int_equal(DESC_S(d), 1);
	assert_int_equal(DESC_DPL(d), 0);
	assert_int_equal(DESC_L(d), 1);
	assert_int_equal(DESC_DB(d), 0);
	assert_true(DESC_TYPE(d) & 0x8);

	/* Kernel data: DPL 0, writable data. */
	d = gdt_entry(map, BOARD_SEL_KDATA);
	assert_int_equal(DESC_P(d), 1);
	assert_int_equal(DESC_S(d), 1);
	assert_int_equal(DESC_DPL(d), 0);
	assert_int_equal(DESC_L(d), 0);
	assert_false(DESC_TYPE(d) & 0x8);
	assert_true(DESC_TYPE(d) & 0x2);

	/* User data (0x1b): DPL 3 = its RPL, writable data. */
	assert_int_equal(BOARD_SEL_UDATA & 3, 3);
	d = gdt_entry(map, BOARD_SEL_UDATA);
	assert_int_equal(DESC_P(d), 1);
	assert_int_equal(DESC_S(d), 1);
	assert_int_equal(DESC_DPL(d), 3);
	assert_int_equal(DESC_L(d), 0);
	assert_false(DESC_TYPE(d) & 0x8);
	assert_true(DESC_TYPE(d) & 0x2);

	/* User code (0x23): 64-bit, DPL 3. */
	assert_int_equal(BOARD_SEL_UCODE & 3, 3);
	d = gdt_entry(map, BOARD_SEL_UCODE);
	assert_int_equal(DESC_P(d), 1);
	assert_int_equal(DESC_S(d), 1);
	assert_int_equal(DESC_DPL(d), 3);
	assert_int_equal(DESC_L(d), 1);
	assert_int_equal(DESC_DB(d), 0);
	assert_true(DESC_TYPE(d) & 0x8);

	/* Flat: base 0, limit 0xFFFFF pages. */
	for (unsigned int sel = 0x08; sel <= 0x20; sel += 8) {
		d = gdt_entry(map, sel);
		assert_int_equal(d & 0xFFFF, 0xFFFF);
		assert_int_equal((d >> 48) & 0xF, 0xF);
		assert_int_equal(DESC_G(d), 1);
		assert_int_equal((d >> 16) & 0xFFFFFF, 0);
		assert_int_equal(d >> 56, 0);
	}
}

static void test_gdt_tss_descriptor(void **state)
{
	const struct mem_map *map = *state;
	uint64_t end, lo, hi, base, limit;

	write_tables(map, mem_map_top(map), &end);
	lo = gdt_entry(map, BOARD_SEL_TSS);
	hi = gdt_entry(map, BOARD_SEL_TSS + 8);
	base = ((lo >> 16) & 0xFFFFFF) | ((lo >> 56) << 24) | ((hi & 0xFFFFFFFF) << 32);
	limit = (lo & 0xFFFF) | (((lo >> 48) & 0xF) << 16);
	assert_int_equal(base, BOARD_BOOT_TSS);
	assert_int_equal(limit, TSS_LIMIT_EXPECTED);
	/* Available (9) or busy (0xB) 64-bit TSS: a system descriptor. */
	assert_int_equal(DESC_TYPE(lo) & ~0x2ULL, 0x9);
	assert_int_equal(DESC_S(lo), 0);
	assert_int_equal(DESC_P(lo), 1);
	assert_int_equal(DESC_DPL(lo), 0);
	assert_int_equal(DESC_G(lo), 0); /* limit in bytes */
	/* The upper half's type field must be zero. */
	assert_int_equal((hi >> 40) & 0x1F, 0);
	/* The TSS, with its bitmap and the 0xff byte, fits its boot area. */
	assert_true(limit + 1 <= BOARD_BOOT_TSS_SIZE);
}

static void test_tss_io_bitmap(void **state)
{
	const struct mem_map *map = *state;
	const uint8_t *tss = gpa(map, BOARD_BOOT_TSS, BOARD_BOOT_TSS_SIZE);
	uint16_t iomap;
	uint64_t end;

	write_tables(map, mem_map_top(map), &end);
	memcpy(&iomap, tss + 102, sizeof(iomap));
	assert_int_equal(iomap, 104);
	/* RSP0..IST7 zero (the guest sets RSP0 before entering ring 3). */
	for (unsigned int i = 0; i < 102; i++)
		assert_int_equal(tss[i], 0);
	/* Every port granted: the whole bitmap is zero ... */
	for (unsigned int i = 0; i < X86_TSS_IOMAP_BYTES; i++)
		if (tss[iomap + i] != 0)
			fail_msg("I/O bitmap byte %u is 0x%x", i, tss[iomap + i]);
	/* ... and followed by the 0xff byte, which lies inside the limit. */
	assert_int_equal(tss[iomap + X86_TSS_IOMAP_BYTES], 0xFF);
	assert_int_equal(iomap + X86_TSS_IOMAP_BYTES, TSS_LIMIT_EXPECTED);
}

static void check_identity(const struct mem_map *map, uint64_t nr_gib)
{
	const uint64_t *pml4 = gpa(map, BOARD_BOOT_PML4, PAGE_SIZE_4K);
	const uint64_t *pdpt = gpa(map, BOARD_BOOT_PDPT, PAGE_SIZE_4K);
	const uint64_t *pd = gpa(map, BOARD_BOOT_PD, nr_gib * PAGE_SIZE_4K);

	assert_int_equal(pml4[0], BOARD_BOOT_PDPT | PTE_P_RW_US);
	for (unsigned int i = 1; i < PT_ENTRIES; i++)
		assert_int_equal(pml4[i], 0);
	for (uint64_t g = 0; g < PT_ENTRIES; g++) {
		if (g < nr_gib)
			assert_int_equal(pdpt[g],
					 (BOARD_BOOT_PD + g * PAGE_SIZE_4K) | PTE_P_RW_US);
		else
			assert_int_equal(pdpt[g], 0);
	}
	for (uint64_t i = 0; i < nr_gib * PT_ENTRIES; i++) {
		uint64_t want = (i * PAGE_SIZE_2M) | PTE_P_RW_US | PTE_PS;

		if (pd[i] != want)
			fail_msg("PD entry %" PRIu64 " is 0x%" PRIx64 ", want 0x%" PRIx64, i,
				 pd[i], want);
	}
}

static void test_page_tables_4g(void **state)
{
	const struct mem_map *map = *state;
	uint64_t end = 0;

	/* 16 MiB of RAM still maps the 32-bit hole: 4 GiB, 4 PDs. */
	write_tables(map, mem_map_top(map), &end);
	assert_int_equal(end, BOARD_BOOT_PD + 4 * PAGE_SIZE_4K);
	check_identity(map, 4);
	/* map_top 0 and exactly 4 GiB are the same. */
	write_tables(map, 0, &end);
	assert_int_equal(end, BOARD_BOOT_PD + 4 * PAGE_SIZE_4K);
	write_tables(map, 4 * BOARD_GiB, &end);
	assert_int_equal(end, BOARD_BOOT_PD + 4 * PAGE_SIZE_4K);
}

static void test_page_tables_above_4g(void **state)
{
	const struct mem_map *map = *state;
	uint64_t end = 0;

	/* Rounded up to whole GiB: 3200M split tops out at 4G+128M -> 5 PDs. */
	write_tables(map, BOARD_HIGH_RAM_START + 128 * BOARD_MiB, &end);
	assert_int_equal(end, BOARD_BOOT_PD + 5 * PAGE_SIZE_4K);
	check_identity(map, 5);
	write_tables(map, 5 * BOARD_GiB + 1, &end);
	assert_int_equal(end, BOARD_BOOT_PD + 6 * PAGE_SIZE_4K);
	check_identity(map, 6);
	/* The most the boot area holds ends right below the EBDA. */
	write_tables(map, BOARD_BOOT_MAX_PDS * BOARD_GiB, &end);
	assert_int_equal(end, BOARD_BOOT_AREA_END);
	check_identity(map, BOARD_BOOT_MAX_PDS);
}

static void test_page_tables_too_big(void **state)
{
	const struct mem_map *map = *state;
	uint64_t end = 0xABCD;

	assert_int_equal(x86_write_boot_tables(map, BOARD_BOOT_MAX_PDS * BOARD_GiB + 1, &end),
			 -E2BIG);
	assert_int_equal(x86_write_boot_tables(map, 1ULL << 46, &end), -E2BIG);
	assert_int_equal(x86_write_boot_tables(map, 1ULL << 63, &end), -E2BIG);
	assert_int_equal(end, 0xABCD);
}

static void test_page_tables_huge_top(void **state)
{
	const struct mem_map *map = *state;
	uint64_t end = 0xABCD;

	/* map_top near 2^64 must not wrap into a small table count. */
	assert_int_equal(x86_write_boot_tables(map, UINT64_MAX, &end), -E2BIG);
	assert_int_equal(x86_write_boot_tables(map, UINT64_MAX - BOARD_GiB + 2, &end), -E2BIG);
	assert_int_equal(end, 0xABCD);
}

static void test_tables_need_ram(void **state)
{
	/* A hand-made map whose only slot stops inside the TSS area. */
	struct mem_map map;
	uint64_t end = 0;

	assert_int_equal(fake_mem_init_slots(&map, 0, 0x3000, 1, false), 0);
	assert_int_equal(x86_write_boot_tables(&map, 0, &end), -EFAULT);
	fake_mem_destroy(&map);
}

static void test_boot_sregs(void **state)
{
	const struct mem_map *map = *state;
	struct kvm_sregs s;
	uint64_t end, tss_lo;

	memset(&s, 0xA5, sizeof(s));
	x86_boot_sregs(&s, 1);
	assert_int_equal(s.cr0 & (X86_CR0_PE | X86_CR0_PG | X86_CR0_WP | X86_CR0_NE | X86_CR0_ET |
				  X86_CR0_MP),
			 X86_CR0_PE | X86_CR0_PG | X86_CR0_WP | X86_CR0_NE | X86_CR0_ET | X86_CR0_MP);
	assert_int_equal(s.cr4 & X86_CR4_PAE, X86_CR4_PAE);
	assert_int_equal(s.cr4 & (X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT),
			 X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT);
	assert_int_equal(s.cr3, BOARD_BOOT_PML4);
	assert_int_equal(s.efer, X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE);

	/* CS: 64-bit kernel code. */
	assert_int_equal(s.cs.selector, BOARD_SEL_KCODE);
	assert_int_equal(s.cs.l, 1);
	assert_int_equal(s.cs.db, 0);
	assert_int_equal(s.cs.present, 1);
	assert_int_equal(s.cs.s, 1);
	assert_int_equal(s.cs.dpl, 0);
	assert_true(s.cs.type & 0x8);
	assert_int_equal(s.cs.unusable, 0);
	/* Data segments: kernel data. */
	assert_int_equal(s.ds.selector, BOARD_SEL_KDATA);
	assert_int_equal(s.ss.selector, BOARD_SEL_KDATA);
	assert_int_equal(s.es.selector, BOARD_SEL_KDATA);
	assert_int_equal(s.ss.l, 0);
	assert_int_equal(s.ss.present, 1);
	assert_int_equal(s.ss.dpl, 0);
	assert_int_equal(s.ss.unusable, 0);

	/* TR: the busy 64-bit TSS the GDT describes. */
	assert_int_equal(s.tr.selector, BOARD_SEL_TSS);
	assert_int_equal(s.tr.type, 0xB);
	assert_int_equal(s.tr.s, 0);
	assert_int_equal(s.tr.present, 1);
	assert_int_equal(s.tr.unusable, 0);
	assert_int_equal(s.tr.base, BOARD_BOOT_TSS);
	assert_int_equal(s.tr.limit, TSS_LIMIT_EXPECTED);
	write_tables(map, mem_map_top(map), &end);
	tss_lo = gdt_entry(map, BOARD_SEL_TSS);
	assert_int_equal(DESC_TYPE(tss_lo), s.tr.type);
	assert_int_equal(DESC_L(gdt_entry(map, s.cs.selector)), s.cs.l);
	assert_int_equal(DESC_DPL(gdt_entry(map, s.cs.selector)), s.cs.dpl);

	/* GDT: 7 entries (null, 4 segments, 16-byte TSS); no IDT yet. */
	assert_int_equal(s.gdt.base, BOARD_BOOT_GDT);
	assert_int_equal(s.gdt.limit, 7 * 8 - 1);
	assert_true(s.gdt.limit >= BOARD_SEL_TSS + 15);
	assert_int_equal(s.idt.limit, 0);
	assert_int_equal(s.ldt.unusable, 1);

	memset(&s, 0, sizeof(s));
	x86_boot_sregs(&s, 0);
	assert_int_equal(s.efer, X86_EFER_LME | X86_EFER_LMA);
}

static void test_boot_regs(void **state)
{
	struct kvm_regs r;

	memset(&r, 0xA5, sizeof(r));
	x86_boot_regs(&r, 0x100000, BOARD_BOOT_FDT);
	assert_int_equal(r.rip, 0x100000);
	assert_int_equal(r.rdi, BOARD_BOOT_FDT);
	assert_int_equal(r.rflags, X86_RFLAGS_RESERVED);
	assert_int_equal(r.rsp, 0);
	assert_int_equal(r.rax, 0);
	assert_int_equal(r.rsi, 0);
}

/* ---- CPUID ------------------------------------------------------------- */

static struct kvm_cpuid2 *cpuid_table(void)
{
	static const struct kvm_cpuid_entry2 entries[] = {
		{ .function = 0, .eax = 0x1F, .ebx = 0x756E6547 },
		{ .function = 1, .eax = 0x906EA, .ebx = 0xAA551234, .edx = 0 },
		{ .function = 0xB, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .eax = 1, .ebx = 1, .ecx = 0x100, .edx = 0xEE },
		{ .function = 0xB, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .eax = 4, .ebx = 4, .ecx = 0x201, .edx = 0xEE },
		{ .function = 0x1F, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		  .edx = 0xEE },
		{ .function = 0x80000001, .edx = 1u << 20 | 1u << 29 },
	};
	size_t n = ARRAY_SIZE(entries);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(entries[0]));

	assert_non_null(c);
	c->nent = (uint32_t)n;
	memcpy(c->entries, entries, sizeof(entries));
	return c;
}

static void test_cpuid_find(void **state)
{
	struct kvm_cpuid2 *c = cpuid_table();

	assert_ptr_equal(x86_cpuid_find(c, 1, 0), &c->entries[1]);
	/* The index only matters where it is significant. */
	assert_ptr_equal(x86_cpuid_find(c, 1, 7), &c->entries[1]);
	assert_ptr_equal(x86_cpuid_find(c, 0xB, 0), &c->entries[2]);
	assert_ptr_equal(x86_cpuid_find(c, 0xB, 1), &c->entries[3]);
	assert_null(x86_cpuid_find(c, 0xB, 2));
	assert_null(x86_cpuid_find(c, 0x40000000, 0));
	free(c);
}

static void test_cpuid_set_vcpu(void **state)
{
	struct kvm_cpuid2 *c = cpuid_table();

	x86_cpuid_set_vcpu(c, 3, 4);
	/* Leaf 1 EBX: APIC ID in [31:24], logical count in [23:16], rest kept. */
	assert_int_equal(c->entries[1].ebx >> 24, 3);
	assert_int_equal((c->entries[1].ebx >> 16) & 0xFF, 4);
	assert_int_equal(c->entries[1].ebx & 0xFFFF, 0x1234);
	assert_true(c->entries[1].edx & (1u << 28)); /* HTT */
	assert_int_equal(c->entries[1].eax, 0x906EA);
	/* x2APIC ID in EDX of every leaf 0xB / 0x1F subleaf. */
	assert_int_equal(c->entries[2].edx, 3);
	assert_int_equal(c->entries[3].edx, 3);
	assert_int_equal(c->entries[4].edx, 3);
	assert_int_equal(c->entries[2].ecx, 0x100);
	/* Other leaves untouched. */
	assert_int_equal(c->entries[0].ebx, 0x756E6547);
	assert_int_equal(c->entries[5].edx, 1u << 20 | 1u << 29);

	/* Re-applying for another vCPU replaces, not ORs, the IDs. */
	x86_cpuid_set_vcpu(c, 254, 255);
	assert_int_equal(c->entries[1].ebx >> 24, 254);
	assert_int_equal((c->entries[1].ebx >> 16) & 0xFF, 255);
	assert_int_equal(c->entries[1].ebx & 0xFFFF, 0x1234);
	assert_int_equal(c->entries[2].edx, 254);
	free(c);

	/* One vCPU: ID 0 and no HTT claim. */
	c = cpuid_table();
	x86_cpuid_set_vcpu(c, 0, 1);
	assert_int_equal(c->entries[1].ebx >> 24, 0);
	assert_false(c->entries[1].edx & (1u << 28));
	assert_int_equal(c->entries[3].edx, 0);
	free(c);
}

static void test_cpuid_has_nx(void **state)
{
	struct kvm_cpuid2 *c = cpuid_table();

	assert_true(x86_cpuid_has_nx(c));
	c->entries[5].edx &= ~(1u << 20);
	assert_false(x86_cpuid_has_nx(c));
	c->entries[5].edx |= 1u << 20;
	c->entries[5].function = 0x80000008;
	assert_false(x86_cpuid_has_nx(c));
	c->nent = 0;
	assert_false(x86_cpuid_has_nx(c));
	free(c);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_gdt_segments),
		T(test_gdt_tss_descriptor),
		T(test_tss_io_bitmap),
		T(test_page_tables_4g),
		T(test_page_tables_above_4g),
		T(test_page_tables_too_big),
		T(test_page_tables_huge_top),
		cmocka_unit_test(test_tables_need_ram),
		T(test_boot_sregs),
		cmocka_unit_test(test_boot_regs),
		cmocka_unit_test(test_cpuid_find),
		cmocka_unit_test(test_cpuid_set_vcpu),
		cmocka_unit_test(test_cpuid_has_nx),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

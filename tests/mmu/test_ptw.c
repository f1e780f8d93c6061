// SPDX-License-Identifier: MIT
/*
 * Page-table walker: hand-built 4-level tables in a calloc'd 64 MiB "guest
 * RAM" reached through a bounds-checked map callback, then a randomized
 * comparison against a separate model of the same tables.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mmu/ptw.h"
#include "base/util.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define RAM_SIZE (64 * MiB)
#define TABLE_BASE (1 * MiB) /* tables are bump-allocated from here */
#define SZ_4K PAGE_SIZE_4K
#define SZ_2M PAGE_SIZE_2M
#define SZ_1G PAGE_SIZE_1G

#define P  PTE_P
#define RW PTE_RW
#define US PTE_US
#define PS PTE_PS
#define XD PTE_NX
#define EC_P PFEC_P
#define EC_W PFEC_W
#define EC_U PFEC_U
#define EC_RSVD PFEC_RSVD
#define EC_ID PFEC_ID

#define CR0_PE (1ULL << 0)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)

struct fx {
	uint8_t *ram;
	uint64_t next_table;
	unsigned int map_calls;
	struct ptw_mem mem;
	struct ptw_regs regs;
	uint64_t root;
};

static const void *guest_map(void *ctx, uint64_t gpa, uint64_t len)
{
	struct fx *fx = ctx;

	fx->map_calls++;
	if (!len || gpa >= RAM_SIZE || len > RAM_SIZE - gpa)
		return NULL;
	return fx->ram + gpa;
}

static uint64_t rd(struct fx *fx, uint64_t gpa)
{
	uint64_t v;

	assert_true(gpa + 8 <= RAM_SIZE);
	memcpy(&v, fx->ram + gpa, 8);
	return v;
}

static void wr(struct fx *fx, uint64_t gpa, uint64_t v)
{
	assert_true(gpa + 8 <= RAM_SIZE);
	memcpy(fx->ram + gpa, &v, 8);
}

static uint64_t new_table(struct fx *fx)
{
	uint64_t t = fx->next_table;

	assert_true(t + SZ_4K <= RAM_SIZE);
	fx->next_table += SZ_4K;
	return t;
}

/* Fresh tables and the usual 64-bit kernel state: WP, NXE, no SMEP/SMAP. */
static void fx_reset(struct fx *fx)
{
	memset(fx->ram + TABLE_BASE, 0, fx->next_table - TABLE_BASE);
	fx->next_table = TABLE_BASE;
	fx->map_calls = 0;
	fx->root = new_table(fx);
	fx->regs = (struct ptw_regs){
		.cr0 = CR0_PE | PTW_CR0_WP | PTW_CR0_PG,
		.cr3 = fx->root,
		.cr4 = CR4_PAE,
		.efer = EFER_LME | PTW_EFER_LMA | PTW_EFER_NXE,
		.maxphyaddr = 46,
	};
}

static int group_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->ram = calloc(1, RAM_SIZE);
	if (!fx->ram) {
		free(fx);
		return -1;
	}
	fx->next_table = TABLE_BASE;
	fx->mem = (struct ptw_mem){ .map = guest_map, .ctx = fx };
	*state = fx;
	return 0;
}

static int group_teardown(void **state)
{
	struct fx *fx = *state;

	free(fx->ram);
	free(fx);
	return 0;
}

static int test_setup(void **state)
{
	fx_reset(*state);
	return 0;
}

static unsigned int idx(uint64_t gva, int level)
{
	return (unsigned int)PT_INDEX(gva, level);
}

static int size_level(uint64_t size)
{
	return size == SZ_1G ? 1 : size == SZ_2M ? 2 : 3;
}

/* GPA of the entry at `level` for gva; creates missing tables (P|RW|US). */
static uint64_t slot(struct fx *fx, uint64_t gva, int level)
{
	uint64_t table = fx->root;

	for (int l = 0; l < level; l++) {
		uint64_t e = table + idx(gva, l) * 8, v = rd(fx, e);

		if (!v) {
			v = new_table(fx) | P | RW | US;
			wr(fx, e, v);
		}
		table = v & 0x000FFFFFFFFFF000ULL;
	}
	return table + idx(gva, level) * 8;
}

static void map(struct fx *fx, uint64_t gva, uint64_t gpa, uint64_t size, uint64_t flags)
{
	wr(fx, slot(fx, gva, size_level(size)), gpa | flags | (size != SZ_4K ? PS : 0));
}

static void set_bits(struct fx *fx, uint64_t gva, int level, uint64_t set, uint64_t clear)
{
	uint64_t e = slot(fx, gva, level);

	wr(fx, e, (rd(fx, e) & ~clear) | set);
}

static int walk(struct fx *fx, uint64_t gva, unsigned int access, struct ptw_result *r)
{
	return ptw_walk(&fx->mem, &fx->regs, gva, access, r);
}

static void assert_pf(struct fx *fx, uint64_t gva, unsigned int access, uint32_t ec, int levels)
{
	struct ptw_result r;

	assert_int_equal(walk(fx, gva, access, &r), -EFAULT);
	assert_int_equal(r.fault, PTW_PAGE_FAULT);
	assert_int_equal(r.error_code, ec);
	assert_int_equal(r.levels, levels);
}

static void assert_ok(struct fx *fx, uint64_t gva, unsigned int access, uint64_t gpa)
{
	struct ptw_result r;

	assert_int_equal(walk(fx, gva, access, &r), 0);
	assert_int_equal(r.fault, PTW_OK);
	assert_int_equal(r.error_code, 0);
	assert_int_equal(r.gpa, gpa);
}

/* The access kinds and the W/U/I bits each puts in the error code (NXE=1). */
static const struct {
	unsigned int access;
	uint32_t ec;
} accesses[] = {
	{ PTW_READ, 0 },
	{ PTW_WRITE, EC_W },
	{ PTW_USER, EC_U },
	{ PTW_USER | PTW_WRITE, EC_U | EC_W },
	{ PTW_FETCH, EC_ID },
	{ PTW_USER | PTW_FETCH, EC_U | EC_ID },
};
#define NR_ACCESSES ARRAY_SIZE(accesses)

#define GVA4K 0x00007F1234567000ULL /* indices 254, 72, 418, 359 */
#define GPA4K 0x0000003456789000ULL

/* ---- translations ------------------------------------------------------- */

static void test_translate_4k(void **state)
{
	struct fx *fx = *state;
	struct ptw_result r;

	map(fx, GVA4K, GPA4K, SZ_4K, P | RW | US);
	assert_int_equal(walk(fx, GVA4K + 0xABC, PTW_USER | PTW_WRITE, &r), 0);
	assert_int_equal(r.gpa, GPA4K + 0xABC);
	assert_int_equal(r.page_size, SZ_4K);
	assert_int_equal(r.pte, GPA4K | P | RW | US);
	assert_int_equal(r.levels, 4);
	/* root, then the PDPT, PD, PT allocated in that order */
	assert_int_equal(r.entry_gpa[0], TABLE_BASE + 254 * 8);
	assert_int_equal(r.entry_gpa[1], TABLE_BASE + 0x1000 + 72 * 8);
	assert_int_equal(r.entry_gpa[2], TABLE_BASE + 0x2000 + 418 * 8);
	assert_int_equal(r.entry_gpa[3], TABLE_BASE + 0x3000 + 359 * 8);
	assert_true(r.writable && r.user && !r.nx);
	assert_int_equal(r.fault, PTW_OK);
	assert_int_equal(fx->map_calls, 4);

	assert_ok(fx, GVA4K, PTW_READ, GPA4K);
	assert_ok(fx, GVA4K + 0xFFF, PTW_READ, GPA4K + 0xFFF);
	/* the neighbours are not mapped: not-present in the same PT */
	assert_pf(fx, GVA4K + SZ_4K, PTW_READ, 0, 4);
	assert_pf(fx, GVA4K - 1, PTW_READ, 0, 4);
}

static void test_translate_2m(void **state)
{
	struct fx *fx = *state;
	uint64_t gva = 0xFFFF888000200000ULL, gpa = 0x40000000;
	struct ptw_result r;

	/* PAT (bit 12) is part of the entry, not of the address */
	map(fx, gva, gpa, SZ_2M, P | RW | PTE_PAT_LARGE);
	assert_int_equal(walk(fx, gva + 0x12345, PTW_READ, &r), 0);
	assert_int_equal(r.gpa, gpa + 0x12345);
	assert_int_equal(r.page_size, SZ_2M);
	assert_int_equal(r.levels, 3);
	assert_int_equal(r.entry_gpa[0], TABLE_BASE + idx(gva, 0) * 8);
	assert_int_equal(r.entry_gpa[2], TABLE_BASE + 0x2000 + idx(gva, 2) * 8);
	assert_int_equal(r.entry_gpa[3], 0);
	assert_int_equal(r.pte, gpa | P | RW | PS | PTE_PAT_LARGE);
	assert_true(r.writable && !r.user && !r.nx);
	assert_ok(fx, gva + SZ_2M - 1, PTW_WRITE, gpa + SZ_2M - 1);
}

static void test_translate_1g(void **state)
{
	struct fx *fx = *state;
	uint64_t gva = 0x0000004000000000ULL, gpa = 0x0000008000000000ULL;
	struct ptw_result r;

	map(fx, gva, gpa, SZ_1G, P | US | PTE_PAT_LARGE | PTE_A | PTE_D);
	assert_int_equal(walk(fx, gva + 0x3FFFFFFF, PTW_USER, &r), 0);
	assert_int_equal(r.gpa, gpa + 0x3FFFFFFF);
	assert_int_equal(r.page_size, SZ_1G);
	assert_int_equal(r.levels, 2);
	assert_int_equal(r.entry_gpa[1], TABLE_BASE + 0x1000 + 256 * 8);
	assert_int_equal(r.entry_gpa[2], 0);
	assert_true(!r.writable && r.user && !r.nx);
	assert_ok(fx, gva, PTW_FETCH, gpa);
	/* read-only walker: A/D are never touched, here or anywhere */
	assert_int_equal(rd(fx, r.entry_gpa[1]), r.pte);
	assert_int_equal(rd(fx, r.entry_gpa[0]), (fx->root + 0x1000) | P | RW | US);
}

/* Bits 62:52, 11:8 (9:11 in tables), A, D, PWT, PCD, G: all ignored. */
static void test_ignored_bits(void **state)
{
	struct fx *fx = *state;
	uint64_t junk = 0x7FF0000000000000ULL | 0xE00 | 0x78; /* 62:52, 11:9, 6:3 */

	map(fx, GVA4K, GPA4K, SZ_4K, P | RW | US | 0x100 | 0x80); /* G, PAT */
	for (int l = 0; l < PT_LEVELS; l++)
		set_bits(fx, GVA4K, l, junk, 0);
	assert_ok(fx, GVA4K + 5, PTW_USER | PTW_WRITE, GPA4K + 5);
	/* with CR3's PCID / PWT / PCD bits and bit 63 set */
	fx->regs.cr3 |= 0xFFF | (1ULL << 63);
	assert_ok(fx, GVA4K + 5, PTW_READ, GPA4K + 5);
}

/* ---- not present -------------------------------------------------------- */

static void test_not_present_each_level(void **state)
{
	struct fx *fx = *state;
	struct ptw_result r;

	for (int level = 0; level < PT_LEVELS; level++) {
		for (size_t a = 0; a < NR_ACCESSES; a++) {
			fx_reset(fx);
			map(fx, GVA4K, GPA4K, SZ_4K, P | RW | US);
			set_bits(fx, GVA4K, level, 0, P);
			assert_pf(fx, GVA4K, accesses[a].access, accesses[a].ec, level + 1);
		}
		/* everything else in a not-present entry is ignored */
		set_bits(fx, GVA4K, level, XD | PS | (1ULL << 50), 0);
		fx->regs.efer &= ~PTW_EFER_NXE;
		assert_int_equal(walk(fx, GVA4K, PTW_WRITE, &r), -EFAULT);
		assert_int_equal(r.error_code, EC_W);
		assert_int_equal(r.levels, level + 1);
		assert_int_equal(r.entry_gpa[level], slot(fx, GVA4K, level));
		for (int l = level + 1; l < PT_LEVELS; l++)
			assert_int_equal(r.entry_gpa[l], 0);
		assert_int_equal(r.pte, rd(fx, r.entry_gpa[level]));
	}
}

/* ---- R/W and U/S -------------------------------------------------------- */

static void test_write_readonly(void **state)
{
	struct fx *fx = *state;
	struct ptw_result r;

	for (int level = 0; level < PT_LEVELS; level++) {
		fx_reset(fx);
		map(fx, GVA4K, GPA4K, SZ_4K, P | RW | US);
		set_bits(fx, GVA4K, level, 0, RW);
		assert_int_equal(walk(fx, GVA4K, PTW_USER, &r), 0);
		assert_false(r.writable);
		assert_true(r.user);
		assert_pf(fx, GVA4K, PTW_USER | PTW_WRITE, EC_P | EC_W | EC_U, 4);
		assert_ok(fx, GVA4K, PTW_READ, GPA4K);
		/* supervisor: WP=1 enforces R/W, WP=0 ignores it */
		assert_pf(fx, GVA4K, PTW_WRITE, EC_P | EC_W, 4);
		fx->regs.cr0 &= ~PTW_CR0_WP;
		assert_ok(fx, GVA4K + 8, PTW_WRITE, GPA4K + 8);
		/* ... but never for user-mode accesses */
		assert_pf(fx, GVA4K, PTW_USER | PTW_WRITE, EC_P | EC_W | EC_U, 4);
	}
}

static void test_user_supervisor_each_level(void **state)
{
	struct fx *fx = *state;
	struct ptw_result r;

	for (int level = 0; level < PT_LEVELS; level++) {
		fx_reset(fx);
		map(fx, GVA4K, GPA4K, SZ_4K, P | RW | US);
		set_bits(fx, GVA4K, level, 0, US);
		assert_pf(fx, GVA4K, PTW_USER, EC_P | EC_U, 4);
		assert_pf(fx, GVA4K, PTW_USER | PTW_WRITE, EC_P | EC_W | EC_U, 4);
		assert_pf(fx, GVA4K, PTW_USER | PTW_FETCH, EC_P | EC_U | EC_ID, 4);
		assert_int_equal(walk(fx, GVA4K, PTW_WRITE, &r), 0);
		assert_false(r.user);
		assert_true(r.writable);
		assert_ok(fx, GVA4K, PTW_FETCH, GPA4K);
	}
	/* a protection fault still reports the full walk */
	assert_int_equal(walk(fx, GVA4K, PTW_USER, &r), -EFAULT);
	assert_int_equal(r.pte, GPA4K | P | RW);
	assert_int_equal(r.page_size, SZ_4K);
}

/* ---- XD / NXE ----------------------------------------------------------- */

static void test_nx_each_level(void **state)
{
	struct fx *fx = *state;
	struct ptw_result r;

	for (int level = 0; level < PT_LEVELS; level++) {
		fx_reset(fx);
		map(fx, GVA4K, GPA4K, SZ_4K, P | RW | US);
		assert_ok(fx, GVA4K, PTW_FETCH, GPA4K);
		set_bits(fx, GVA4K, level, XD, 0);
		assert_pf(fx, GVA4K, PTW_FETCH, EC_P | EC_ID, 4);
		assert_pf(fx, GVA4K, PTW_USER | PTW_FETCH, EC_P | EC_U | EC_ID, 4);
		assert_int_equal(walk(fx, GVA4K, PTW_USER | PTW_WRITE, &r), 0);
		assert_true(r.nx);
		assert_ok(fx, GVA4K, PTW_READ, GPA4K);
	}
}

static void test_xd_reserved_without_nxe(void **state)
{
	struct fx *fx = *state;

	for (int level = 0; level < PT_LEVELS; level++) {
		fx_reset(fx);
		fx->regs.efer &= ~PTW_EFER_NXE;
		map(fx, GVA4K, GPA4K, SZ_4K, P | RW | US);
		assert_ok(fx, GVA4K, PTW_FETCH, GPA4K);
		set_bits(fx, GVA4K, level, XD, 0);
		assert_pf(fx, GVA4K, PTW_READ, EC_P | EC_RSVD, level + 1);
		assert_pf(fx, GVA4K, PTW_WRITE, EC_P | EC_RSVD | EC_W, level + 1);
		assert_pf(fx, GVA4K, PTW_USER, EC_P | EC_RSVD | EC_U, level + 1);
		/* I/D needs NXE or SMEP */
		assert_pf(fx, GVA4K, PTW_FETCH, EC_P | EC_RSVD, level + 1);
		fx->regs.cr4 |= PTW_CR4_SMEP;
		assert_pf(fx, GVA4K, PTW_FETCH, EC_P | EC_RSVD | EC_ID, level + 1);
	}
}

static void test_fetch_id_bit(void **state)
{
	struct fx *fx = *state;

	/* nothing mapped: a not-present fetch */
	assert_pf(fx, GVA4K, PTW_FETCH, EC_ID, 1);
	fx->regs.efer &= ~PTW_EFER_NXE;
	assert_pf(fx, GVA4K, PTW_FETCH, 0, 1);
	assert_pf(fx, GVA4K, PTW_USER | PTW_FETCH, EC_U, 1);
	fx->regs.cr4 |= PTW_CR4_SMEP;
	assert_pf(fx, GVA4K, PTW_FETCH, EC_ID, 1);
	assert_pf(fx, GVA4K, PTW_USER | PTW_FETCH, EC_U | EC_ID, 1);
	assert_pf(fx, GVA4K, PTW_USER, EC_U, 1);
}

/* ---- reserved bits ------------------------------------------------------ */

static void test_reserved_addr_bits(void **state)
{
	struct fx *fx = *state;
	struct ptw_result r;

	for (int level = 0; level < PT_LEVELS; level++) {
		fx_reset(fx);
		map(fx, GVA4K, GPA4K, SZ_4K, P | RW | US);
		set_bits(fx, GVA4K, level, 1ULL << 51, 0);
		assert_pf(fx, GVA4K, PTW_USER | PTW_WRITE,
			  EC_P | EC_RSVD | EC_W | EC_U, level + 1);
		/* bits between MAXPHYADDR and 51 too */
		set_bits(fx, GVA4K, level, 1ULL << 40, 1ULL << 51);
		fx->regs.maxphyaddr = 40;
		assert_pf(fx, GVA4K, PTW_READ, EC_P | EC_RSVD, level + 1);
	}
	/* bit M-1 is an address bit; so is bit 51 with MAXPHYADDR 52 */
	fx_reset(fx);
	map(fx, GVA4K, GPA4K | (1ULL << 45), SZ_4K, P);
	assert_ok(fx, GVA4K, PTW_READ, GPA4K | (1ULL << 45));
	set_bits(fx, GVA4K, 3, 1ULL << 46, 0);
	assert_pf(fx, GVA4K, PTW_READ, EC_P | EC_RSVD, 4);
	set_bits(fx, GVA4K, 3, 1ULL << 51, 0);
	fx->regs.maxphyaddr = 52;
	assert_ok(fx, GVA4K, PTW_READ, GPA4K | 0x0008600000000000ULL);
	/* a reserved bit stops the walk before a not-present entry below */
	fx_reset(fx);
	map(fx, GVA4K, GPA4K, SZ_4K, P);
	set_bits(fx, GVA4K, 3, 0, P);
	set_bits(fx, GVA4K, 1, 1ULL << 50, 0);
	assert_int_equal(walk(fx, GVA4K, PTW_READ, &r), -EFAULT);
	assert_int_equal(r.error_code, EC_P | EC_RSVD);
	assert_int_equal(r.levels, 2);
	assert_int_equal(r.entry_gpa[2], 0);
}

static void test_ps_in_pml4e(void **state)
{
	struct fx *fx = *state;

	map(fx, GVA4K, GPA4K, SZ_4K, P | RW | US);
	set_bits(fx, GVA4K, 0, PS, 0);
	assert_pf(fx, GVA4K, PTW_READ, EC_P | EC_RSVD, 1);
	assert_pf(fx, GVA4K, PTW_USER | PTW_FETCH, EC_P | EC_RSVD | EC_U | EC_ID, 1);
}

static void test_large_page_reserved_bits(void **state)
{
	struct fx *fx = *state;
	uint64_t gva2m = 0x0000000040000000ULL + 5 * SZ_2M, gpa2m = 0x200000000ULL;
	uint64_t gva1g = 0xFFFFFFFF80000000ULL, gpa1g = 0x3FC0000000ULL;

	map(fx, gva2m, gpa2m, SZ_2M, P | RW);
	map(fx, gva1g, gpa1g, SZ_1G, P | RW);
	for (unsigned int bit = 12; bit <= 29; bit++) {
		uint64_t b = 1ULL << bit;

		/* 2 MiB: 20:13 reserved; 12 is PAT; 29:21 address */
		set_bits(fx, gva2m, 2, b, 0);
		if (bit >= 13 && bit <= 20)
			assert_pf(fx, gva2m + 7, PTW_READ, EC_P | EC_RSVD, 3);
		else
			assert_ok(fx, gva2m + 7, PTW_READ, (gpa2m | (bit > 20 ? b : 0)) + 7);
		set_bits(fx, gva2m, 2, 0, b);
		/* 1 GiB: 29:13 reserved; 12 is PAT */
		set_bits(fx, gva1g, 1, b, 0);
		if (bit >= 13)
			assert_pf(fx, gva1g + 7, PTW_WRITE, EC_P | EC_RSVD | EC_W, 2);
		else
			assert_ok(fx, gva1g + 7, PTW_WRITE, gpa1g + 7);
		set_bits(fx, gva1g, 1, 0, b);
	}
	assert_ok(fx, gva1g + SZ_1G - 1, PTW_READ, gpa1g + SZ_1G - 1);
	assert_ok(fx, gva2m, PTW_READ, gpa2m);
}

/* ---- SMEP / SMAP -------------------------------------------------------- */

static void test_smep(void **state)
{
	struct fx *fx = *state;
	uint64_t kva = 0xFFFFFFFF81000000ULL, kpa = 0x1000000;

	map(fx, GVA4K, GPA4K, SZ_4K, P | RW | US);
	map(fx, kva, kpa, SZ_2M, P | RW);
	fx->regs.cr4 |= PTW_CR4_SMEP;
	assert_pf(fx, GVA4K, PTW_FETCH, EC_P | EC_ID, 4);
	assert_ok(fx, GVA4K, PTW_USER | PTW_FETCH, GPA4K);
	assert_ok(fx, GVA4K, PTW_READ, GPA4K);  /* data: SMAP's business */
	assert_ok(fx, GVA4K, PTW_WRITE, GPA4K);
	assert_ok(fx, kva + 3, PTW_FETCH, kpa + 3);
	/* U/S=0 at one level makes it a supervisor page */
	set_bits(fx, GVA4K, 0, 0, US);
	assert_ok(fx, GVA4K, PTW_FETCH, GPA4K);
	/* SMEP alone sets I/D */
	set_bits(fx, GVA4K, 0, US, 0);
	fx->regs.efer &= ~PTW_EFER_NXE;
	assert_pf(fx, GVA4K, PTW_FETCH, EC_P | EC_ID, 4);
}

static void test_smap(void **state)
{
	struct fx *fx = *state;
	uint64_t kva = 0xFFFFFFFF81000000ULL, kpa = 0x1000000;

	map(fx, GVA4K, GPA4K, SZ_4K, P | RW | US);
	map(fx, kva, kpa, SZ_2M, P | RW);
	fx->regs.cr4 |= PTW_CR4_SMAP;
	assert_pf(fx, GVA4K, PTW_READ, EC_P, 4);
	assert_pf(fx, GVA4K, PTW_WRITE, EC_P | EC_W, 4);
	fx->regs.cr0 &= ~PTW_CR0_WP;
	assert_pf(fx, GVA4K, PTW_WRITE, EC_P | EC_W, 4);
	assert_ok(fx, GVA4K, PTW_FETCH, GPA4K);  /* fetches: SMEP's business */
	assert_ok(fx, GVA4K, PTW_USER | PTW_WRITE, GPA4K);
	assert_ok(fx, kva, PTW_WRITE, kpa);
	set_bits(fx, GVA4K, 2, 0, US);
	assert_ok(fx, GVA4K, PTW_READ, GPA4K);
	/* read-only user page, SMAP off, WP=0: supervisor writes allowed */
	set_bits(fx, GVA4K, 2, US, 0);
	set_bits(fx, GVA4K, 3, 0, RW);
	fx->regs.cr4 &= ~PTW_CR4_SMAP;
	assert_ok(fx, GVA4K, PTW_WRITE, GPA4K);
	fx->regs.cr0 |= PTW_CR0_WP;
	assert_pf(fx, GVA4K, PTW_WRITE, EC_P | EC_W, 4);
}

/* ---- non-walk outcomes -------------------------------------------------- */

static void test_noncanonical(void **state)
{
	static const uint64_t bad[] = {
		0x0000800000000000ULL, 0xFFFF7FFFFFFFFFFFULL, 0x8000000000000000ULL,
		0x7FFFFFFFFFFFFFFFULL, 0x00FF000000000000ULL, 0xFFFE800000000000ULL,
		0x0001000000000000ULL,
	};
	struct fx *fx = *state;
	struct ptw_result r;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(walk(fx, bad[i], PTW_USER | PTW_WRITE, &r), -EFAULT);
		assert_int_equal(r.fault, PTW_GP_NONCANONICAL);
		assert_int_equal(r.error_code, 0);
		assert_int_equal(r.levels, 0);
	}
	assert_int_equal(fx->map_calls, 0);
	/* the last canonical addresses of each half walk (and miss) */
	assert_pf(fx, 0x00007FFFFFFFFFFFULL, PTW_READ, 0, 1);
	assert_pf(fx, 0xFFFF800000000000ULL, PTW_READ, 0, 1);
	map(fx, 0xFFFF800000000000ULL, 0x5000, SZ_4K, P);
	map(fx, 0x00007FFFFFFFF000ULL, 0x6000, SZ_4K, P);
	assert_ok(fx, 0xFFFF800000000000ULL, PTW_READ, 0x5000);
	assert_ok(fx, 0x00007FFFFFFFFFFFULL, PTW_READ, 0x6FFF);
}

static void test_bad_table_gpa(void **state)
{
	struct fx *fx = *state;
	struct ptw_result r;

	/* CR3 outside RAM */
	fx->regs.cr3 = RAM_SIZE;
	assert_int_equal(walk(fx, GVA4K, PTW_READ, &r), -EFAULT);
	assert_int_equal(r.fault, PTW_BAD_TABLE_GPA);
	assert_int_equal(r.levels, 0);
	assert_int_equal(r.entry_gpa[0], RAM_SIZE + 254 * 8);
	assert_int_equal(r.error_code, 0);
	/* a PDPTE pointing outside RAM: the PDE cannot be read */
	fx->regs.cr3 = fx->root;
	map(fx, GVA4K, GPA4K, SZ_4K, P);
	set_bits(fx, GVA4K, 1, 0x3FFF000000ULL, 0);
	assert_int_equal(walk(fx, GVA4K, PTW_READ, &r), -EFAULT);
	assert_int_equal(r.fault, PTW_BAD_TABLE_GPA);
	assert_int_equal(r.levels, 2);
	assert_true(r.entry_gpa[2] >= 0x3FFF000000ULL);
	/* the last entry of RAM is readable; the data page need not be backed */
	fx_reset(fx);
	wr(fx, fx->root + 511 * 8, (RAM_SIZE - SZ_4K) | P);
	wr(fx, RAM_SIZE - 8, 0x3FFFC0000000ULL | P | PS);
	assert_ok(fx, 0xFFFFFFFFC0000000ULL + 1, PTW_READ, 0x3FFFC0000001ULL);
}

static void test_paging_disabled(void **state)
{
	struct fx *fx = *state;
	struct ptw_result r;

	fx->regs.cr0 &= ~PTW_CR0_PG;
	fx->regs.cr3 = 0xDEAD000;
	assert_int_equal(walk(fx, 0x12345678, PTW_USER | PTW_WRITE, &r), 0);
	assert_int_equal(r.gpa, 0x12345678);
	assert_int_equal(r.levels, 0);
	assert_int_equal(r.page_size, SZ_4K);
	assert_true(r.writable && r.user && !r.nx);
	/* no canonical check, no truncation */
	assert_ok(fx, 0xDEAD00000000BEEFULL, PTW_FETCH, 0xDEAD00000000BEEFULL);
	/* paging on but not long mode: 32-bit/PAE paging not modelled */
	fx->regs.cr0 |= PTW_CR0_PG;
	fx->regs.efer &= ~PTW_EFER_LMA;
	assert_ok(fx, 0xC0001000, PTW_READ, 0xC0001000);
	assert_int_equal(fx->map_calls, 0);
}

static void test_bad_args(void **state)
{
	struct fx *fx = *state;
	struct ptw_mem nomap = { .map = NULL };
	struct ptw_result r;

	map(fx, GVA4K, GPA4K, SZ_4K, P | RW | US);
	assert_int_equal(ptw_walk(NULL, &fx->regs, GVA4K, 0, &r), -EINVAL);
	assert_int_equal(ptw_walk(&nomap, &fx->regs, GVA4K, 0, &r), -EINVAL);
	assert_int_equal(ptw_walk(&fx->mem, NULL, GVA4K, 0, &r), -EINVAL);
	assert_int_equal(ptw_walk(&fx->mem, &fx->regs, GVA4K, 0, NULL), -EINVAL);
	assert_int_equal(walk(fx, GVA4K, PTW_WRITE | PTW_FETCH, &r), -EINVAL);
	assert_int_equal(walk(fx, GVA4K, 8, &r), -EINVAL);
	fx->regs.maxphyaddr = 53;
	assert_int_equal(walk(fx, GVA4K, 0, &r), -EINVAL);
	fx->regs.maxphyaddr = 31;
	assert_int_equal(walk(fx, GVA4K, 0, &r), -EINVAL);
	fx->regs.maxphyaddr = 46;
	fx->regs.cr4 |= PTW_CR4_LA57;
	assert_int_equal(walk(fx, GVA4K, 0, &r), -EOPNOTSUPP);
	assert_int_equal(fx->map_calls, 0);
}

static void test_names_and_format(void **state)
{
	struct fx *fx = *state;
	struct ptw_result r;
	char buf[256], small[8];
	int n;

	assert_string_equal(ptw_fault_name(PTW_OK), "ok");
	assert_string_equal(ptw_fault_name(PTW_PAGE_FAULT), "page-fault");
	assert_string_equal(ptw_fault_name(PTW_GP_NONCANONICAL), "gp-noncanonical");
	assert_string_equal(ptw_fault_name(PTW_BAD_TABLE_GPA), "bad-table-gpa");
	assert_string_equal(ptw_fault_name((enum ptw_fault)99), "unknown");

	map(fx, GVA4K, GPA4K, SZ_4K, P | US | XD);
	assert_int_equal(walk(fx, GVA4K + 0xABC, PTW_USER, &r), 0);
	n = ptw_format(&r, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_non_null(strstr(buf, "ok gpa 0x3456789abc 4K pte 0x8000003456789005 RO U NX walk "
				    "pml4e@0x1007f0 pdpte@0x101240 pde@0x102d10 pte@0x103b38"));
	/* truncation: snprintf's contract */
	assert_int_equal(ptw_format(&r, small, sizeof(small)), n);
	assert_string_equal(small, "ok gpa ");
	assert_int_equal(ptw_format(&r, NULL, 0), n);
	assert_int_equal(ptw_format(NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ptw_format(&r, NULL, 4), -EINVAL);

	assert_int_equal(walk(fx, GVA4K, PTW_USER | PTW_WRITE, &r), -EFAULT);
	ptw_format(&r, buf, sizeof(buf));
	assert_non_null(strstr(buf, "page-fault ec 0x7 (protection write user) pte 0x8"));
	assert_int_equal(walk(fx, GVA4K + SZ_4K, PTW_FETCH, &r), -EFAULT);
	ptw_format(&r, buf, sizeof(buf));
	assert_non_null(strstr(buf, "page-fault ec 0x10 (not-present read supervisor fetch)"));
	fx->regs.cr3 = RAM_SIZE;
	assert_int_equal(walk(fx, GVA4K, PTW_READ, &r), -EFAULT);
	ptw_format(&r, buf, sizeof(buf));
	assert_string_equal(buf, "bad-table-gpa walk pml4e@0x40007f0");
	fx->regs.cr0 &= ~PTW_CR0_PG;
	assert_int_equal(walk(fx, 0x1000, PTW_READ, &r), 0);
	ptw_format(&r, buf, sizeof(buf));
	assert_string_equal(buf, "ok gpa 0x1000 4K (paging off, identity)");
}


/* ---- randomized: the walker against a model of the same tables ---------- */

#define RAND_SEED 0x5EED0F7ABE11ULL
#define RAND_MAPPINGS 400
#define RAND_ATTEMPTS 4000
#define RAND_QUERIES 20000
#define MAX_NODES (3 * RAND_MAPPINGS)
#define VA_MASK ((1ULL << 48) - 1)
/* Ignored in every entry: 62:52, 11:8, 6:3 (A, D, PWT, PCD). */
#define IGNORED_BITS 0x7FF0000000000F78ULL

/* A present entry that points to a table: the rights it contributes. */
struct ref_node {
	int level;
	uint64_t prefix; /* gva bits 47:PT_LEVEL_SHIFT(level) */
	uint64_t table;  /* for the builder only */
	bool w, u, xd;
};

/* A leaf entry (4K at level 3, 2M at 2, 1G at 1), present or not. */
struct ref_map {
	int level;
	uint64_t gva, gpa, size; /* gva: 48 bits, not sign-extended */
	bool present, rsvd, w, u, xd;
};

struct model {
	struct ref_node nodes[MAX_NODES];
	unsigned int nr_nodes;
	struct ref_map maps[RAND_MAPPINGS];
	unsigned int nr_maps;
};

struct ref_out {
	enum ptw_fault fault;
	uint32_t ec;
	int levels;
	uint64_t gpa, size;
	bool w, u, nx;
};

static uint64_t rnd(uint64_t *s) /* splitmix64 */
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static bool chance(uint64_t *s, unsigned int percent)
{
	return rnd(s) % 100 < percent;
}

static uint64_t sign_extend48(uint64_t va)
{
	va &= VA_MASK;
	return (va & (1ULL << 47)) ? va | ~VA_MASK : va;
}

static uint64_t prefix(uint64_t gva, int level)
{
	return (gva & VA_MASK) >> PT_LEVEL_SHIFT(level);
}

static struct ref_node *find_node(struct model *m, int level, uint64_t gva)
{
	for (unsigned int i = 0; i < m->nr_nodes; i++)
		if (m->nodes[i].level == level && m->nodes[i].prefix == prefix(gva, level))
			return &m->nodes[i];
	return NULL;
}

static struct ref_map *find_map(struct model *m, int level, uint64_t gva)
{
	for (unsigned int i = 0; i < m->nr_maps; i++)
		if (m->maps[i].level == level && prefix(m->maps[i].gva, level) == prefix(gva, level))
			return &m->maps[i];
	return NULL;
}

/* One bit that is reserved in a leaf of this size with MAXPHYADDR 46. */
static uint64_t reserved_bit(uint64_t *s, uint64_t size)
{
	uint64_t r = rnd(s);

	if (size == SZ_1G && (r & 1))
		return 1ULL << (13 + r / 2 % 17);
	if (size == SZ_2M && (r & 1))
		return 1ULL << (13 + r / 2 % 8);
	return 1ULL << (46 + r / 2 % 6);
}

static struct ref_node *add_node(struct fx *fx, struct model *m, uint64_t *s,
				 uint64_t table, int level, uint64_t gva)
{
	struct ref_node *n;

	assert_true(m->nr_nodes < MAX_NODES);
	n = &m->nodes[m->nr_nodes++];
	*n = (struct ref_node){ .level = level, .prefix = prefix(gva, level),
				.table = new_table(fx), .w = chance(s, 85),
				.u = chance(s, 85), .xd = chance(s, 8) };
	wr(fx, table + idx(gva, level) * 8,
	   n->table | P | (n->w ? RW : 0) | (n->u ? US : 0) | (n->xd ? XD : 0) |
	   (rnd(s) & IGNORED_BITS));
	return n;
}

static void add_leaf(struct fx *fx, struct model *m, uint64_t *s, uint64_t table,
		     int level, uint64_t gva, uint64_t size)
{
	struct ref_map *mp = &m->maps[m->nr_maps++];
	uint64_t e;

	*mp = (struct ref_map){ .level = level, .gva = gva, .size = size,
				.gpa = rnd(s) & 0x00003FFFFFFFF000ULL & ~(size - 1),
				.present = chance(s, 92), .rsvd = chance(s, 5),
				.w = chance(s, 60), .u = chance(s, 65), .xd = chance(s, 25) };
	e = mp->gpa | (mp->w ? RW : 0) | (mp->u ? US : 0) | (mp->xd ? XD : 0) |
	    (rnd(s) & IGNORED_BITS) | (rnd(s) & (size == SZ_4K ? 0x180 : 0x1100));
	if (size != SZ_4K)
		e |= PS;
	if (mp->rsvd)
		e |= reserved_bit(s, size);
	if (mp->present)
		e |= P;
	wr(fx, table + idx(gva, level) * 8, e);
}

/* Map [gva, gva + size) unless a table or a larger page is in the way. */
static bool rand_insert(struct fx *fx, struct model *m, uint64_t *s, uint64_t gva,
			uint64_t size)
{
	int leaf = size_level(size);
	uint64_t table = fx->root;

	gva &= VA_MASK & ~(size - 1);
	for (int l = 0; l < leaf; l++) {
		struct ref_node *n = find_node(m, l, gva);

		if (find_map(m, l, gva))
			return false;
		if (!n)
			n = add_node(fx, m, s, table, l, gva);
		table = n->table;
	}
	if (find_node(m, leaf, gva) || find_map(m, leaf, gva))
		return false;
	add_leaf(fx, m, s, table, leaf, gva, size);
	return true;
}

/* SDM 4.6, restated: who may do what, given the combined rights. */
static bool ref_allowed(const struct ptw_regs *regs, unsigned int access, bool w, bool u,
			bool nx)
{
	bool user = access & PTW_USER, write = access & PTW_WRITE, fetch = access & PTW_FETCH;
	bool nxe = regs->efer & PTW_EFER_NXE, wp = regs->cr0 & PTW_CR0_WP;
	bool smep = regs->cr4 & PTW_CR4_SMEP, smap = regs->cr4 & PTW_CR4_SMAP;

	if (user)
		return u && (!write || w) && !(fetch && nxe && nx);
	if (fetch)
		return !(nxe && nx) && !(smep && u);
	if (smap && u)
		return false;
	return !write || !wp || w;
}

static void ref_fault(const struct ptw_regs *regs, unsigned int access, uint32_t cause,
		      struct ref_out *o)
{
	bool id = (access & PTW_FETCH) &&
		  ((regs->efer & PTW_EFER_NXE) || (regs->cr4 & PTW_CR4_SMEP));

	o->fault = PTW_PAGE_FAULT;
	o->ec = cause | (access & PTW_WRITE ? EC_W : 0) | (access & PTW_USER ? EC_U : 0) |
		(id ? EC_ID : 0);
}

static void ref_walk(struct model *m, const struct ptw_regs *regs, uint64_t gva,
		     unsigned int access, struct ref_out *o)
{
	bool nxe = regs->efer & PTW_EFER_NXE, w = true, u = true, xd = false;

	memset(o, 0, sizeof(*o));
	if (sign_extend48(gva) != gva) {
		o->fault = PTW_GP_NONCANONICAL;
		return;
	}
	for (int l = 0; l < PT_LEVELS; l++) {
		struct ref_map *mp = find_map(m, l, gva);
		struct ref_node *n = mp ? NULL : find_node(m, l, gva);

		o->levels = l + 1;
		if ((mp && !mp->present) || (!mp && !n))
			return ref_fault(regs, access, 0, o);
		if (mp ? mp->rsvd || (mp->xd && !nxe) : n->xd && !nxe)
			return ref_fault(regs, access, EC_P | EC_RSVD, o);
		w = w && (mp ? mp->w : n->w);
		u = u && (mp ? mp->u : n->u);
		xd = xd || (mp ? mp->xd : n->xd);
		if (!mp)
			continue;
		o->gpa = mp->gpa + ((gva & VA_MASK) - mp->gva);
		o->size = mp->size;
		o->w = w, o->u = u, o->nx = xd;
		if (!ref_allowed(regs, access, w, u, xd))
			ref_fault(regs, access, EC_P, o);
		return;
	}
	fail_msg("model has a table at level 3");
}

static uint64_t pick_gva(struct model *m, uint64_t *s)
{
	const struct ref_map *mp = &m->maps[rnd(s) % m->nr_maps];
	uint64_t r = rnd(s) % 100;

	if (r < 55) /* inside a mapping */
		return sign_extend48(mp->gva + rnd(s) % mp->size);
	if (r < 80) /* around one: neighbours in the same tables */
		return sign_extend48(mp->gva + rnd(s) % (8 * mp->size) - 4 * mp->size);
	if (r < 93)
		return sign_extend48(rnd(s));
	return sign_extend48(rnd(s)) ^ (1ULL << (48 + rnd(s) % 16)); /* non-canonical */
}

static void check_one(struct fx *fx, struct model *m, const struct ptw_regs *regs,
		      uint64_t gva, unsigned int access, unsigned int *stats)
{
	struct ptw_result r;
	struct ref_out o;
	int rc = ptw_walk(&fx->mem, regs, gva, access, &r);
	bool same;
	char buf[256];

	ref_walk(m, regs, gva, access, &o);
	same = rc == (o.fault == PTW_OK ? 0 : -EFAULT) && r.fault == o.fault &&
	       r.error_code == o.ec && r.levels == o.levels;
	if (same && o.fault == PTW_OK)
		same = r.gpa == o.gpa && r.page_size == o.size && r.writable == o.w &&
		       r.user == o.u && r.nx == o.nx;
	if (!same) {
		ptw_format(&r, buf, sizeof(buf));
		print_error("gva 0x%" PRIx64 " access %u cr0 0x%" PRIx64 " cr4 0x%" PRIx64
			    " efer 0x%" PRIx64 "\n walker: rc %d %s\n model: %s ec 0x%x levels %d"
			    " gpa 0x%" PRIx64 " size 0x%" PRIx64 " w%d u%d nx%d\n",
			    gva, access, regs->cr0, regs->cr4, regs->efer, rc, buf,
			    ptw_fault_name(o.fault), o.ec, o.levels, o.gpa, o.size, o.w, o.u, o.nx);
		fail();
	}
	if (o.fault == PTW_PAGE_FAULT)
		stats[o.ec & EC_RSVD ? 3 : o.ec & EC_P ? 2 : 1]++;
	else
		stats[o.fault == PTW_OK ? 0 : 4]++;
}

static void test_random_against_model(void **state)
{
	static const unsigned int kinds[] = {
		PTW_READ, PTW_WRITE, PTW_USER, PTW_USER | PTW_WRITE, PTW_FETCH, PTW_USER | PTW_FETCH,
	};
	struct fx *fx = *state;
	struct model *m = calloc(1, sizeof(*m));
	uint64_t s = RAND_SEED, bases[6], tables_end;
	unsigned int stats[5] = { 0 }; /* ok, not-present, protection, rsvd, #GP */
	uint8_t *snapshot;

	assert_non_null(m);
	for (int i = 0; i < 6; i++)
		bases[i] = rnd(&s) & ~(512 * GiB - 1);
	for (int i = 0; i < RAND_ATTEMPTS && m->nr_maps < RAND_MAPPINGS; i++) {
		uint64_t base = bases[rnd(&s) % 6], r = rnd(&s) % 100, size, gva;

		gva = r < 45 ? base + rnd(&s) % (4 * GiB) :
		      r < 75 ? base + rnd(&s) % (512 * GiB) : rnd(&s);
		r = rnd(&s) % 100;
		size = r < 65 ? SZ_4K : r < 90 ? SZ_2M : SZ_1G;
		rand_insert(fx, m, &s, gva, size);
	}
	assert_int_equal(m->nr_maps, RAND_MAPPINGS);

	tables_end = fx->next_table;
	snapshot = malloc(tables_end);
	assert_non_null(snapshot);
	memcpy(snapshot, fx->ram, tables_end);
	for (int q = 0; q < RAND_QUERIES; q++) {
		struct ptw_regs regs = fx->regs;
		uint64_t r = rnd(&s);

		regs.cr0 = (r & 1) ? regs.cr0 | PTW_CR0_WP : regs.cr0 & ~PTW_CR0_WP;
		regs.efer = (r & 2) ? regs.efer | PTW_EFER_NXE : regs.efer & ~PTW_EFER_NXE;
		regs.cr4 |= (r & 4 ? PTW_CR4_SMEP : 0) | (r & 8 ? PTW_CR4_SMAP : 0);
		check_one(fx, m, &regs, pick_gva(m, &s), kinds[(r >> 4) % 6], stats);
	}
	/* read-only walker: not one byte of the tables changed */
	assert_memory_equal(snapshot, fx->ram, tables_end);
	print_message("random: %u mappings, %u tables, %d queries: ok %u, not-present %u, "
		      "protection %u, rsvd %u, #GP %u\n", m->nr_maps, m->nr_nodes + 1,
		      RAND_QUERIES, stats[0], stats[1], stats[2], stats[3], stats[4]);
	for (int i = 0; i < 5; i++)
		assert_true(stats[i] >= 200);
	free(snapshot);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_translate_4k, test_setup),
		cmocka_unit_test_setup(test_translate_2m, test_setup),
		cmocka_unit_test_setup(test_translate_1g, test_setup),
		cmocka_unit_test_setup(test_ignored_bits, test_setup),
		cmocka_unit_test_setup(test_not_present_each_level, test_setup),
		cmocka_unit_test_setup(test_write_readonly, test_setup),
		cmocka_unit_test_setup(test_user_supervisor_each_level, test_setup),
		cmocka_unit_test_setup(test_nx_each_level, test_setup),
		cmocka_unit_test_setup(test_xd_reserved_without_nxe, test_setup),
		cmocka_unit_test_setup(test_fetch_id_bit, test_setup),
		cmocka_unit_test_setup(test_reserved_addr_bits, test_setup),
		cmocka_unit_test_setup(test_ps_in_pml4e, test_setup),
		cmocka_unit_test_setup(test_large_page_reserved_bits, test_setup),
		cmocka_unit_test_setup(test_smep, test_setup),
		cmocka_unit_test_setup(test_smap, test_setup),
		cmocka_unit_test_setup(test_noncanonical, test_setup),
		cmocka_unit_test_setup(test_bad_table_gpa, test_setup),
		cmocka_unit_test_setup(test_paging_disabled, test_setup),
		cmocka_unit_test_setup(test_bad_args, test_setup),
		cmocka_unit_test_setup(test_names_and_format, test_setup),
		cmocka_unit_test_setup(test_random_against_model, test_setup),
	};

	return cmocka_run_group_tests_name("ptw", tests, group_setup, group_teardown);
}

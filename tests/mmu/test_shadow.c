// SPDX-License-Identifier: MIT
/*
 * Shadow MMU core: guest page tables in a calloc'd "pool", shadowed into a
 * calloc'd store.  The shadow tables are walked with ptw_walk, as the CPU
 * would, and compared with the guest's own walk: the shadow never
 * translates where the guest faults, never elsewhere, never with more
 * rights; EAGER translates exactly where the guest does; LAZY gets there
 * through shadow_page_fault, driven by the shadow walk's own error code.
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
#include "mmu/shadow.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define SZ_4K PAGE_SIZE_4K
#define SZ_2M PAGE_SIZE_2M
#define SZ_1G PAGE_SIZE_1G

#define POOL_BASE (16 * MiB) /* guest page tables live here */
#define POOL_SIZE (16 * MiB)
#define STORE_GPA (64 * GiB)
#define MAXPHY 40
#define ADDR (((1ULL << MAXPHY) - 1) & ~(SZ_4K - 1))
#define TARGET_TOP (4 * GiB)   /* leaves may map below this ... */
#define HOLE_LO (3 * GiB)      /* ... except in this hole */
#define HOLE_HI (3 * GiB + 256 * MiB)
#define GEN_TOP (4 * GiB + 512 * MiB) /* random leaves go below this */
#define MAX_TABLES 2048
#define NROOTS 4

#define P   PTE_P
#define RW  PTE_RW
#define US  PTE_US
#define A   PTE_A
#define D   PTE_D
#define PS  PTE_PS
#define XD  PTE_NX
#define PWT PTE_PWT
#define PCD PTE_PCD
#define GL  PTE_G
#define PAT4K PTE_PAT
#define PATL PTE_PAT_LARGE
#define TBL (P | RW | US)

#define R_ PTW_READ
#define W_ PTW_WRITE
#define U_ PTW_USER
#define F_ PTW_FETCH
static const unsigned int accesses[] = { R_, W_, U_, U_ | W_, F_, U_ | F_ };
#define NACC ARRAY_SIZE(accesses)

static const unsigned int hot[] = { 0, 1, 2, 255, 256, 510, 511 };
#define NHOT ARRAY_SIZE(hot)

struct opts {
	enum shadow_fill fill;
	unsigned int max_roots;
	uint64_t store_pages;
	bool nxe, wp, smep, smap;
	uint64_t seed;
};

struct fx {
	uint8_t *pool, *store;
	uint64_t next_table, rng;
	struct shadow_config cfg;
	struct shadow_mmu *s;
	struct ptw_regs regs; /* cr3 set per walk */
	struct ptw_mem guest_mem, store_mem;
	uint64_t tab[PT_LEVELS][MAX_TABLES];
	unsigned int ntab[PT_LEVELS];
	uint64_t roots[NROOTS], cr3[NROOTS];
	unsigned int nroots;
	uint64_t refuse_lo, refuse_hi; /* extra refused target range */
	bool allow_all;                /* target_ok says yes to everything */
	bool allow_nomem;              /* trapped writes may fail with -ENOMEM */
	bool checked_exact;            /* an exact comparison happened */
};

/* ---- fixture ---------------------------------------------------------- */

static const void *pool_map(void *ctx, uint64_t gpa, uint64_t len)
{
	struct fx *fx = ctx;

	if (!len || gpa < POOL_BASE || len > POOL_SIZE || gpa - POOL_BASE > POOL_SIZE - len)
		return NULL;
	return fx->pool + (gpa - POOL_BASE);
}

static const void *store_map(void *ctx, uint64_t gpa, uint64_t len)
{
	struct fx *fx = ctx;
	uint64_t size = fx->cfg.store_pages * SZ_4K;

	if (!len || gpa < STORE_GPA || len > size || gpa - STORE_GPA > size - len)
		return NULL;
	return fx->store + (gpa - STORE_GPA);
}

static bool target_ok(void *ctx, uint64_t gpa, uint64_t size)
{
	struct fx *fx = ctx;

	if (fx->allow_all)
		return true;
	if (gpa < fx->refuse_hi && gpa + size > fx->refuse_lo)
		return false;
	return gpa + size <= TARGET_TOP && !(gpa < HOLE_HI && gpa + size > HOLE_LO);
}

static struct fx *fx_new(const struct opts *o)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->pool = calloc(1, POOL_SIZE);
	fx->store = aligned_alloc(SZ_4K, o->store_pages * SZ_4K);
	assert_non_null(fx->pool);
	assert_non_null(fx->store);
	memset(fx->store, 0xA5, o->store_pages * SZ_4K); /* pages must be cleared on use */
	fx->next_table = POOL_BASE;
	fx->rng = o->seed;
	fx->guest_mem = (struct ptw_mem){ .map = pool_map, .ctx = fx };
	fx->store_mem = (struct ptw_mem){ .map = store_map, .ctx = fx };
	fx->regs = (struct ptw_regs){
		.cr0 = PTW_CR0_PG | 1 | (o->wp ? PTW_CR0_WP : 0),
		.cr4 = (1 << 5) | (o->smep ? PTW_CR4_SMEP : 0) | (o->smap ? PTW_CR4_SMAP : 0),
		.efer = PTW_EFER_LMA | (1 << 8) | (o->nxe ? PTW_EFER_NXE : 0),
		.maxphyaddr = MAXPHY,
	};
	fx->cfg = (struct shadow_config){
		.guest = fx->guest_mem,
		.target_ok = target_ok,
		.target_ctx = fx,
		.store = fx->store,
		.store_gpa = STORE_GPA,
		.store_pages = o->store_pages,
		.max_roots = o->max_roots,
		.fill = o->fill,
		.maxphyaddr = MAXPHY,
		.nxe = o->nxe,
		.wp = o->wp,
		.smep = o->smep,
		.smap = o->smap,
	};
	assert_int_equal(shadow_create(&fx->cfg, &fx->s), 0);
	return fx;
}

static void check_consistent(struct fx *fx, bool complete)
{
	char why[256];
	int rc = shadow_check(fx->s, complete, why, sizeof(why));

	if (rc)
		fail_msg("shadow_check: %s", why);
}

static void fx_free(struct fx *fx)
{
	struct shadow_stats st;

	check_consistent(fx, false);
	shadow_reset(fx->s);
	shadow_get_stats(fx->s, &st);
	assert_int_equal(st.pages_in_use, 0);
	assert_int_equal(st.root_loads, st.root_hits + st.root_misses);
	check_consistent(fx, false);
	shadow_destroy(fx->s);
	free(fx->store);
	free(fx->pool);
	free(fx);
}

static struct shadow_stats stats(struct fx *fx)
{
	struct shadow_stats st;

	shadow_get_stats(fx->s, &st);
	return st;
}

/* ---- guest memory ------------------------------------------------------ */

static uint64_t rnd(struct fx *fx) /* splitmix64 */
{
	uint64_t z = (fx->rng += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static unsigned int rn(struct fx *fx, unsigned int n)
{
	return (unsigned int)(rnd(fx) % n);
}

static uint64_t rd(struct fx *fx, uint64_t gpa)
{
	uint64_t v;

	assert_true(gpa >= POOL_BASE && gpa + 8 <= POOL_BASE + POOL_SIZE);
	memcpy(&v, fx->pool + (gpa - POOL_BASE), 8);
	return v;
}

/* A guest write: memory first, then the trap the VMM would handle. */
static void gw(struct fx *fx, uint64_t gpa, const void *src, uint64_t len)
{
	assert_true(gpa >= POOL_BASE && gpa + len <= POOL_BASE + POOL_SIZE);
	int rc;

	memcpy(fx->pool + (gpa - POOL_BASE), src, len);
	rc = shadow_guest_write(fx->s, gpa, len);
	if (fx->allow_nomem && rc == -ENOMEM)
		return;
	assert_int_equal(rc, 0);
}

static void gw64(struct fx *fx, uint64_t gpa, uint64_t v)
{
	gw(fx, gpa, &v, 8);
}

/* A change the shadow is not told about (for invlpg / flush). */
static void poke64(struct fx *fx, uint64_t gpa, uint64_t v)
{
	assert_true(gpa >= POOL_BASE && gpa + 8 <= POOL_BASE + POOL_SIZE);
	memcpy(fx->pool + (gpa - POOL_BASE), &v, 8);
}

static bool pool_full(struct fx *fx)
{
	return fx->next_table + SZ_4K > POOL_BASE + POOL_SIZE;
}

static uint64_t new_table(struct fx *fx, int level)
{
	uint64_t t = fx->next_table;

	assert_false(pool_full(fx));
	fx->next_table += SZ_4K;
	if (fx->ntab[level] < MAX_TABLES)
		fx->tab[level][fx->ntab[level]++] = t;
	return t;
}

static unsigned int idx(uint64_t gva, int level)
{
	return (unsigned int)PT_INDEX(gva, level);
}

static int size_level(uint64_t size)
{
	return size == SZ_1G ? 1 : size == SZ_2M ? 2 : 3;
}

/* Map gva -> frame with a leaf of `size`; missing tables get TBL. */
static uint64_t map_page(struct fx *fx, uint64_t root, uint64_t gva, uint64_t frame,
			 uint64_t size, uint64_t flags)
{
	uint64_t table = root;
	int leaf = size_level(size);

	for (int l = 0; l < leaf; l++) {
		uint64_t e = table + idx(gva, l) * 8, v = rd(fx, e);

		if (!(v & P)) {
			v = new_table(fx, l + 1) | TBL;
			gw64(fx, e, v);
		}
		table = v & ADDR;
	}
	gw64(fx, table + idx(gva, leaf) * 8, frame | flags | (size != SZ_4K ? PS : 0));
	return table + idx(gva, leaf) * 8;
}

/* ---- walks and the central property ------------------------------------ */

static int gwalk(struct fx *fx, uint64_t root, uint64_t gva, unsigned int acc,
		 struct ptw_result *r)
{
	struct ptw_regs regs = fx->regs;

	regs.cr3 = root;
	return ptw_walk(&fx->guest_mem, &regs, gva, acc, r);
}

static int swalk(struct fx *fx, uint64_t cr3, uint64_t gva, unsigned int acc,
		 struct ptw_result *r)
{
	struct ptw_regs regs = fx->regs;
	int rc;

	regs.cr3 = cr3;
	rc = ptw_walk(&fx->store_mem, &regs, gva, acc, r);
	/* the shadow only ever links store pages, and the gva is canonical */
	assert_int_not_equal(r->fault, PTW_BAD_TABLE_GPA);
	assert_int_not_equal(r->fault, PTW_GP_NONCANONICAL);
	return rc;
}

static bool leaf_allowed(struct fx *fx, const struct ptw_result *g)
{
	return target_ok(fx, g->gpa & ~(g->page_size - 1), g->page_size);
}

static void assert_same(const struct ptw_result *g, const struct ptw_result *sh)
{
	uint64_t pat = sh->page_size == SZ_4K ? PAT4K : PATL;

	assert_int_equal(sh->gpa, g->gpa);
	assert_int_equal(sh->page_size, g->page_size);
	assert_int_equal(sh->writable, g->writable);
	assert_int_equal(sh->user, g->user);
	assert_int_equal(sh->nx, g->nx);
	assert_int_equal(sh->pte & (PWT | PCD | pat | RW | US | XD),
			 g->pte & (PWT | PCD | pat | RW | US | XD));
	assert_true(sh->pte & A);
	assert_int_equal(!!(sh->pte & D), !!(sh->pte & RW));
	assert_false(sh->pte & GL);
}

/* The property for one gva and every access kind; exact: EAGER equality. */
static void check_gva(struct fx *fx, unsigned int k, uint64_t gva, bool exact)
{
	for (unsigned int a = 0; a < NACC; a++) {
		struct ptw_result g, sh;
		int grc = gwalk(fx, fx->roots[k], gva, accesses[a], &g);
		int src = swalk(fx, fx->cr3[k], gva, accesses[a], &sh);

		if (src == 0) {
			assert_int_equal(grc, 0);
			assert_int_equal(sh.gpa, g.gpa);
			assert_int_equal(sh.page_size, g.page_size);
			assert_false(sh.writable && !g.writable);
			assert_false(sh.user && !g.user);
			assert_false(g.nx && !sh.nx);
			assert_true(leaf_allowed(fx, &g));
		}
		if (exact && grc == 0 && leaf_allowed(fx, &g)) {
			assert_int_equal(src, 0);
			assert_same(&g, &sh);
			fx->checked_exact = true;
		}
	}
}

/*
 * Without NXE and SMEP a supervisor read and fetch look alike (no I/D bit):
 * shadow_page_fault takes a not-present fault as the fetch, which may be
 * refused where the read would fault on SMAP.
 */
static bool refused_fetch(struct fx *fx, unsigned int k, uint64_t gva, unsigned int acc,
			  uint32_t hw_ec)
{
	struct ptw_result g;

	if (acc != R_ || fx->cfg.nxe || fx->cfg.smep || (hw_ec & PFEC_P))
		return false;
	return gwalk(fx, fx->roots[k], gva, F_, &g) == 0 && !leaf_allowed(fx, &g);
}

/*
 * Drive a LAZY (or holed) shadow as the CPU and the guest's #PF handler
 * would: walk the shadow; on a fault ask shadow_page_fault with the error
 * code the shadow walk produced; retry on FIXED.  Root k must be current.
 * Returns the result of the last fault (SHADOW_FIXED if none was needed).
 */
static enum shadow_fault_result resolve(struct fx *fx, unsigned int k, uint64_t gva,
					unsigned int acc)
{
	enum shadow_fault_result res = SHADOW_FIXED;
	struct ptw_result g, sh;
	int grc = gwalk(fx, fx->roots[k], gva, acc, &g);
	uint32_t ec;

	for (int round = 0;; round++) {
		assert_true(round < 3); /* one fault, or two for the SMAP-read case */
		if (swalk(fx, fx->cr3[k], gva, acc, &sh) == 0) {
			assert_int_equal(grc, 0);
			assert_true(leaf_allowed(fx, &g));
			assert_same(&g, &sh);
			return res;
		}
		assert_int_equal(shadow_page_fault(fx->s, gva, sh.error_code, &res, &ec), 0);
		if (res == SHADOW_FIXED)
			continue;
		if (res == SHADOW_GUEST_FAULT) {
			assert_int_equal(grc, -EFAULT);
			assert_int_equal(g.fault, PTW_PAGE_FAULT);
			assert_int_equal(ec, g.error_code);
		} else {
			assert_int_equal(res, SHADOW_REFUSED);
			assert_true((grc == -EFAULT && g.fault == PTW_BAD_TABLE_GPA) ||
				    (grc == 0 && !leaf_allowed(fx, &g)) ||
				    refused_fetch(fx, k, gva, acc, sh.error_code));
			assert_true(ec & PFEC_RSVD);
		}
		return res;
	}
}

static uint64_t canon(uint64_t gva)
{
	return (gva & (1ULL << 47)) ? gva | 0xFFFF000000000000ULL : gva;
}

static uint64_t rand_gva(struct fx *fx)
{
	uint64_t gva = rnd(fx) & 0xFFF;

	for (int l = 0; l < PT_LEVELS; l++) {
		uint64_t i = rn(fx, 10) ? hot[rn(fx, NHOT)] : rn(fx, 512);

		gva |= i << PT_LEVEL_SHIFT(l);
	}
	return canon(gva);
}

static void load(struct fx *fx, unsigned int k)
{
	assert_int_equal(shadow_load_root(fx->s, fx->roots[k], &fx->cr3[k]), 0);
	assert_true(fx->cr3[k] >= STORE_GPA);
	assert_true(fx->cr3[k] < STORE_GPA + fx->cfg.store_pages * SZ_4K);
	assert_int_equal(fx->cr3[k] & 0xFFF, 0);
}

/* ---- random guest tables ----------------------------------------------- */

static uint64_t rand_flags(struct fx *fx)
{
	uint64_t f = P;

	f |= rn(fx, 100) < 75 ? RW : 0;
	f |= rn(fx, 100) < 70 ? US : 0;
	f |= rn(fx, 100) < (fx->cfg.nxe ? 25 : 3) ? XD : 0; /* reserved without NXE */
	f |= rn(fx, 100) < 10 ? PWT : 0;
	f |= rn(fx, 100) < 10 ? PCD : 0;
	f |= rn(fx, 100) < 40 ? A : 0;
	f |= rn(fx, 100) < 20 ? D : 0;
	f |= rn(fx, 100) < 10 ? GL : 0;
	if (rn(fx, 100) < 10) /* ignored bits 11:9 and 58:52 */
		f |= ((rnd(fx) & 7) << 9) | ((rnd(fx) & 0x7F) << 52);
	return f;
}

static uint64_t rand_target(struct fx *fx, uint64_t size)
{
	if (rn(fx, 100) < 10) /* the guest mapping its own tables */
		return (POOL_BASE + rnd(fx) % POOL_SIZE) & ~(size - 1);
	return rnd(fx) % (GEN_TOP / size) * size;
}

static uint64_t rsvd_bit(struct fx *fx, int level, bool large)
{
	switch (rn(fx, 3)) {
	case 0:
		if (level == 0)
			return PS;
		if (large)
			return 1ULL << (13 + rn(fx, level == 1 ? 17 : 8));
		break;
	case 1:
		if (!fx->cfg.nxe)
			return XD;
		break;
	}
	return 1ULL << (MAXPHY + rn(fx, 52 - MAXPHY));
}

static uint64_t gen_table(struct fx *fx, int level);

static uint64_t any_table(struct fx *fx, int level)
{
	return fx->tab[level][rn(fx, fx->ntab[level])];
}

/* The table a non-leaf entry of `level` points at. */
static uint64_t pick_table(struct fx *fx, int level)
{
	unsigned int r = rn(fx, 100);
	int other = (int)rn(fx, PT_LEVELS);

	if (r < 6) /* outside the pool: not readable */
		return (rnd(fx) % POOL_BASE) & ~(SZ_4K - 1);
	if (r < 12 && fx->ntab[other]) /* the same table used at two levels */
		return any_table(fx, other);
	if ((r < 40 || pool_full(fx)) && fx->ntab[level]) /* shared subtree */
		return any_table(fx, level);
	if (!pool_full(fx))
		return gen_table(fx, level);
	return any_table(fx, 0);
}

static uint64_t gen_entry(struct fx *fx, int level)
{
	unsigned int r = rn(fx, 100);
	uint64_t f = rand_flags(fx), e;

	if (r < 8)
		return rnd(fx) & ~P; /* not present, junk in the other bits */
	if (level == 3 || (level == 1 && r < 25) || (level == 2 && r < 40)) {
		uint64_t size = level == 3 ? SZ_4K : level == 2 ? SZ_2M : SZ_1G;

		e = rand_target(fx, size) | f | (level < 3 ? PS : 0);
		if (rn(fx, 100) < 10)
			e |= level == 3 ? PAT4K : PATL;
		if (rn(fx, 100) < 5)
			e |= rsvd_bit(fx, level, level < 3);
		return e;
	}
	e = pick_table(fx, level + 1) | f;
	if (rn(fx, 100) < 5)
		e |= rsvd_bit(fx, level, false);
	return e;
}

static uint64_t gen_table(struct fx *fx, int level)
{
	uint64_t t = new_table(fx, level);

	for (unsigned int i = 0; i < NHOT; i++) {
		if (rn(fx, 100) < 85)
			gw64(fx, t + hot[i] * 8, gen_entry(fx, level));
	}
	for (int i = 0; i < 2; i++)
		gw64(fx, t + rn(fx, 512) * 8, gen_entry(fx, level));
	return t;
}

static void gen_roots(struct fx *fx, unsigned int n)
{
	for (unsigned int k = 0; k < n; k++) {
		fx->roots[k] = gen_table(fx, 0);
		if (rn(fx, 100) < 40) /* recursive self-map, as some kernels do */
			gw64(fx, fx->roots[k] + 510 * 8, fx->roots[k] | TBL);
	}
	fx->nroots = n;
}

/* One random guest page-table write of the kinds the issue lists. */
static void mutate(struct fx *fx)
{
	int level = (int)rn(fx, PT_LEVELS);
	unsigned int r = rn(fx, 100), i = rn(fx, 10) ? hot[rn(fx, NHOT)] : rn(fx, 512);
	uint64_t t, e, v;
	uint8_t img[16];

	if (!fx->ntab[level])
		return;
	t = any_table(fx, level);
	e = t + i * 8;
	if (r < 25) { /* aligned 8-byte */
		gw64(fx, e, gen_entry(fx, level));
	} else if (r < 45) { /* partial 1-4 bytes */
		unsigned int len = 1 + rn(fx, 4), off = rn(fx, 9 - len);

		v = rnd(fx);
		if (rn(fx, 2)) { /* flip P/RW/US/PS in the low byte */
			off = 0;
			len = 1;
			v = (uint8_t)(rd(fx, e) ^ (rnd(fx) & (P | RW | US | PS)));
		}
		gw(fx, e + off, &v, len);
	} else if (r < 60) { /* misaligned, spanning entries i and i+1 */
		unsigned int off = 1 + rn(fx, 7);

		e = t + (i == 511 ? 510 : i) * 8;
		v = gen_entry(fx, level);
		memcpy(img, &v, 8);
		v = gen_entry(fx, level);
		memcpy(img + 8, &v, 8);
		gw(fx, e + off, img + off, 8);
	} else if (r < 70) { /* unmap (a subtree, for tables) */
		gw64(fx, e, 0);
	} else if (r < 78) { /* PDE: table -> 2 MiB page */
		if (fx->ntab[2])
			gw64(fx, any_table(fx, 2) + hot[rn(fx, NHOT)] * 8,
			     rand_target(fx, SZ_2M) | rand_flags(fx) | PS);
	} else if (r < 84) { /* large page -> table */
		level = 1 + (int)rn(fx, 2);
		if (fx->ntab[level])
			gw64(fx, any_table(fx, level) + hot[rn(fx, NHOT)] * 8,
			     pick_table(fx, level + 1) | rand_flags(fx));
	} else if (r < 92) { /* re-point to another table, same flags */
		if (level < 3 && fx->ntab[level + 1]) {
			v = rd(fx, e);
			v = (v & ~ADDR) | any_table(fx, level + 1);
			gw64(fx, e, (v | P) & ~PS);
		}
	} else if (r < 96) { /* crossing into the next page */
		if (t + 2 * SZ_4K <= POOL_BASE + POOL_SIZE) {
			v = gen_entry(fx, level);
			gw(fx, t + SZ_4K - 4, &v, 8);
		}
	} else { /* a bulk rewrite of a whole table in one trap */
		uint8_t *page = malloc(SZ_4K);

		assert_non_null(page);
		memcpy(page, fx->pool + (t - POOL_BASE), SZ_4K);
		for (int n = 0; n < 20; n++) {
			v = gen_entry(fx, level);
			memcpy(page + (rn(fx, 10) ? hot[rn(fx, NHOT)] : rn(fx, 512)) * 8, &v, 8);
		}
		gw(fx, t, page, SZ_4K);
		free(page);
	}
}

/* ---- unit tests -------------------------------------------------------- */

static const struct opts eager_opts = {
	.fill = SHADOW_EAGER, .max_roots = 4, .store_pages = 256, .nxe = true, .wp = true,
	.seed = 1,
};
static const struct opts lazy_opts = {
	.fill = SHADOW_LAZY, .max_roots = 4, .store_pages = 256, .nxe = true, .wp = true,
	.seed = 1,
};

static void test_create_invalid(void **state)
{
	struct fx *fx = fx_new(&eager_opts);
	struct shadow_config c = fx->cfg;
	struct shadow_mmu *s = NULL;

	(void)state;
	assert_int_equal(shadow_create(NULL, &s), -EINVAL);
	assert_int_equal(shadow_create(&c, NULL), -EINVAL);
	c.target_ok = NULL;
	assert_int_equal(shadow_create(&c, &s), -EINVAL);
	c = fx->cfg;
	c.guest.map = NULL;
	assert_int_equal(shadow_create(&c, &s), -EINVAL);
	c = fx->cfg;
	c.store_gpa += 8; /* not page aligned */
	assert_int_equal(shadow_create(&c, &s), -EINVAL);
	c = fx->cfg;
	c.store = fx->store + 4; /* not 8-byte aligned */
	assert_int_equal(shadow_create(&c, &s), -EINVAL);
	c = fx->cfg;
	c.store_pages = 0;
	assert_int_equal(shadow_create(&c, &s), -EINVAL);
	c = fx->cfg;
	c.max_roots = 0;
	assert_int_equal(shadow_create(&c, &s), -EINVAL);
	c = fx->cfg;
	c.maxphyaddr = 36; /* the store at 64 GiB is above it */
	assert_int_equal(shadow_create(&c, &s), -EINVAL);
	c = fx->cfg;
	c.maxphyaddr = 60;
	assert_int_equal(shadow_create(&c, &s), -EINVAL);
	c = fx->cfg;
	c.fill = (enum shadow_fill)7;
	assert_int_equal(shadow_create(&c, &s), -EINVAL);
	assert_null(s);
	shadow_destroy(NULL);
	fx_free(fx);
}

static void test_root_unreadable(void **state)
{
	struct fx *fx = fx_new(&eager_opts);
	enum shadow_fault_result res;
	uint64_t cr3 = 0;
	uint32_t ec;

	(void)state;
	assert_int_equal(shadow_load_root(fx->s, 0x1000, &cr3), -EFAULT);
	assert_int_equal(shadow_load_root(fx->s, POOL_BASE + POOL_SIZE, &cr3), -EFAULT);
	assert_int_equal(shadow_load_root(fx->s, STORE_GPA, &cr3), -EFAULT);
	assert_int_equal(shadow_load_root(fx->s, POOL_BASE, NULL), -EINVAL);
	assert_int_equal(cr3, 0);
	assert_int_equal(stats(fx).root_loads, 0);
	assert_int_equal(stats(fx).pages_in_use, 0);
	/* no current root */
	assert_int_equal(shadow_page_fault(fx->s, 0x1000, 0, &res, &ec), -EINVAL);
	assert_int_equal(shadow_invlpg(fx->s, 0x1000), 0);
	assert_int_equal(shadow_flush(fx->s), 0);
	fx_free(fx);
}

/* Shadow entry of gva at level, by reading the store as the CPU would. */
static uint64_t sentry(struct fx *fx, uint64_t cr3, uint64_t gva, int level)
{
	uint64_t table = cr3, e = 0;

	for (int l = 0; l <= level; l++) {
		const void *p = store_map(fx, table + idx(gva, l) * 8, 8);

		assert_non_null(p);
		memcpy(&e, p, 8);
		table = e & ADDR;
	}
	return e;
}

static void test_entry_format(void **state)
{
	struct fx *fx = fx_new(&eager_opts);
	uint64_t root = new_table(fx, 0), pdpt, pd;

	(void)state;
	fx->roots[0] = root;
	/* 4K: RO user NX, PWT, PAT, guest A/D/G/ignored bits */
	map_page(fx, root, 0x1000, 0x5000, SZ_4K, P | US | XD | PWT | PAT4K | GL | (5ULL << 9) | D);
	/* 2M writable supervisor, PCD, PAT */
	map_page(fx, root, 0x40000000 + SZ_2M, 0x40000000, SZ_2M, P | RW | PCD | PATL);
	/* 1G user writable */
	map_page(fx, root, 0x80000000, 0x80000000, SZ_1G, P | RW | US);
	/* restrict the PDPTE above the 4K page: RO, supervisor, NX */
	pdpt = rd(fx, root) & ADDR;
	gw64(fx, pdpt, (rd(fx, pdpt) & ADDR) | P | XD);
	load(fx, 0);
	pd = rd(fx, pdpt) & ADDR;

	assert_int_equal(sentry(fx, fx->cr3[0], 0x1000, 3),
			 0x5000 | P | US | XD | PWT | PAT4K | A);
	assert_int_equal(sentry(fx, fx->cr3[0], 0x40000000 + SZ_2M, 2),
			 0x40000000 | P | RW | PCD | PATL | PS | A | D);
	assert_int_equal(sentry(fx, fx->cr3[0], 0x80000000, 1),
			 0x80000000 | P | RW | US | PS | A | D);
	/* non-leaf: P|A + the guest's RW/US/XD, pointing into the store */
	assert_int_equal(sentry(fx, fx->cr3[0], 0x1000, 0) & ~ADDR, P | RW | US | A);
	assert_int_equal(sentry(fx, fx->cr3[0], 0x1000, 1) & ~ADDR, P | XD | A);
	assert_true((sentry(fx, fx->cr3[0], 0x1000, 1) & ADDR) >= STORE_GPA);
	assert_int_not_equal(sentry(fx, fx->cr3[0], 0x1000, 1) & ADDR, pd);
	for (uint64_t gva = 0; gva < 4 * GiB; gva += SZ_2M / 2)
		check_gva(fx, 0, gva, true);
	assert_int_equal(stats(fx).pages_in_use, 5); /* PML4, PDPT, 2 PDs, PT */
	check_consistent(fx, true);
	fx_free(fx);
}

static void test_target_refused(void **state)
{
	for (int lazy = 0; lazy < 2; lazy++) {
		struct fx *fx = fx_new(lazy ? &lazy_opts : &eager_opts);
		uint64_t root = new_table(fx, 0);
		enum shadow_fault_result res;
		uint32_t ec;

		(void)state;
		fx->roots[0] = root;
		fx->refuse_lo = 0x200000;
		fx->refuse_hi = 0x201000;
		map_page(fx, root, 0x1000, 0x100000, SZ_4K, P | RW);     /* allowed */
		map_page(fx, root, 0x2000, 0x200000, SZ_4K, P | RW);     /* target_ok: no */
		map_page(fx, root, 0x400000, 0x200000, SZ_2M, P | RW);   /* 2M over the 4K hole */
		map_page(fx, root, 0x3000, HOLE_LO, SZ_4K, P | RW);      /* in the hole */
		map_page(fx, root, 0x4000, 8 * GiB, SZ_4K, P | RW);      /* beyond RAM */
		map_page(fx, root, 5 * GiB, 3 * GiB, SZ_1G, P | RW);     /* 1G over the hole */
		load(fx, 0);
		if (!lazy) {
			assert_int_equal(stats(fx).refused_targets, 5);
			check_consistent(fx, true);
		}
		for (uint64_t gva = 0x1000; gva <= 0x4000; gva += 0x1000) {
			for (unsigned int a = 0; a < NACC; a++)
				resolve(fx, 0, gva, accesses[a]);
			check_gva(fx, 0, gva, !lazy);
		}
		assert_int_equal(shadow_page_fault(fx->s, 0x2000, PFEC_W, &res, &ec), 0);
		assert_int_equal(res, SHADOW_REFUSED);
		assert_int_equal(ec, PFEC_P | PFEC_RSVD | PFEC_W);
		assert_int_equal(shadow_page_fault(fx->s, 0x400000, PFEC_ID, &res, &ec), 0);
		assert_int_equal(res, SHADOW_REFUSED);
		assert_int_equal(ec, PFEC_P | PFEC_RSVD | PFEC_ID);
		assert_int_equal(shadow_page_fault(fx->s, 5 * GiB, 0, &res, &ec), 0);
		assert_int_equal(res, SHADOW_REFUSED);
		assert_int_equal(shadow_page_fault(fx->s, 0x1000, PFEC_W, &res, &ec), 0);
		assert_int_equal(res, SHADOW_FIXED);
		assert_true(stats(fx).refused_faults >= 3);
		assert_true(stats(fx).hidden_faults >= 1);
		check_consistent(fx, !lazy);
		fx_free(fx);
	}
}

/* Even a target_ok that allows everything cannot map the store. */
static void test_store_never_mapped(void **state)
{
	struct fx *fx = fx_new(&eager_opts);
	uint64_t root = new_table(fx, 0);
	enum shadow_fault_result res;
	uint32_t ec;

	(void)state;
	fx->allow_all = true;
	fx->roots[0] = root;
	map_page(fx, root, 0x1000, STORE_GPA, SZ_4K, P | RW);
	map_page(fx, root, 0x2000, STORE_GPA + 255 * SZ_4K, SZ_4K, P | RW);
	map_page(fx, root, 0x400000, STORE_GPA - SZ_2M, SZ_2M, P | RW); /* just below */
	map_page(fx, root, 2 * GiB, STORE_GPA, SZ_1G, P | RW);
	load(fx, 0);
	assert_int_equal(sentry(fx, fx->cr3[0], 0x1000, 3), 0);
	assert_int_equal(sentry(fx, fx->cr3[0], 0x2000, 3), 0);
	assert_int_not_equal(sentry(fx, fx->cr3[0], 0x400000, 2), 0);
	assert_int_equal(sentry(fx, fx->cr3[0], 2 * GiB, 1), 0);
	assert_int_equal(stats(fx).refused_targets, 3);
	assert_int_equal(shadow_page_fault(fx->s, 0x1000, 0, &res, &ec), 0);
	assert_int_equal(res, SHADOW_REFUSED);
	fx_free(fx);
}

static void test_reserved_and_unreadable(void **state)
{
	for (int lazy = 0; lazy < 2; lazy++) {
		struct fx *fx = fx_new(lazy ? &lazy_opts : &eager_opts);
		uint64_t root = new_table(fx, 0), pt;
		enum shadow_fault_result res;
		uint32_t ec;

		(void)state;
		fx->roots[0] = root;
		map_page(fx, root, 0x1000, 0x1000, SZ_4K, P | RW | US | (1ULL << 45)); /* rsvd */
		map_page(fx, root, 0x400000, 0x400000 | (1ULL << 13), SZ_2M, P | RW);  /* rsvd */
		pt = rd(fx, (rd(fx, (rd(fx, root) & ADDR)) & ADDR)) & ADDR;
		gw64(fx, (rd(fx, root) & ADDR) + 8, 0x3000 | TBL);   /* PD outside the pool */
		gw64(fx, root + 8, pt | TBL | PS);                   /* PS in a PML4E */
		load(fx, 0);
		if (!lazy) {
			assert_int_equal(sentry(fx, fx->cr3[0], 0x1000, 3), 0);
			assert_int_equal(sentry(fx, fx->cr3[0], 0x400000, 2), 0);
			assert_int_equal(sentry(fx, fx->cr3[0], SZ_1G, 1), 0);
			assert_int_equal(sentry(fx, fx->cr3[0], 1ULL << 39, 0), 0);
			assert_true(stats(fx).rsvd_entries >= 3);
			assert_true(stats(fx).unreadable_tables >= 1);
		}
		assert_int_equal(shadow_page_fault(fx->s, 0x1000, PFEC_U, &res, &ec), 0);
		assert_int_equal(res, SHADOW_GUEST_FAULT);
		assert_int_equal(ec, PFEC_P | PFEC_RSVD | PFEC_U);
		assert_int_equal(shadow_page_fault(fx->s, 1ULL << 39, PFEC_W, &res, &ec), 0);
		assert_int_equal(res, SHADOW_GUEST_FAULT);
		assert_int_equal(ec, PFEC_P | PFEC_RSVD | PFEC_W);
		assert_int_equal(shadow_page_fault(fx->s, SZ_1G + 5, 0, &res, &ec), 0);
		assert_int_equal(res, SHADOW_REFUSED);
		assert_int_equal(shadow_page_fault(fx->s, 0x9000, 0, &res, &ec), 0);
		assert_int_equal(res, SHADOW_GUEST_FAULT);
		assert_int_equal(ec, 0);
		for (uint64_t gva = 0; gva < 2 * SZ_1G; gva += SZ_2M / 4)
			check_gva(fx, 0, gva, !lazy);
		check_consistent(fx, !lazy);
		fx_free(fx);
	}
}

static void test_fault_args(void **state)
{
	struct fx *fx = fx_new(&lazy_opts);
	enum shadow_fault_result res;
	uint32_t ec;

	(void)state;
	fx->roots[0] = new_table(fx, 0);
	load(fx, 0);
	assert_int_equal(shadow_page_fault(fx->s, 0x0000800000000000ULL, 0, &res, &ec), -EINVAL);
	assert_int_equal(shadow_page_fault(fx->s, 0, PFEC_W | PFEC_ID, &res, &ec),
			 -EINVAL);
	assert_int_equal(shadow_page_fault(fx->s, 0, 0, NULL, &ec), -EINVAL);
	assert_int_equal(shadow_page_fault(NULL, 0, 0, &res, &ec), -EINVAL);
	assert_int_equal(shadow_guest_write(fx->s, 0x1000, 0), -EINVAL);
	assert_int_equal(shadow_guest_write(fx->s, UINT64_MAX - 2, 8), -EINVAL);
	assert_int_equal(shadow_guest_write(fx->s, UINT64_MAX - 7, 8), 0); /* ends at the top */
	assert_int_equal(shadow_invlpg(fx->s, 0x0000800000000000ULL), 0);
	assert_int_equal(shadow_page_fault(fx->s, 0, 0, &res, &ec), 0);
	assert_int_equal(res, SHADOW_GUEST_FAULT);
	assert_int_equal(ec, 0);
	assert_true(stats(fx).time_ns > 0);
	fx_free(fx);
}

/* A PML4 that maps itself, a table used as PD and PT at once, a PDPT
 * pointing at its own PML4: terminates, shares per level, frees cleanly. */
static void test_self_reference(void **state)
{
	for (int lazy = 0; lazy < 2; lazy++) {
		struct fx *fx = fx_new(lazy ? &lazy_opts : &eager_opts);
		uint64_t root = new_table(fx, 0), pdpt = new_table(fx, 1), pd = new_table(fx, 2);

		(void)state;
		fx->roots[0] = root;
		gw64(fx, root + 510 * 8, root | TBL);       /* recursive self-map */
		gw64(fx, root + 0, pdpt | TBL);
		gw64(fx, pdpt + 0, pd | TBL);
		gw64(fx, pd + 0, pd | TBL);                  /* PD as its own PT */
		gw64(fx, pd + 8, 0x7000 | P | RW | US | PS); /* 2M leaf, or a 4K at PT level */
		gw64(fx, pdpt + 8, root | P | RW);           /* PML4 used as PD */
		load(fx, 0);
		if (!lazy) {
			/* (root,0..3) (pdpt,1..3) (pd,2..3): never more than 4 per page */
			assert_true(stats(fx).pages_in_use <= 9);
			check_consistent(fx, true);
		}
		for (int n = 0; n < 3000; n++) {
			uint64_t gva = canon(((uint64_t)(n % 2 ? 510 : 0) << 39) |
					     ((uint64_t)(n % 3 ? 0 : 510) << 30) |
					     ((uint64_t)(n % 5 ? 0 : 1) << 30) |
					     ((uint64_t)(n % 7 ? 1 : 0) << 21) |
					     ((uint64_t)(n % 11 ? 510 : 1) << 12) | (uint64_t)(n * 8 % 4096));

			if (lazy)
				resolve(fx, 0, gva, accesses[n % NACC]);
			check_gva(fx, 0, gva, !lazy);
		}
		/* writes through the self-referencing structure */
		gw64(fx, pd + 0, 0);
		gw64(fx, root + 510 * 8, pd | TBL);
		gw64(fx, root + 510 * 8, root | TBL);
		check_consistent(fx, !lazy);
		for (uint64_t i = 0; i < 512; i++)
			check_gva(fx, 0, canon((510ULL << 39) | (i << 30) | (1ULL << 21)), !lazy);
		fx_free(fx);
	}
}

/* Two roots sharing a PDPT: shadowed once; a write to it reaches both. */
static void test_shared_subtree(void **state)
{
	struct fx *fx = fx_new(&eager_opts);
	uint64_t a = new_table(fx, 0), b = new_table(fx, 0), shared;
	uint64_t leaf;

	(void)state;
	fx->roots[0] = a;
	fx->roots[1] = b;
	leaf = map_page(fx, a, 0x1000, 0x9000, SZ_4K, P | RW | US);
	shared = rd(fx, a) & ADDR;
	gw64(fx, b + 3 * 8, shared | P | US); /* read-only in b */
	load(fx, 0);
	assert_int_equal(stats(fx).pages_in_use, 4);
	load(fx, 1);
	assert_int_equal(stats(fx).pages_in_use, 5); /* only b's PML4 is new */
	check_gva(fx, 0, 0x1000, true);
	check_gva(fx, 1, (3ULL << 39) | 0x1000, true);
	gw64(fx, leaf, 0xA000 | P | RW | US);
	check_gva(fx, 0, 0x1000, true);
	check_gva(fx, 1, (3ULL << 39) | 0x1000, true);
	gw64(fx, leaf - 8 + 8, 0);
	check_gva(fx, 0, 0x1000, true);
	check_gva(fx, 1, (3ULL << 39) | 0x1000, true);
	check_consistent(fx, true);
	fx_free(fx);
}

/* Byte-sized, misaligned and page-crossing writes, checked entry by entry. */
static void test_partial_writes(void **state)
{
	for (int lazy = 0; lazy < 2; lazy++) {
		struct fx *fx = fx_new(lazy ? &lazy_opts : &eager_opts);
		uint64_t root = new_table(fx, 0), pt, e, v;
		uint8_t b;

		(void)state;
		fx->roots[0] = root;
		for (uint64_t i = 0; i < 512; i++)
			map_page(fx, root, i * SZ_4K, 0x100000 + i * SZ_4K, SZ_4K, P | RW | US);
		/* the next pool page is a PT of another region */
		for (uint64_t i = 0; i < 512; i++)
			map_page(fx, root, SZ_2M + i * SZ_4K, 0x300000 + i * SZ_4K, SZ_4K, P | US);
		pt = rd(fx, (rd(fx, (rd(fx, root) & ADDR)) & ADDR)) & ADDR;
		assert_int_equal(rd(fx, (rd(fx, (rd(fx, root) & ADDR)) & ADDR) + 8) & ADDR,
				 pt + SZ_4K);
		load(fx, 0);
		for (int round = 0; round < 6; round++) {
			for (uint64_t gva = 0; gva < 2 * SZ_2M; gva += SZ_4K) {
				if (lazy)
					resolve(fx, 0, gva + 8, accesses[gva / SZ_4K % NACC]);
				check_gva(fx, 0, gva + 8, !lazy);
			}
			e = pt + (5 + round) * 8;
			switch (round) {
			case 0: /* 1 byte: drop RW */
				b = (uint8_t)((rd(fx, e) & 0xFF) & ~RW);
				gw(fx, e, &b, 1);
				break;
			case 1: /* 2 bytes in the middle: another frame */
				v = 0x0077;
				gw(fx, e + 2, &v, 2);
				break;
			case 2: /* misaligned 8 bytes: high half of e, low half of e+8 */
				v = 0x0000000000000000ULL;
				gw(fx, e + 4, &v, 8);
				break;
			case 3: /* 3 bytes straddling entries */
				v = 0xFFFFFF;
				gw(fx, e + 6, &v, 3);
				break;
			case 4: /* 8 bytes across the page boundary into the next PT */
				v = 0x8000000000000000ULL | 0x0000000000400067ULL;
				gw(fx, pt + SZ_4K - 4, &v, 8);
				break;
			case 5: /* 1 byte: not present, then present again */
				b = 0;
				gw(fx, e, &b, 1);
				b = (uint8_t)(P | RW);
				gw(fx, e, &b, 1);
				break;
			}
			check_consistent(fx, !lazy);
		}
		fx_free(fx);
	}
}

/* ---- root cache and store ---------------------------------------------- */

/* A 4-page tree (PML4, PDPT, PD, PT) mapping 0x1000 -> frame. */
static uint64_t small_tree(struct fx *fx, uint64_t frame)
{
	uint64_t root = new_table(fx, 0);

	map_page(fx, root, 0x1000, frame, SZ_4K, P | RW | US);
	return root;
}

/* What leaf_gone was told (test_leaf_gone). */
static struct { uint64_t frame, size; unsigned int calls; } gone;

static void record_gone(void *ctx, uint64_t frame, uint64_t size)
{
	(void)ctx;
	gone.frame = frame;
	gone.size = size;
	gone.calls++;
}

/*
 * A VMM on a shadow-paging host drops exactly the frames of changed
 * leaves (leaf_gone + SHADOW_FLUSH_ENTRIES); table changes and freed pages
 * are flagged apart, since they need the whole store re-read.
 */
static void test_leaf_gone(void **state)
{
	const struct opts *modes[] = { &eager_opts, &lazy_opts };

	(void)state;
	for (unsigned int m = 0; m < 2; m++) {
		struct fx *fx = fx_new(modes[m]);
		struct ptw_result r;
		enum shadow_fault_result res;
		uint32_t gec;
		uint64_t pte;

		shadow_destroy(fx->s);
		fx->cfg.leaf_gone = record_gone;
		assert_int_equal(shadow_create(&fx->cfg, &fx->s), 0);
		memset(&gone, 0, sizeof(gone));
		fx->roots[0] = small_tree(fx, 0x10000);
		map_page(fx, fx->roots[0], 0x200000, 0x400000, SZ_2M, P | RW | US);
		fx->nroots = 1;
		load(fx, 0);
		/* lazy: fill both paths first */
		assert_int_equal(shadow_page_fault(fx->s, 0x1000, 0, &res, &gec), 0);
		assert_int_equal(shadow_page_fault(fx->s, 0x200000, 0, &res, &gec), 0);
		shadow_take_flush(fx->s);

		fx->regs.cr3 = fx->roots[0];
		assert_int_equal(ptw_walk(&fx->guest_mem, &fx->regs, 0x1000, PTW_READ, &r), 0);
		pte = r.entry_gpa[PT_LEVELS - 1];
		gw64(fx, pte, rd(fx, pte) & ~(uint64_t)RW);     /* fewer rights */
		assert_int_equal(gone.calls, 1);
		assert_int_equal(gone.frame, 0x10000);
		assert_int_equal(gone.size, SZ_4K);
		assert_int_equal(shadow_take_flush(fx->s), SHADOW_FLUSH_ENTRIES);

		assert_int_equal(ptw_walk(&fx->guest_mem, &fx->regs, 0x200000, PTW_READ, &r), 0);
		gw64(fx, r.entry_gpa[2], 0);                     /* unmap the 2 MiB page */
		assert_int_equal(gone.calls, 2);
		assert_int_equal(gone.frame, 0x400000);
		assert_int_equal(gone.size, SZ_2M);

		gw64(fx, fx->roots[0], 0);                       /* drop the whole subtree */
		assert_int_equal(gone.calls, 2);                 /* no leaf entry changed */
		assert_true(shadow_take_flush(fx->s) & SHADOW_FLUSH_TABLES);
		fx_free(fx);
	}
}

static void test_root_cache(void **state)
{
	struct opts o = eager_opts;
	struct fx *fx;
	struct shadow_stats st;
	uint64_t shared;

	(void)state;
	o.max_roots = 2;
	fx = fx_new(&o);
	fx->roots[0] = small_tree(fx, 0x10000);
	fx->roots[1] = small_tree(fx, 0x20000);
	fx->roots[2] = small_tree(fx, 0x30000);
	shared = rd(fx, fx->roots[0]) & ADDR;
	gw64(fx, fx->roots[1] + 8, shared | TBL); /* root 1 shares root 0's PDPT */
	fx->nroots = 3;

	load(fx, 0);                                       /* miss */
	load(fx, 1);                                       /* miss */
	assert_int_equal(stats(fx).pages_in_use, 8);
	load(fx, 0);                                       /* hit */
	load(fx, 2);                                       /* miss: evicts 1 */
	st = stats(fx);
	assert_int_equal(st.root_hits, 1);
	assert_int_equal(st.root_misses, 3);
	assert_int_equal(st.root_evictions, 1);
	assert_int_equal(st.pages_in_use, 8); /* 1's own pages gone, the shared PDPT kept */
	assert_true(shadow_take_flush(fx->s));
	assert_false(shadow_take_flush(fx->s));
	check_gva(fx, 0, 0x1000, true);
	check_gva(fx, 2, 0x1000, true);
	load(fx, 1);                                       /* miss: evicts 0 */
	st = stats(fx);
	assert_int_equal(st.root_misses, 4);
	assert_int_equal(st.root_evictions, 2);
	assert_int_equal(st.root_loads, 5);
	assert_int_equal(st.pages_in_use, 11); /* 0's PML4 gone, its PDPT subtree kept */
	assert_int_equal(st.pages_peak, 12);
	check_gva(fx, 1, 0x1000, true);
	check_gva(fx, 1, (1ULL << 39) | 0x1000, true);
	check_gva(fx, 2, 0x1000, true);
	/* a write to the shared PDPT, now only reachable from root 1 */
	gw64(fx, shared, 0);
	assert_int_equal(stats(fx).pages_in_use, 9);
	check_gva(fx, 1, (1ULL << 39) | 0x1000, true);
	check_consistent(fx, true);
	fx_free(fx);

	/* max_roots 1: every switch evicts */
	o.max_roots = 1;
	fx = fx_new(&o);
	fx->roots[0] = small_tree(fx, 0x10000);
	fx->roots[1] = small_tree(fx, 0x20000);
	for (int n = 0; n < 6; n++)
		load(fx, (unsigned int)n % 2);
	st = stats(fx);
	assert_int_equal(st.root_misses, 6);
	assert_int_equal(st.root_evictions, 5);
	assert_int_equal(st.pages_in_use, 4);
	assert_int_equal(st.pages_peak, 8);
	check_gva(fx, 1, 0x1000, true);
	fx_free(fx);
}

static void test_store_exhaustion(void **state)
{
	struct opts o = eager_opts;
	struct fx *fx;
	struct shadow_stats st;
	enum shadow_fault_result res;
	uint64_t cr3, big_pdpte;
	uint32_t ec;

	(void)state;
	o.store_pages = 10;
	fx = fx_new(&o);
	fx->roots[0] = small_tree(fx, 0x10000);
	fx->roots[1] = small_tree(fx, 0x20000);
	fx->roots[3] = small_tree(fx, 0x50000);
	fx->roots[2] = small_tree(fx, 0x30000);  /* 4 pages ... */
	map_page(fx, fx->roots[2], 1ULL << 39, 0x40000, SZ_4K, P | RW); /* ... + 3 = 7 */
	load(fx, 0);
	load(fx, 1);
	assert_int_equal(stats(fx).pages_in_use, 8);
	load(fx, 3); /* needs 4, 2 free: evicts root 0, not the current root 1 */
	st = stats(fx);
	assert_int_equal(st.store_full_evictions, 1);
	assert_int_equal(st.root_evictions, 0);
	assert_int_equal(st.pages_in_use, 8);
	check_gva(fx, 1, 0x1000, true);
	check_gva(fx, 3, 0x1000, true);
	/* root 2 needs 7: root 1 goes, the current root 3 stays: -ENOMEM */
	assert_int_equal(shadow_load_root(fx->s, fx->roots[2], &cr3), -ENOMEM);
	st = stats(fx);
	assert_int_equal(st.store_full_evictions, 2);
	assert_int_equal(st.nomem, 1);
	assert_int_equal(st.pages_in_use, 4);
	check_gva(fx, 3, 0x1000, true);
	check_consistent(fx, true);
	/* root 3 is still current: a fault works on it */
	assert_int_equal(shadow_page_fault(fx->s, 0x1000, PFEC_W, &res, &ec), 0);
	assert_int_equal(res, SHADOW_FIXED);
	shadow_reset(fx->s);
	assert_int_equal(stats(fx).pages_in_use, 0);
	fx_free(fx);

	/* one root, 6 pages: a trapped write that needs 3 more fails safely */
	o.store_pages = 6;
	o.max_roots = 1;
	fx = fx_new(&o);
	fx->roots[0] = small_tree(fx, 0x10000);
	fx->roots[2] = small_tree(fx, 0x30000);
	map_page(fx, fx->roots[2], 1ULL << 39, 0x40000, SZ_4K, P | RW);
	big_pdpte = rd(fx, fx->roots[2] + 8);   /* PDPT, PD, PT: 3 pages */
	load(fx, 0);
	poke64(fx, fx->roots[0] + 8 * 8, big_pdpte);
	assert_int_equal(shadow_guest_write(fx->s, fx->roots[0] + 8 * 8, 8), -ENOMEM);
	assert_int_equal(stats(fx).pages_in_use, 6);
	for (uint64_t i = 0; i < 16; i++)
		check_gva(fx, 0, i << 39, false);
	check_gva(fx, 0, 0x1000, true);
	check_consistent(fx, false);
	/* the fault path reports -ENOMEM too, and nothing unsafe is left */
	assert_int_equal(shadow_page_fault(fx->s, 8ULL << 39, 0, &res, &ec),
			 -ENOMEM);
	check_consistent(fx, false);
	assert_int_equal(stats(fx).nomem, 2);
	/* once the guest unmaps it again, the shadow is complete once more */
	gw64(fx, fx->roots[0] + 8 * 8, 0);
	check_consistent(fx, true);
	shadow_reset(fx->s);
	assert_int_equal(stats(fx).pages_in_use, 0);
	/* with the store empty, root 2 fits no better: 7 > 6 */
	assert_int_equal(shadow_load_root(fx->s, fx->roots[2], &cr3), -ENOMEM);
	assert_int_equal(stats(fx).pages_in_use, 0);
	fx_free(fx);

	/* LAZY: the root fits, a path does not */
	o = lazy_opts;
	o.store_pages = 3;
	fx = fx_new(&o);
	fx->roots[0] = small_tree(fx, 0x10000);
	load(fx, 0);
	assert_int_equal(shadow_page_fault(fx->s, 0x1000, 0, &res, &ec), -ENOMEM);
	check_gva(fx, 0, 0x1000, false);
	check_consistent(fx, false);
	assert_int_equal(stats(fx).pages_in_use, 3);
	fx_free(fx);
}

/* ---- invlpg and flush: changes the shadow was not told about ------------- */

static void test_invlpg_flush(void **state)
{
	for (int lazy = 0; lazy < 2; lazy++) {
		struct fx *fx = fx_new(lazy ? &lazy_opts : &eager_opts);
		uint64_t root = new_table(fx, 0), leaf, pde;

		(void)state;
		fx->roots[0] = root;
		leaf = map_page(fx, root, 0x1000, 0x10000, SZ_4K, P | RW | US);
		map_page(fx, root, 0x2000, 0x20000, SZ_4K, P | RW | US);
		pde = (rd(fx, rd(fx, root) & ADDR) & ADDR);
		load(fx, 0);
		if (lazy) {
			resolve(fx, 0, 0x1000, W_);
			resolve(fx, 0, 0x2000, W_);
		}
		poke64(fx, leaf, 0x30000 | P | US); /* the shadow still maps 0x10000 RW */
		assert_int_equal(shadow_invlpg(fx->s, 0x1000), 0);
		if (lazy)
			resolve(fx, 0, 0x1000, R_);
		check_gva(fx, 0, 0x1000, !lazy);
		check_consistent(fx, !lazy);
		/* several levels behind the shadow's back, then a full flush */
		poke64(fx, pde, 0x40000000 | P | RW | PS);
		poke64(fx, root + 8, (rd(fx, root) & ADDR) | P | US);
		assert_int_equal(shadow_flush(fx->s), 0);
		check_consistent(fx, !lazy);
		for (uint64_t gva = 0; gva < 4 * SZ_2M; gva += SZ_4K) {
			if (lazy)
				resolve(fx, 0, gva, accesses[gva / SZ_4K % NACC]);
			check_gva(fx, 0, gva, !lazy);
			check_gva(fx, 0, (1ULL << 39) | gva, !lazy);
		}
		assert_int_equal(stats(fx).invlpgs, 1);
		assert_int_equal(stats(fx).flushes, 1);
		fx_free(fx);
	}
}

/* Every entry of every level points at one shared table: 4 shadow pages,
 * and a flush visits each once (without that it would be 512^3 visits). */
static void test_wide_sharing(void **state)
{
	for (int lazy = 0; lazy < 2; lazy++) {
		struct fx *fx = fx_new(lazy ? &lazy_opts : &eager_opts);
		uint64_t t[PT_LEVELS];

		(void)state;
		for (int l = 0; l < PT_LEVELS; l++)
			t[l] = new_table(fx, l);
		fx->roots[0] = t[0];
		for (uint64_t i = 0; i < 512; i++) {
			for (int l = 0; l < PT_LEVELS - 1; l++)
				gw64(fx, t[l] + i * 8, t[l + 1] | TBL);
			gw64(fx, t[3] + i * 8, (i * SZ_4K) | P | RW | US);
		}
		load(fx, 0);
		for (int n = 0; n < 2000; n++) {
			uint64_t gva = canon(rnd(fx) & 0xFFFFFFFFF000ULL);

			if (lazy)
				resolve(fx, 0, gva, accesses[n % NACC]);
			check_gva(fx, 0, gva, !lazy);
		}
		assert_int_equal(stats(fx).pages_in_use, 4);
		poke64(fx, t[3] + 7 * 8, 0);
		assert_int_equal(shadow_flush(fx->s), 0);
		check_consistent(fx, !lazy);
		check_gva(fx, 0, 0x7000, !lazy);
		fx_free(fx);
	}
}

/* ---- random tables: the central property ------------------------------- */

static void random_eager(const struct opts *o, int mutations)
{
	struct fx *fx = fx_new(o);
	struct shadow_stats st;

	gen_roots(fx, NROOTS);
	for (unsigned int k = 0; k < fx->nroots; k++)
		load(fx, k);
	check_consistent(fx, true);
	for (int n = 0; n < 4000; n++)
		check_gva(fx, (unsigned int)n % fx->nroots, rand_gva(fx), true);
	assert_true(fx->checked_exact);
	for (int m = 0; m < mutations; m++) {
		mutate(fx);
		for (int n = 0; n < 40; n++)
			check_gva(fx, (unsigned int)n % fx->nroots, rand_gva(fx), true);
		if (m % 10 == 0)
			check_consistent(fx, true);
		if (m % 50 == 25) /* a flush or an invlpg of an in-sync shadow is a no-op */
			assert_int_equal(m % 100 == 25 ? shadow_flush(fx->s)
						       : shadow_invlpg(fx->s, rand_gva(fx)), 0);
	}
	check_consistent(fx, true);
	for (int n = 0; n < 4000; n++)
		check_gva(fx, (unsigned int)n % fx->nroots, rand_gva(fx), true);
	st = stats(fx);
	assert_int_equal(st.root_misses, NROOTS);
	assert_int_equal(st.trapped_writes > 0, true);
	assert_true(st.pages_peak >= st.pages_in_use);
	assert_true(st.rsvd_entries > 0);
	assert_true(st.refused_targets > 0);
	assert_true(st.unreadable_tables > 0);
	assert_int_equal(st.nomem, 0);
	fx_free(fx);
}

static void random_lazy(const struct opts *o, int mutations)
{
	struct fx *fx = fx_new(o);
	unsigned int counts[3] = { 0 };
	struct shadow_stats st;

	gen_roots(fx, NROOTS);
	for (unsigned int k = 0; k < fx->nroots; k++)
		load(fx, k);
	for (int n = 0; n < 4000; n++) {
		unsigned int k = (unsigned int)n % fx->nroots;

		load(fx, k); /* a hit */
		counts[resolve(fx, k, rand_gva(fx), accesses[rn(fx, NACC)])]++;
	}
	check_consistent(fx, false);
	for (int m = 0; m < mutations; m++) {
		unsigned int k = rn(fx, fx->nroots);

		mutate(fx);
		load(fx, k);
		for (int n = 0; n < 20; n++)
			counts[resolve(fx, k, rand_gva(fx), accesses[rn(fx, NACC)])]++;
		for (int n = 0; n < 20; n++)
			check_gva(fx, (unsigned int)n % fx->nroots, rand_gva(fx), false);
		if (m % 10 == 0)
			check_consistent(fx, false);
		if (m % 50 == 25)
			assert_int_equal(m % 100 == 25 ? shadow_flush(fx->s)
						       : shadow_invlpg(fx->s, rand_gva(fx)), 0);
	}
	check_consistent(fx, false);
	for (int n = 0; n < 4000; n++)
		check_gva(fx, (unsigned int)n % fx->nroots, rand_gva(fx), false);
	st = stats(fx);
	assert_true(counts[SHADOW_FIXED] > 100);
	assert_true(counts[SHADOW_GUEST_FAULT] > 100);
	assert_true(counts[SHADOW_REFUSED] > 10);
	assert_true(st.hidden_faults > 100);
	assert_int_equal(st.root_misses, NROOTS);
	assert_int_equal(st.true_faults, counts[SHADOW_GUEST_FAULT]);
	assert_int_equal(st.nomem, 0);
	fx_free(fx);
}

static void test_random_eager(void **state)
{
	static const struct opts cases[] = {
		{ SHADOW_EAGER, NROOTS, 4096, true, true, false, false, 101 },
		{ SHADOW_EAGER, NROOTS, 4096, false, true, true, true, 202 },
		{ SHADOW_EAGER, NROOTS, 4096, true, false, true, false, 303 },
		{ SHADOW_EAGER, NROOTS, 4096, true, true, false, true, 404 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		random_eager(&cases[i], 400);
}

static void test_random_lazy(void **state)
{
	static const struct opts cases[] = {
		{ SHADOW_LAZY, NROOTS, 4096, true, true, false, false, 505 },
		{ SHADOW_LAZY, NROOTS, 4096, false, true, false, true, 606 }, /* no I/D bit */
		{ SHADOW_LAZY, NROOTS, 4096, true, false, true, true, 707 },
		{ SHADOW_LAZY, NROOTS, 4096, false, true, true, false, 808 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		random_lazy(&cases[i], 400);
}

/* Random trees in a store too small for them: everything stays safe. */
static void test_random_small_store(void **state)
{
	for (int lazy = 0; lazy < 2; lazy++) {
		/* EAGER: trees of 71..141 pages, not all fit at once */
		struct opts o = { lazy ? SHADOW_LAZY : SHADOW_EAGER, 3, lazy ? 12 : 220, true,
				  true, false, true, 909 };
		struct fx *fx = fx_new(&o);
		enum shadow_fault_result res;
		uint32_t ec;

		(void)state;
		fx->allow_nomem = true;
		gen_roots(fx, NROOTS);
		for (int n = 0; n < 3000; n++) {
			unsigned int k = rn(fx, fx->nroots);
			uint64_t gva = rand_gva(fx);
			int rc = shadow_load_root(fx->s, fx->roots[k], &fx->cr3[k]);

			assert_true(rc == 0 || rc == -ENOMEM);
			if (rc)
				continue;
			rc = shadow_page_fault(fx->s, gva, 0, &res, &ec);
			assert_true(rc == 0 || rc == -ENOMEM);
			check_gva(fx, k, gva, false);
			if (n % 7 == 0)
				mutate(fx);
			if (n % 100 == 0)
				check_consistent(fx, false);
			assert_true(stats(fx).pages_in_use <= o.store_pages);
		}
		assert_true(stats(fx).store_full_evictions > 0);
		fx_free(fx);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_invalid),
		cmocka_unit_test(test_root_unreadable),
		cmocka_unit_test(test_entry_format),
		cmocka_unit_test(test_target_refused),
		cmocka_unit_test(test_store_never_mapped),
		cmocka_unit_test(test_reserved_and_unreadable),
		cmocka_unit_test(test_fault_args),
		cmocka_unit_test(test_self_reference),
		cmocka_unit_test(test_shared_subtree),
		cmocka_unit_test(test_partial_writes),
		cmocka_unit_test(test_root_cache),
		cmocka_unit_test(test_leaf_gone),
		cmocka_unit_test(test_store_exhaustion),
		cmocka_unit_test(test_invlpg_flush),
		cmocka_unit_test(test_wide_sharing),
		cmocka_unit_test(test_random_eager),
		cmocka_unit_test(test_random_lazy),
		cmocka_unit_test(test_random_small_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

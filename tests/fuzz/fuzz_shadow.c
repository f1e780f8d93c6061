// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the shadow MMU core (src/mmu/shadow.c) under its one
 * safety property.  The fuzzer writes the guest's page tables (a pool of
 * pages whose first contents it also supplies) and drives the calls a VMM
 * makes: trapped writes of any width and alignment, root loads (also of
 * roots outside the pool), INVLPG, full flushes, page faults with any error
 * code, prefills, resets and fill-policy changes, with any NXE/WP/SMEP/SMAP
 * setting and a small store that runs full.  After every step, for the
 * addresses used so far and every access kind, a walk of the shadow tables
 * never translates where the guest's own tables do not, to another frame or
 * page size, with more rights (write, user, execute), or to a frame the VMM
 * refused (target_ok); and shadow_check finds the refcounts, reverse map,
 * free list and every present entry consistent.
 *
 * Input: [1 byte config][2 bytes op count N][N * 12-byte ops][pool image].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi/paging.h"
#include "mmu/ptw.h"
#include "mmu/shadow.h"

#define POOL_BASE   0x100000ull
#define POOL_PAGES  8u
#define POOL_SIZE   (POOL_PAGES * 4096ull)
#define STORE_GPA   0x40000000ull
#define STORE_PAGES 24u
#define TARGET_TOP  0x100000000ull            /* leaves may map below 4 GiB ... */
#define HOLE_LO     0xC0000000ull             /* ... except the MMIO hole */
#define HOLE_HI     0xD0000000ull
#define MAXPHY      40
#define NGVA        4
#define MAX_OPS     96
#define CHECK_EVERY 32    /* shadow_check's full recount, every so many steps */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct op {
	uint8_t kind, a;
	uint16_t b;
	uint64_t x;
} __attribute__((packed));

struct fx {
	uint8_t pool[POOL_SIZE];
	uint8_t store[STORE_PAGES * 4096] __attribute__((aligned(4096)));
	struct shadow_mmu *s;
	struct ptw_regs regs;
	struct ptw_mem guest, shadow;
	bool have_root;
	uint64_t root, cr3;
	uint64_t gva[NGVA];
	unsigned int next_gva;
};

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

	if (!len || gpa < STORE_GPA || len > sizeof(fx->store) ||
	    gpa - STORE_GPA > sizeof(fx->store) - len)
		return NULL;
	return fx->store + (gpa - STORE_GPA);
}

static bool target_ok(void *ctx, uint64_t gpa, uint64_t size)
{
	return gpa + size <= TARGET_TOP && gpa + size > gpa &&
	       !(gpa < HOLE_HI && gpa + size > HOLE_LO);
}

static uint64_t canon(uint64_t gva)
{
	gva &= (1ull << 48) - 1;
	return gva & (1ull << 47) ? gva | 0xFFFF000000000000ull : gva;
}

static void check_one(struct fx *fx, uint64_t gva, unsigned int acc)
{
	struct ptw_regs regs = fx->regs;
	struct ptw_result g, sh;
	int grc, src;

	regs.cr3 = fx->cr3;
	src = ptw_walk(&fx->shadow, &regs, gva, acc, &sh);
	/* The shadow links only store pages. */
	if (src && sh.fault == PTW_BAD_TABLE_GPA)
		abort();
	if (src)
		return;
	regs.cr3 = fx->root;
	grc = ptw_walk(&fx->guest, &regs, gva, acc, &g);
	if (grc || sh.gpa != g.gpa || sh.page_size != g.page_size ||
	    (sh.writable && !g.writable) || (sh.user && !g.user) || (g.nx && !sh.nx) ||
	    !target_ok(NULL, g.gpa & ~(g.page_size - 1), g.page_size))
		abort();
}

static void check(struct fx *fx, bool full)
{
	static const unsigned int acc[] = { PTW_READ, PTW_WRITE, PTW_USER, PTW_USER | PTW_WRITE,
					    PTW_FETCH, PTW_USER | PTW_FETCH };
	char why[256];

	if (full && shadow_check(fx->s, false, why, sizeof(why))) {
		fprintf(stderr, "shadow_check: %s\n", why);
		abort();
	}
	if (!fx->have_root)
		return;
	for (unsigned int i = 0; i < NGVA; i++)
		for (unsigned int a = 0; a < sizeof(acc) / sizeof(acc[0]); a++)
			check_one(fx, fx->gva[i], acc[a]);
}

/* An address the guest's tables are likely to cover: hot indices at each
 * level (0, 1, 511 ...) from the op's bits, or the raw bits. */
static uint64_t pick_gva(struct fx *fx, const struct op *o)
{
	static const unsigned int hot[] = { 0, 1, 2, 3, 255, 256, 510, 511 };
	uint64_t gva = o->x;

	if (!(o->a & 0x80)) {
		gva = o->x & 0xFFF;
		for (unsigned int l = 0; l < 4; l++)
			gva |= (uint64_t)hot[(o->b >> (3 * l)) & 7] << (12 + 9 * (3 - l));
	}
	gva = canon(gva);
	fx->gva[fx->next_gva++ % NGVA] = gva;
	return gva;
}

static void step(struct fx *fx, const struct op *o)
{
	enum shadow_fault_result res;
	uint32_t gec;
	uint64_t off, v;
	unsigned int len;

	switch (o->kind % 9) {
	case 0: /* a trapped write of 1, 2, 4 or 8 bytes anywhere in the pool */
		len = 1u << (o->a & 3);
		off = o->b % (POOL_SIZE - len + 1);
		memcpy(fx->pool + off, &o->x, len);
		shadow_guest_write(fx->s, POOL_BASE + off, len);
		break;
	case 1: /* a trapped write that links one pool table to another */
		off = (uint64_t)(o->b % (POOL_SIZE / 8)) * 8;
		v = POOL_BASE + (o->x % POOL_PAGES) * 4096 | (o->x >> 32 & 0x8000000000000FFFull);
		memcpy(fx->pool + off, &v, 8);
		shadow_guest_write(fx->s, POOL_BASE + off, 8);
		break;
	case 2: { /* a root load (MOV CR3) */
		uint64_t root = o->a & 1 ? o->x : POOL_BASE + (o->b % POOL_PAGES) * 4096;
		uint64_t cr3;

		if (shadow_load_root(fx->s, root, &cr3) == 0) {
			fx->have_root = true;
			fx->root = root & ((1ull << MAXPHY) - 1) & ~0xFFFull;
			fx->cr3 = cr3;
		}
		break;
	}
	case 3:
		shadow_invlpg(fx->s, pick_gva(fx, o));
		break;
	case 4:
		shadow_flush(fx->s);
		break;
	case 5:
		shadow_page_fault(fx->s, pick_gva(fx, o), o->a & 0x1F, &res, &gec);
		break;
	case 6:
		shadow_prefill(fx->s, pick_gva(fx, o));
		break;
	case 7:
		shadow_set_fill(fx->s, o->a & 1 ? SHADOW_LAZY : SHADOW_EAGER);
		break;
	case 8:
		if (o->a == 0xEE) {
			shadow_reset(fx->s);
			fx->have_root = false;
		}
		break;
	}
	shadow_take_flush(fx->s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fx fx;
	struct shadow_config cfg;
	size_t nr, pool;
	uint8_t c;

	if (size < 3)
		return 0;
	c = data[0];
	nr = (size_t)(data[1] | data[2] << 8);
	data += 3;
	size -= 3;
	if (nr > size / sizeof(struct op))
		nr = size / sizeof(struct op);
	if (nr > MAX_OPS)
		nr = MAX_OPS;
	memset(&fx, 0, sizeof(fx));
	pool = size - nr * sizeof(struct op);
	memcpy(fx.pool, data + nr * sizeof(struct op), pool < POOL_SIZE ? pool : POOL_SIZE);
	memset(fx.store, 0xA5, sizeof(fx.store));
	fx.guest = (struct ptw_mem){ .map = pool_map, .ctx = &fx };
	fx.shadow = (struct ptw_mem){ .map = store_map, .ctx = &fx };
	fx.regs = (struct ptw_regs){
		.cr0 = PTW_CR0_PG | 1 | (c & 4 ? PTW_CR0_WP : 0),
		.cr4 = (1 << 5) | (c & 8 ? PTW_CR4_SMEP : 0) | (c & 16 ? PTW_CR4_SMAP : 0),
		.efer = PTW_EFER_LMA | (1 << 8) | (c & 2 ? PTW_EFER_NXE : 0),
		.maxphyaddr = MAXPHY,
	};
	cfg = (struct shadow_config){
		.guest = fx.guest, .target_ok = target_ok, .store = fx.store,
		.store_gpa = STORE_GPA, .store_pages = STORE_PAGES,
		.max_roots = 1 + (c >> 5), .fill = c & 1 ? SHADOW_LAZY : SHADOW_EAGER,
		.maxphyaddr = MAXPHY, .nxe = c & 2, .wp = c & 4, .smep = c & 8, .smap = c & 16,
	};
	if (shadow_create(&cfg, &fx.s))
		abort();
	for (size_t i = 0; i < nr; i++) {
		struct op o;

		memcpy(&o, data + i * sizeof(o), sizeof(o));
		step(&fx, &o);
		check(&fx, i % CHECK_EVERY == CHECK_EVERY - 1);
	}
	check(&fx, true);
	shadow_reset(fx.s);
	fx.have_root = false;
	check(&fx, true);
	shadow_destroy(fx.s);
	return 0;
}

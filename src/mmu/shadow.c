// SPDX-License-Identifier: MIT
/*
 * Shadow MMU operations and the root cache.  See shadow.h for what is
 * shadowed how; shadow_table.c holds the page-level machinery.
 *
 * Lifetime rule: a page is freed only when its refcount drops to 0.  Every
 * operation works below a referenced page (the current or loading root,
 * or pages pinned for the duration of a trapped write), so evicting other
 * roots to make room can never free what is being walked.
 */
#include "mmu/shadow_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"

static bool config_valid(const struct shadow_config *c)
{
	uint64_t limit;

	if (!c->guest.map || !c->target_ok || !c->store || ((uintptr_t)c->store & 7))
		return false;
	if (c->maxphyaddr < PTW_MAXPHYADDR_MIN || c->maxphyaddr > PTW_MAXPHYADDR_MAX)
		return false;
	if (c->fill != SHADOW_EAGER && c->fill != SHADOW_LAZY)
		return false;
	if (!c->max_roots || c->max_roots > SHADOW_MAX_ROOTS)
		return false;
	if (!c->store_pages || c->store_pages > SHADOW_MAX_STORE_PAGES)
		return false;
	/* shadow entries must be able to point at every store page */
	limit = 1ULL << c->maxphyaddr;
	return !(c->store_gpa & (PAGE_SIZE_4K - 1)) && c->store_gpa < limit &&
	       c->store_pages * PAGE_SIZE_4K <= limit - c->store_gpa;
}

int shadow_create(const struct shadow_config *cfg, struct shadow_mmu **out)
{
	struct shadow_mmu *s;

	if (!cfg || !out || !config_valid(cfg))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->addr_mask = ((1ULL << cfg->maxphyaddr) - 1) & ~(PAGE_SIZE_4K - 1);
	s->store_end = cfg->store_gpa + cfg->store_pages * PAGE_SIZE_4K;
	s->nr_slots = cfg->max_roots + 1;
	s->roots = calloc(s->nr_slots, sizeof(*s->roots));
	s->current = s->loading = -1;
	if (!s->roots || shadow_store_init(s)) {
		free(s->roots);
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

static void drop_root(struct shadow_mmu *s, int slot)
{
	s->roots[slot].used = false;
	if (s->current == slot)
		s->current = -1;
	shadow_put(s, s->roots[slot].sp);
}

void shadow_reset(struct shadow_mmu *s)
{
	for (unsigned int i = 0; i < s->nr_slots; i++) {
		if (s->roots[i].used)
			drop_root(s, (int)i);
	}
	s->current = -1;
}

void shadow_destroy(struct shadow_mmu *s)
{
	if (!s)
		return;
	shadow_reset(s);
	shadow_store_fini(s);
	free(s->roots);
	free(s);
}

void shadow_set_fill(struct shadow_mmu *s, enum shadow_fill fill)
{
	s->cfg.fill = fill;
}

/* Least recently loaded used slot other than keep and the protected ones. */
static int lru_slot(const struct shadow_mmu *s, int keep)
{
	int best = -1;

	for (unsigned int i = 0; i < s->nr_slots; i++) {
		int slot = (int)i;

		if (!s->roots[i].used || slot == keep || slot == s->current ||
		    slot == s->loading)
			continue;
		if (best < 0 || s->roots[i].last_use < s->roots[best].last_use)
			best = slot;
	}
	return best;
}

bool shadow_evict_for_space(struct shadow_mmu *s)
{
	int victim = lru_slot(s, -1);

	if (victim < 0)
		return false;
	s->stats.store_full_evictions++;
	drop_root(s, victim);
	return true;
}

static int find_root(const struct shadow_mmu *s, uint64_t root)
{
	for (unsigned int i = 0; i < s->nr_slots; i++) {
		if (s->roots[i].used && s->roots[i].guest_root == root)
			return (int)i;
	}
	return -1;
}

static int free_slot(const struct shadow_mmu *s, unsigned int *used)
{
	int slot = -1;

	*used = 0;
	for (unsigned int i = 0; i < s->nr_slots; i++) {
		if (s->roots[i].used)
			(*used)++;
		else if (slot < 0)
			slot = (int)i;
	}
	return slot;
}

/* A root miss: build into a spare slot first (so subtrees shared with the
 * root about to be evicted are kept), then trim the cache to max_roots. */
static int new_root(struct shadow_mmu *s, uint64_t root)
{
	struct shadow_sync ctx;
	unsigned int used;
	int slot = free_slot(s, &used);
	bool created;
	uint32_t sp;

	if (slot < 0) /* cannot happen: at most max_roots of max_roots + 1 used */
		return -ENOSPC;
	sp = shadow_get(s, root, 0, &created);
	if (sp == SP_NIL)
		return -ENOMEM;
	s->roots[slot] = (struct shadow_root){ .guest_root = root, .sp = sp, .used = true };
	s->loading = slot;
	if (created && s->cfg.fill == SHADOW_EAGER) {
		shadow_sync_begin(s, &ctx, true, true, false);
		shadow_sync_table(s, &ctx, sp);
		if (ctx.err) {
			s->loading = -1;
			drop_root(s, slot);
			return ctx.err;
		}
	}
	s->loading = -1;
	s->current = slot; /* the old current may go now: the caller switches */
	/* count again: making room in the store may have evicted roots */
	free_slot(s, &used);
	if (used > s->cfg.max_roots) {
		s->stats.root_evictions++;
		drop_root(s, lru_slot(s, slot));
	}
	return slot;
}

static int load_root(struct shadow_mmu *s, uint64_t guest_root, uint64_t *shadow_cr3)
{
	uint64_t root = guest_root & s->addr_mask;
	int slot;

	if (!shadow_guest_table(s, root))
		return -EFAULT;
	s->stats.root_loads++;
	slot = find_root(s, root);
	if (slot >= 0) {
		s->stats.root_hits++;
	} else {
		s->stats.root_misses++;
		slot = new_root(s, root);
		if (slot < 0) {
			s->stats.nomem += slot == -ENOMEM;
			return slot;
		}
	}
	s->current = slot;
	s->roots[slot].last_use = ++s->clock;
	*shadow_cr3 = shadow_page_gpa(s, s->roots[slot].sp);
	return 0;
}

int shadow_load_root(struct shadow_mmu *s, uint64_t guest_root, uint64_t *shadow_cr3)
{
	uint64_t t0 = now_ns();
	int rc;

	if (!s || !shadow_cr3)
		return -EINVAL;
	rc = load_root(s, guest_root, shadow_cr3);
	s->stats.time_ns += now_ns() - t0;
	return rc;
}

/* Sync entries [lo, hi] (GPAs of entries inside `page`) in every shadow page
 * of that guest page.  The pages are pinned first: syncing one may free
 * another (or evict its root) otherwise. */
static void write_page(struct shadow_mmu *s, struct shadow_sync *ctx, uint64_t page,
		       uint64_t lo, uint64_t hi)
{
	uint32_t pinned[PT_LEVELS];
	unsigned int n = 0;
	const uint8_t *t;

	for (int level = 0; level < PT_LEVELS; level++) {
		uint32_t sp = shadow_lookup(s, page, level);

		if (sp != SP_NIL) {
			s->pages[sp].refs++;
			pinned[n++] = sp;
		}
	}
	if (!n)
		return;
	t = shadow_guest_table(s, page);
	for (unsigned int k = 0; k < n; k++) {
		for (uint64_t e = lo; e <= hi; e += 8) {
			unsigned int i = (unsigned int)((e - page) / 8);

			/* only the pin left: it is about to be freed anyway */
			if (s->pages[pinned[k]].refs > 1)
				shadow_sync_entry(s, ctx, pinned[k], i, shadow_guest_entry(t, i));
		}
	}
	for (unsigned int k = 0; k < n; k++)
		shadow_put(s, pinned[k]);
}

static int guest_write(struct shadow_mmu *s, uint64_t gpa, uint64_t len)
{
	bool eager = s->cfg.fill == SHADOW_EAGER;
	uint64_t first = gpa & ~7ULL, last = (gpa + len - 1) & ~7ULL;
	uint64_t last_page = last & ~(PAGE_SIZE_4K - 1);
	struct shadow_sync ctx;

	s->stats.trapped_writes++;
	shadow_sync_begin(s, &ctx, eager, eager, false);
	for (uint64_t page = first & ~(PAGE_SIZE_4K - 1);; page += PAGE_SIZE_4K) {
		uint64_t lo = first > page ? first : page;
		uint64_t hi = last < page + PAGE_SIZE_4K - 8 ? last : page + PAGE_SIZE_4K - 8;

		write_page(s, &ctx, page, lo, hi);
		if (page == last_page)
			break;
	}
	s->stats.nomem += ctx.err == -ENOMEM;
	return ctx.err;
}

int shadow_guest_write(struct shadow_mmu *s, uint64_t gpa, uint64_t len)
{
	uint64_t t0;
	int rc;

	if (!s || !len || gpa + (len - 1) < gpa)
		return -EINVAL;
	t0 = now_ns();
	rc = guest_write(s, gpa, len);
	s->stats.time_ns += now_ns() - t0;
	return rc;
}

/*
 * Sync the entries on gva's path in the current root, level by level,
 * following the (re-derived) shadow links.  Returns the last entry synced
 * (0 when the path ends at a hole).
 */
static uint64_t sync_path(struct shadow_mmu *s, struct shadow_sync *ctx, uint64_t gva)
{
	uint32_t sp = s->roots[s->current].sp;
	uint64_t e = 0;

	for (int level = 0; level < PT_LEVELS; level++) {
		unsigned int i = (unsigned int)PT_INDEX(gva, level);
		const uint8_t *t = shadow_guest_table(s, s->pages[sp].gpa);

		shadow_sync_entry(s, ctx, sp, i, shadow_guest_entry(t, i));
		e = shadow_entry(s, sp, i);
		sp = shadow_child(s, level, e);
		if (sp == SP_NIL)
			break;
	}
	return e;
}

int shadow_invlpg(struct shadow_mmu *s, uint64_t gva)
{
	bool eager;
	struct shadow_sync ctx;
	uint64_t t0;

	if (!s)
		return -EINVAL;
	s->stats.invlpgs++;
	if (s->current < 0 || !ptw_canonical48(gva))
		return 0; /* INVLPG of a non-canonical address is a no-op */
	t0 = now_ns();
	eager = s->cfg.fill == SHADOW_EAGER;
	shadow_sync_begin(s, &ctx, eager, eager, false);
	sync_path(s, &ctx, gva);
	s->stats.nomem += ctx.err == -ENOMEM;
	s->stats.time_ns += now_ns() - t0;
	return ctx.err;
}

int shadow_flush(struct shadow_mmu *s)
{
	bool eager;
	struct shadow_sync ctx;
	uint64_t t0;

	if (!s)
		return -EINVAL;
	s->stats.flushes++;
	if (s->current < 0)
		return 0;
	t0 = now_ns();
	eager = s->cfg.fill == SHADOW_EAGER;
	shadow_sync_begin(s, &ctx, eager, eager, true);
	shadow_sync_table(s, &ctx, s->roots[s->current].sp);
	s->stats.nomem += ctx.err == -ENOMEM;
	s->stats.time_ns += now_ns() - t0;
	return ctx.err;
}

/* The #PF error code a CPU would give for this access with cause bits. */
static uint32_t fault_code(const struct shadow_mmu *s, unsigned int access, uint32_t cause)
{
	uint32_t ec = cause;

	if (access & PTW_WRITE)
		ec |= PFEC_W;
	if (access & PTW_USER)
		ec |= PFEC_U;
	if ((access & PTW_FETCH) && (s->cfg.nxe || s->cfg.smep))
		ec |= PFEC_ID;
	return ec;
}

static int refused(struct shadow_mmu *s, unsigned int access,
		   enum shadow_fault_result *res, uint32_t *gec)
{
	*res = SHADOW_REFUSED;
	*gec = fault_code(s, access, PFEC_P | PFEC_RSVD);
	return 0;
}

static int page_fault(struct shadow_mmu *s, uint64_t gva, unsigned int access,
		      enum shadow_fault_result *res, uint32_t *gec)
{
	struct ptw_regs regs = {
		.cr0 = PTW_CR0_PG | (s->cfg.wp ? PTW_CR0_WP : 0),
		.cr3 = s->roots[s->current].guest_root,
		.cr4 = (s->cfg.smep ? PTW_CR4_SMEP : 0) | (s->cfg.smap ? PTW_CR4_SMAP : 0),
		.efer = PTW_EFER_LMA | (s->cfg.nxe ? PTW_EFER_NXE : 0),
		.maxphyaddr = s->cfg.maxphyaddr,
	};
	bool eager = s->cfg.fill == SHADOW_EAGER;
	struct shadow_sync ctx;
	struct ptw_result r;
	int rc = ptw_walk(&s->cfg.guest, &regs, gva, access, &r);

	if (rc && rc != -EFAULT)
		return rc;
	if (rc && r.fault == PTW_PAGE_FAULT) {
		*res = SHADOW_GUEST_FAULT;
		*gec = r.error_code;
		return 0;
	}
	if (rc && r.fault == PTW_BAD_TABLE_GPA)
		return refused(s, access, res, gec);
	if (rc)
		return -EINVAL; /* non-canonical: the CPU raises #GP, not #PF */

	shadow_sync_begin(s, &ctx, true, eager, false);
	if (sync_path(s, &ctx, gva) & PTE_P) {
		s->stats.nomem += ctx.err == -ENOMEM; /* a side subtree did not fit */
		*res = SHADOW_FIXED;
		*gec = 0;
		return 0;
	}
	if (ctx.err) {
		s->stats.nomem++;
		return ctx.err;
	}
	return refused(s, access, res, gec); /* the leaf target was refused */
}

int shadow_page_fault(struct shadow_mmu *s, uint64_t gva, uint32_t error_code,
		      enum shadow_fault_result *res, uint32_t *guest_error_code)
{
	unsigned int access = 0;
	uint64_t t0;
	int rc;

	if (!s || !res || !guest_error_code || s->current < 0)
		return -EINVAL;
	if (error_code & PFEC_W)
		access |= PTW_WRITE;
	if (error_code & PFEC_U)
		access |= PTW_USER;
	if (error_code & PFEC_ID)
		access |= PTW_FETCH;
	if ((access & PTW_WRITE) && (access & PTW_FETCH))
		return -EINVAL;
	/*
	 * Without NXE and SMEP the CPU reports no I/D bit, and a supervisor
	 * fetch is allowed wherever a read is (SMAP denies only the read).  A
	 * not-present fault is then taken as the more permissive fetch; were
	 * it a read SMAP forbids, the retry faults on the now present entry
	 * (P = 1) and is classified as a read.
	 */
	if (!access && !(error_code & PFEC_P) && !s->cfg.nxe && !s->cfg.smep)
		access = PTW_FETCH;
	t0 = now_ns();
	rc = page_fault(s, gva, access, res, guest_error_code);
	if (!rc && *res == SHADOW_FIXED)
		s->stats.hidden_faults++;
	else if (!rc && *res == SHADOW_GUEST_FAULT)
		s->stats.true_faults++;
	else if (!rc)
		s->stats.refused_faults++;
	s->stats.time_ns += now_ns() - t0;
	return rc;
}

int shadow_prefill(struct shadow_mmu *s, uint64_t gva)
{
	enum shadow_fault_result res;
	uint32_t gec;
	uint64_t t0;
	int rc;

	if (!s || s->current < 0)
		return -EINVAL;
	t0 = now_ns();
	rc = page_fault(s, gva, PTW_READ, &res, &gec); /* not a fault: not counted as one */
	s->stats.prefills++;
	s->stats.time_ns += now_ns() - t0;
	return rc;
}

unsigned int shadow_take_flush(struct shadow_mmu *s)
{
	unsigned int why = s->tlb_flush;

	s->tlb_flush = 0;
	return why;
}

void shadow_get_stats(const struct shadow_mmu *s, struct shadow_stats *out)
{
	*out = s->stats;
}

// SPDX-License-Identifier: MIT
/*
 * Shadow pages: the store's free list, the reverse map (guest table GPA ->
 * shadow pages), refcounts, and deriving/syncing entries from guest entries.
 * Every store write is one aligned 8-byte atomic store, and a new child page
 * is filled before its parent entry points at it, so a CPU walking the
 * shadow never sees a torn entry or a half-built table.
 */
#include "mmu/shadow_priv.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t *entry_ptr(const struct shadow_mmu *s, uint32_t sp, unsigned int i)
{
	/* cfg.store is 8-byte aligned (checked at create) */
	return (uint64_t *)(void *)(s->cfg.store + (uint64_t)sp * PAGE_SIZE_4K + i * 8U);
}

uint64_t shadow_entry(const struct shadow_mmu *s, uint32_t sp, unsigned int i)
{
	return le64toh(__atomic_load_n(entry_ptr(s, sp, i), __ATOMIC_RELAXED));
}

static void set_entry(struct shadow_mmu *s, uint32_t sp, unsigned int i, uint64_t v)
{
	__atomic_store_n(entry_ptr(s, sp, i), htole64(v), __ATOMIC_RELEASE);
}

uint64_t shadow_page_gpa(const struct shadow_mmu *s, uint32_t sp)
{
	return s->cfg.store_gpa + (uint64_t)sp * PAGE_SIZE_4K;
}

/* The child page a shadow entry at `level` links, SP_NIL for leaves/holes. */
uint32_t shadow_child(const struct shadow_mmu *s, int level, uint64_t entry)
{
	if (level >= PT_LEVEL_PT || !(entry & PTE_P) || (entry & PTE_PS))
		return SP_NIL;
	return (uint32_t)(((entry & s->addr_mask) - s->cfg.store_gpa) / PAGE_SIZE_4K);
}

uint32_t shadow_bucket(const struct shadow_mmu *s, uint64_t gpa)
{
	return (uint32_t)(((gpa >> PAGE_SHIFT_4K) * 0x9E3779B97F4A7C15ULL) >> 32) & s->bucket_mask;
}

int shadow_store_init(struct shadow_mmu *s)
{
	uint64_t n = s->cfg.store_pages, nb = 1;

	while (nb < n)
		nb <<= 1;
	s->pages = calloc(n, sizeof(*s->pages));
	s->buckets = malloc(nb * sizeof(*s->buckets));
	if (!s->pages || !s->buckets) {
		shadow_store_fini(s);
		return -ENOMEM;
	}
	memset(s->buckets, 0xff, nb * sizeof(*s->buckets)); /* SP_NIL */
	s->bucket_mask = (uint32_t)(nb - 1);
	for (uint64_t i = 0; i < n; i++)
		s->pages[i].next = i + 1 < n ? (uint32_t)(i + 1) : SP_NIL;
	s->free_head = 0;
	return 0;
}

void shadow_store_fini(struct shadow_mmu *s)
{
	free(s->pages);
	free(s->buckets);
	s->pages = NULL;
	s->buckets = NULL;
}

uint32_t shadow_lookup(const struct shadow_mmu *s, uint64_t gpa, int level)
{
	for (uint32_t sp = s->buckets[shadow_bucket(s, gpa)]; sp != SP_NIL;
	     sp = s->pages[sp].next) {
		if (s->pages[sp].gpa == gpa && s->pages[sp].level == level)
			return sp;
	}
	return SP_NIL;
}

static uint32_t alloc_page(struct shadow_mmu *s, uint64_t gpa, int level)
{
	uint32_t sp, b;
	struct shadow_page *p;

	while (s->free_head == SP_NIL) {
		if (!shadow_evict_for_space(s))
			return SP_NIL;
	}
	sp = s->free_head;
	p = &s->pages[sp];
	s->free_head = p->next;
	memset(s->cfg.store + (uint64_t)sp * PAGE_SIZE_4K, 0, PAGE_SIZE_4K); /* not linked yet */
	b = shadow_bucket(s, gpa);
	*p = (struct shadow_page){ .gpa = gpa, .refs = 1, .next = s->buckets[b],
				   .level = (uint8_t)level };
	s->buckets[b] = sp;
	if (++s->stats.pages_in_use > s->stats.pages_peak)
		s->stats.pages_peak = s->stats.pages_in_use;
	return sp;
}

uint32_t shadow_get(struct shadow_mmu *s, uint64_t gpa, int level, bool *created)
{
	uint32_t sp = shadow_lookup(s, gpa, level);

	*created = false;
	if (sp != SP_NIL) {
		s->pages[sp].refs++;
		return sp;
	}
	/* Eviction only frees pages, so (gpa, level) cannot appear meanwhile. */
	sp = alloc_page(s, gpa, level);
	*created = sp != SP_NIL;
	return sp;
}

static void hash_remove(struct shadow_mmu *s, uint32_t sp)
{
	uint32_t *link = &s->buckets[shadow_bucket(s, s->pages[sp].gpa)];

	while (*link != SP_NIL && *link != sp)
		link = &s->pages[*link].next;
	if (*link == sp)
		*link = s->pages[sp].next;
}

/* TLBs (and a host KVM's own shadow of the store) may hold what just
 * changed: the vCPU must be flushed before it runs again. */
static void request_flush(struct shadow_mmu *s, unsigned int why)
{
	if (!s->tlb_flush)
		s->stats.tlb_flush_requests++;
	s->tlb_flush |= why;
}

/* Drop a reference; at 0 release the children and free the page.  Children
 * are one level down, so the recursion is at most PT_LEVELS deep. */
void shadow_put(struct shadow_mmu *s, uint32_t sp)
{
	struct shadow_page *p = &s->pages[sp];

	if (--p->refs)
		return;
	for (unsigned int i = 0; p->level < PT_LEVEL_PT && i < PT_ENTRIES; i++) {
		uint32_t child = shadow_child(s, p->level, shadow_entry(s, sp, i));

		if (child != SP_NIL)
			shadow_put(s, child);
	}
	hash_remove(s, sp);
	p->next = s->free_head;
	s->free_head = sp;
	s->stats.pages_in_use--;
	/* The page may be reused at once while a TLB still caches it. */
	request_flush(s, SHADOW_FLUSH_PAGES);
}

const uint8_t *shadow_guest_table(const struct shadow_mmu *s, uint64_t gpa)
{
	return s->cfg.guest.map(s->cfg.guest.ctx, gpa, PAGE_SIZE_4K);
}

uint64_t shadow_guest_entry(const uint8_t *table, unsigned int i)
{
	uint64_t g;

	if (!table)
		return 0;
	memcpy(&g, table + i * 8U, sizeof(g)); /* the host pointer may be unaligned */
	return le64toh(g);
}

static bool target_allowed(const struct shadow_mmu *s, uint64_t frame, uint64_t size)
{
	/* frame < 2^52, no overflow; the store is never a target */
	if (frame < s->store_end && frame + size > s->cfg.store_gpa)
		return false;
	return s->cfg.target_ok(s->cfg.target_ctx, frame, size);
}

static void derive_leaf(const struct shadow_mmu *s, int level, uint64_t g,
			struct shadow_derived *d)
{
	uint64_t size = 1ULL << PT_LEVEL_SHIFT(level);
	uint64_t frame = g & s->addr_mask & ~(size - 1);
	uint64_t e = frame | PTE_P | PTE_A | (g & (PTE_US | PTE_PWT | PTE_PCD));

	if (!target_allowed(s, frame, size)) {
		d->why = SH_REFUSED;
		return;
	}
	if (g & PTE_RW)
		e |= PTE_RW | PTE_D;
	if (level == PT_LEVEL_PT)
		e |= g & PTE_PAT;
	else
		e |= PTE_PS | (g & PTE_PAT_LARGE);
	if (s->cfg.nxe)
		e |= g & PTE_NX;
	d->kind = SH_LEAF;
	d->entry = e;
}

void shadow_derive(const struct shadow_mmu *s, int level, uint64_t g,
		   struct shadow_derived *d)
{
	*d = (struct shadow_derived){ .kind = SH_NONE, .why = SH_OK };
	if (!(g & PTE_P)) {
		d->why = SH_NOT_PRESENT;
		return;
	}
	if (g & ptw_reserved_mask(s->cfg.maxphyaddr, s->cfg.nxe, level, g)) {
		d->why = SH_RSVD;
		return;
	}
	if (level == PT_LEVEL_PT || (level > PT_LEVEL_PML4 && (g & PTE_PS))) {
		derive_leaf(s, level, g, d);
		return;
	}
	d->child_gpa = g & s->addr_mask;
	if (!shadow_guest_table(s, d->child_gpa)) {
		d->why = SH_UNREADABLE;
		return;
	}
	d->kind = SH_TABLE;
	d->entry = PTE_P | PTE_A | (g & (PTE_RW | PTE_US)) |
		   (s->cfg.nxe ? g & PTE_NX : 0);
}

/* Is the current shadow entry exactly what the guest entry derives to? */
bool shadow_entry_matches(const struct shadow_mmu *s, uint64_t cur, uint32_t child,
			  const struct shadow_derived *d)
{
	switch (d->kind) {
	case SH_NONE:
		return cur == 0;
	case SH_LEAF:
		return cur == d->entry;
	case SH_TABLE:
		return child != SP_NIL && s->pages[child].gpa == d->child_gpa &&
		       cur == (d->entry | shadow_page_gpa(s, child));
	}
	return false;
}

static void count_why(struct shadow_mmu *s, enum shadow_why why)
{
	if (why == SH_RSVD)
		s->stats.rsvd_entries++;
	else if (why == SH_REFUSED)
		s->stats.refused_targets++;
	else if (why == SH_UNREADABLE)
		s->stats.unreadable_tables++;
}

void shadow_sync_begin(struct shadow_mmu *s, struct shadow_sync *ctx, bool link,
		       bool build, bool deep)
{
	if (++s->epoch == 0) { /* 0 marks pages no pass has visited */
		for (uint64_t i = 0; i < s->cfg.store_pages; i++)
			s->pages[i].epoch = 0;
		s->epoch = 1;
	}
	*ctx = (struct shadow_sync){ .link = link, .build = build, .deep = deep,
				     .epoch = s->epoch };
}

/* The entry a TABLE derivation becomes, 0 when no child page could be had. */
static uint64_t link_child(struct shadow_mmu *s, struct shadow_sync *ctx, int level,
			   const struct shadow_derived *d)
{
	bool created;
	uint32_t child = shadow_get(s, d->child_gpa, level + 1, &created);

	if (child == SP_NIL) {
		ctx->err = -ENOMEM;
		return 0;
	}
	if (created ? ctx->build : ctx->deep)
		shadow_sync_table(s, ctx, child);
	return d->entry | shadow_page_gpa(s, child);
}

/*
 * Make entry i of sp agree with guest entry g.  sp must stay referenced by
 * the caller (a protected root or a pin): evictions during allocation then
 * cannot free it.
 */
void shadow_sync_entry(struct shadow_mmu *s, struct shadow_sync *ctx, uint32_t sp,
		       unsigned int i, uint64_t g)
{
	int level = s->pages[sp].level;
	uint64_t cur = shadow_entry(s, sp, i), val = 0;
	uint32_t old = shadow_child(s, level, cur);
	struct shadow_derived d;

	shadow_derive(s, level, g, &d);
	count_why(s, d.why);
	if (shadow_entry_matches(s, cur, old, &d)) {
		if (d.kind == SH_TABLE && ctx->deep)
			shadow_sync_table(s, ctx, old);
		return;
	}
	if (d.kind == SH_LEAF && ctx->link)
		val = d.entry;
	else if (d.kind == SH_TABLE && ctx->link && !ctx->err)
		val = link_child(s, ctx, level, &d);
	if ((cur & PTE_P) && old != SP_NIL) {
		request_flush(s, SHADOW_FLUSH_TABLES);
	} else if (cur & PTE_P) {	/* a leaf changed or went away */
		uint64_t size = 1ULL << PT_LEVEL_SHIFT(level);

		request_flush(s, SHADOW_FLUSH_ENTRIES);
		if (s->cfg.leaf_gone)
			s->cfg.leaf_gone(s->cfg.leaf_ctx, cur & s->addr_mask & ~(size - 1), size);
	}
	set_entry(s, sp, i, val);
	if (old != SP_NIL)
		shadow_put(s, old); /* after the new child took its reference */
}

/* Sync all entries of sp, once per pass. */
void shadow_sync_table(struct shadow_mmu *s, struct shadow_sync *ctx, uint32_t sp)
{
	const uint8_t *t;

	if (s->pages[sp].epoch == ctx->epoch)
		return;
	s->pages[sp].epoch = ctx->epoch;
	t = shadow_guest_table(s, s->pages[sp].gpa); /* NULL: all not-present */
	for (unsigned int i = 0; i < PT_ENTRIES; i++)
		shadow_sync_entry(s, ctx, sp, i, shadow_guest_entry(t, i));
}

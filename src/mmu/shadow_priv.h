/* SPDX-License-Identifier: MIT */
/*
 * Shadow MMU internals shared by shadow.c (public operations, root cache),
 * shadow_table.c (store, reverse map, refcounts, deriving and syncing
 * entries) and shadow_check.c.  Not for other modules: see shadow.h.
 */
#ifndef MINIVMM_SHADOW_PRIV_H
#define MINIVMM_SHADOW_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "abi/paging.h"
#include "mmu/shadow.h"

#define SP_NIL          UINT32_MAX

/* Metadata of one store page; refs == 0 means free. */
struct shadow_page {
	uint64_t gpa;   /* the guest table it mirrors */
	uint32_t refs;  /* parent entries + root slots + temporary pins */
	uint32_t next;  /* hash chain when used, free list when free */
	uint32_t epoch; /* last sync pass that synced the whole page */
	uint8_t level;  /* 0 = PML4 ... 3 = PT */
};

struct shadow_root {
	uint64_t guest_root; /* guest CR3, address bits only */
	uint64_t last_use;   /* LRU clock */
	uint32_t sp;         /* its level-0 shadow page (one reference) */
	bool used;
};

/* One pass over shadow entries. */
struct shadow_sync {
	bool link;      /* may create/link child pages (else changed tables are zapped) */
	bool build;     /* fill newly created pages completely (EAGER) */
	bool deep;      /* also sync linked children, each page once per pass */
	uint32_t epoch;
	int err;        /* first error (-ENOMEM); later table entries are zapped */
};

enum shadow_kind { SH_NONE, SH_LEAF, SH_TABLE };
enum shadow_why { SH_OK, SH_NOT_PRESENT, SH_RSVD, SH_REFUSED, SH_UNREADABLE };

/* What a guest entry derives to. */
struct shadow_derived {
	enum shadow_kind kind;
	enum shadow_why why;    /* why SH_NONE */
	uint64_t entry;         /* LEAF: the shadow entry; TABLE: its flag bits */
	uint64_t child_gpa;     /* TABLE: the guest table it points at */
};

struct shadow_mmu {
	struct shadow_config cfg;
	uint64_t addr_mask;  /* entry bits maxphyaddr-1:12 */
	uint64_t store_end;
	struct shadow_page *pages;
	uint32_t *buckets;   /* reverse map: guest table GPA -> shadow pages */
	uint32_t bucket_mask;
	uint32_t free_head;
	struct shadow_root *roots; /* max_roots + 1: room to build before evicting */
	unsigned int nr_slots;
	int current;         /* root slot the vCPU runs on, -1 if none */
	int loading;         /* root slot being built, -1 if none */
	uint64_t clock;
	uint32_t epoch;
	unsigned int tlb_flush; /* SHADOW_FLUSH_* since the last take */
	struct shadow_stats stats;
};

/* shadow_table.c */
int shadow_store_init(struct shadow_mmu *s);
void shadow_store_fini(struct shadow_mmu *s);
uint64_t shadow_page_gpa(const struct shadow_mmu *s, uint32_t sp);
uint64_t shadow_entry(const struct shadow_mmu *s, uint32_t sp, unsigned int i);
uint32_t shadow_child(const struct shadow_mmu *s, int level, uint64_t entry);
uint32_t shadow_lookup(const struct shadow_mmu *s, uint64_t gpa, int level);
uint32_t shadow_bucket(const struct shadow_mmu *s, uint64_t gpa);
/* Find or create (gpa, level) with one more reference; SP_NIL when the
 * store is full even after evicting roots. */
uint32_t shadow_get(struct shadow_mmu *s, uint64_t gpa, int level, bool *created);
void shadow_put(struct shadow_mmu *s, uint32_t sp);
/* Host pointer to a whole guest table, NULL if not readable. */
const uint8_t *shadow_guest_table(const struct shadow_mmu *s, uint64_t gpa);
uint64_t shadow_guest_entry(const uint8_t *table, unsigned int i);
void shadow_derive(const struct shadow_mmu *s, int level, uint64_t g,
		   struct shadow_derived *d);
bool shadow_entry_matches(const struct shadow_mmu *s, uint64_t cur, uint32_t child,
			  const struct shadow_derived *d);
void shadow_sync_begin(struct shadow_mmu *s, struct shadow_sync *ctx, bool link,
		       bool build, bool deep);
void shadow_sync_entry(struct shadow_mmu *s, struct shadow_sync *ctx, uint32_t sp,
		       unsigned int i, uint64_t g);
void shadow_sync_table(struct shadow_mmu *s, struct shadow_sync *ctx, uint32_t sp);

/* shadow.c: drop the least recently used root other than the current and
 * the loading one; false if there is none. */
bool shadow_evict_for_space(struct shadow_mmu *s);

#endif

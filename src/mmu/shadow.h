/* SPDX-License-Identifier: MIT */
/*
 * Shadow MMU core (for --mmu=shadow): builds x86-64 4-level page tables that
 * the hardware walks instead of the guest's own, in a VMM-owned "store" of
 * guest-physical pages the guest cannot map.  Pure code, no KVM: guest tables
 * are read through a ptw_mem callback, shadow tables are written through a
 * host pointer to the store.  Not thread-safe: one caller (the vCPU thread
 * handling the exit) at a time.
 *
 * What is shadowed, and how:
 *  - One shadow page mirrors one (guest table GPA, level) pair (level 0 =
 *    PML4 ... 3 = PT).  The same guest table reached from several parents or
 *    roots at one level is shadowed once and refcounted; used at two levels
 *    (or mapping itself) it gets one shadow page per level, so references
 *    always go down one level: no cycles, no endless walks, no double frees.
 *    A reverse map (hash on the guest table GPA) finds every shadow page a
 *    trapped write touches.
 *  - Leaf: P, R/W, U/S, PWT, PCD, PAT, XD (with EFER.NXE) and the frame are
 *    copied; A is set, and D when writable, so the hardware never writes to
 *    the store.  The guest's own A/D bits are therefore NOT maintained (they
 *    stay as the guest wrote them).  G and the ignored/protection-key bits are
 *    not copied (no global entries: every root switch flushes).  2 MiB and
 *    1 GiB guest pages are mirrored as pages of the same size, never split.
 *  - Non-leaf: P|A, the guest entry's own R/W, U/S and XD (mirrored, so the
 *    rights accumulated over the walk equal the guest's under any CR0.WP,
 *    SMEP or SMAP setting) and the GPA of the child shadow page.
 *  - Left not-present (safe, the guest sees a fault): guest entries that are
 *    not present or have reserved bits set (ptw semantics, EFER.NXE from the
 *    config), non-leaf entries whose table is not readable through
 *    cfg->guest, leaves whose whole range [frame, frame+size) is refused by
 *    target_ok or touches the store.  A large page partly outside allowed
 *    memory is refused whole, not split.  Counted in the stats.
 *  - The shadow only ever changes through these calls: the guest must not
 *    modify its tables other than by trapped writes (or must say so with
 *    shadow_invlpg / shadow_flush, which re-read the guest tables).
 *  - Invariant: a present shadow entry always equals what its guest entry
 *    derives to now.  EAGER also keeps every derivable entry present (best
 *    effort when the store runs out: holes are then filled by
 *    shadow_page_fault, which works in both modes).  LAZY fills only the
 *    paths shadow_page_fault is asked about; entries whose guest entry
 *    changed are zapped.  Entries whose derivation is unchanged are kept, so
 *    writes of guest A/D or ignored bits cost nothing.
 *
 * Errors: 0 or -errno.  Nothing here logs: the guest can trigger every
 * failure, so the caller reports (rate-limited).
 */
#ifndef MINIVMM_SHADOW_H
#define MINIVMM_SHADOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mmu/ptw.h"

#define SHADOW_MAX_ROOTS 1024
#define SHADOW_MAX_STORE_PAGES (1U << 24) /* 64 GiB of shadow tables */

enum shadow_fill { SHADOW_EAGER, SHADOW_LAZY };

struct shadow_config {
	/* Reads guest page tables; the VMM's callback maps only the pool. */
	struct ptw_mem guest;
	/* May a leaf map [gpa, gpa+size)?  (guest RAM and pool).  Required. */
	bool (*target_ok)(void *ctx, uint64_t gpa, uint64_t size);
	void *target_ctx;
	uint8_t *store;          /* host mapping of the shadow store, 8-byte aligned */
	uint64_t store_gpa;      /* its guest-physical base, page aligned */
	uint64_t store_pages;    /* 4 KiB pages, 1..SHADOW_MAX_STORE_PAGES */
	unsigned int max_roots;  /* cached roots, 1..SHADOW_MAX_ROOTS (LRU) */
	enum shadow_fill fill;
	unsigned int maxphyaddr; /* PTW_MAXPHYADDR_MIN..MAX; the store must lie below */
	bool nxe;                /* guest EFER.NXE: bit 63 is XD, else reserved */
	/*
	 * Optional: told the frame range [frame, frame+size) of every present
	 * leaf entry that changes or goes away (before the vCPU is flushed), so
	 * that a VMM on a shadow-paging host can make the host drop its
	 * mappings of exactly those frames.
	 */
	void (*leaf_gone)(void *ctx, uint64_t frame, uint64_t size);
	void *leaf_ctx;
	/* Guest CR0.WP, CR4.SMEP, CR4.SMAP: only used to classify faults in
	 * shadow_page_fault (the hardware applies them to the shadow itself). */
	bool wp, smep, smap;
};

struct shadow_mmu;

/* -EINVAL for a bad config, -ENOMEM. */
int shadow_create(const struct shadow_config *cfg, struct shadow_mmu **out);
void shadow_destroy(struct shadow_mmu *s); /* NULL is fine */

/*
 * Change the fill policy from now on.  EAGER -> LAZY is always safe (the
 * present entries stay exact); LAZY -> EAGER fills holes only as roots are
 * built or entries change.  (A VMM builds the boot root eagerly, then goes
 * lazy: a guest has no #PF handler at its first instruction.)
 */
void shadow_set_fill(struct shadow_mmu *s, enum shadow_fill fill);

/*
 * Find or build the shadow of the tree rooted at guest_root (a guest CR3
 * value: PCID/PWT/PCD and bits above MAXPHYADDR are ignored) and make it the
 * current root; *shadow_cr3 gets the GPA of its root page, to load into the
 * vCPU's CR3.  -EFAULT if the root table is not readable through cfg->guest,
 * -ENOMEM if the store cannot hold the root (EAGER: the whole tree) even
 * after evicting the other cached roots; on failure the previous current
 * root stays current and intact (it is never evicted to make room, so a
 * VMM that would rather lose it calls shadow_reset() and retries).  When
 * more than max_roots are cached, the least recently loaded one other than
 * the new current is evicted.  On success the VMM must load *shadow_cr3
 * before the vCPU runs again: the old root's pages may be freed.  A hit
 * costs nothing: cached shadows are kept in sync by shadow_guest_write.
 */
int shadow_load_root(struct shadow_mmu *s, uint64_t guest_root, uint64_t *shadow_cr3);

/*
 * A guest write to [gpa, gpa+len) was just applied to guest memory: re-derive
 * (EAGER) or zap (LAZY) every shadow entry, in every cached root, mirroring a
 * guest entry the write touched.  Any length and alignment (partial entries,
 * entries spanning the write, pages).  Writes to pages that are not
 * shadowed tables cost one hash lookup.  -EINVAL for len 0 or a range that
 * wraps; -ENOMEM (EAGER) when a new subtree did not fit: the shadow stays
 * safe, the missing part is left not-present.
 */
int shadow_guest_write(struct shadow_mmu *s, uint64_t gpa, uint64_t len);

/* Re-derive the path of gva in the current root (LAZY: entries that changed
 * are zapped).  0 without a current root or for a non-canonical gva. */
int shadow_invlpg(struct shadow_mmu *s, uint64_t gva);

/* The guest flushed everything: re-derive every entry reachable from the
 * current root (LAZY: zap the changed ones). */
int shadow_flush(struct shadow_mmu *s);

enum shadow_fault_result {
	SHADOW_FIXED,       /* the guest maps it: shadow path filled, retry the access */
	SHADOW_GUEST_FAULT, /* the guest tables fault: deliver #PF(guest_error_code) */
	/*
	 * The guest maps it but the shadow may not: a table outside cfg->guest
	 * or a leaf refused by target_ok.  guest_error_code is the #PF a CPU
	 * gives for a reserved bit (P|RSVD + access bits), should the VMM
	 * reflect it rather than stop the guest.
	 */
	SHADOW_REFUSED,
};

/*
 * The guest took #PF at gva with the hardware's error_code (W, U and I/D
 * give the access; P only matters for a supervisor read without NXE and
 * SMEP, which may be a fetch the CPU reported without I/D: with P = 0 it is
 * walked as a fetch, with P = 1 as a read).  Walks the guest tables of
 * the current root (ptw_walk) with the config's NXE/WP/SMEP/SMAP and fills
 * the shadow path when the guest allows the access.  Works in both modes.
 * -EINVAL without a current root, for a non-canonical gva or W together
 * with I/D; -ENOMEM when the path did not fit (nothing unsafe is left).
 */
int shadow_page_fault(struct shadow_mmu *s, uint64_t gva, uint32_t error_code,
		      enum shadow_fault_result *res, uint32_t *guest_error_code);

/*
 * Fill the path of gva in the current root as a fault would (any fill
 * policy), without counting a fault: for ranges the guest needs present
 * before it can take a #PF at all.  Unmapped gvas are left alone.
 */
int shadow_prefill(struct shadow_mmu *s, uint64_t gva);

/*
 * Nonzero (and cleared) when a present shadow entry changed or went away, or
 * shadow pages were freed, since the last call: the vCPU's TLB and
 * paging-structure caches must be flushed (e.g. KVM_SET_SREGS with the same
 * CR3), at the latest as said below.  Adding entries where there were none
 * needs no flush.  Check after every call above.  Which of:
 *  - SHADOW_FLUSH_ENTRIES: present leaf entries changed or went away.  As on
 *    bare x86, a VMM may leave such stale translations until the guest
 *    invalidates (INVLPG, flush, root load): a guest that reduces rights
 *    must invalidate before relying on it.
 *  - SHADOW_FLUSH_TABLES: present non-leaf entries changed or went away
 *    (the same rule: paging-structure caches may keep them until then).
 *  - SHADOW_FLUSH_PAGES: shadow pages were freed and may be reused for
 *    other tables at once: flush before the vCPU runs again.
 */
#define SHADOW_FLUSH_ENTRIES 1U
#define SHADOW_FLUSH_PAGES   2U
#define SHADOW_FLUSH_TABLES  4U
unsigned int shadow_take_flush(struct shadow_mmu *s);

/* Drop every cached root, the current one too (VM reset, leaving shadow
 * mode): the vCPU must not run on the old shadow CR3 afterwards. */
void shadow_reset(struct shadow_mmu *s);

struct shadow_stats {
	uint64_t trapped_writes;   /* shadow_guest_write calls */
	uint64_t hidden_faults;    /* shadow_page_fault -> SHADOW_FIXED */
	uint64_t true_faults;      /* ... -> SHADOW_GUEST_FAULT */
	uint64_t refused_faults;   /* ... -> SHADOW_REFUSED */
	uint64_t prefills;         /* shadow_prefill calls */
	uint64_t root_loads;       /* = root_hits + root_misses */
	uint64_t root_hits, root_misses;
	uint64_t root_evictions;   /* LRU, more than max_roots cached */
	uint64_t store_full_evictions; /* evicted to make room in the store */
	uint64_t nomem;            /* operations that failed with -ENOMEM */
	uint64_t invlpgs, flushes;
	uint64_t pages_in_use, pages_peak;
	/* Guest entries derived to not-present although present (events, each
	 * time one is (re)derived): */
	uint64_t rsvd_entries;     /* reserved bits set */
	uint64_t refused_targets;  /* leaf range refused */
	uint64_t unreadable_tables;/* table outside cfg->guest */
	uint64_t tlb_flush_requests;
	uint64_t time_ns;          /* CLOCK_MONOTONIC spent inside shadow_* calls */
};

void shadow_get_stats(const struct shadow_mmu *s, struct shadow_stats *out);

/*
 * Self-check for tests and debugging, O(pages in use * 512): refcounts,
 * reverse map, free list, every present entry equal to its derivation, and
 * (complete = true, meaningful in EAGER without -ENOMEM) no derivable entry
 * missing.  0 or -EUCLEAN with a reason in why.
 */
int shadow_check(struct shadow_mmu *s, bool complete, char *why, size_t len);

#endif

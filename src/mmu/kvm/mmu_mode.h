/* SPDX-License-Identifier: MIT */
/*
 * The --mmu modes for minivmm test guests (docs/shadow-mmu.md).  This is
 * where the pure shadow MMU core (src/mmu/shadow.h) meets KVM:
 *  - the mailbox, page-table pool and shadow store regions and their slots
 *    (the pool read-only in shadow mode, so that every guest page-table
 *    write exits as MMIO);
 *  - the pool's write trap (apply the write, then shadow_guest_write) and
 *    the MMU command port (load root, invlpg, flush, page fault, phases);
 *  - keeping the vCPU in step, on its own thread after each exit: CR3 set
 *    to the shadow root with KVM_SET_SREGS (which also flushes its TLB), and
 *    on hosts whose KVM itself shadow-pages (pvm, ept/npt off) a "host sync"
 *    that makes KVM drop its own shadow of the store: KVM write-protects the
 *    guest page tables it shadows, but minivmm changes the store from the
 *    host side, which KVM never sees.
 * Test guests only; shadow mode runs one vCPU.
 */
#ifndef MINIVMM_MMU_MODE_H
#define MINIVMM_MMU_MODE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "devices/bus.h"
#include "vmm/config.h"
#include "cpu/kvm.h"
#include "mmu/memory.h"
#include "cpu/vcpu.h"

/* Where everything goes: a pure function of the configuration and RAM, so
 * the device tree can describe it before the regions exist. */
struct mmu_plan {
	enum mmu_kind kind;
	bool lazy;
	uint64_t pool_gpa, pool_size;
	uint64_t store_gpa, store_size;  /* shadow mode only */
	uint64_t boot_root;   /* guest root at entry (the pool copy in shadow mode) */
	uint64_t pool_free;   /* first pool byte the guest may allocate */
	uint64_t map_top;     /* the boot identity map covers [0, map_top) */
	unsigned int boot_pages; /* pool pages holding the shadow-mode boot tables */
};

void mmu_plan_make(const struct vm_config *cfg, const struct mem_map *mem,
		   struct mmu_plan *out);

struct mmu_mode_params {
	const struct mmu_plan *plan;
	struct kvm *kvm;
	const struct mem_map *mem;
	struct bus *pio, *mmio;
	unsigned int first_slot;   /* three KVM slot ids from here */
	unsigned int maxphyaddr;
	bool nxe, wp, smep, smap;  /* the guest's entry paging state */
};

struct mmu_mode;

/* 0 or -errno with one line logged (-EOPNOTSUPP: this KVM cannot). */
int mmu_mode_create(const struct mmu_mode_params *p, struct mmu_mode **out);
void mmu_mode_destroy(struct mmu_mode *m); /* NULL is fine */

/* The CR3 vCPU 0 enters with: the shadow of the boot root, or the boot root. */
uint64_t mmu_mode_entry_cr3(const struct mmu_mode *m);

/* Run after every exit of a vCPU (vcpu_host.after_exit), on its thread:
 * loads CR3, flushes, syncs KVM, takes phase snapshots. */
enum vcpu_action mmu_mode_after_exit(struct mmu_mode *m, struct vcpu *vcpu);

/* For walks of the guest's tables: the pool's host address, or NULL. */
const void *mmu_mode_map_pool(const struct mmu_mode *m, uint64_t gpa, uint64_t len);
/* The guest's current root (shadow mode: what it loaded, not the vCPU's
 * CR3, which points at the shadow); 0 in tdp mode or without MMU (NULL). */
uint64_t mmu_mode_guest_root(const struct mmu_mode *m);

/* --stats: the shadow counters and the guest's phases. */
void mmu_mode_print_stats(const struct mmu_mode *m, FILE *out);
/* Adds "mmu", "shadow_fill", "shadow" (shadow mode) and "phases" to root. */
void mmu_mode_stats_json(const struct mmu_mode *m, json_t *root);

#endif

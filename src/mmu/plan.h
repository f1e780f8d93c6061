/* SPDX-License-Identifier: MIT */
/*
 * Where the test guests' MMU regions go (abi/mmu_port.h): a pure function of
 * the --mmu options and guest RAM, so the memory map, the device tree and
 * the boot tables can all be built from it before anything runs.
 */
#ifndef MINIVMM_MMU_PLAN_H
#define MINIVMM_MMU_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "mmu/memory.h"

/* --mmu: who hands the guest's page tables to the hardware. */
enum mmu_kind {
	MMU_TDP,    /* the guest's own tables; second dimension = the host's */
	MMU_SHADOW, /* minivmm's shadow tables (test guests, one vCPU) */
};

struct mmu_plan {
	enum mmu_kind kind;
	bool lazy;            /* --shadow-fill=lazy */
	uint64_t pool_gpa, pool_size;
	uint64_t store_gpa, store_size;  /* shadow mode only */
	uint64_t boot_root;   /* guest root at entry (the pool copy in shadow mode) */
	uint64_t pool_free;   /* first pool byte the guest may allocate */
	uint64_t map_top;     /* the boot identity map covers [0, map_top) */
	unsigned int boot_pages; /* pool pages holding the shadow-mode boot tables */
};

void mmu_plan_make(enum mmu_kind kind, bool lazy, uint64_t pool_size,
		   const struct mem_map *mem, struct mmu_plan *out);

/* Add the plan's regions (mailbox, pool, and in shadow mode the store) to
 * the memory map; the pool is read-only to the guest in shadow mode. */
int mmu_plan_add_regions(const struct mmu_plan *plan, struct mem_map *mem)
	__attribute__((warn_unused_result));

#endif

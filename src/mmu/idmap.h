/* SPDX-License-Identifier: MIT */
/*
 * The identity map test guests boot with: [0, top) mapped 1:1 with 2 MiB
 * pages (user, writable), written into guest memory as consecutive page
 * tables: PML4, the PDPTs, the PDs, then at most one PT.  One builder for
 * the boot tables in RAM and for their copy in the page-table pool that
 * --mmu=shadow shadows.
 */
#ifndef MINIVMM_MMU_IDMAP_H
#define MINIVMM_MMU_IDMAP_H

#include <stdint.h>

#include "mmu/memory.h"

struct idmap_spec {
	uint64_t tables_gpa;          /* page-aligned, in one memory slot */
	uint64_t top;                 /* map [0, top), rounded up to 1 GiB */
	uint64_t hole_gpa, hole_size; /* 2 MiB-aligned range left unmapped */
	uint64_t lone_page;           /* if not 0: mapped by itself through the
				       * one PT; the rest of its 2 MiB is not */
};

/* Pages the tables take. */
unsigned int idmap_pages(const struct idmap_spec *spec);
/* 0, or -EFAULT when the tables do not fit in one memory slot. */
int idmap_build(const struct mem_map *mem, const struct idmap_spec *spec);

#endif

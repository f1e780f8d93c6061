/* SPDX-License-Identifier: MIT */
/*
 * The flattened device tree describing the machine (built with libfdt):
 * RAM ranges, CPUs, the legacy I/O devices and /chosen.  Test guests find
 * their RAM through it; --dump-dtb writes it out for dtc.
 */
#ifndef MINIVMM_DEVTREE_H
#define MINIVMM_DEVTREE_H

#include <stddef.h>

#include "mmu/memory.h"
#include "mmu/plan.h"

struct devtree_reserved {
	uint64_t addr;
	uint64_t size;
};

struct devtree_params {
	const struct mem_map *mem;
	unsigned int nr_vcpus;
	const char *bootargs;              /* may be NULL */
	const struct devtree_reserved *reserved;
	unsigned int nr_reserved;
	const struct mmu_plan *mmu;        /* test guests: /minivmm-mmu; else NULL */
};

/* Builds the tree into buf; 0 or -ENOSPC / -EINVAL. */
int devtree_build(void *buf, size_t size, const struct devtree_params *p);
size_t devtree_size(const void *buf);

#endif

/* SPDX-License-Identifier: MIT */
/* --show-layout and compare-layouts: memory slots and the guest's view. */
#ifndef MINIVMM_LAYOUT_REPORT_H
#define MINIVMM_LAYOUT_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "vmm/config.h"
#include "cpu/kvm.h"
#include "mmu/memory.h"

/* Slot table and e820 map of a built (and registered) memory map. */
int layout_report_show(FILE *out, const struct mem_map *mem, const struct kvm *kvm,
		       bool json);

/* Builds each layout of cfg->compare on a scratch VM and prints them side
 * by side (or as JSON); returns an exit status. */
int layout_report_compare(FILE *out, const struct vm_config *cfg);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The host bridge's memory window and the allocator that places BARs in
 * it at set-up (the job firmware does on a PC).  Allocations are naturally
 * aligned, never overlap each other, and the window itself is refused if
 * it touches guest RAM, so no BAR can ever shadow RAM.
 */
#ifndef MINIVMM_DEVICES_PCI_WINDOW_H
#define MINIVMM_DEVICES_PCI_WINDOW_H

#include <stdint.h>

#include "mmu/memory.h"

struct pci_window {
	uint64_t base, end;     /* [base, end) */
	uint64_t next;          /* lowest free address */
};

/* [base, end) must be non-empty, page-aligned and, when mem is given, clear
 * of every RAM slot; 0 or -EINVAL. */
int pci_window_init(struct pci_window *w, uint64_t base, uint64_t end,
		    const struct mem_map *mem) __attribute__((warn_unused_result));
/* Place `size` bytes (a power of two) aligned to size: 0 with *addr, or
 * -EINVAL (bad size), -ENOSPC (window full). */
int pci_window_alloc(struct pci_window *w, uint64_t size, uint64_t *addr)
	__attribute__((warn_unused_result));

#endif

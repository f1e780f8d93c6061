// SPDX-License-Identifier: MIT
/*
 * A bump allocator is enough: BARs are placed once, while the machine is
 * built, and never freed.  Natural alignment is what BAR decoding needs
 * (the low bits of a BAR are hard-wired to zero).
 */
#include "devices/pci/window.h"

#include <errno.h>
#include <inttypes.h>

#include "abi/board.h"
#include "abi/mmu_port.h"
#include "base/log.h"

_Static_assert(BOARD_MMU_STORE_BASE + BOARD_MMU_STORE_MAX <= BOARD_PCI_MMIO_BASE,
	       "the PCI window overlaps the test guests' MMU regions");
_Static_assert(BOARD_PCI_MMIO_BASE >= BOARD_MMIO_HOLE_START &&
	       BOARD_PCI_MMIO_END <= BOARD_IOAPIC_BASE,
	       "the PCI window must lie in the MMIO hole, below the IOAPIC");

int pci_window_init(struct pci_window *w, uint64_t base, uint64_t end,
		    const struct mem_map *mem)
{
	if (base >= end || (base | end) & (PAGE_SIZE_4K - 1)) {
		log_err("pci: bad MMIO window [0x%" PRIx64 ", 0x%" PRIx64 ")", base, end);
		return -EINVAL;
	}
	for (unsigned int i = 0; mem && i < mem->nr_slots; i++) {
		const struct mem_slot *s = &mem->slots[i];

		if (s->gpa < end && base < s->gpa + s->size) {
			log_err("pci: MMIO window [0x%" PRIx64 ", 0x%" PRIx64
				") overlaps guest memory at 0x%" PRIx64,
				base, end, s->gpa);
			return -EINVAL;
		}
	}
	*w = (struct pci_window){ .base = base, .end = end, .next = base };
	return 0;
}

int pci_window_alloc(struct pci_window *w, uint64_t size, uint64_t *addr)
{
	uint64_t at;

	if (size == 0 || (size & (size - 1)))
		return -EINVAL;
	at = (w->next + size - 1) & ~(size - 1);
	if (at < w->next || at > w->end || size > w->end - at)
		return -ENOSPC;
	w->next = at + size;
	*addr = at;
	return 0;
}

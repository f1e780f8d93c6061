/* SPDX-License-Identifier: MIT */
/*
 * The PCI host bridge of bus 0 (device 00:00.0, class "host bridge"):
 *  - configuration mechanism #1 (PCI Local Bus 3.0, 3.2.2.3.2) as one
 *    device on the port-I/O bus over BOARD_PCI_CFG_ADDR..+BOARD_PCI_CFG_SIZE:
 *    CONFIG_ADDRESS answers dword accesses only; CONFIG_DATA takes byte,
 *    word and dword accesses at any offset of its four bytes.  With the
 *    enable bit clear, on another bus, or for an absent device or function,
 *    reads return all-ones and writes are dropped.
 *  - the memory window forwarded to PCI, as one device on the MMIO bus:
 *    an access goes to the BAR that decodes it (COMMAND.MEMORY set, the
 *    whole BAR inside the window), wholly inside that BAR; anything else
 *    reads all-ones.
 *
 * BAR placement: pci_host_add() gives every BAR a fixed, naturally aligned
 * address in the window (as firmware would) and leaves decoding off, so the
 * guest's driver turns it on.  The guest may move a BAR: the decode table
 * follows every configuration write, so a BAR moved inside the window
 * works at its new address.  A BAR moved outside the window stops decoding
 * (minivmm's buses do not change after set-up).  Overlapping BARs are the
 * guest's error: the first function plugged in wins.
 *
 * Only function 0 of each device exists (every function is single-function).
 */
#ifndef MINIVMM_DEVICES_PCI_HOST_H
#define MINIVMM_DEVICES_PCI_HOST_H

#include <stdint.h>

#include "devices/device.h"
#include "devices/pci/pci.h"
#include "mmu/memory.h"

#define PCI_HOST_SLOTS          32      /* devices on bus 0 */

/* The ID Red Hat assigned to a generic host bridge of a virtual machine
 * (pci.ids: "QEMU PCIe Host bridge"): Linux applies no chipset quirks. */
#define PCI_HOST_VENDOR         0x1B36
#define PCI_HOST_DEVICE         0x0008
#define PCI_CLASS_HOST_BRIDGE   0x060000

/* CONFIG_ADDRESS fields. */
#define PCI_CFG_ENABLE          0x80000000u
#define PCI_CFG_ADDR_MASK       0x80FFFFFCu     /* reserved bits read 0 */

static inline uint32_t pci_cfg_addr(unsigned int bus, unsigned int dev,
				    unsigned int fn, unsigned int reg)
{
	return PCI_CFG_ENABLE | (bus & 0xFF) << 16 | (dev & 0x1F) << 11 |
	       (fn & 7) << 8 | (reg & 0xFC);
}

struct pci_host;

/* A host bridge whose window is [mmio_base, mmio_end), which must be clear
 * of mem's RAM (mem may be NULL).  NULL on failure (logged). */
struct pci_host *pci_host_create(uint64_t mmio_base, uint64_t mmio_end,
				 const struct mem_map *mem);
/* Frees the bridge; plugged functions belong to whoever created them. */
void pci_host_destroy(struct pci_host *h);

/* For the port-I/O bus at BOARD_PCI_CFG_ADDR, BOARD_PCI_CFG_SIZE bytes. */
struct device *pci_host_cfg_device(struct pci_host *h);
/* For the MMIO bus over the window. */
struct device *pci_host_mmio_device(struct pci_host *h);
void pci_host_window(const struct pci_host *h, uint64_t *base, uint64_t *end);

/* Plug f in as device slot (1..31), placing its BARs, largest first.
 * -EINVAL bad slot, -EEXIST taken, -ENOSPC the window is full. */
int pci_host_add(struct pci_host *h, struct pci_func *f, unsigned int slot)
	__attribute__((warn_unused_result));

/* Save or restore CONFIG_ADDRESS and every plugged function's
 * configuration space (pci_func_snap), then decode BARs where the restored
 * registers say (BAR listeners hear of it). */
struct snap;
void pci_host_snap(struct pci_host *h, struct snap *s);

#endif

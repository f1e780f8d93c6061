/* SPDX-License-Identifier: MIT */
/*
 * MSI-X for a PCI function (PCI Local Bus 3.0, 6.8.2): the capability, the
 * vector table and the pending-bit array, both inside one of the function's
 * memory BARs (its handler forwards those ranges here).  Messages leave
 * through an injected msi_sink; a vector raised while masked (entry mask,
 * function mask) sets its pending bit and is sent when it is unmasked.
 */
#ifndef MINIVMM_DEVICES_PCI_MSIX_H
#define MINIVMM_DEVICES_PCI_MSIX_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/pci/pci.h"

#define PCI_MSIX_MAX_VECTORS    2048
#define PCI_MSIX_ENTRY_SIZE     16
#define PCI_MSIX_CAP_LEN        12

/* Capability layout (offsets from the capability). */
#define PCI_MSIX_FLAGS          2       /* message control */
#define PCI_MSIX_TABLE          4       /* table offset | BIR */
#define PCI_MSIX_PBA            8       /* PBA offset | BIR */
#define PCI_MSIX_FLAGS_QSIZE    0x07FF  /* table size - 1 */
#define PCI_MSIX_FLAGS_MASKALL  0x4000
#define PCI_MSIX_FLAGS_ENABLE   0x8000
#define PCI_MSIX_BIR_MASK       0x7

/* Table entry layout. */
#define PCI_MSIX_ENTRY_ADDR_LO  0
#define PCI_MSIX_ENTRY_ADDR_HI  4
#define PCI_MSIX_ENTRY_DATA     8
#define PCI_MSIX_ENTRY_CTRL     12
#define PCI_MSIX_ENTRY_CTRL_MASKBIT 0x1

/* Bytes of PBA for n vectors (whole qwords). */
#define PCI_MSIX_PBA_SIZE(n)    ((((n) + 63u) / 64u) * 8u)

/* Add the capability for nr vectors whose table and PBA lie at table_off
 * and pba_off (8-byte aligned) inside BAR bar, which must already exist and
 * hold both.  Every entry starts masked; sink is copied.  0 or -errno. */
int pci_msix_init(struct pci_func *f, unsigned int nr, unsigned int bar,
		  uint32_t table_off, uint32_t pba_off,
		  const struct msi_sink *sink) __attribute__((warn_unused_result));

/* Guest accesses forwarded by the BAR handler, off relative to the table
 * (or the PBA).  Any width 1..8 wholly inside; otherwise reads all-ones
 * and writes are dropped.  The PBA is read-only. */
void pci_msix_table_read(struct pci_func *f, uint64_t off, void *data, uint32_t len);
void pci_msix_table_write(struct pci_func *f, uint64_t off, const void *data, uint32_t len);
void pci_msix_pba_read(struct pci_func *f, uint64_t off, void *data, uint32_t len);

/* Signal vector: 0 sent, 1 masked (pending bit set), -ENODEV when MSI-X is
 * absent or disabled (use INTx), -EINVAL for a vector past the table. */
int pci_msix_notify(struct pci_func *f, unsigned int vector);
bool pci_msix_enabled(struct pci_func *f);
unsigned int pci_msix_nr_vectors(const struct pci_func *f);

/* Save or restore the vector table and pending bits (base/snap.h); after a
 * restore every vector's route is reported to the sink's update hook, as
 * if the guest had just written it. */
struct snap;
void pci_msix_snap(struct pci_func *f, struct snap *s);

/* For pci.c, with f->lock held. */
bool pci_msix_enabled_locked(const struct pci_func *f);
uint16_t pci_msix_control_locked(const struct pci_func *f);
void pci_msix_control_changed(struct pci_func *f, uint16_t old_ctrl);
void pci_msix_free(struct pci_func *f);

#endif

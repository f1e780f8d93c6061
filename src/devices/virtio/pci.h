/* SPDX-License-Identifier: MIT */
/*
 * The modern virtio-pci transport (virtio 1.x, 4.1): one PCI function per
 * virtio device, vendor 0x1AF4, device 0x1040 + virtio device ID, revision
 * 1, no legacy interface.  Everything lives in one 64-bit memory BAR
 * (BARs 0-1), each structure on its own page:
 *
 *   0x0000 common configuration      (VIRTIO_PCI_CAP_COMMON_CFG)
 *   0x1000 ISR status, 1 byte        (VIRTIO_PCI_CAP_ISR_CFG)
 *   0x2000 device configuration      (VIRTIO_PCI_CAP_DEVICE_CFG)
 *   0x3000 notifications, 4 bytes per queue (VIRTIO_PCI_CAP_NOTIFY_CFG,
 *          notify_off_multiplier 4, queue_notify_off = queue index), so
 *          each queue has its own address for an ioeventfd
 *   0x4000 MSI-X table: one vector per queue plus one for config changes
 *   0x5000 MSI-X pending-bit array
 *
 * Interrupts go out as MSI-X when the driver enabled it in the MSI-X
 * capability (a vector of VIRTIO_MSI_NO_VECTOR then means no interrupt),
 * otherwise on INTx with the ISR register (a read returns and clears it,
 * and deasserts the line).
 *
 * Common configuration accesses must match a field: its own width at its
 * own offset, or one 32-bit half of a 64-bit field.  Anything else reads
 * all-ones and is not written (one rate-limited warning).
 *
 * Locking: access_lock serialises the guest's register accesses, queue
 * kicks and the calls into the device type (activate, reset, config,
 * queue_notify); irq_lock guards what the device type's notify callbacks
 * read and write (status, ISR, vectors), so they may come from any thread,
 * even while the device type is being reset under access_lock.
 */
#ifndef MINIVMM_DEVICES_VIRTIO_PCI_H
#define MINIVMM_DEVICES_VIRTIO_PCI_H

#include <stdint.h>

#include "devices/device.h"
#include "devices/pci/pci.h"
#include "devices/virtio/virtio_dev.h"

#define VIRTIO_PCI_VENDOR        0x1AF4
#define VIRTIO_PCI_DEVICE_BASE   0x1040  /* + VIRTIO_ID_* */
#define VIRTIO_PCI_REVISION      1
/* pci.ids: Red Hat's subsystem ID for "QEMU Virtual Machine"; informational
 * only (4.1.2.1). */
#define VIRTIO_PCI_SUBSYS        0x1100

/* Vendor-specific capability (4.1.4): cfg_type values and layout. */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG    3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_LEN        16
#define VIRTIO_PCI_NOTIFY_CAP_LEN 20
#define VIRTIO_PCI_CAP_CFG_TYPE   3
#define VIRTIO_PCI_CAP_BAR        4
#define VIRTIO_PCI_CAP_OFFSET     8
#define VIRTIO_PCI_CAP_LENGTH     12
#define VIRTIO_PCI_CAP_MULTIPLIER 16

/* Common configuration (4.1.4.3). */
#define VIRTIO_PCI_COMMON_DFSELECT   0x00
#define VIRTIO_PCI_COMMON_DF         0x04
#define VIRTIO_PCI_COMMON_GFSELECT   0x08
#define VIRTIO_PCI_COMMON_GF         0x0C
#define VIRTIO_PCI_COMMON_MSIX       0x10
#define VIRTIO_PCI_COMMON_NUMQ       0x12
#define VIRTIO_PCI_COMMON_STATUS     0x14
#define VIRTIO_PCI_COMMON_CFGGEN     0x15
#define VIRTIO_PCI_COMMON_Q_SELECT   0x16
#define VIRTIO_PCI_COMMON_Q_SIZE     0x18
#define VIRTIO_PCI_COMMON_Q_MSIX     0x1A
#define VIRTIO_PCI_COMMON_Q_ENABLE   0x1C
#define VIRTIO_PCI_COMMON_Q_NOFF     0x1E
#define VIRTIO_PCI_COMMON_Q_DESC     0x20
#define VIRTIO_PCI_COMMON_Q_AVAIL    0x28   /* "driver area" */
#define VIRTIO_PCI_COMMON_Q_USED     0x30   /* "device area" */
#define VIRTIO_PCI_COMMON_LEN        0x38

#define VIRTIO_PCI_ISR_QUEUE     0x1
#define VIRTIO_PCI_ISR_CONFIG    0x2
#define VIRTIO_MSI_NO_VECTOR     0xFFFF

/* The BAR. */
#define VIRTIO_PCI_BAR           0
#define VIRTIO_PCI_COMMON_OFF    0x0000
#define VIRTIO_PCI_ISR_OFF       0x1000
#define VIRTIO_PCI_ISR_LEN       1
#define VIRTIO_PCI_DEVICE_OFF    0x2000
#define VIRTIO_PCI_DEVICE_MAX    0x1000
#define VIRTIO_PCI_NOTIFY_OFF    0x3000
#define VIRTIO_PCI_NOTIFY_MULT   4
#define VIRTIO_PCI_MSIX_OFF      0x4000
#define VIRTIO_PCI_PBA_OFF       0x5000
#define VIRTIO_PCI_BAR_SIZE      0x8000
/* One MSI-X vector per queue plus config; the table must fit its page. */
#define VIRTIO_PCI_MAX_QUEUES    64

struct virtio_pci;

/* Wrap vdev (whose queues are set up with virtq_init) in a PCI function.
 * intx (INTx#, may be NULL) and msi are copied; vdev->notify is filled in.
 * vdev stays the caller's.  NULL on a bad vdev or ENOMEM (logged). */
struct virtio_pci *virtio_pci_create(struct virtio_dev *vdev,
				     const struct irq_line *intx,
				     const struct msi_sink *msi);
void virtio_pci_destroy(struct virtio_pci *vp);

/* The function to plug into the host bridge (pci_host_add). */
struct pci_func *virtio_pci_func(struct virtio_pci *vp);

/* Where queue q's notify address sits inside the BAR (for an ioeventfd). */
static inline uint64_t virtio_pci_notify_offset(unsigned int q)
{
	return VIRTIO_PCI_NOTIFY_OFF + (uint64_t)q * VIRTIO_PCI_NOTIFY_MULT;
}

/* A kick of queue q that did not come through the BAR (an ioeventfd):
 * exactly what a write to its notify address does. */
void virtio_pci_kick(struct virtio_pci *vp, unsigned int q);

/* Save or restore the transport (features, status, ISR, vectors), MSI-X
 * and every queue's addresses and indices (base/snap.h).  Requests must
 * have been drained.  A restored device that was running is activated
 * again with the features the driver accepted. */
struct snap;
void virtio_pci_snap(struct virtio_pci *vp, struct snap *s);

#endif

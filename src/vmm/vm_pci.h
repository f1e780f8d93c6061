/* SPDX-License-Identifier: MIT */
/*
 * The VM's PCI platform: the host bridge on the buses, and each virtio
 * function wired to KVM the fast way: queue kicks arrive by ioeventfd on
 * the I/O thread (never through a vCPU exit handler), MSI-X vectors leave
 * by irqfd over GSI routes, INTx through the I/O APIC pins board.h assigns
 * to each slot.  The device models stay KVM-free; this is their glue.
 */
#ifndef MINIVMM_VMM_VM_PCI_H
#define MINIVMM_VMM_VM_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/block/drive.h"
#include "backends/net/netdev.h"
#include "base/evloop.h"
#include "cpu/kvm.h"
#include "devices/bus.h"
#include "devices/virtio/net.h"
#include "devices/virtio/virtio_dev.h"
#include "mmu/memory.h"

struct vm_pci;

struct vm_pci_params {
	struct kvm *kvm;
	const struct mem_map *mem;
	struct bus *pio, *mmio;
	struct evloop *loop;          /* the I/O thread */
	unsigned int nr_vcpus;        /* virtio-blk: one queue per vCPU */
};

/* The host bridge, placed on both buses.  0 or -errno (logged). */
int vm_pci_create(const struct vm_pci_params *p, struct vm_pci **out)
	__attribute__((warn_unused_result));
/* A virtio-blk function for one -drive, in the next free slot.  A drive
 * the user got wrong (missing, in use, not raw) is -EINVAL (usage). */
int vm_pci_add_drive(struct vm_pci *pci, const struct drive_config *d)
	__attribute__((warn_unused_result));
/* Any other virtio device type: the function takes vdev over (destroyed
 * with the platform).  0 or -errno. */
int vm_pci_add_virtio(struct vm_pci *pci, struct virtio_dev *vdev)
	__attribute__((warn_unused_result));
/* virtio-rng fed from getrandom(2), at most max_bytes per period_ns (0:
 * the device's defaults); its timer is a timerfd on the I/O thread. */
int vm_pci_add_rng(struct vm_pci *pci, uint64_t max_bytes, uint64_t period_ns)
	__attribute__((warn_unused_result));
/* virtio-console (hvc0): output to out; rx_ready(rx_ctx) when the guest
 * posted receive buffers.  *con is for virtio_console_input(). */
struct virtio_console;
int vm_pci_add_console(struct vm_pci *pci, const struct byte_sink *out,
		       void (*rx_ready)(void *ctx), void *rx_ctx, struct virtio_console **con)
	__attribute__((warn_unused_result));
/* virtio-net on a new backend for nd (served on the I/O thread).  0 or
 * -errno (logged: a tap without the right, a port in use...). */
int vm_pci_add_net(struct vm_pci *pci, const struct netdev_config *nd,
		   const struct nic_config *nic) __attribute__((warn_unused_result));
/* After the vCPUs and the I/O thread stopped: complete every request in
 * flight and flush the images (the VM's "nothing lost" step).  0, or the
 * first flush error (logged). */
int vm_pci_quiesce(struct vm_pci *pci);
void vm_pci_destroy(struct vm_pci *pci);

/* How many functions are plugged in besides the host bridge. */
unsigned int vm_pci_nr_functions(const struct vm_pci *pci);
/* Save or restore the host bridge and configuration spaces (snapshots). */
struct snap;
void vm_pci_snap(struct vm_pci *pci, struct snap *s);

/* Counters for --stats. */
struct vm_pci_stats {
	uint64_t kicks;               /* ioeventfd kicks served on the I/O thread */
	uint64_t msis;                /* MSI-X messages sent through irqfds */
	unsigned int nr_functions;
	unsigned int nr_ioeventfds;   /* notify addresses KVM answers itself */
};
void vm_pci_get_stats(const struct vm_pci *pci, struct vm_pci_stats *out);

/* The i-th network device's counters (false: no such device). */
struct vm_net_stats {
	const char *id, *kind;            /* -netdev id=, "user" / "tap" */
	struct virtio_net_stats dev;
	uint64_t backend_rx_dropped;      /* to the guest, dropped by the backend */
	uint64_t backend_tx_dropped;      /* from the guest, refused by the host side */
};
bool vm_pci_get_net_stats(const struct vm_pci *pci, unsigned int i, struct vm_net_stats *out);

#endif

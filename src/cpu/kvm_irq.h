/* SPDX-License-Identifier: MIT */
/*
 * Interrupt plumbing between KVM and the devices that do not run on a vCPU
 * thread: the GSI routing table (the PC's ISA routes plus one MSI route per
 * MSI-X vector), irqfds (an eventfd write raises a GSI inside KVM) and
 * ioeventfds (a guest write to an address signals an eventfd instead of
 * leaving KVM_RUN).  KVM replaces the whole routing table on every
 * KVM_SET_GSI_ROUTING, so the table lives here and is re-sent whole.
 */
#ifndef MINIVMM_CPU_KVM_IRQ_H
#define MINIVMM_CPU_KVM_IRQ_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/kvm.h"

/* First GSI handed to MSI routes: above the I/O APIC's 24 pins. */
#define KVM_IRQ_MSI_GSI_BASE 24

/* The PC routes (GSI 0-15 to the 8259s, 0-23 to the I/O APIC with GSI 0 on
 * pin BOARD_IRQ0_IOAPIC_PIN).  Called once, after KVM_CREATE_IRQCHIP. */
int kvm_irq_routing_init(struct kvm *kvm) __attribute__((warn_unused_result));
void kvm_irq_routing_free(struct kvm *kvm);

/* Reserve a GSI for an MSI route; it routes nowhere until set.  -ENOSPC
 * when the host's routing table is full. */
int kvm_msi_route_alloc(struct kvm *kvm, uint32_t *gsi)
	__attribute__((warn_unused_result));
/* Point an allocated GSI at an MSI message, or at nothing (valid false,
 * e.g. a masked vector), and hand KVM the new table.  Any thread. */
int kvm_msi_route_set(struct kvm *kvm, uint32_t gsi, bool valid, uint64_t addr,
		      uint32_t data);

/* Attach (or detach) eventfd fd to gsi. */
int kvm_irqfd(struct kvm *kvm, int fd, uint32_t gsi, bool assign);
/* Attach (or detach) eventfd fd to guest writes of any width to addr (MMIO
 * or port I/O). */
int kvm_ioeventfd(struct kvm *kvm, int fd, uint64_t addr, bool pio, bool assign);
/* One MSI straight away (KVM_SIGNAL_MSI). */
int kvm_signal_msi(struct kvm *kvm, uint64_t addr, uint32_t data);

#endif

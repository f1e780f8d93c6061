/* SPDX-License-Identifier: MIT */
/*
 * Everything KVM holds for a VM and its vCPUs, through base/snap.h: the
 * state a snapshot needs to put a guest back exactly where it was.  Each KVM
 * structure is carried byte for byte (the KVM UAPI layouts are stable ABI);
 * docs/snapshots.md lists them and why each is needed.
 *
 * Saving must happen with the vCPUs paused (cpu/vcpu_pause.h); loading on
 * freshly created vCPUs that have their CPUID, before they first run.
 */
#ifndef MINIVMM_CPU_CPU_STATE_H
#define MINIVMM_CPU_CPU_STATE_H

#include "base/snap.h"
#include "cpu/kvm.h"
#include "cpu/vcpu.h"

/* The in-kernel PIC pair and I/O APIC, the PIT, the KVM clock. */
int kvm_vm_state_snap(struct kvm *kvm, struct snap *s);

/* REGS, SREGS, XCRS, XSAVE (or FPU), the MSRs this host can save, LAPIC,
 * VCPU_EVENTS, DEBUGREGS, MP_STATE and the TSC frequency.  cpuid is what
 * the vCPU was given: saved, and compared on load (a snapshot from another
 * CPU model is refused). */
int vcpu_state_snap(struct vcpu *vcpu, struct kvm *kvm, const struct kvm_cpuid2 *cpuid,
		    struct snap *s);

#endif

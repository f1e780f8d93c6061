/* SPDX-License-Identifier: MIT */
/*
 * Completing, on the vCPU thread, instructions the host's KVM could not
 * emulate (docs/booting-linux.md).  Built on vcpu.h; vcpu.c calls in here
 * only for VCPU_UNEMULATED exits.
 */
#ifndef MINIVMM_CPU_VCPU_EMULATE_H
#define MINIVMM_CPU_VCPU_EMULATE_H

struct vcpu;

/* KVM gave up on the instruction at RIP: complete it when its result is
 * architecturally defined (vcpu_emulate.c); 0 or -errno. */
int vcpu_complete_unemulated(struct vcpu *vcpu);

/* RIP += 1 and a #BP injected: the guest's own int3 (at RIP) handed back
 * to it, for a debugger that intercepted it; 0 or -errno. */
int vcpu_reflect_int3(struct vcpu *vcpu);

#endif

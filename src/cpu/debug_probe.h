/* SPDX-License-Identifier: MIT */
/*
 * What this host's KVM_SET_GUEST_DEBUG really does, measured in a scratch
 * VM: single-step and hardware execution breakpoints in guest ring 0 and
 * ring 3, and where an int3 in each ring ends up.  On real VMX/SVM hosts
 * everything works; on PVM hosts ring 0 is emulated (steps and DR0-DR3 are
 * checked by the emulator) while ring 3 runs natively and its #DB and #BP go
 * straight to the guest (docs/debugging.md has the figures).
 */
#ifndef MINIVMM_CPU_DEBUG_PROBE_H
#define MINIVMM_CPU_DEBUG_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/kvm.h"

enum probe_int3 {
	PROBE_INT3_UNKNOWN,
	PROBE_INT3_DEBUG_EXIT,  /* KVM_EXIT_DEBUG (KVM_GUESTDBG_USE_SW_BP works) */
	PROBE_INT3_UNEMULATED,  /* emulation failure at the int3 (PVM ring 0) */
	PROBE_INT3_GUEST,       /* not intercepted: the guest's #BP vector */
};

struct kvm_debug_caps {
	bool api;               /* KVM_CAP_SET_GUEST_DEBUG */
	uint32_t flags;         /* KVM_CAP_SET_GUEST_DEBUG2: KVM_GUESTDBG_* known */
	/* Index 0: guest ring 0, 1: guest ring 3. */
	bool step[2];           /* KVM_GUESTDBG_SINGLESTEP traps the next insn */
	bool hw_bp[2];          /* an execution breakpoint in DR0 exits */
	enum probe_int3 int3[2];
	uint64_t ns;            /* how long the probe took */
};

/* Runs the probe in a VM of its own on kvm->sys_fd (the caller's VM is not
 * touched); 0 or -errno (then only caps->api and caps->flags are set). */
int kvm_probe_debug(const struct kvm *kvm, struct kvm_debug_caps *caps);

/* One line for people: "single-step ring 0 yes, ring 3 no; ...". */
void kvm_debug_caps_describe(const struct kvm_debug_caps *caps, char *buf, size_t len);

#endif

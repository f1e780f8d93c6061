/* SPDX-License-Identifier: MIT */
/*
 * One thread per vCPU running KVM_RUN.  A vCPU thread never exits the
 * process: when its guest stops (or fails) it records why and tells the
 * main thread through env->stopped(); the main thread kicks the others.
 */
#ifndef MINIVMM_VCPU_H
#define MINIVMM_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "cpu/exit.h"
#include "cpu/kvm.h"
#include "cpu/vcpu_pause.h"
#include "mmu/memory.h"

struct vcpu;

struct vcpu_env {
	struct bus *pio;
	struct bus *mmio;
	const struct mem_map *mem;     /* for instruction bytes in dumps */
	atomic_bool *stopping;         /* set by the main thread */
	void (*stopped)(void *ctx, struct vcpu *vcpu);
	/* Optional: runs on the vCPU thread after each exit the dispatcher
	 * handled, before KVM_RUN resumes (e.g. the shadow MMU loading CR3);
	 * may fail the vCPU, with the reason in vcpu->exit.why. */
	enum vcpu_action (*after_exit)(void *ctx, struct vcpu *vcpu);
	void *ctx;
	/* Optional: vCPUs park here when asked (vcpu_pause.h). */
	struct vcpu_pause *pause;
	/* Optional: an attached debugger (src/debug).  Called on the vCPU
	 * thread for VCPU_DEBUG (KVM_EXIT_DEBUG) and VCPU_UNEMULATED exits (a
	 * breakpoint it planted in ring 0 on hosts that cannot emulate int3)
	 * before anything else: returns VCPU_CONTINUE when it took the exit
	 * (it then pauses the vCPUs), else the action to carry on with. */
	enum vcpu_action (*debug_trap)(void *debug_ctx, struct vcpu *vcpu,
				       enum vcpu_action why);
	void *debug_ctx;
	/* Optional: the profiler (src/profile).  Called on the vCPU thread
	 * with the guest's RIP and CPL when a vcpu_request_sample() kick
	 * brought it out of KVM_RUN. */
	void (*sample)(void *sample_ctx, unsigned int vcpu, uint64_t rip, unsigned int cpl);
	void *sample_ctx;
};

struct vcpu {
	unsigned int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
	const struct vcpu_env *env;    /* what the VM hands every vCPU */
	struct exit_ctx exit;          /* owned by the vCPU thread */
	enum vcpu_action result;       /* why the thread ended */
	bool guest_smap;               /* SMAP in the CPUID the guest was given */
	atomic_bool held;              /* stays parked across resumes (vcpu_pause.h) */
	atomic_bool sample_wanted;     /* vcpu_request_sample() */
};

/* Install the kick signal handler; call once before starting vCPUs. */
int vcpu_signals_init(void);

int vcpu_create(struct vcpu *vcpu, struct kvm *kvm, unsigned int id,
		const struct vcpu_env *env);
void vcpu_destroy(struct vcpu *vcpu);

int vcpu_set_cpuid(struct vcpu *vcpu, const struct kvm_cpuid2 *cpuid);
int vcpu_get_sregs(struct vcpu *vcpu, struct kvm_sregs *sregs);
int vcpu_get_regs(struct vcpu *vcpu, struct kvm_regs *regs);
/* The guest's TSC frequency in kHz (KVM_GET_TSC_KHZ), or -errno. */
int vcpu_tsc_khz(struct vcpu *vcpu);
int vcpu_set_state(struct vcpu *vcpu, const struct kvm_sregs *sregs,
		   const struct kvm_regs *regs);
/* x87/SSE state, and one MSR: 0 or -errno. */
int vcpu_get_fpu(struct vcpu *vcpu, struct kvm_fpu *fpu);
int vcpu_set_fpu(struct vcpu *vcpu, const struct kvm_fpu *fpu);
int vcpu_get_msr(struct vcpu *vcpu, uint32_t index, uint64_t *value);
int vcpu_set_msr(struct vcpu *vcpu, uint32_t index, uint64_t value);
/* KVM_NMI: an NMI to the vCPU's local APIC (the vCPU must be out of
 * KVM_RUN, e.g. paused, or this waits for it). */
int vcpu_inject_nmi(struct vcpu *vcpu);
/* KVM_SET_GUEST_DEBUG: control is KVM_GUESTDBG_* (0 turns debugging off),
 * dr[0..3] the breakpoint addresses and dr7 their enables (USE_HW_BP). */
int vcpu_set_guest_debug(struct vcpu *vcpu, uint32_t control, const uint64_t dr[4],
			 uint64_t dr7);

int vcpu_start(struct vcpu *vcpu);
/* Make KVM_RUN return promptly; set what the thread should then do first
 * (the stopping flag, a pause or sample request). */
void vcpu_kick(struct vcpu *vcpu);
/* Kick the vCPU so that it reports RIP and CPL to env->sample once. */
void vcpu_request_sample(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);

/* Guest-virtual to guest-physical through the vCPU's current paging
 * (KVM_TRANSLATE); -EFAULT when the address is not mapped. */
int vcpu_translate(struct vcpu *vcpu, uint64_t gva, uint64_t *gpa);
/* Read guest-virtual memory through the vCPU's page tables, page by page:
 * how many bytes were read before the first page that does not translate
 * or is not guest memory (len when all of it was). */
size_t vcpu_read_gva(struct vcpu *vcpu, uint64_t gva, void *buf, size_t len);


/* Registers, control registers, segments and the bytes at RIP. */
void vcpu_dump_state(struct vcpu *vcpu, FILE *out);

#endif

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

int vcpu_start(struct vcpu *vcpu);
/* Make KVM_RUN return promptly (the stopping flag must already be set). */
void vcpu_kick(struct vcpu *vcpu);
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

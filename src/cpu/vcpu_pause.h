/* SPDX-License-Identifier: MIT */
/*
 * Pausing and resuming vCPU threads: the one mechanism behind the gdb stub's
 * all-stop (and, later, the control socket and snapshots).
 *
 * A paused vCPU is parked on its own thread, outside KVM_RUN, with any I/O
 * or MMIO exit completed (a KVM_RUN with immediate_exit = 1 first), so its
 * registers can be read and written from another thread.
 *
 *  - vcpu_pause_request(): ask every vCPU to park before its next KVM_RUN and
 *    kick them out of it; returns at once (a vCPU thread may call it, e.g. on
 *    a breakpoint).
 *  - vcpu_pause_all(): the same, then wait until every live vCPU thread is
 *    parked.  Never from a vCPU thread (it would wait for itself).
 *  - vcpu_resume_all(): let them run again, except those held
 *    (vcpu_pause_hold(): a debugger resuming one vCPU only).
 *  - vcpu_pause_wake(): after setting the VM's stopping flag, so parked
 *    vCPUs see it and end.
 * A vCPU thread that ends (guest stop, failure) stops counting, so a pause
 * never waits for a thread that is gone.
 */
#ifndef MINIVMM_CPU_VCPU_PAUSE_H
#define MINIVMM_CPU_VCPU_PAUSE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct vcpu;

struct vcpu_pause {
	pthread_mutex_t lock;
	pthread_cond_t changed;     /* a vCPU parked or left; a resume */
	atomic_bool requested;      /* every vCPU checks it before KVM_RUN */
	unsigned int alive;         /* vCPU threads started and not ended */
	unsigned int parked;        /* of those, waiting in vcpu_park() */
	unsigned long resumes;      /* vcpu_resume_all() calls, for waiters */
};

/* start_paused: vCPU threads park before their first KVM_RUN (-S). */
int vcpu_pause_init(struct vcpu_pause *p, bool start_paused);
void vcpu_pause_destroy(struct vcpu_pause *p);

void vcpu_pause_request(struct vcpu_pause *p, struct vcpu *vcpus, unsigned int n);
void vcpu_pause_all(struct vcpu_pause *p, struct vcpu *vcpus, unsigned int n);
void vcpu_resume_all(struct vcpu_pause *p);
/* Keep (or stop keeping) one vCPU parked across vcpu_resume_all(). */
void vcpu_pause_hold(struct vcpu_pause *p, struct vcpu *vcpu, bool held);
void vcpu_pause_wake(struct vcpu_pause *p);
bool vcpu_pause_requested(struct vcpu_pause *p);

/* vcpu.c's side: thread accounting and the parking itself. */
void vcpu_pause_enter(struct vcpu_pause *p);
void vcpu_pause_leave(struct vcpu_pause *p);
bool vcpu_should_park(struct vcpu_pause *p, const struct vcpu *vcpu);
void vcpu_park(struct vcpu_pause *p, struct vcpu *vcpu, atomic_bool *stopping);

#endif

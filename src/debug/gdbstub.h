/* SPDX-License-Identifier: MIT */
/*
 * The gdb remote stub: a thread that listens (gdb_listen.h), takes one gdb
 * at a time and runs its session (gdb_session.h) against the VM's vCPUs.
 *
 * All-stop: when gdb connects, and whenever a vCPU stops for it (a
 * breakpoint, a step) or gdb sends Ctrl-C, every vCPU is paused through
 * vcpu_pause.h.  gdb's detach, and a client that vanishes, take the
 * breakpoints out and let the guest run on; the next gdb may connect.
 * 'k' stops the VM through the kill callback.  Nothing a client sends can
 * stop the VMM otherwise: bad packets are NAKed or answered with errors.
 *
 * The VM wires it: vcpu_env.debug_trap = gdbstub_trap with the stub as
 * debug_ctx, gdbstub_start() before the vCPUs run, gdbstub_stop() once
 * they are joined (gdb hears how the guest ended), gdbstub_destroy()
 * before the vCPUs are destroyed.
 */
#ifndef MINIVMM_DEBUG_GDBSTUB_H
#define MINIVMM_DEBUG_GDBSTUB_H

#include <stdbool.h>

#include "boot/loader.h"
#include "cpu/exit.h"
#include "cpu/kvm.h"
#include "cpu/vcpu.h"
#include "mmu/memory.h"

struct gdbstub;

struct gdbstub_params {
	const char *listen;                 /* gdb_listen.h spelling */
	const struct kvm *kvm;              /* probed for what debugging works */
	struct vcpu *vcpus;
	unsigned int nr_vcpus;
	struct vcpu_pause *pause;
	const struct mem_map *mem;
	/* The kernel's ELF segments: kernel addresses translate through them
	 * until the guest's page tables map them (-S, break start_kernel). */
	const struct loader_segment *segs;
	unsigned int nr_segs;
	void (*kill)(void *ctx);            /* gdb's 'k': stop the VM */
	void *ctx;
};

/* Probes the host, listens and says where; 0 or -errno (logged). */
int gdbstub_create(const struct gdbstub_params *p, struct gdbstub **out);
int gdbstub_start(struct gdbstub *g);
/* The vCPU threads have ended: tell gdb how (exit status, or the signal
 * that ended minivmm when signo > 0), drop it and end the thread. */
void gdbstub_stop(struct gdbstub *g, int status, int signo);
void gdbstub_destroy(struct gdbstub *g);

/* vcpu_env.debug_trap. */
enum vcpu_action gdbstub_trap(void *stub, struct vcpu *vcpu, enum vcpu_action why);

#endif

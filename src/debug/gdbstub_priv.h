/* SPDX-License-Identifier: MIT */
/* Inside the gdb stub: shared by gdbstub.c (thread, socket, stops) and
 * gdb_target.c (the session's target: vCPUs, memory, the vCPU trap). */
#ifndef MINIVMM_DEBUG_GDBSTUB_PRIV_H
#define MINIVMM_DEBUG_GDBSTUB_PRIV_H

#include <pthread.h>

#include "cpu/debug_probe.h"
#include "debug/gdb_session.h"
#include "debug/gdbstub.h"
#include "debug/rsp.h"

/* One vCPU's debugging as last resumed (gdb_vcpu.c). */
struct gdb_vcpu_dbg {
	uint32_t control;            /* KVM_GUESTDBG_* */
	uint64_t dr[4], dr7;
	int slot[2];                 /* DR watching the #DB / #BP handler, or -1 */
	uint64_t handler[2];
	bool tf_step;                /* a ring-3 step by RFLAGS.TF under way */
	bool skipping;               /* stepping over a handler entry not gdb's */
};

struct gdbstub {
	struct gdbstub_params p;
	struct kvm_debug_caps caps;
	struct gdb_target_ops ops;   /* gdb_vm_target_ops, hw_breakpoints per caps */
	bool vec_bp, vec_step;       /* ring-3 stops through the guest's vectors */
	struct gdb_vcpu_dbg *vdbg;   /* per vCPU */
	char caps_text[400];
	char where[300];
	bool is_unix;
	char unix_path[108];
	int listen_fd, client_fd;
	int stop_fd;                 /* eventfd: a vCPU stopped for gdb */
	int quit_fd;                 /* eventfd: the VM has ended */
	pthread_t thread;
	bool started;

	pthread_mutex_t lock;        /* the fields below, vCPU threads too */
	bool running;                /* gdb resumed the vCPUs */
	bool stop_pending;           /* a vCPU reported `stop` */
	struct gdb_stop stop;
	int exit_status, exit_signal;

	/* Stub thread only. */
	struct gdb_session *session;
	struct rsp_decoder dec;
	bool client_broken;          /* a write failed: drop it */
	char frame[RSP_MAX_REPLY + 8]; /* the last packet sent, for a NAK */
	size_t frame_len;
};

/* gdb_target.c */
extern const struct gdb_target_ops gdb_vm_target_ops;
/* guest-virtual to guest-physical: cpu's paging, then the kernel image */
int gdb_vm_translate(struct gdbstub *g, unsigned int cpu, uint64_t gva, uint64_t *gpa);
/* On a vCPU thread: this vCPU stopped for gdb (the first stop wins). */
enum vcpu_action gdb_vm_report(struct gdbstub *g, struct vcpu *vcpu, enum gdb_stop_kind kind);

/* gdb_vcpu.c: per-vCPU guest debugging, and ring-3 stops through the
 * guest's exception vectors where the host cannot make them. */
void gdb_vcpu_caps(struct gdbstub *g);
/* What vCPU cpu gets for req (stub thread, vCPUs paused); -EOPNOTSUPP with
 * a note when its step cannot be made, nothing changed. */
int gdb_vcpu_plan(struct gdbstub *g, unsigned int cpu, const struct gdb_resume_req *req,
		  char *note, size_t note_len);
int gdb_vcpu_apply(struct gdbstub *g, unsigned int cpu);
/* After a pause: undo what a step left unfinished. */
void gdb_vcpu_stopped(struct gdbstub *g, unsigned int cpu);
/* A #DB exit (vCPU thread): true when it was a watched handler's or the
 * end of a skip, with what the vCPU does next in *action. */
bool gdb_vcpu_trap(struct gdbstub *g, struct vcpu *v, enum vcpu_action *action);

#endif

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

struct gdbstub {
	struct gdbstub_params p;
	struct kvm_debug_caps caps;
	struct gdb_target_ops ops;   /* gdb_vm_target_ops, hw_breakpoints per caps */
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

#endif

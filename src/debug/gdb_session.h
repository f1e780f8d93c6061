/* SPDX-License-Identifier: MIT */
/*
 * One gdb connection's protocol state and the packets it understands, over
 * a target interface (gdb_target_ops) so that unit tests drive it with a
 * fake machine.  No I/O and no threads here: gdbstub.c reads the socket,
 * frames packets (rsp.h) and runs the vCPUs.
 *
 * All-stop: packets are handled only while every vCPU is paused.  Threads
 * are vCPUs: gdb thread id = vCPU index + 1.  Software breakpoints are int3
 * bytes in guest memory, remembered by guest-physical address; memory
 * reads show the original bytes.  Breakpoint tables change only while the
 * vCPUs are paused, which is what lets vCPU threads look them up
 * (gdb_session_sw_bp_at) without a lock while they run.
 */
#ifndef MINIVMM_DEBUG_GDB_SESSION_H
#define MINIVMM_DEBUG_GDB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "debug/gdb_regs.h"
#include "debug/rsp.h"

#define GDB_MAX_CPUS      256
#define GDB_MAX_SW_BPS    256
#define GDB_MAX_HW_BPS    4
#define GDB_SIGINT        2
#define GDB_SIGTRAP       5

enum gdb_resume { GDB_STAY, GDB_CONTINUE, GDB_STEP };

struct gdb_resume_req {
	enum gdb_resume act[GDB_MAX_CPUS];
	uint64_t hw[GDB_MAX_HW_BPS];   /* execution breakpoints, for every vCPU */
	unsigned int nr_hw;
	unsigned int nr_sw;            /* int3s planted (KVM_GUESTDBG_USE_SW_BP) */
	bool detach;                   /* debugging off, everything runs */
};

enum gdb_stop_kind { GDB_STOP_SIGNAL, GDB_STOP_SWBREAK, GDB_STOP_HWBREAK };

struct gdb_stop {
	unsigned int cpu;
	uint8_t signal;
	enum gdb_stop_kind kind;
};

struct gdb_target_ops {
	unsigned int (*nr_cpus)(void *t);
	int (*get_state)(void *t, unsigned int cpu, struct gdb_x86_state *s);
	int (*set_state)(void *t, unsigned int cpu, const struct gdb_x86_state *s);
	/* Guest-virtual to guest-physical for cpu: its page tables, or the
	 * loaded kernel image before they map it.  0 or -EFAULT. */
	int (*translate)(void *t, unsigned int cpu, uint64_t gva, uint64_t *gpa);
	/* Guest-physical memory; bytes done (short at the first non-RAM one). */
	size_t (*read_phys)(void *t, uint64_t gpa, void *buf, size_t len);
	size_t (*write_phys)(void *t, uint64_t gpa, const void *buf, size_t len);
	/* Run again; 0 or -errno, when nothing runs.  A short note for the
	 * user (why a step was refused) may be written to note. */
	int (*resume)(void *t, const struct gdb_resume_req *req, char *note, size_t note_len);
	void (*kill)(void *t);
	/* What the host's KVM supports, for "monitor caps". */
	void (*describe)(void *t, char *buf, size_t len);
	bool hw_breakpoints;           /* Z1 offered */
};

struct gdb_sw_bp {
	uint64_t addr;                 /* as gdb gave it */
	uint64_t gpa;
	uint8_t orig;
};

/* What the stub does after a packet. */
enum gdb_after {
	GDB_AFTER_REPLY,    /* send reply (and console first, if any) */
	GDB_AFTER_RESUMED,  /* the target runs: reply later with a stop */
	GDB_AFTER_DETACH,   /* send reply, then drop the client (guest runs) */
	GDB_AFTER_KILL,     /* the VM is going down: drop the client */
};

struct gdb_session {
	const struct gdb_target_ops *ops;
	void *target;
	unsigned int g_cpu, c_cpu;     /* Hg / Hc; c_cpu = -1u: all */
	bool phys;                     /* "monitor phys on": m/M/X/Z at GPAs */
	bool no_ack;                   /* QStartNoAckMode */
	struct gdb_stop last_stop;
	struct gdb_sw_bp sw[GDB_MAX_SW_BPS];
	unsigned int nr_sw;
	uint64_t hw[GDB_MAX_HW_BPS];
	unsigned int nr_hw;
	char xml[8192];
	size_t xml_len;
	/* The reply to the last packet, and console text to send before it
	 * (an 'O' packet: monitor output, notes). */
	char reply[RSP_MAX_REPLY];
	size_t reply_len;
	char console[512];
};

void gdb_session_init(struct gdb_session *s, const struct gdb_target_ops *ops, void *target);
enum gdb_after gdb_session_packet(struct gdb_session *s, const char *pkt, size_t len);
/* The stub stopped the target: remember it and make the stop reply. */
void gdb_session_stopped(struct gdb_session *s, const struct gdb_stop *st);
/* Take every breakpoint out of guest memory (detach, a vanished client);
 * the caller then resumes with req->detach. */
void gdb_session_clear_breakpoints(struct gdb_session *s);
/* The planted int3 at gpa, or NULL (vCPU threads, while running). */
const struct gdb_sw_bp *gdb_session_sw_bp_at(const struct gdb_session *s, uint64_t gpa);

/* gdb_mem.c: memory through the session's view and the breakpoints. */
size_t gdb_mem_read(struct gdb_session *s, uint64_t addr, uint8_t *buf, size_t len);
size_t gdb_mem_write(struct gdb_session *s, uint64_t addr, const uint8_t *buf, size_t len);
int gdb_bp_insert(struct gdb_session *s, int type, uint64_t addr);
int gdb_bp_remove(struct gdb_session *s, int type, uint64_t addr);

#endif

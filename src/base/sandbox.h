/* SPDX-License-Identifier: MIT */
/*
 * Per-thread seccomp-bpf allow-lists (--seccomp, docs/reliability.md).
 *
 * After set-up each minivmm thread confines itself to the system calls its
 * role needs: a vCPU thread runs KVM_RUN and talks to devices, it never
 * opens a file, creates a socket, forks or execs.  The filters are built
 * once (sandbox_prepare, on the main thread, before any thread that will
 * enter one starts), then each thread calls sandbox_enter(role) as its
 * first act; the main thread enters its own last, once every thread is
 * started.  ioctl is allowed only for the KVM requests a running VM makes
 * (not KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_SET_CPUID2 ...), the terminal's
 * and, with a tap, TUNSETOFFLOAD; mmap and mprotect never with PROT_EXEC.
 *
 * A call outside the list (mode SANDBOX_ON) raises SIGSYS in the thread
 * that made it: one line names the thread's role and the call, the
 * terminal is restored, and the process exits with 128 + SIGSYS (159).
 * SANDBOX_LOG lets the call through and has the kernel log it (audit).
 * Everything is a no-op until sandbox_prepare, and with SANDBOX_OFF.
 */
#ifndef MINIVMM_BASE_SANDBOX_H
#define MINIVMM_BASE_SANDBOX_H

#include <stdbool.h>

enum sandbox_mode { SANDBOX_OFF, SANDBOX_LOG, SANDBOX_ON };

enum sandbox_role {
	SANDBOX_MAIN,     /* control socket, snapshots, reports, teardown */
	SANDBOX_VCPU,     /* KVM_RUN and the devices an exit reaches */
	SANDBOX_IO,       /* the event loop: kicks, interrupts, disks, network */
	SANDBOX_CONSOLE,  /* the terminal's input */
	SANDBOX_BLOCK,    /* disk completions and the thread pool's workers */
	SANDBOX_GDB,      /* the gdb stub */
	SANDBOX_PROFILE,  /* the sampling profiler's clock */
	SANDBOX_ROLES,
};

/* What the VM has that widens a role's list. */
#define SANDBOX_NET_USER  (1u << 0)   /* libslirp (sockets, /etc/resolv.conf) */
#define SANDBOX_NET_TAP   (1u << 1)   /* TUNSETOFFLOAD on the I/O thread */

/* Exit status after a violation in SANDBOX_ON. */
#define SANDBOX_EXIT_STATUS 159

/* The mode when --seccomp is not given: on, except in builds with
 * AddressSanitizer, whose leak check at exit ptraces the process. */
enum sandbox_mode sandbox_default_mode(void);

/* Build every role's filter.  0 or -errno (logged).  on_violation (may be
 * NULL) runs in the SIGSYS handler before the exit: it must be
 * async-signal-safe (the console's terminal restore is). */
int sandbox_prepare(enum sandbox_mode mode, unsigned int features, void (*on_violation)(void));

/* Confine the calling thread to role.  0, or -errno (logged). */
int sandbox_enter(enum sandbox_role role);

/* Drop the prepared filters (threads keep what they entered). */
void sandbox_release(void);

const char *sandbox_role_name(enum sandbox_role role);
/* How many system calls role's list allows, and in *ioctls (may be NULL)
 * how many ioctl requests; 0 before sandbox_prepare. */
unsigned int sandbox_allowed(enum sandbox_role role, unsigned int *ioctls);

#endif

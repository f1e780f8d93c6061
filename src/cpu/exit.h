/* SPDX-License-Identifier: MIT */
/*
 * vCPU exit dispatch: a pure function of (kvm_run, buses) -> what the vCPU
 * does next.  Unit tests drive it with hand-filled kvm_run structures.
 */
#ifndef MINIVMM_EXIT_H
#define MINIVMM_EXIT_H

#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "devices/bus.h"
#include "cpu/emulate.h"

enum vcpu_action {
	VCPU_CONTINUE,
	VCPU_POWEROFF, /* guest requested power-off (KVM system event) */
	VCPU_RESET,    /* guest requested a reset (KVM system event) */
	VCPU_SHUTDOWN, /* triple fault */
	VCPU_FAILED,   /* internal error, failed entry, unknown exit */
	VCPU_UNEMULATED, /* KVM could not emulate the instruction at RIP; the
			  * vCPU thread may complete it (emulate.h) */
	VCPU_DEBUG,    /* KVM_EXIT_DEBUG: for the attached debugger (src/debug) */
};

#define EXIT_REASON_MAX 64

struct exit_stats {
	uint64_t by_reason[EXIT_REASON_MAX];
	uint64_t pio_accesses;  /* I/O items, counting each rep-string element */
	uint64_t mmio_accesses;
	uint64_t unemulated[UNEMULATED_KINDS]; /* completed by minivmm, by kind */
};

struct exit_ctx {
	struct bus *pio;
	struct bus *mmio;
	struct exit_stats stats;
	char why[160];          /* reason when the action is not CONTINUE */
};

/* run_size bounds the I/O data area KVM points at. */
enum vcpu_action vcpu_handle_exit(struct kvm_run *run, size_t run_size,
				  struct exit_ctx *ctx);

const char *exit_reason_name(uint32_t reason);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Snapshot and restore of the whole VM (docs/snapshots.md).  Only vm.c and
 * vm_control.c use it; it reaches inside struct vm.
 */
#ifndef MINIVMM_VMM_VM_SNAPSHOT_H
#define MINIVMM_VMM_VM_SNAPSHOT_H

#include <jansson.h>

#include "vmm/vm_priv.h"

struct vm_snapshot_result {
	uint64_t data_bytes;    /* guest memory written (zero pages are holes) */
	uint64_t save_ns;       /* the vCPUs' pause for it */
	uint64_t total_ns;
};

/* Pause the vCPUs (unless paused already), write the snapshot to dir,
 * resume.  Not from a vCPU thread.  0, or -errno with a one-line why;
 * nothing is left at dir on failure. */
int vm_snapshot_save(struct vm *vm, const char *dir, struct vm_snapshot_result *res,
		     char *why, size_t why_len);

/* Restoring, in vm_build's order: the machine section into cfg (and the
 * boot protocol the snapshot's guest uses), the memory files mapped over
 * the slots before KVM hears of them, then devices, irqchip, clock and
 * vCPUs once everything exists. */
int vm_snapshot_machine(json_t *doc, struct vm_config *cfg, enum boot_protocol *protocol,
			char *why, size_t why_len);
int vm_restore_memory(struct vm *vm, char *why, size_t why_len);
int vm_restore_state(struct vm *vm, char *why, size_t why_len);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The VM's side of the control socket (control/api.h) and of
 * --snapshot-on: the commands, run on the main thread, which is the one
 * that may pause the vCPUs.
 */
#ifndef MINIVMM_VMM_VM_CONTROL_H
#define MINIVMM_VMM_VM_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/vm_priv.h"

/* --api-sock: create the server (before the VM runs).  0 or -errno. */
int vm_control_create(struct vm *vm);
void vm_control_destroy(struct vm *vm);

/* Guest console output, on the thread that wrote it: notices the
 * --snapshot-on marker and asks the main thread for the snapshot. */
void vm_control_console(struct vm *vm, const uint8_t *buf, size_t len);

/* The main thread, when the snapshot request eventfd fired: take the
 * --snapshot-on snapshot (and stop the VM with --snapshot-and-exit, or
 * when the snapshot failed). */
void vm_control_snapshot_on(struct vm *vm);

#endif

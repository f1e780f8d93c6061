/* SPDX-License-Identifier: MIT */
/*
 * The virtual machine: builds everything a vm_config describes, in one
 * explicit order, runs it until something stops it, and tears it down in
 * reverse.  Only main() turns the result into an exit status.
 */
#ifndef MINIVMM_VM_H
#define MINIVMM_VM_H

#include "vmm/config.h"

/* Exit statuses (docs/guest-boot.md). */
#define VM_EXIT_SETUP_FAILED 1
#define VM_EXIT_USAGE 2
#define VM_EXIT_GUEST_CRASH 3

/* Runs the configured VM to completion; returns the process exit status. */
int vm_main(const struct vm_config *cfg);

#endif

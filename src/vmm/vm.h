/* SPDX-License-Identifier: MIT */
/*
 * The virtual machine: builds everything a vm_config describes, in one
 * explicit order, runs it until something stops it, and tears it down in
 * reverse.  Only main() turns the result into an exit status.
 */
#ifndef MINIVMM_VM_H
#define MINIVMM_VM_H

#include <pthread.h>
#include <stdatomic.h>

#include "boot/boot.h"
#include "devices/bus.h"
#include "vmm/config.h"
#include "vmm/console.h"
#include "vmm/guest_watch.h"
#include "cpu/kvm.h"
#include "mmu/memory.h"
#include "mmu/kvm/mmu_mode.h"
#include "cpu/vcpu.h"

enum vm_stop_kind {
	VM_STOP_NONE,
	VM_STOP_GUEST_STATUS, /* debug-exit port */
	VM_STOP_POWEROFF,
	VM_STOP_RESET,
	VM_STOP_USER_QUIT,    /* Ctrl-A x */
	VM_STOP_SIGNAL,
	VM_STOP_CRASH,        /* triple fault, emulation failure, ... */
	VM_STOP_ERROR,        /* the VMM itself failed */
};

/* Exit statuses (docs/guest-boot.md). */
#define VM_EXIT_SETUP_FAILED 1
#define VM_EXIT_USAGE 2
#define VM_EXIT_GUEST_CRASH 3

struct vm {
	const struct vm_config *cfg;
	struct kvm kvm;
	struct mem_map mem;
	struct bus pio;
	struct bus mmio;
	struct uart *com1;
	struct post *post;
	struct device *devices[8];   /* everything on a bus, for teardown */
	unsigned int nr_devices;
	struct console console;
	struct guest_watch watch;    /* explains known guest failure patterns */
	struct kvm_cpuid2 *cpuid;
	struct vcpu *vcpus;
	unsigned int nr_vcpus;
	atomic_bool stopping;
	int stop_fd;                 /* eventfd: someone asked the VM to stop */
	pthread_mutex_t stop_lock;
	enum vm_stop_kind stop_kind; /* first reason wins */
	int stop_status;
	char stop_why[256];
	struct boot_info boot;       /* what was loaded and how to enter it */
	struct mmu_plan mmu_plan;    /* test guests: the MMU regions */
	struct mmu_mode *mmu;        /* test guests: --mmu glue; else NULL */
	uint64_t run_ns;             /* wall time the vCPUs ran */
	struct vcpu_host vcpu_host;
	bool config_error;           /* the build failed on a bad configuration */
};

/* Runs the configured VM to completion; returns the process exit status. */
int vm_main(const struct vm_config *cfg);

#endif

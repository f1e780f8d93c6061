/* SPDX-License-Identifier: MIT */
/* Inside the VM: shared by vm.c (build, run, teardown) and vm_report.c
 * (what is printed when it stops); nothing else includes it. */
#ifndef MINIVMM_VMM_VM_PRIV_H
#define MINIVMM_VMM_VM_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include <jansson.h>

#include "base/evloop.h"
#include "boot/boot.h"
#include "cpu/kvm.h"
#include "cpu/vcpu.h"
#include "cpu/vcpu_pause.h"
#include "debug/gdbstub.h"
#include "devices/bus.h"
#include "mmu/kvm/mmu_kvm.h"
#include "mmu/memory.h"
#include "mmu/plan.h"
#include "vmm/console.h"
#include "vmm/guest_watch.h"
#include "vmm/vm.h"
#include "vmm/vm_pci.h"

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

struct vm {
	const struct vm_config *cfg;
	struct kvm kvm;
	struct mem_map mem;
	struct bus pio;
	struct bus mmio;
	struct uart *com1;
	struct i8042 *kbc;
	struct post *post;
	struct device *devices[8];   /* everything on a bus, for teardown */
	unsigned int nr_devices;
	struct evloop *io;           /* the I/O thread: kicks, disk completions */
	struct vm_pci *pci;          /* host bridge + virtio functions */
	struct virtio_console *vcon; /* --console=virtio; owned by pci */
	struct console console;
	struct console_target console_target; /* COM1 or the virtio console */
	struct guest_watch watch;    /* explains known guest failure patterns */
	/* Linux boots: where each phase began (exits of all vCPUs then). */
	struct boot_phase_mark {
		bool seen;
		uint64_t ns;
		struct exit_stats exits;
	} phase_marks[BOOT_PHASES];
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
	struct mmu_kvm *mmu;         /* test guests: --mmu glue; else NULL */
	uint64_t run_ns;             /* wall time the vCPUs ran */
	uint64_t stop_ns;            /* when they stopped (now_ns) */
	struct vcpu_env vcpu_env;    /* what every vCPU is handed */
	struct vcpu_pause pause;     /* vm_pause / vm_resume, the gdb stub */
	struct gdbstub *gdb;         /* -gdb / -s: the stub, else NULL */
	struct profile *profile;     /* --profile: the sampler, else NULL */
	struct timeline *timeline;   /* --timeline, else NULL */
	bool config_error;           /* the build failed on a bad configuration */
	/* Snapshots and the control socket (vm_snapshot.c, vm_control.c). */
	json_t *restore_doc;         /* --restore: the snapshot's state */
	struct api_server *api;      /* --api-sock, else NULL */
	bool api_paused;             /* paused through the control socket */
	uint64_t start_ns;           /* when the vCPUs started */
	int snap_fd;                 /* eventfd: the --snapshot-on marker was seen */
	bool marker_seen;            /* in the current line */
	bool marker_fired;           /* that line ended: snapshot requested */
	char marker_win[CONFIG_MARKER_MAX];
	size_t marker_len;
};

/*
 * Stop every vCPU outside KVM_RUN (I/O completed, registers final) and wait
 * until they are; then let them run again.  Not from a vCPU thread.  The
 * mechanism is cpu/vcpu_pause.h; the gdb stub uses it directly.
 */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);

/* Record why the VM stops (the first reason wins) and wake the main
 * thread; any thread. */
void vm_request_stop(struct vm *vm, enum vm_stop_kind kind, int status, const char *why);

/* vm_report.c */
void vm_report_stats(struct vm *vm, int status);
/* The --stats=json document (also the control socket's "stats"). */
json_t *vm_stats_json(struct vm *vm, int status);
void vm_translate_report(struct vm *vm);

/* Every vCPU's exit counters added up (safe while they run). */
void vm_exit_totals(const struct vm *vm, struct exit_stats *sum);

#endif

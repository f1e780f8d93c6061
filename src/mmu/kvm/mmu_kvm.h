/* SPDX-License-Identifier: MIT */
/*
 * The --mmu modes of the test guests wired to KVM (docs/shadow-mmu.md): the
 * pure shadow core (mmu/shadow.h) over the MMU regions of the memory map
 * (mailbox, page-table pool, shadow store: mmu/plan.h), the guest-facing
 * MMU port and pool trap (mmu_port.c), the vCPU kept in step after each
 * exit (this file), the host sync for hosts whose KVM itself shadow-pages
 * (host_sync.c), and the statistics (mmu_stats.c).
 * Test guests only; shadow mode runs one vCPU.
 */
#ifndef MINIVMM_MMU_KVM_H
#define MINIVMM_MMU_KVM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "cpu/kvm.h"
#include "cpu/vcpu.h"
#include "devices/device.h"
#include "mmu/memory.h"
#include "mmu/plan.h"

struct mmu_kvm_params {
	const struct mmu_plan *plan;
	struct kvm *kvm;
	const struct mem_map *mem;   /* with the plan's regions (mmu_plan_add_regions) */
	unsigned int maxphyaddr;
	bool nxe, wp, smep, smap;    /* the guest's entry paging state */
};

struct mmu_kvm;

/* 0 or -errno with one line logged (-EOPNOTSUPP: this KVM cannot). */
int mmu_kvm_create(const struct mmu_kvm_params *p, struct mmu_kvm **out);
void mmu_kvm_destroy(struct mmu_kvm *m); /* NULL is fine */

/* The devices to place: the MMU command port (PIO, BOARD_MMU_PORT, 4 bytes)
 * and, in shadow mode, the pool's write trap (MMIO over the read-only pool;
 * NULL in tdp mode).  They belong to the mmu_kvm. */
struct device *mmu_kvm_port_device(struct mmu_kvm *m);
struct device *mmu_kvm_pool_device(struct mmu_kvm *m);

/* The CR3 vCPU 0 enters with: the shadow of the boot root, or the boot root. */
uint64_t mmu_kvm_entry_cr3(const struct mmu_kvm *m);

/* Run after every exit of a vCPU (vcpu_env.after_exit), on its thread:
 * loads CR3, flushes, syncs KVM, takes phase snapshots. */
enum vcpu_action mmu_kvm_after_exit(struct mmu_kvm *m, struct vcpu *vcpu);

/* The guest's current root (shadow mode: what it loaded, not the vCPU's
 * CR3, which points at the shadow); 0 in tdp mode or without MMU (NULL). */
uint64_t mmu_kvm_guest_root(const struct mmu_kvm *m);

/* --stats: the shadow counters and the guest's phases. */
void mmu_kvm_print_stats(const struct mmu_kvm *m, FILE *out);
/* Adds "mmu", "shadow_fill", "shadow" (shadow mode) and "phases" to root. */
void mmu_kvm_stats_json(const struct mmu_kvm *m, json_t *root);

#endif

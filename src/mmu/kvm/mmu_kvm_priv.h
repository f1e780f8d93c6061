/* SPDX-License-Identifier: MIT */
/* Inside the mmu_kvm: shared by mmu_kvm.c, mmu_port.c, host_sync.c and
 * mmu_stats.c; nothing outside src/mmu/kvm includes it. */
#ifndef MINIVMM_MMU_KVM_PRIV_H
#define MINIVMM_MMU_KVM_PRIV_H

#include <pthread.h>

#include "abi/mmu_port.h"
#include "mmu/kvm/mmu_kvm.h"
#include "mmu/shadow.h"
#include "report/stats.h"

enum {
	PEND_CR3 = 1,          /* load the current shadow root into CR3 */
	PEND_FLUSH = 2,        /* flush the vCPU (and sync a shadow-paging host) */
	PEND_PHASE_BEGIN = 4,
	PEND_PHASE_END = 8,
};

/* Counters, KVM statistics and shadow counters at one moment. */
struct mmu_snapshot {
	struct exit_stats exits;
	struct kvm_stat_values kvm;
	struct shadow_stats shadow;
	uint64_t host_syncs, host_sync_ns;
	uint64_t frame_syncs, frame_sync_ns;
};

#define GONE_MAX 64

struct mmu_kvm {
	struct mmu_plan plan;
	struct kvm *kvm;
	const struct mem_map *mem;
	const struct mem_slot *mailbox, *pool, *store; /* regions of mem */
	struct mem_region *ram; /* contiguous RAM ranges, for target_ok */
	unsigned int nr_ram;
	bool host_shadow;       /* the host's KVM shadow-pages: host syncs needed */
	struct device port_dev, pool_dev;
	struct shadow_mmu *shadow;
	uint64_t shadow_cr3;    /* the current root's shadow page */
	uint64_t guest_root;    /* the root the guest loaded last */

	pthread_mutex_t lock;   /* commands may come from any vCPU in tdp mode */
	unsigned int pending;
	char phase_name[MMU_MB_NAME_MAX];
	uint64_t phase_cycles, phase_checksum, phase_ops;
	bool in_phase;
	pthread_t phase_thread; /* the vCPU thread that sent PHASE_* */
	bool stale;             /* changed entries await the guest's invalidation */
	bool need_flip;         /* tables changed or pages freed: the whole store */
	struct { uint64_t gpa, size; } gone[GONE_MAX]; /* leaf frames to drop */
	unsigned int nr_gone;
	bool gone_overflow;
	uint64_t frame_syncs, frame_sync_ns;
	struct { uint64_t gva, len; } pins[MMU_MAX_PINS];
	unsigned int nr_pins;
	struct mmu_snapshot phase_start;
	json_t *phases;

	uint64_t host_syncs, host_sync_ns;
	uint64_t bad_commands, bad_roots, refused;
	bool warned_root, warned_refused, warned_command, warned_sync;
};

/* [gpa, gpa+size) lies within the slot, without overflow. */
static inline bool mmu_in_slot(const struct mem_slot *s, uint64_t gpa, uint64_t size)
{
	return s && gpa >= s->gpa && size <= s->size && gpa - s->gpa <= s->size - size;
}

/* mmu_port.c: the guest-facing devices. */
void mmu_port_init(struct mmu_kvm *m);

/* host_sync.c: keeping a shadow-paging host KVM in step with the store. */
void mmu_leaf_gone(void *ctx, uint64_t gpa, uint64_t size);
int mmu_host_update(struct mmu_kvm *m);

/* mmu_stats.c */
void mmu_phase_begin(struct mmu_kvm *m, struct vcpu *v);
void mmu_phase_end(struct mmu_kvm *m, struct vcpu *v);

#endif

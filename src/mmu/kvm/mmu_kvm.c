// SPDX-License-Identifier: MIT
/*
 * The mmu_kvm: creating the shadow core over the MMU regions, and keeping
 * the vCPU in step after each exit (CR3 to the shadow root with
 * KVM_SET_SREGS, which also flushes its TLB; the host sync; phases).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "mmu/idmap.h"
#include "mmu/kvm/mmu_kvm_priv.h"

/* ---- Shadow core callbacks --------------------------------------------- */

/* The shadow reads guest page tables only from the pool. */
static const void *pool_map(void *ctx, uint64_t gpa, uint64_t len)
{
	struct mmu_kvm *m = ctx;

	return mmu_in_slot(m->pool, gpa, len) ? mem_gpa_to_hva(m->mem, gpa, len) : NULL;
}

/* Leaves may map RAM, the pool and the mailbox, nothing else. */
static bool target_ok(void *ctx, uint64_t gpa, uint64_t size)
{
	struct mmu_kvm *m = ctx;

	if (mmu_in_slot(m->pool, gpa, size) || mmu_in_slot(m->mailbox, gpa, size))
		return true;
	/* RAM as the guest sees it: a large leaf may span two RAM slots. */
	for (unsigned int i = 0; i < m->nr_ram; i++) {
		struct mem_slot r = { .gpa = m->ram[i].gpa, .size = m->ram[i].size };

		if (mmu_in_slot(&r, gpa, size))
			return true;
	}
	return false;
}

enum vcpu_action mmu_kvm_after_exit(struct mmu_kvm *m, struct vcpu *v)
{
	enum vcpu_action action = VCPU_CONTINUE;
	unsigned int pending;
	int err = 0;

	if (!__atomic_load_n(&m->pending, __ATOMIC_RELAXED))
		return VCPU_CONTINUE;
	pthread_mutex_lock(&m->lock);
	pending = m->pending;
	/* A phase is measured on the vCPU that reported it (tdp, -smp > 1). */
	if (!pthread_equal(m->phase_thread, pthread_self()))
		pending &= ~(unsigned int)(PEND_PHASE_BEGIN | PEND_PHASE_END);
	__atomic_and_fetch(&m->pending, ~pending, __ATOMIC_RELAXED);
	if (pending & PEND_PHASE_END)
		mmu_phase_end(m, v);
	if ((pending & PEND_FLUSH) && m->host_shadow) {
		err = mmu_host_update(m);
		if (err && !m->warned_sync)
			log_err("shadow mmu: cannot make KVM drop its shadow of the store: %s",
				strerror(-err));
		m->warned_sync = m->warned_sync || err;
	}
	if (!err && (pending & (PEND_CR3 | PEND_FLUSH))) {
		struct kvm_sregs sregs;

		/* Setting CR3, even to the same value, flushes the vCPU's TLB. */
		err = vcpu_get_sregs(v, &sregs);
		if (!err) {
			sregs.cr3 = m->shadow_cr3;
			err = vcpu_set_state(v, &sregs, NULL);
		}
	}
	if (pending & PEND_PHASE_BEGIN)
		mmu_phase_begin(m, v);
	pthread_mutex_unlock(&m->lock);
	if (err) {
		snprintf(v->exit.why, sizeof(v->exit.why),
			 "shadow mmu: cannot update the vCPU: %s", strerror(-err));
		action = VCPU_FAILED;
	}
	return action;
}

/* ---- Create / destroy -------------------------------------------------- */

/* The boot identity map again, in the pool, where the shadow reads it: the
 * store is left unmapped (the shadow would refuse it), the mailbox is
 * mapped by itself (the shadow maps only leaves wholly in RAM, pool or
 * mailbox). */
static int write_pool_boot_tables(struct mmu_kvm *m)
{
	struct idmap_spec map = {
		.tables_gpa = m->plan.pool_gpa, .top = m->plan.map_top,
		.hole_gpa = m->plan.store_gpa, .hole_size = m->plan.store_size,
		.lone_page = BOARD_MMU_MAILBOX,
	};

	if (idmap_pages(&map) != m->plan.boot_pages)	/* the plan reserved them */
		return -EINVAL;
	return idmap_build(m->mem, &map);
}

static int create_shadow(struct mmu_kvm *m, const struct mmu_kvm_params *p)
{
	struct shadow_config sc = {
		.guest = { .map = pool_map, .ctx = m },
		.target_ok = target_ok, .target_ctx = m,
		.leaf_gone = mmu_leaf_gone, .leaf_ctx = m,
		.store = m->store->hva, .store_gpa = m->store->gpa,
		.store_pages = m->store->size / PAGE_SIZE_4K,
		.max_roots = 64,
		/* The boot root is always complete: at its first instruction the
		 * guest has no #PF handler to ask for lazy fills. */
		.fill = SHADOW_EAGER,
		.maxphyaddr = p->maxphyaddr, .nxe = p->nxe,
		.wp = p->wp, .smep = p->smep, .smap = p->smap,
	};
	int err = shadow_create(&sc, &m->shadow);

	if (err) {
		log_err("shadow mmu: cannot create: %s", strerror(-err));
		return err;
	}
	err = write_pool_boot_tables(m);
	if (!err)
		err = shadow_load_root(m->shadow, m->plan.boot_root, &m->shadow_cr3);
	m->guest_root = m->plan.boot_root;
	(void)shadow_take_flush(m->shadow); /* the vCPU starts on this root */
	if (err)
		log_err("shadow mmu: cannot shadow the boot page tables: %s", strerror(-err));
	shadow_set_fill(m->shadow, m->plan.lazy ? SHADOW_LAZY : SHADOW_EAGER);
	return err;
}

int mmu_kvm_create(const struct mmu_kvm_params *p, struct mmu_kvm **out)
{
	struct mmu_kvm *m = calloc(1, sizeof(*m));
	bool shadow = p->plan->kind == MMU_SHADOW;

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->plan = *p->plan;
	m->kvm = p->kvm;
	m->mem = p->mem;
	m->host_shadow = p->kvm->paging != HOST_PAGING_VMX_EPT &&
			 p->kvm->paging != HOST_PAGING_SVM_NPT;
	m->mailbox = mem_find_kind(p->mem, MEM_MMU_MAILBOX);
	m->pool = mem_find_kind(p->mem, MEM_PT_POOL);
	m->store = mem_find_kind(p->mem, MEM_SHADOW_STORE);
	pthread_mutex_init(&m->lock, NULL);
	m->phases = json_array();
	mmu_port_init(m);
	*out = m;

	if (!m->mailbox || !m->pool || (shadow && !m->store)) {
		log_err("mmu: the memory map lacks the MMU regions");
		return -EINVAL;
	}
	m->nr_ram = mem_ram_ranges(p->mem, NULL, 0);
	m->ram = calloc(m->nr_ram ? m->nr_ram : 1, sizeof(*m->ram));
	if (!m->ram)
		return -ENOMEM;
	mem_ram_ranges(p->mem, m->ram, m->nr_ram);
	if (shadow && !p->kvm->readonly_mem) {
		log_err("--mmu=shadow needs KVM_CAP_READONLY_MEM to trap page-table writes; "
			"this KVM lacks it");
		return -EOPNOTSUPP;
	}
	return shadow ? create_shadow(m, p) : 0;
}

void mmu_kvm_destroy(struct mmu_kvm *m)
{
	if (!m)
		return;
	shadow_destroy(m->shadow);
	if (m->in_phase)
		stats_kvm_values_free(&m->phase_start.kvm);
	json_decref(m->phases);
	free(m->ram);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

uint64_t mmu_kvm_entry_cr3(const struct mmu_kvm *m)
{
	return m->shadow ? m->shadow_cr3 : m->plan.boot_root;
}

uint64_t mmu_kvm_guest_root(const struct mmu_kvm *m)
{
	return m && m->shadow ? m->guest_root : 0;
}

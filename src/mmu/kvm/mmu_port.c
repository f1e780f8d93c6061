// SPDX-License-Identifier: MIT
/*
 * The guest-facing side of the MMU protocol (abi/mmu_port.h): the command
 * port, the mailbox its commands read and answer in, and, with
 * --mmu=shadow, the write trap over the read-only page-table pool.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "mmu/kvm/mmu_kvm_priv.h"
#include "mmu/ptw.h"

static uint64_t mb_get(const struct mmu_kvm *m, unsigned int off)
{
	uint64_t v;

	memcpy(&v, m->mailbox->hva + off, sizeof(v));
	return le64toh(v);
}

static void mb_put(struct mmu_kvm *m, unsigned int off, uint64_t v)
{
	v = htole64(v);
	memcpy(m->mailbox->hva + off, &v, sizeof(v));
}

static void mb_name(const struct mmu_kvm *m, char *out)
{
	unsigned int i;

	for (i = 0; i < MMU_MB_NAME_MAX - 1; i++) {
		char c = (char)m->mailbox->hva[MMU_MB_NAME + i];

		if (!c)
			break;
		out[i] = (c > ' ' && c < 0x7f) ? c : '_';
	}
	out[i] = '\0';
	if (!i)
		snprintf(out, MMU_MB_NAME_MAX, "unnamed");
}

/* ---- Commands ---------------------------------------------------------- */

static void pend(struct mmu_kvm *m, unsigned int what)
{
	__atomic_or_fetch(&m->pending, what, __ATOMIC_RELEASE);
}

/*
 * After every shadow call.  Freed shadow pages must be flushed before the
 * vCPU runs again; changed entries wait for the guest's next invalidation
 * (invalidate = true: INVLPG, FLUSH, LOAD_ROOT, PAGE_FAULT), as a TLB may
 * keep them on bare x86, so a burst of unmaps followed by invalidations
 * costs one flush (and one host sync) instead of one per write.
 */
static void note_flush(struct mmu_kvm *m, bool invalidate)
{
	unsigned int why = shadow_take_flush(m->shadow);

	if (why & SHADOW_FLUSH_ENTRIES)
		m->stale = true;
	if (why & (SHADOW_FLUSH_TABLES | SHADOW_FLUSH_PAGES)) {
		m->stale = true;
		m->need_flip = true;
	}
	if ((why & SHADOW_FLUSH_PAGES) || (invalidate && m->stale)) {
		pend(m, PEND_FLUSH);
		m->stale = false;
	}
}

/*
 * Fill the pinned ranges in the current root.  With lazy fill a new root is
 * empty, and the CPU could not even deliver the #PF that asks for the first
 * page: the guest pins its exception path (MMU_CMD_PIN).  Pages the guest
 * does not map are skipped: a fault there is the guest's own.
 */
static void fill_pins(struct mmu_kvm *m)
{
	for (unsigned int i = 0; i < m->nr_pins; i++) {
		uint64_t gva = m->pins[i].gva & ~(PAGE_SIZE_4K - 1);
		uint64_t last = m->pins[i].gva + m->pins[i].len - 1;

		/* count pages: an address loop could wrap at the top */
		for (uint64_t n = (last >> 12) - (gva >> 12) + 1; n; n--, gva += PAGE_SIZE_4K)
			shadow_prefill(m->shadow, gva);
	}
}

/* Pinned pages are re-filled at every lazy root load: keep them few. */
#define PIN_MAX_BYTES (16 * BOARD_MiB)

static int64_t cmd_pin(struct mmu_kvm *m, uint64_t gva, uint64_t len)
{
	uint64_t total = len;

	for (unsigned int i = 0; i < m->nr_pins; i++)
		total += m->pins[i].len;
	if (!len || len > PIN_MAX_BYTES || gva + len < gva || !ptw_canonical48(gva) ||
	    !ptw_canonical48(gva + len - 1))
		return -EINVAL;
	if (m->nr_pins == MMU_MAX_PINS || total > PIN_MAX_BYTES)
		return -ENOSPC;
	m->pins[m->nr_pins].gva = gva;
	m->pins[m->nr_pins].len = len;
	m->nr_pins++;
	fill_pins(m);
	note_flush(m, true);
	return MMU_OK;
}

static int64_t cmd_load_root(struct mmu_kvm *m, uint64_t root)
{
	int err = shadow_load_root(m->shadow, root, &m->shadow_cr3);

	if (!err)
		m->guest_root = root;
	if (!err && m->plan.lazy)
		fill_pins(m);
	note_flush(m, true);
	if (err == -EFAULT) {
		m->bad_roots++;
		if (!m->warned_root)
			log_warn("shadow mmu: guest root 0x%" PRIx64 " is not a page of the "
				 "page-table pool [0x%" PRIx64 ", 0x%" PRIx64 "): refused (-EFAULT)",
				 root, m->plan.pool_gpa, m->plan.pool_gpa + m->plan.pool_size);
		m->warned_root = true;
	}
	if (!err)
		pend(m, PEND_CR3);
	return err;
}

static int64_t cmd_page_fault(struct mmu_kvm *m, uint64_t gva, uint64_t ec)
{
	enum shadow_fault_result res;
	uint32_t guest_ec = 0;
	int err = shadow_page_fault(m->shadow, gva, (uint32_t)ec, &res, &guest_ec);

	note_flush(m, true);
	if (err)
		return err;
	mb_put(m, MMU_MB_RESULT2, guest_ec);
	switch (res) {
	case SHADOW_FIXED:
		return MMU_OK;
	case SHADOW_GUEST_FAULT:
		return MMU_PF_GUEST;
	case SHADOW_REFUSED:
		break;
	}
	m->refused++;
	if (!m->warned_refused)
		log_warn("shadow mmu: GVA 0x%" PRIx64 " is mapped through a page table outside "
			 "the page-table pool or onto memory that is not RAM: not shadowed "
			 "(the guest gets MMU_PF_REFUSED)", gva);
	m->warned_refused = true;
	return MMU_PF_REFUSED;
}

static int64_t run_command(struct mmu_kvm *m, uint32_t cmd)
{
	bool shadow = m->shadow != NULL;

	switch (cmd) {
	case MMU_CMD_PHASE_BEGIN:
		mb_name(m, m->phase_name);
		m->phase_thread = pthread_self();
		pend(m, PEND_PHASE_BEGIN);
		return MMU_OK;
	case MMU_CMD_PHASE_END:
		mb_name(m, m->phase_name);
		m->phase_cycles = mb_get(m, MMU_MB_CYCLES);
		m->phase_checksum = mb_get(m, MMU_MB_CHECKSUM);
		m->phase_ops = mb_get(m, MMU_MB_OPS);
		m->phase_thread = pthread_self();
		pend(m, PEND_PHASE_END);
		return MMU_OK;
	case MMU_CMD_LOAD_ROOT:
		return shadow ? cmd_load_root(m, mb_get(m, MMU_MB_ARG0)) : -ENOSYS;
	case MMU_CMD_INVLPG:
		if (!shadow)
			return -ENOSYS;
		{
			int err = shadow_invlpg(m->shadow, mb_get(m, MMU_MB_ARG0));

			note_flush(m, true);
			return err;
		}
	case MMU_CMD_FLUSH:
		if (!shadow)
			return -ENOSYS;
		{
			int err = shadow_flush(m->shadow);

			/* the guest asked for a flush: give it one */
			note_flush(m, true);
			pend(m, PEND_FLUSH);
			return err;
		}
	case MMU_CMD_PIN:
		if (!shadow)
			return -ENOSYS;
		return cmd_pin(m, mb_get(m, MMU_MB_ARG0), mb_get(m, MMU_MB_ARG1));
	case MMU_CMD_PAGE_FAULT:
		if (!shadow)
			return -ENOSYS;
		return cmd_page_fault(m, mb_get(m, MMU_MB_ARG0), mb_get(m, MMU_MB_ARG1));
	default:
		m->bad_commands++;
		if (!m->warned_command)
			log_warn("mmu port: unknown command %u (-EINVAL)", cmd);
		m->warned_command = true;
		return -EINVAL;
	}
}

static void port_read(struct device *dev, uint64_t offset, void *data, uint32_t len)
{
	struct mmu_kvm *m = container_of(dev, struct mmu_kvm, port_dev);
	uint32_t mode = m->shadow ? MMU_PORT_SHADOW : MMU_PORT_TDP;

	memset(data, 0xff, len);
	if (offset == 0 && len == 4)
		memcpy(data, &mode, sizeof(mode));
}

static void port_write(struct device *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct mmu_kvm *m = container_of(dev, struct mmu_kvm, port_dev);
	uint32_t cmd;
	int64_t r;

	if (offset != 0 || len != 4) {
		__atomic_add_fetch(&m->bad_commands, 1, __ATOMIC_RELAXED);
		return;
	}
	memcpy(&cmd, data, sizeof(cmd));
	pthread_mutex_lock(&m->lock);
	r = run_command(m, cmd);
	mb_put(m, MMU_MB_RESULT, (uint64_t)r);
	pthread_mutex_unlock(&m->lock);
}

static const struct device_ops port_ops = {
	.access_size = 0,
	.read = port_read,
	.write = port_write,
};

/* The pool is read-only to KVM in shadow mode: guest writes land here. */
static void pool_write(struct device *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct mmu_kvm *m = container_of(dev, struct mmu_kvm, pool_dev);

	pthread_mutex_lock(&m->lock);
	memcpy(m->pool->hva + offset, data, len); /* the bus keeps [offset, +len) inside */
	shadow_guest_write(m->shadow, m->plan.pool_gpa + offset, len);
	note_flush(m, false);
	pthread_mutex_unlock(&m->lock);
}

/* Reads normally never exit (the slot is readable); an emulated instruction
 * may still read through here. */
static void pool_read(struct device *dev, uint64_t offset, void *data, uint32_t len)
{
	struct mmu_kvm *m = container_of(dev, struct mmu_kvm, pool_dev);

	memcpy(data, m->pool->hva + offset, len);
}

static const struct device_ops pool_ops = {
	.access_size = 0,
	.read = pool_read,
	.write = pool_write,
};

void mmu_port_init(struct mmu_kvm *m)
{
	m->port_dev = (struct device){ .ops = &port_ops, .name = "mmu-port" };
	m->pool_dev = (struct device){ .ops = &pool_ops, .name = "pt-pool" };
}

struct device *mmu_kvm_port_device(struct mmu_kvm *m)
{
	return &m->port_dev;
}

struct device *mmu_kvm_pool_device(struct mmu_kvm *m)
{
	return m->shadow ? &m->pool_dev : NULL;
}

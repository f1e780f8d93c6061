// SPDX-License-Identifier: MIT
#include "mmu/kvm/mmu_mode.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "abi/board.h"
#include "base/clock.h"
#include "base/log.h"
#include "mmu/shadow.h"
#include "report/stats.h"
#include "cpu/x86.h"

#define PAGE 0x1000ULL

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

struct mmu_mode {
	struct mmu_plan plan;
	struct kvm *kvm;
	const struct mem_map *mem;
	struct mem_region *ram;  /* contiguous RAM ranges, for target_ok */
	unsigned int nr_ram;
	bool host_shadow;       /* the host's KVM shadow-pages: host syncs needed */
	unsigned int slot_mailbox, slot_pool, slot_store;
	uint8_t *mailbox, *pool, *store;
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

/* ---- Plan -------------------------------------------------------------- */

void mmu_plan_make(const struct vm_config *cfg, const struct mem_map *mem,
		   struct mmu_plan *out)
{
	uint64_t top;

	memset(out, 0, sizeof(*out));
	out->kind = cfg->mmu;
	out->lazy = cfg->shadow_lazy;
	out->pool_gpa = BOARD_MMU_POOL_BASE;
	out->pool_size = cfg->pt_pool_size;
	top = mem_map_top(mem);
	if (top < out->pool_gpa + out->pool_size)
		top = out->pool_gpa + out->pool_size;
	out->map_top = top;
	if (cfg->mmu != MMU_SHADOW) {
		out->boot_root = BOARD_BOOT_PML4;
		out->pool_free = out->pool_gpa;
		return;
	}
	out->store_gpa = BOARD_MMU_STORE_BASE;
	out->store_size = 4 * out->pool_size;
	if (out->store_size > BOARD_MMU_STORE_MAX)
		out->store_size = BOARD_MMU_STORE_MAX;
	/* PML4, one PDPT per 512 GiB, one PD per GiB of the identity map, and
	 * one PT for the mailbox: the shadow only maps leaves that lie wholly
	 * in RAM/pool/mailbox, and the mailbox is a lone 4 KiB page. */
	out->boot_pages = 1 + (unsigned int)((top + (512 * BOARD_GiB) - 1) / (512 * BOARD_GiB)) +
			  (unsigned int)((top + BOARD_GiB - 1) / BOARD_GiB) + 1;
	out->boot_root = out->pool_gpa;
	out->pool_free = out->pool_gpa + out->boot_pages * PAGE;
}

/* ---- Regions and slots ------------------------------------------------- */

static void *map_region(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int store_slot_set(struct mmu_mode *m, uint64_t size)
{
	return kvm_set_memory_region(m->kvm, m->slot_store, 0, m->plan.store_gpa, size,
				     m->store);
}

/*
 * Make the host's KVM forget its own shadow of the store.  KVM shadow-pages
 * our shadow tables like any guest page tables: it write-protects them
 * against the guest and re-reads them only on guest writes, so changes made
 * from the host side stay invisible to it.  Deleting the slot makes KVM
 * zap every shadow page it built from the slot's pages (x86 zaps all of
 * them by default), and the vCPU rebuilds from the current store.
 * Unnecessary with EPT/NPT, where the hardware walks the store itself.
 */
static int host_sync(struct mmu_mode *m)
{
	uint64_t t0 = now_ns();
	int err = store_slot_set(m, 0);

	if (!err)
		err = store_slot_set(m, m->plan.store_size);
	m->host_syncs++;
	m->host_sync_ns += now_ns() - t0;
	return err;
}

/* [gpa, gpa+size) lies within [base, base+len), without overflow. */
static bool inside(uint64_t gpa, uint64_t size, uint64_t base, uint64_t len)
{
	return gpa >= base && size <= len && gpa - base <= len - size;
}

/* Host memory behind guest-physical gpa (RAM, pool or mailbox) and how
 * far it runs contiguously, or NULL. */
static uint8_t *host_of(struct mmu_mode *m, uint64_t gpa, uint64_t *avail)
{
	const struct mem_slot *s = mem_find_slot(m->mem, gpa);

	if (s && inside(gpa, 1, s->gpa, s->size)) {
		*avail = s->size - (gpa - s->gpa);
		return s->hva + (gpa - s->gpa);
	}
	if (inside(gpa, 1, m->plan.pool_gpa, m->plan.pool_size)) {
		*avail = m->plan.pool_size - (gpa - m->plan.pool_gpa);
		return m->pool + (gpa - m->plan.pool_gpa);
	}
	if (inside(gpa, 1, BOARD_MMU_MAILBOX, PAGE)) {
		*avail = BOARD_MMU_MAILBOX + PAGE - gpa;
		return m->mailbox + (gpa - BOARD_MMU_MAILBOX);
	}
	return NULL;
}

/*
 * Make a shadow-paging host KVM drop every mapping of [gpa, gpa+size): a
 * protection change on the host mapping runs KVM's MMU notifier, which
 * zaps the shadow PTEs of those frames, whichever guest address and root
 * they serve (contents stay).  Enough when only leaf entries changed: the
 * tables above them are unchanged, and KVM rebuilds the leaves from the
 * store on the next fault.  -EFAULT for memory minivmm cannot name.
 */
static int invalidate_frames(struct mmu_mode *m, uint64_t gpa, uint64_t size)
{
	uint64_t align = m->mem->backing == MEM_BACKING_HUGETLB ? BOARD_HUGE_PAGE_SIZE : PAGE;

	while (size) {
		uint64_t avail, piece;
		uint8_t *hva = host_of(m, gpa, &avail);
		uintptr_t lo, hi;

		if (!hva)
			return -EFAULT;
		piece = size < avail ? size : avail;
		lo = (uintptr_t)hva & ~(uintptr_t)(align - 1);
		hi = ((uintptr_t)hva + piece + align - 1) & ~(uintptr_t)(align - 1);
		if (mprotect((void *)lo, hi - lo, PROT_READ) ||
		    mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE))
			return -errno;
		gpa += piece;
		size -= piece;
	}
	return 0;
}

/* Bring the host's KVM up to date before the vCPU runs again: only the
 * dropped leaf frames when that suffices, else the whole store. */
static int host_update(struct mmu_mode *m)
{
	uint64_t t0 = now_ns();
	int err = 0;

	if (!m->need_flip && !m->gone_overflow) {
		for (unsigned int i = 0; !err && i < m->nr_gone; i++)
			err = invalidate_frames(m, m->gone[i].gpa, m->gone[i].size);
		m->frame_syncs++;
		m->frame_sync_ns += now_ns() - t0;
	}
	if (m->need_flip || m->gone_overflow || err)
		err = host_sync(m);
	m->need_flip = m->gone_overflow = false;
	m->nr_gone = 0;
	return err;
}

/* Identity map [0, map_top) with 2 MiB pages in the pool, as the boot
 * tables in RAM do (same flags: user, writable). */
static void write_boot_tables(struct mmu_mode *m)
{
	const struct mmu_plan *p = &m->plan;
	uint64_t flags = X86_PTE_P | X86_PTE_RW | X86_PTE_US;
	unsigned int nr_pd = (unsigned int)((p->map_top + BOARD_GiB - 1) / BOARD_GiB);
	unsigned int nr_pdpt = p->boot_pages - 2 - nr_pd;
	uint64_t *pml4 = (uint64_t *)(void *)m->pool;
	uint64_t pdpt_gpa = p->pool_gpa + PAGE, pd_gpa = pdpt_gpa + nr_pdpt * PAGE;
	uint64_t pt_gpa = pd_gpa + nr_pd * PAGE;
	uint64_t *pt = (uint64_t *)(void *)(m->pool + (pt_gpa - p->pool_gpa));

	for (unsigned int i = 0; i < nr_pdpt; i++)
		pml4[i] = htole64((pdpt_gpa + i * PAGE) | flags);
	for (uint64_t g = 0; g * BOARD_GiB < p->map_top; g++) {
		uint64_t *pdpt = (uint64_t *)(void *)(m->pool + PAGE);
		uint64_t *pd = (uint64_t *)(void *)(m->pool + (pd_gpa - p->pool_gpa) + g * PAGE);

		pdpt[g] = htole64((pd_gpa + g * PAGE) | flags);
		for (uint64_t i = 0; i < 512; i++) {
			uint64_t gpa = g * BOARD_GiB + i * BOARD_HUGE_PAGE_SIZE;

			/* the store is never mapped (the shadow would refuse it) */
			if (gpa >= p->store_gpa && gpa < p->store_gpa + p->store_size)
				continue;
			if (gpa == (BOARD_MMU_MAILBOX & ~(BOARD_HUGE_PAGE_SIZE - 1))) {
				pt[(BOARD_MMU_MAILBOX - gpa) / PAGE] = htole64(BOARD_MMU_MAILBOX | flags);
				pd[i] = htole64(pt_gpa | flags);
				continue;
			}
			pd[i] = htole64(gpa | flags | X86_PTE_PS);
		}
	}
}

/* ---- Shadow core callbacks --------------------------------------------- */

static const void *pool_map(void *ctx, uint64_t gpa, uint64_t len)
{
	struct mmu_mode *m = ctx;

	if (!inside(gpa, len, m->plan.pool_gpa, m->plan.pool_size))
		return NULL;
	return m->pool + (gpa - m->plan.pool_gpa);
}

/* Leaves may map RAM, the pool and the mailbox, nothing else. */
static bool target_ok(void *ctx, uint64_t gpa, uint64_t size)
{
	struct mmu_mode *m = ctx;

	if (inside(gpa, size, m->plan.pool_gpa, m->plan.pool_size) ||
	    inside(gpa, size, BOARD_MMU_MAILBOX, PAGE))
		return true;
	for (unsigned int i = 0; i < m->nr_ram; i++)
		if (inside(gpa, size, m->ram[i].gpa, m->ram[i].size))
			return true;
	return false;
}

/* ---- Mailbox ----------------------------------------------------------- */

static uint64_t mb_get(const struct mmu_mode *m, unsigned int off)
{
	uint64_t v;

	memcpy(&v, m->mailbox + off, sizeof(v));
	return le64toh(v);
}

static void mb_put(struct mmu_mode *m, unsigned int off, uint64_t v)
{
	v = htole64(v);
	memcpy(m->mailbox + off, &v, sizeof(v));
}

static void mb_name(const struct mmu_mode *m, char *out)
{
	unsigned int i;

	for (i = 0; i < MMU_MB_NAME_MAX - 1; i++) {
		char c = (char)m->mailbox[MMU_MB_NAME + i];

		if (!c)
			break;
		out[i] = (c > ' ' && c < 0x7f) ? c : '_';
	}
	out[i] = '\0';
	if (!i)
		snprintf(out, MMU_MB_NAME_MAX, "unnamed");
}

/* ---- Commands ---------------------------------------------------------- */

static void pend(struct mmu_mode *m, unsigned int what)
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
static void note_flush(struct mmu_mode *m, bool invalidate)
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

/* shadow_config.leaf_gone: remember the frames, coalescing neighbours. */
static void leaf_gone(void *ctx, uint64_t gpa, uint64_t size)
{
	struct mmu_mode *m = ctx;

	if (!m->host_shadow)	/* EPT/NPT: the TLB flush is all it takes */
		return;
	if (m->nr_gone) {
		uint64_t *lg = &m->gone[m->nr_gone - 1].gpa, *ls = &m->gone[m->nr_gone - 1].size;

		if (gpa == *lg + *ls) {
			*ls += size;
			return;
		}
		if (gpa + size == *lg) {
			*lg = gpa;
			*ls += size;
			return;
		}
	}
	if (m->nr_gone == GONE_MAX) {
		m->gone_overflow = true;
		return;
	}
	m->gone[m->nr_gone].gpa = gpa;
	m->gone[m->nr_gone].size = size;
	m->nr_gone++;
}

/*
 * Fill the pinned ranges in the current root.  With lazy fill a new root is
 * empty, and the CPU could not even deliver the #PF that asks for the first
 * page: the guest pins its exception path (MMU_CMD_PIN).  Pages the guest
 * does not map are skipped: a fault there is the guest's own.
 */
static void fill_pins(struct mmu_mode *m)
{
	for (unsigned int i = 0; i < m->nr_pins; i++) {
		uint64_t gva = m->pins[i].gva & ~(PAGE - 1);
		uint64_t last = m->pins[i].gva + m->pins[i].len - 1;

		/* count pages: an address loop could wrap at the top */
		for (uint64_t n = (last >> 12) - (gva >> 12) + 1; n; n--, gva += PAGE)
			shadow_prefill(m->shadow, gva);
	}
}

/* Pinned pages are re-filled at every lazy root load: keep them few. */
#define PIN_MAX_BYTES (16 * BOARD_MiB)

static int64_t cmd_pin(struct mmu_mode *m, uint64_t gva, uint64_t len)
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

static int64_t cmd_load_root(struct mmu_mode *m, uint64_t root)
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

static int64_t cmd_page_fault(struct mmu_mode *m, uint64_t gva, uint64_t ec)
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

static int64_t run_command(struct mmu_mode *m, uint32_t cmd)
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
	struct mmu_mode *m = container_of(dev, struct mmu_mode, port_dev);
	uint32_t mode = m->shadow ? MMU_MODE_SHADOW : MMU_MODE_TDP;

	memset(data, 0xff, len);
	if (offset == 0 && len == 4)
		memcpy(data, &mode, sizeof(mode));
}

static void port_write(struct device *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct mmu_mode *m = container_of(dev, struct mmu_mode, port_dev);
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
	struct mmu_mode *m = container_of(dev, struct mmu_mode, pool_dev);

	pthread_mutex_lock(&m->lock);
	memcpy(m->pool + offset, data, len); /* the bus keeps [offset, +len) inside */
	shadow_guest_write(m->shadow, m->plan.pool_gpa + offset, len);
	note_flush(m, false);
	pthread_mutex_unlock(&m->lock);
}

/* Reads normally never exit (the slot is readable); an emulated instruction
 * may still read through here. */
static void pool_read(struct device *dev, uint64_t offset, void *data, uint32_t len)
{
	struct mmu_mode *m = container_of(dev, struct mmu_mode, pool_dev);

	memcpy(data, m->pool + offset, len);
}

static const struct device_ops pool_ops = {
	.access_size = 0,
	.read = pool_read,
	.write = pool_write,
};

/* ---- After each exit, on the vCPU thread -------------------------------- */

/* The shadow core's counters (phases report their deltas), its gauges (as
 * they stand), and this file's own sync counters. */
#define SHADOW_DELTAS(X) \
	X(trapped_writes) X(hidden_faults) X(true_faults) X(refused_faults) X(prefills) \
	X(root_loads) X(root_hits) X(root_misses) X(root_evictions) \
	X(store_full_evictions) X(nomem) X(invlpgs) X(flushes) X(rsvd_entries) \
	X(refused_targets) X(unreadable_tables) X(tlb_flush_requests) X(time_ns)
#define SHADOW_GAUGES(X) X(pages_in_use) X(pages_peak)
#define SHADOW_COUNTERS(X) SHADOW_DELTAS(X) SHADOW_GAUGES(X)
#define SYNC_COUNTERS(X) X(host_syncs) X(host_sync_ns) X(frame_syncs) X(frame_sync_ns)

/* Everything but the vCPU's own numbers. */
static void snapshot_mmu(const struct mmu_mode *m, struct mmu_snapshot *s)
{
	if (m->shadow)
		shadow_get_stats(m->shadow, &s->shadow);
#define X(f) s->f = m->f;
	SYNC_COUNTERS(X)
#undef X
}

static void snapshot(struct mmu_mode *m, struct vcpu *v, struct mmu_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->exits = v->exit.stats;
	stats_kvm_snapshot(m->kvm, v->fd, &s->kvm); /* this vCPU's: phases are per vCPU */
	snapshot_mmu(m, s);
}

/* Counters as deltas from base (NULL: absolute); gauges as they are. */
static json_t *shadow_json(const struct mmu_snapshot *s, const struct mmu_snapshot *base)
{
	json_t *o = json_object();

#define X(f) json_object_set_new(o, #f, \
	json_integer((json_int_t)(s->shadow.f - (base ? base->shadow.f : 0))));
	SHADOW_DELTAS(X)
#undef X
#define X(f) json_object_set_new(o, #f, json_integer((json_int_t)s->shadow.f));
	SHADOW_GAUGES(X)
#undef X
#define X(f) json_object_set_new(o, #f, json_integer((json_int_t)(s->f - (base ? base->f : 0))));
	SYNC_COUNTERS(X)
#undef X
	return o;
}

static void phase_end(struct mmu_mode *m, struct vcpu *v)
{
	struct mmu_snapshot now;
	json_t *ph = json_object();
	char sum[24];

	snapshot(m, v, &now);
	snprintf(sum, sizeof(sum), "0x%016" PRIx64, m->phase_checksum);
	json_object_set_new(ph, "name", json_string(m->phase_name));
	json_object_set_new(ph, "cycles", json_integer((json_int_t)m->phase_cycles));
	json_object_set_new(ph, "checksum", json_string(sum));
	json_object_set_new(ph, "ops", json_integer((json_int_t)m->phase_ops));
	/* Without a matching begin, deltas run from the start of the VM. */
	json_object_set_new(ph, "exits", stats_exits_json(&now.exits,
		m->in_phase ? &m->phase_start.exits : NULL));
	json_object_set_new(ph, "kvm", stats_kvm_json(&now.kvm,
		m->in_phase ? &m->phase_start.kvm : NULL));
	if (m->shadow)
		json_object_set_new(ph, "shadow", shadow_json(&now, m->in_phase ? &m->phase_start : NULL));
	json_array_append_new(m->phases, ph);
	stats_kvm_values_free(&now.kvm);
	if (m->in_phase)
		stats_kvm_values_free(&m->phase_start.kvm);
	m->in_phase = false;
}

enum vcpu_action mmu_mode_after_exit(struct mmu_mode *m, struct vcpu *v)
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
		phase_end(m, v);
	if ((pending & PEND_FLUSH) && m->host_shadow) {
		err = host_update(m);
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
	if (pending & PEND_PHASE_BEGIN) {
		if (m->in_phase)
			stats_kvm_values_free(&m->phase_start.kvm);
		snapshot(m, v, &m->phase_start);
		m->in_phase = true;
	}
	pthread_mutex_unlock(&m->lock);
	if (err) {
		snprintf(v->exit.why, sizeof(v->exit.why),
			 "shadow mmu: cannot update the vCPU: %s", strerror(-err));
		action = VCPU_FAILED;
	}
	return action;
}

/* ---- Create / destroy -------------------------------------------------- */

static int create_shadow(struct mmu_mode *m, const struct mmu_mode_params *p)
{
	struct shadow_config sc = {
		.guest = { .map = pool_map, .ctx = m },
		.target_ok = target_ok, .target_ctx = m,
		.leaf_gone = leaf_gone, .leaf_ctx = m,
		.store = m->store, .store_gpa = m->plan.store_gpa,
		.store_pages = m->plan.store_size / PAGE,
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
	write_boot_tables(m);
	err = shadow_load_root(m->shadow, m->plan.boot_root, &m->shadow_cr3);
	m->guest_root = m->plan.boot_root;
	(void)shadow_take_flush(m->shadow); /* the vCPU starts on this root */
	if (err)
		log_err("shadow mmu: cannot shadow the boot page tables: %s", strerror(-err));
	shadow_set_fill(m->shadow, m->plan.lazy ? SHADOW_LAZY : SHADOW_EAGER);
	return err;
}

int mmu_mode_create(const struct mmu_mode_params *p, struct mmu_mode **out)
{
	struct mmu_mode *m = calloc(1, sizeof(*m));
	bool shadow = p->plan->kind == MMU_SHADOW;
	int err = 0;

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->plan = *p->plan;
	m->kvm = p->kvm;
	m->mem = p->mem;
	m->host_shadow = p->kvm->mmu_mode != HOST_MMU_VMX_EPT &&
			 p->kvm->mmu_mode != HOST_MMU_SVM_NPT;
	m->slot_mailbox = p->first_slot;
	m->slot_pool = p->first_slot + 1;
	m->slot_store = p->first_slot + 2;
	pthread_mutex_init(&m->lock, NULL);
	m->phases = json_array();
	m->port_dev = (struct device){ .ops = &port_ops, .name = "mmu-port" };
	m->pool_dev = (struct device){ .ops = &pool_ops, .name = "pt-pool" };
	*out = m;

	if (p->first_slot + 3 > p->kvm->max_memslots) {
		log_err("no KVM memory slots left for the MMU regions (%u in use, %u allowed)",
			p->first_slot, p->kvm->max_memslots);
		return -E2BIG;
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
	m->mailbox = map_region(PAGE);
	m->pool = map_region(m->plan.pool_size);
	if (shadow)
		m->store = map_region(m->plan.store_size);
	if (!m->mailbox || !m->pool || (shadow && !m->store)) {
		log_err("cannot map the MMU regions: %s", strerror(errno));
		return -ENOMEM;
	}
	err = kvm_set_memory_region(p->kvm, m->slot_mailbox, 0, BOARD_MMU_MAILBOX, PAGE,
				    m->mailbox);
	if (!err)
		err = kvm_set_memory_region(p->kvm, m->slot_pool, shadow ? KVM_MEM_READONLY : 0,
					    m->plan.pool_gpa, m->plan.pool_size, m->pool);
	if (!err && shadow)
		err = store_slot_set(m, m->plan.store_size);
	if (!err)
		err = bus_insert(p->pio, BOARD_MMU_PORT, 4, &m->port_dev);
	if (!err && shadow)
		err = bus_insert(p->mmio, m->plan.pool_gpa, m->plan.pool_size, &m->pool_dev);
	if (!err && shadow)
		err = create_shadow(m, p);
	return err;
}

void mmu_mode_destroy(struct mmu_mode *m)
{
	if (!m)
		return;
	shadow_destroy(m->shadow);
	if (m->in_phase)
		stats_kvm_values_free(&m->phase_start.kvm);
	json_decref(m->phases);
	free(m->ram);
	if (m->mailbox)
		munmap(m->mailbox, PAGE);
	if (m->pool)
		munmap(m->pool, m->plan.pool_size);
	if (m->store)
		munmap(m->store, m->plan.store_size);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

uint64_t mmu_mode_entry_cr3(const struct mmu_mode *m)
{
	return m->shadow ? m->shadow_cr3 : m->plan.boot_root;
}

const void *mmu_mode_map_pool(const struct mmu_mode *m, uint64_t gpa, uint64_t len)
{
	return pool_map((void *)m, gpa, len);
}

uint64_t mmu_mode_guest_root(const struct mmu_mode *m)
{
	return m && m->shadow ? m->guest_root : 0;
}

/* ---- Reports ----------------------------------------------------------- */

void mmu_mode_print_stats(const struct mmu_mode *m, FILE *out)
{
	size_t i;
	json_t *ph;

	fprintf(out, "  MMU: %s%s%s\n", m->shadow ? "shadow (minivmm)" : "tdp (guest page tables)",
		m->shadow ? ", fill " : "", m->shadow ? (m->plan.lazy ? "lazy" : "eager") : "");
	if (m->shadow) {
		struct shadow_stats st;

		shadow_get_stats(m->shadow, &st);
#define X(f) if (st.f) fprintf(out, "    %-32s %" PRIu64 "\n", #f, st.f);
		SHADOW_COUNTERS(X)
#undef X
		fprintf(out, "    %-32s %" PRIu64 " (%.3f ms)\n", "host_syncs (store slot)",
			m->host_syncs, (double)m->host_sync_ns / 1e6);
		fprintf(out, "    %-32s %" PRIu64 " (%.3f ms)\n", "frame_syncs (leaf frames)",
			m->frame_syncs, (double)m->frame_sync_ns / 1e6);
		if (m->bad_roots)
			fprintf(out, "    %-32s %" PRIu64 "\n", "refused roots", m->bad_roots);
	}
	if (m->bad_commands)
		fprintf(out, "    %-32s %" PRIu64 "\n", "bad commands", m->bad_commands);
	json_array_foreach(m->phases, i, ph) {
		fprintf(out, "  phase %s: %" JSON_INTEGER_FORMAT " cycles, %" JSON_INTEGER_FORMAT
			" ops, checksum %s\n",
			json_string_value(json_object_get(ph, "name")),
			json_integer_value(json_object_get(ph, "cycles")),
			json_integer_value(json_object_get(ph, "ops")),
			json_string_value(json_object_get(ph, "checksum")));
	}
}

void mmu_mode_stats_json(const struct mmu_mode *m, json_t *root)
{
	json_object_set_new(root, "mmu", json_string(m->shadow ? "shadow" : "tdp"));
	json_object_set_new(root, "shadow_fill", m->shadow ?
			    json_string(m->plan.lazy ? "lazy" : "eager") : json_null());
	if (m->shadow) {
		struct mmu_snapshot s = { 0 };

		snapshot_mmu(m, &s);
		json_object_set_new(root, "shadow", shadow_json(&s, NULL));
	}
	json_object_set(root, "phases", m->phases);
}

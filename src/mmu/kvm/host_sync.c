// SPDX-License-Identifier: MIT
/*
 * Keeping a host KVM that itself shadow-pages (pvm, ept/npt off) in step
 * with the shadow store.  KVM write-protects the guest page tables it
 * shadows and re-reads them only on guest writes, but minivmm changes the
 * store from the host side, which KVM never sees.  Unnecessary with
 * EPT/NPT, where the hardware walks the store itself.
 */
#include <errno.h>
#include <sys/mman.h>

#include "base/clock.h"
#include "mmu/kvm/mmu_kvm_priv.h"

/*
 * Make KVM forget its whole shadow of the store: deleting the slot makes it
 * zap every shadow page it built from the slot's pages (x86 zaps all of
 * them by default), and the vCPU rebuilds from the current store.
 */
static int store_flip(struct mmu_kvm *m)
{
	uint64_t t0 = now_ns();
	int err = kvm_unregister_slot(m->kvm, m->store);

	if (!err)
		err = kvm_register_slot(m->kvm, m->store);
	m->host_syncs++;
	m->host_sync_ns += now_ns() - t0;
	return err;
}

/*
 * Make KVM drop every mapping of [gpa, gpa+size): a protection change on
 * the host mapping runs KVM's MMU notifier, which zaps the shadow PTEs of
 * those frames, whichever guest address and root they serve (contents
 * stay).  Enough when only leaf entries changed: the tables above them are
 * unchanged, and KVM rebuilds the leaves from the store on the next fault.
 * -EFAULT for memory that is not in the memory map.
 */
static int invalidate_frames(struct mmu_kvm *m, uint64_t gpa, uint64_t size)
{
	uint64_t align = m->mem->backing == MEM_BACKING_HUGETLB ? PAGE_SIZE_2M
								 : PAGE_SIZE_4K;

	while (size) {
		const struct mem_slot *s = mem_find_slot(m->mem, gpa);
		uint64_t piece = s ? s->size - (gpa - s->gpa) : 0;
		uint8_t *hva;
		uintptr_t lo, hi;

		if (!s)
			return -EFAULT;
		if (piece > size)
			piece = size;
		hva = mem_gpa_to_hva(m->mem, gpa, piece);
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

/* shadow_config.leaf_gone: remember the frames, coalescing neighbours. */
void mmu_leaf_gone(void *ctx, uint64_t gpa, uint64_t size)
{
	struct mmu_kvm *m = ctx;

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

/* Bring the host's KVM up to date before the vCPU runs again: only the
 * dropped leaf frames when that suffices, else the whole store. */
int mmu_host_update(struct mmu_kvm *m)
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
		err = store_flip(m);
	m->need_flip = m->gone_overflow = false;
	m->nr_gone = 0;
	return err;
}

/* SPDX-License-Identifier: MIT */
/*
 * Putting the guest's software into RAM: recognise the kernel file, load it
 * with the matching boot protocol (a minivmm test guest, docs/guest-boot.md,
 * or Linux, docs/booting-linux.md), write the boot tables and the device
 * tree, and say how vCPU 0 must enter it.
 */
#ifndef MINIVMM_BOOT_H
#define MINIVMM_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "boot/loader.h"
#include "vmm/config.h"
#include "mmu/memory.h"
#include "mmu/plan.h"

enum boot_protocol {
	BOOT_TEST_GUEST, /* RDI = device tree */
	BOOT_LINUX,      /* RSI = zero page (boot_params) */
};

struct boot_info {
	enum boot_protocol protocol;
	uint64_t entry;
	uint64_t arg;             /* the device tree or the zero page */
	uint64_t boot_end;        /* end of the boot tables at BOARD_BOOT_GDT */
	uint8_t *fdt;             /* the machine's device tree (malloc'd) */
	size_t fdt_size;
	char description[128];    /* what was booted, for messages */
	bool pvh;                 /* Linux through its PVH entry: EBX = start info */
	/* The kernel ELF's segments as loaded (virtual -> physical), for the
	 * gdb stub; none for a bzImage the guest decompresses itself. */
	struct loader_segment segs[LOADER_MAX_SEGMENTS];
	unsigned int nr_segs;
};

/*
 * 0 or -errno with one line logged; *out must be freed with boot_info_free.
 * Test guests are told of the MMU regions of *mmu (their device tree and boot
 * identity map cover them; the caller adds them to the memory map when
 * out->protocol is BOOT_TEST_GUEST); -EOPNOTSUPP when --mmu=shadow meets a
 * guest that cannot use it.
 */
int boot_prepare(const struct vm_config *cfg, const struct mem_map *mem, bool host_is_pvm,
		 const struct mmu_plan *mmu, struct boot_info *out);
void boot_info_free(struct boot_info *info);

/* vCPU 0's entry registers; sregs must hold the vCPU's current values. */
void boot_entry_state(const struct boot_info *info, int nx, struct kvm_sregs *sregs,
		      struct kvm_regs *regs);

#endif

// SPDX-License-Identifier: MIT
#include "mmu/plan.h"

#include <string.h>

#include "abi/mmu_port.h"

void mmu_plan_make(enum mmu_kind kind, bool lazy, uint64_t pool_size,
		   const struct mem_map *mem, struct mmu_plan *out)
{
	uint64_t top;

	memset(out, 0, sizeof(*out));
	out->kind = kind;
	out->lazy = lazy;
	out->pool_gpa = BOARD_MMU_POOL_BASE;
	out->pool_size = pool_size;
	top = mem_map_top(mem);
	if (top < out->pool_gpa + out->pool_size)
		top = out->pool_gpa + out->pool_size;
	out->map_top = top;
	if (kind != MMU_SHADOW) {
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
	out->pool_free = out->pool_gpa + out->boot_pages * PAGE_SIZE_4K;
}

int mmu_plan_add_regions(const struct mmu_plan *plan, struct mem_map *mem)
{
	bool shadow = plan->kind == MMU_SHADOW;
	int err = mem_map_add(mem, BOARD_MMU_MAILBOX, PAGE_SIZE_4K, MEM_MMU_MAILBOX, false);

	if (!err)
		err = mem_map_add(mem, plan->pool_gpa, plan->pool_size, MEM_PT_POOL, shadow);
	if (!err && shadow)
		err = mem_map_add(mem, plan->store_gpa, plan->store_size, MEM_SHADOW_STORE, false);
	return err;
}

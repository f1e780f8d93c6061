/* SPDX-License-Identifier: MIT */
/*
 * x86-64 4-level paging (Intel SDM vol. 3A 4.5-4.7): entry bits, address
 * masks, page sizes, table geometry and the #PF error code.  The one
 * spelling of these for the VMM (page-table walker, shadow MMU, boot page
 * tables) and for the freestanding test guests, so it stays plain C:
 * constants only, no includes.
 *
 * Levels are numbered from the root: 0 = PML4 ... 3 = PT.
 */
#ifndef MINIVMM_ABI_PAGING_H
#define MINIVMM_ABI_PAGING_H

/* ---- Paging-structure entry bits (SDM tables 4-14 to 4-20) ------------- */

#define PTE_P         (1ULL << 0)   /* present */
#define PTE_RW        (1ULL << 1)   /* writable */
#define PTE_US        (1ULL << 2)   /* user-accessible */
#define PTE_PWT       (1ULL << 3)   /* page-level write-through */
#define PTE_PCD       (1ULL << 4)   /* page-level cache disable */
#define PTE_A         (1ULL << 5)   /* accessed */
#define PTE_D         (1ULL << 6)   /* dirty (leaves only) */
#define PTE_PS        (1ULL << 7)   /* PDPTE/PDE: 1 GiB / 2 MiB leaf;
				     * reserved in a PML4E */
#define PTE_PAT       (1ULL << 7)   /* PAT bit of a 4 KiB PTE (PS elsewhere) */
#define PTE_G         (1ULL << 8)   /* global (leaves, with CR4.PGE) */
#define PTE_PAT_LARGE (1ULL << 12)  /* PAT bit of a 2 MiB / 1 GiB leaf */
#define PTE_NX        (1ULL << 63)  /* XD in the SDM; reserved unless EFER.NXE */

/* Present, writable, user: the flags of every boot and identity map. */
#define PTE_P_RW_US   (PTE_P | PTE_RW | PTE_US)

/* Address bits 51:12 of an entry (a table, or a 4 KiB frame) at the
 * architectural maximum MAXPHYADDR of 52; bits above a CPU's MAXPHYADDR
 * are reserved. */
#define PTE_ADDR_MASK 0x000FFFFFFFFFF000ULL

/* ---- Page sizes --------------------------------------------------------- */

#define PAGE_SHIFT_4K 12
#define PAGE_SHIFT_2M 21
#define PAGE_SHIFT_1G 30
#define PAGE_SIZE_4K  (1ULL << PAGE_SHIFT_4K)
#define PAGE_SIZE_2M  (1ULL << PAGE_SHIFT_2M)
#define PAGE_SIZE_1G  (1ULL << PAGE_SHIFT_1G)

/* ---- Tables: 512 8-byte entries in one 4 KiB page ------------------------ */

#define PT_ENTRIES    512
#define PT_INDEX_BITS 9
#define PT_LEVELS     4
#define PT_LEVEL_PML4 0
#define PT_LEVEL_PDPT 1
#define PT_LEVEL_PD   2
#define PT_LEVEL_PT   3

/* The linear-address bit where the table index of `level` starts (39, 30,
 * 21, 12): also the shift of the size an entry at that level maps. */
#define PT_LEVEL_SHIFT(level) \
	(PAGE_SHIFT_4K + PT_INDEX_BITS * (PT_LEVELS - 1) - PT_INDEX_BITS * (level))
/* The index of linear address `va` in its table at `level`. */
#define PT_INDEX(va, level) \
	(((va) >> PT_LEVEL_SHIFT(level)) & (PT_ENTRIES - 1))

/* ---- #PF error code (SDM 4.7) -------------------------------------------- */

#define PFEC_P    (1U << 0)   /* 0: not present; 1: protection or reserved bit */
#define PFEC_W    (1U << 1)   /* write */
#define PFEC_U    (1U << 2)   /* user-mode access */
#define PFEC_RSVD (1U << 3)   /* reserved bit set in an entry */
#define PFEC_ID   (1U << 4)   /* instruction fetch (with EFER.NXE or CR4.SMEP) */

#endif

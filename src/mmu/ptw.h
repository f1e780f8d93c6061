/* SPDX-License-Identifier: MIT */
/*
 * Software page-table walker: guest-virtual -> guest-physical for x86-64
 * 4-level paging (Intel SDM vol. 3A 4.5), with the access-rights checks of
 * 4.6 and the #PF error code of 4.7.  Pure code: guest memory is reached only
 * through a map callback, so the walk works over RAM and any other
 * guest-visible region.
 *
 * Scope and deliberate simplifications (the walker is a VMM debugging and
 * emulation aid, not a CPU):
 *  - Read-only: accessed and dirty bits are never set.
 *  - CR0.PG = 0 or EFER.LMA = 0 is treated as identity (gpa = gva, no
 *    canonical check, no truncation to 32 bits).  32-bit and PAE paging are
 *    not modelled.  5-level paging (CR4.LA57) is refused (-EOPNOTSUPP).
 *  - SMAP ignores EFLAGS.AC: every supervisor data access to a user page
 *    faults when CR4.SMAP = 1, as for implicit accesses or AC = 0.
 *  - Protection keys (CR4.PKE/PKS), CET shadow stacks, HLAT and LAM are not
 *    modelled; bits 62:52 are ignored.  1 GiB pages are always allowed
 *    (CPUID PDPE1GB assumed).  The CR3 PCID/PWT/PCD and bits above
 *    MAXPHYADDR are ignored (a real CPU refuses them at MOV to CR3).
 *  - Only the paging-structure entries go through mem->map; the translated
 *    gpa itself need not be backed (that is the caller's next check).
 *  - Never logs: guests can trigger every failure, so the caller reports
 *    (rate-limited) with ptw_format().
 */
#ifndef MINIVMM_PTW_H
#define MINIVMM_PTW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi/paging.h"

/* Control-register and EFER bits the walker reads (SDM vol. 3A 2.2.1, 2.5). */
#define PTW_CR0_WP   (1ULL << 16)
#define PTW_CR0_PG   (1ULL << 31)
#define PTW_CR4_LA57 (1ULL << 12)
#define PTW_CR4_SMEP (1ULL << 20)
#define PTW_CR4_SMAP (1ULL << 21)
#define PTW_EFER_LMA (1ULL << 10)
#define PTW_EFER_NXE (1ULL << 11)

/* Accepted regs->maxphyaddr range: 52 is the architectural maximum. */
#define PTW_MAXPHYADDR_MIN 32
#define PTW_MAXPHYADDR_MAX 52

struct ptw_mem {
	/* host pointer to [gpa, gpa+len) or NULL if not backed */
	const void *(*map)(void *ctx, uint64_t gpa, uint64_t len);
	void *ctx;
};

struct ptw_regs { /* the paging-relevant control state */
	uint64_t cr0, cr3, cr4, efer;
	unsigned int maxphyaddr; /* e.g. 46; bits 51:maxphyaddr of entries are reserved */
};

enum ptw_access { PTW_READ = 0, PTW_WRITE = 1, PTW_USER = 2, PTW_FETCH = 4 }; /* OR-able */

enum ptw_fault {
	PTW_OK,
	PTW_PAGE_FAULT,      /* the guest would take #PF with error_code */
	PTW_GP_NONCANONICAL, /* the guest would take #GP (or #SS); no walk done */
	PTW_BAD_TABLE_GPA,   /* a table entry is not backed: a VMM-level failure,
			      * not a guest #PF (the CPU would read MMIO/nothing) */
};

struct ptw_result {
	uint64_t gpa;          /* translated address (valid when ok) */
	uint64_t page_size;    /* 4 KiB, 2 MiB or 1 GiB */
	uint64_t pte;          /* the leaf entry; on a fault the last entry read */
	/*
	 * GPA of the entry read at each level (PML4..PT), 0 if not reached
	 * (a table may sit at GPA 0: trust `levels`).  On PTW_BAD_TABLE_GPA,
	 * entry_gpa[levels] is the entry that could not be read.
	 */
	uint64_t entry_gpa[PT_LEVELS];
	int levels;            /* entries read */
	bool writable, user, nx; /* effective permissions (AND of R/W and U/S,
				  * OR of XD); partial when the walk stopped early */
	/* on failure: */
	enum ptw_fault fault;
	uint32_t error_code;   /* #PF error code: PFEC_* (P, W/R, U/S, RSVD, I/D) */
};

/* Canonical for 48-bit linear addresses: bits 63:47 all equal. */
static inline bool ptw_canonical48(uint64_t gva)
{
	uint64_t top = gva >> 47;

	return top == 0 || top == 0x1FFFF;
}

/* The bits that must be clear in a present entry at `level` (0 = PML4E):
 * above MAXPHYADDR, XD without EFER.NXE, PS in a PML4E, the low address
 * bits of a 1 GiB / 2 MiB leaf. */
uint64_t ptw_reserved_mask(unsigned int maxphyaddr, bool nxe, int level, uint64_t entry);

/*
 * Translate gva for an access (PTW_* OR-ed; PTW_WRITE | PTW_FETCH is
 * invalid).  *out is always zeroed first.  Returns 0 when translated,
 * -EFAULT when faulted (out->fault says how), -EINVAL for bad arguments
 * (NULL pointers, unknown access bits, maxphyaddr outside
 * [PTW_MAXPHYADDR_MIN, PTW_MAXPHYADDR_MAX]), -EOPNOTSUPP for 5-level paging.
 *
 * Paging off (identity): gpa = gva, page_size 4 KiB, levels 0, all
 * permissions granted.
 */
int ptw_walk(const struct ptw_mem *mem, const struct ptw_regs *regs, uint64_t gva,
	     unsigned int access, struct ptw_result *out);

/* "ok", "page-fault", "gp-noncanonical", "bad-table-gpa" ("unknown" else). */
const char *ptw_fault_name(enum ptw_fault fault);

/*
 * One line for logs, e.g.
 *   "ok gpa 0x1234abc 4K pte 0x1234067 W U X walk pml4e@0x1000 ..."
 *   "page-fault ec 0x7 (protection write user) pte 0x... walk ..."
 * Returns what snprintf would (the untruncated length), or -EINVAL when r
 * is NULL or buf is NULL with len > 0.
 */
int ptw_format(const struct ptw_result *r, char *buf, size_t len);

#endif

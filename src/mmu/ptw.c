// SPDX-License-Identifier: MIT
/*
 * x86-64 4-level page-table walk (SDM vol. 3A 4.5-4.7).  The order of checks
 * follows the CPU: each entry is tested for P, then for reserved bits, as it
 * is read; access rights are checked once the leaf is reached, against the
 * rights accumulated over the whole walk.  See ptw.h for what is left out.
 */
#include "mmu/ptw.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PTW_ACCESS_ALL (PTW_WRITE | PTW_USER | PTW_FETCH)

/* Bits hi..lo set; hi < lo gives 0. */
static uint64_t bits(unsigned int hi, unsigned int lo)
{
	if (hi < lo)
		return 0;
	return (~0ULL >> (63 - hi)) & ~((1ULL << lo) - 1);
}

/* Entry bits M-1:12: a table or 4 KiB frame address. */
static uint64_t addr_mask(const struct ptw_regs *regs)
{
	return bits(regs->maxphyaddr - 1, PAGE_SHIFT_4K);
}

static bool is_leaf(int level, uint64_t entry)
{
	if (level == PT_LEVEL_PT)
		return true;
	return level > PT_LEVEL_PML4 && (entry & PTE_PS);
}

/* SDM tables 4-14 to 4-20. */
uint64_t ptw_reserved_mask(unsigned int maxphyaddr, bool nxe, int level, uint64_t entry)
{
	uint64_t rsvd = bits(51, maxphyaddr);

	if (!nxe)
		rsvd |= PTE_NX;
	if (level == PT_LEVEL_PML4)
		rsvd |= PTE_PS;
	else if (level == PT_LEVEL_PDPT && (entry & PTE_PS))
		rsvd |= bits(PAGE_SHIFT_1G - 1, 13); /* bit 12 is PAT */
	else if (level == PT_LEVEL_PD && (entry & PTE_PS))
		rsvd |= bits(PAGE_SHIFT_2M - 1, 13);
	return rsvd;
}

static int read_entry(const struct ptw_mem *mem, uint64_t gpa, uint64_t *entry)
{
	const void *p = mem->map(mem->ctx, gpa, sizeof(*entry));

	if (!p)
		return -EFAULT;
	memcpy(entry, p, sizeof(*entry)); /* the host pointer may be unaligned */
	*entry = le64toh(*entry);
	return 0;
}

/* SDM 4.6.1, with SMAP's EFLAGS.AC taken as 0 (see ptw.h). */
static bool access_allowed(const struct ptw_regs *regs, unsigned int access,
			   const struct ptw_result *r)
{
	bool user_access = access & PTW_USER;

	if (access & PTW_FETCH) {
		if (r->nx)
			return false;
		if (user_access)
			return r->user;
		return !(r->user && (regs->cr4 & PTW_CR4_SMEP));
	}
	if (user_access)
		return r->user && (r->writable || !(access & PTW_WRITE));
	if (r->user && (regs->cr4 & PTW_CR4_SMAP))
		return false;
	if ((access & PTW_WRITE) && (regs->cr0 & PTW_CR0_WP))
		return r->writable;
	return true;
}

static int page_fault(struct ptw_result *out, const struct ptw_regs *regs,
		      unsigned int access, uint32_t cause)
{
	uint32_t ec = cause;

	if (access & PTW_WRITE)
		ec |= PFEC_W;
	if (access & PTW_USER)
		ec |= PFEC_U;
	if ((access & PTW_FETCH) &&
	    ((regs->efer & PTW_EFER_NXE) || (regs->cr4 & PTW_CR4_SMEP)))
		ec |= PFEC_ID;
	out->fault = PTW_PAGE_FAULT;
	out->error_code = ec;
	return -EFAULT;
}

static int identity(uint64_t gva, struct ptw_result *out)
{
	out->gpa = gva;
	out->page_size = PAGE_SIZE_4K;
	out->writable = true;
	out->user = true;
	return 0;
}

static bool args_valid(const struct ptw_mem *mem, const struct ptw_regs *regs,
		       unsigned int access, const struct ptw_result *out)
{
	if (!mem || !mem->map || !regs || !out)
		return false;
	if (access & ~(unsigned int)PTW_ACCESS_ALL)
		return false;
	if ((access & PTW_WRITE) && (access & PTW_FETCH))
		return false;
	return regs->maxphyaddr >= PTW_MAXPHYADDR_MIN &&
	       regs->maxphyaddr <= PTW_MAXPHYADDR_MAX;
}

int ptw_walk(const struct ptw_mem *mem, const struct ptw_regs *regs, uint64_t gva,
	     unsigned int access, struct ptw_result *out)
{
	uint64_t table, entry = 0, size;
	int level;

	if (!args_valid(mem, regs, access, out))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!(regs->cr0 & PTW_CR0_PG) || !(regs->efer & PTW_EFER_LMA))
		return identity(gva, out);
	if (regs->cr4 & PTW_CR4_LA57)
		return -EOPNOTSUPP;
	if (!ptw_canonical48(gva)) {
		out->fault = PTW_GP_NONCANONICAL;
		return -EFAULT;
	}

	out->writable = out->user = true;
	table = regs->cr3 & addr_mask(regs);
	for (level = 0; level < PT_LEVELS; level++) {
		uint64_t egpa = table + PT_INDEX(gva, level) * 8;

		out->entry_gpa[level] = egpa;
		if (read_entry(mem, egpa, &entry)) {
			out->fault = PTW_BAD_TABLE_GPA;
			return -EFAULT;
		}
		out->levels = level + 1;
		out->pte = entry;
		if (!(entry & PTE_P))
			return page_fault(out, regs, access, 0);
		if (entry & ptw_reserved_mask(regs->maxphyaddr, regs->efer & PTW_EFER_NXE, level, entry))
			return page_fault(out, regs, access, PFEC_P | PFEC_RSVD);
		out->writable = out->writable && (entry & PTE_RW);
		out->user = out->user && (entry & PTE_US);
		out->nx = out->nx || (entry & PTE_NX); /* only reachable with NXE */
		if (is_leaf(level, entry))
			break;
		table = entry & addr_mask(regs);
	}

	size = 1ULL << PT_LEVEL_SHIFT(level);
	out->page_size = size;
	/* Reserved-bit checks guarantee bits 29:13 / 20:13 are clear; drop PAT. */
	out->gpa = (entry & addr_mask(regs) & ~(size - 1)) | (gva & (size - 1));
	if (!access_allowed(regs, access, out))
		return page_fault(out, regs, access, PFEC_P);
	return 0;
}

const char *ptw_fault_name(enum ptw_fault fault)
{
	switch (fault) {
	case PTW_OK: return "ok";
	case PTW_PAGE_FAULT: return "page-fault";
	case PTW_GP_NONCANONICAL: return "gp-noncanonical";
	case PTW_BAD_TABLE_GPA: return "bad-table-gpa";
	}
	return "unknown";
}

/* snprintf that keeps appending after truncation and counts the full length. */
struct fmt {
	char *buf;
	size_t len, pos;
};

__attribute__((format(printf, 2, 3)))
static void fmt_add(struct fmt *f, const char *fmt, ...)
{
	size_t room = f->pos < f->len ? f->len - f->pos : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? f->buf + f->pos : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		f->pos += (size_t)n;
}

static const char *size_name(uint64_t size)
{
	switch (size) {
	case PAGE_SIZE_4K: return "4K";
	case PAGE_SIZE_2M: return "2M";
	case PAGE_SIZE_1G: return "1G";
	}
	return "?";
}

static void fmt_walk(struct fmt *f, const struct ptw_result *r)
{
	static const char *const names[PT_LEVELS] = { "pml4e", "pdpte", "pde", "pte" };
	int n = r->levels;

	if (r->fault == PTW_BAD_TABLE_GPA && n < PT_LEVELS)
		n++; /* show the entry that could not be read */
	if (n < 0 || n > PT_LEVELS)
		n = 0;
	if (n)
		fmt_add(f, " walk");
	for (int i = 0; i < n; i++)
		fmt_add(f, " %s@0x%" PRIx64, names[i], r->entry_gpa[i]);
}

int ptw_format(const struct ptw_result *r, char *buf, size_t len)
{
	struct fmt f = { .buf = buf, .len = len };
	uint32_t ec = r ? r->error_code : 0;

	if (!r || (!buf && len))
		return -EINVAL;
	if (len)
		buf[0] = '\0';
	fmt_add(&f, "%s", ptw_fault_name(r->fault));
	switch (r->fault) {
	case PTW_OK:
		fmt_add(&f, " gpa 0x%" PRIx64 " %s", r->gpa, size_name(r->page_size));
		if (!r->levels) {
			fmt_add(&f, " (paging off, identity)");
			break;
		}
		fmt_add(&f, " pte 0x%" PRIx64 " %s %s %s", r->pte, r->writable ? "W" : "RO",
			r->user ? "U" : "S", r->nx ? "NX" : "X");
		break;
	case PTW_PAGE_FAULT:
		fmt_add(&f, " ec 0x%" PRIx32 " (%s %s %s%s%s) pte 0x%" PRIx64, ec,
			ec & PFEC_P ? "protection" : "not-present",
			ec & PFEC_W ? "write" : "read",
			ec & PFEC_U ? "user" : "supervisor",
			ec & PFEC_RSVD ? " rsvd" : "", ec & PFEC_ID ? " fetch" : "",
			r->pte);
		break;
	case PTW_GP_NONCANONICAL:
	case PTW_BAD_TABLE_GPA:
		break;
	}
	fmt_walk(&f, r);
	return f.pos > INT_MAX ? INT_MAX : (int)f.pos;
}

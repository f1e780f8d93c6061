// SPDX-License-Identifier: MIT
/*
 * Guest memory as gdb sees it, and the breakpoints (gdb_session.h).
 * Addresses are guest-virtual, translated page by page through the
 * selected vCPU (or guest-physical after "monitor phys on"); the int3
 * bytes of planted breakpoints read as the bytes they replaced, and a
 * write over one changes the byte that comes back at removal.
 */
#include "debug/gdb_session.h"

#include <errno.h>
#include <string.h>

#define PAGE 0x1000ULL
#define INT3 0xCC

enum { BP_SW = 0, BP_HW = 1 };

static int to_gpa(struct gdb_session *s, uint64_t addr, uint64_t *gpa)
{
	if (s->phys) {
		*gpa = addr;
		return 0;
	}
	return s->ops->translate(s->target, s->g_cpu, addr, gpa);
}

/* The planted breakpoints inside [gpa, gpa + len) read as their originals. */
static void hide_bps(const struct gdb_session *s, uint64_t gpa, uint8_t *buf, size_t len)
{
	for (unsigned int i = 0; i < s->nr_sw; i++)
		if (s->sw[i].gpa >= gpa && s->sw[i].gpa - gpa < len)
			buf[s->sw[i].gpa - gpa] = s->sw[i].orig;
}

/* Breakpoint bytes a write covers: the new byte becomes the original and
 * the int3 stays. */
static void keep_bps(struct gdb_session *s, uint64_t gpa, uint8_t *buf, size_t len)
{
	for (unsigned int i = 0; i < s->nr_sw; i++) {
		if (s->sw[i].gpa >= gpa && s->sw[i].gpa - gpa < len) {
			s->sw[i].orig = buf[s->sw[i].gpa - gpa];
			buf[s->sw[i].gpa - gpa] = INT3;
		}
	}
}

/* One piece that stays inside a page on both sides. */
static size_t piece(uint64_t addr, uint64_t gpa, size_t left)
{
	uint64_t n = PAGE - (addr & (PAGE - 1));

	if (n > PAGE - (gpa & (PAGE - 1)))
		n = PAGE - (gpa & (PAGE - 1));
	return n < left ? (size_t)n : left;
}

size_t gdb_mem_read(struct gdb_session *s, uint64_t addr, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		uint64_t gpa;
		size_t n, got;

		if (to_gpa(s, addr + done, &gpa))
			break;
		n = piece(addr + done, gpa, len - done);
		got = s->ops->read_phys(s->target, gpa, buf + done, n);
		hide_bps(s, gpa, buf + done, got);
		done += got;
		if (got < n)
			break;
	}
	return done;
}

size_t gdb_mem_write(struct gdb_session *s, uint64_t addr, const uint8_t *buf, size_t len)
{
	uint8_t tmp[PAGE];
	size_t done = 0;

	while (done < len) {
		uint64_t gpa;
		size_t n, put;

		if (to_gpa(s, addr + done, &gpa))
			break;
		n = piece(addr + done, gpa, len - done);
		memcpy(tmp, buf + done, n);
		keep_bps(s, gpa, tmp, n);
		put = s->ops->write_phys(s->target, gpa, tmp, n);
		done += put;
		if (put < n)
			break;
	}
	return done;
}

const struct gdb_sw_bp *gdb_session_sw_bp_at(const struct gdb_session *s, uint64_t gpa)
{
	for (unsigned int i = 0; i < s->nr_sw; i++)
		if (s->sw[i].gpa == gpa)
			return &s->sw[i];
	return NULL;
}

static int sw_insert(struct gdb_session *s, uint64_t addr)
{
	const struct gdb_sw_bp *same;
	struct gdb_sw_bp bp = { .addr = addr };
	uint8_t int3 = INT3;

	for (unsigned int i = 0; i < s->nr_sw; i++)
		if (s->sw[i].addr == addr)
			return 0;	/* already there */
	if (s->nr_sw == GDB_MAX_SW_BPS)
		return -ENOSPC;
	if (to_gpa(s, addr, &bp.gpa))
		return -EFAULT;
	/* Another address mapping the same byte: its original is the one. */
	same = gdb_session_sw_bp_at(s, bp.gpa);
	if (same) {
		bp.orig = same->orig;
	} else {
		if (s->ops->read_phys(s->target, bp.gpa, &bp.orig, 1) != 1 ||
		    s->ops->write_phys(s->target, bp.gpa, &int3, 1) != 1)
			return -EFAULT;
	}
	s->sw[s->nr_sw++] = bp;
	return 0;
}

static int sw_remove(struct gdb_session *s, uint64_t addr)
{
	for (unsigned int i = 0; i < s->nr_sw; i++) {
		struct gdb_sw_bp bp = s->sw[i];

		if (bp.addr != addr)
			continue;
		s->sw[i] = s->sw[--s->nr_sw];
		if (!gdb_session_sw_bp_at(s, bp.gpa) &&
		    s->ops->write_phys(s->target, bp.gpa, &bp.orig, 1) != 1)
			return -EFAULT;
		return 0;
	}
	return 0;	/* gdb may remove what it never inserted: fine */
}

static int hw_insert(struct gdb_session *s, uint64_t addr)
{
	for (unsigned int i = 0; i < s->nr_hw; i++)
		if (s->hw[i] == addr)
			return 0;
	if (s->nr_hw == GDB_MAX_HW_BPS)
		return -ENOSPC;
	s->hw[s->nr_hw++] = addr;
	return 0;
}

static int hw_remove(struct gdb_session *s, uint64_t addr)
{
	for (unsigned int i = 0; i < s->nr_hw; i++) {
		if (s->hw[i] == addr) {
			s->hw[i] = s->hw[--s->nr_hw];
			break;
		}
	}
	return 0;
}

int gdb_bp_insert(struct gdb_session *s, int type, uint64_t addr)
{
	if (type == BP_SW)
		return sw_insert(s, addr);
	if (type == BP_HW && s->ops->hw_breakpoints)
		return hw_insert(s, addr);
	return -ENOTSUP;
}

int gdb_bp_remove(struct gdb_session *s, int type, uint64_t addr)
{
	if (type == BP_SW)
		return sw_remove(s, addr);
	if (type == BP_HW && s->ops->hw_breakpoints)
		return hw_remove(s, addr);
	return -ENOTSUP;
}

void gdb_session_clear_breakpoints(struct gdb_session *s)
{
	while (s->nr_sw)
		sw_remove(s, s->sw[s->nr_sw - 1].addr);
	s->nr_hw = 0;
}

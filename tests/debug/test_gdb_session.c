// SPDX-License-Identifier: MIT
/*
 * The gdb session against a fake machine: registers and the target
 * description, memory through translation, software and hardware
 * breakpoints, resuming (c, s, vCont), threads, monitor commands, detach
 * and kill, and a list of hostile packets that must only earn errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "debug/gdb_session.h"

#define NR_CPUS   3
#define PHYS_SIZE 0x20000ULL
#define HIGH      0xffffffff80000000ULL  /* [HIGH, +64K) -> [0x10000, +64K) */
#define ALIAS     0x7f0000000000ULL      /* [ALIAS, +4K) -> [0x1000, +4K) */

struct fake {
	struct gdb_x86_state st[NR_CPUS];
	uint8_t mem[PHYS_SIZE];
	struct gdb_resume_req last;
	int resumes, kills;
	char note[64];
	int fail;             /* resume fails with this -errno */
};

static unsigned int f_nr(void *t)
{
	return NR_CPUS;
}

static int f_get(void *t, unsigned int cpu, struct gdb_x86_state *s)
{
	struct fake *f = t;

	assert_true(cpu < NR_CPUS);
	*s = f->st[cpu];
	return 0;
}

static int f_set(void *t, unsigned int cpu, const struct gdb_x86_state *s)
{
	struct fake *f = t;

	assert_true(cpu < NR_CPUS);
	f->st[cpu] = *s;
	return 0;
}

static int f_translate(void *t, unsigned int cpu, uint64_t gva, uint64_t *gpa)
{
	if (gva < PHYS_SIZE)
		*gpa = gva;
	else if (gva >= HIGH && gva - HIGH < 0x10000)
		*gpa = 0x10000 + (gva - HIGH);
	else if (gva >= ALIAS && gva - ALIAS < 0x1000)
		*gpa = 0x1000 + (gva - ALIAS);
	else
		return -EFAULT;
	return 0;
}

static size_t f_read(void *t, uint64_t gpa, void *buf, size_t len)
{
	struct fake *f = t;

	if (gpa >= PHYS_SIZE)
		return 0;
	if (len > PHYS_SIZE - gpa)
		len = PHYS_SIZE - gpa;
	memcpy(buf, f->mem + gpa, len);
	return len;
}

static size_t f_write(void *t, uint64_t gpa, const void *buf, size_t len)
{
	struct fake *f = t;

	if (gpa >= PHYS_SIZE)
		return 0;
	if (len > PHYS_SIZE - gpa)
		len = PHYS_SIZE - gpa;
	memcpy(f->mem + gpa, buf, len);
	return len;
}

static int f_resume(void *t, const struct gdb_resume_req *req, char *note, size_t len)
{
	struct fake *f = t;

	snprintf(note, len, "%s", f->note);
	if (f->fail)
		return f->fail;
	f->last = *req;
	f->resumes++;
	return 0;
}

static void f_kill(void *t)
{
	((struct fake *)t)->kills++;
}

static void f_describe(void *t, char *buf, size_t len)
{
	snprintf(buf, len, "fake host: everything works");
}

static struct gdb_target_ops ops = {
	.nr_cpus = f_nr, .get_state = f_get, .set_state = f_set, .translate = f_translate,
	.read_phys = f_read, .write_phys = f_write, .resume = f_resume, .kill = f_kill,
	.describe = f_describe, .hw_breakpoints = true,
};

struct fixture {
	struct fake f;
	struct gdb_session s;
};

static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));

	if (!x)
		return -1;
	for (unsigned int i = 0; i < NR_CPUS; i++) {
		x->f.st[i].regs.rax = 0x1111111111111111ULL * (i + 1);
		x->f.st[i].regs.rip = 0x100000 + i;
		x->f.st[i].regs.rflags = 0x246;
		x->f.st[i].sregs.cs.selector = 0x08;
		x->f.st[i].sregs.cr3 = 0x9000;
	}
	for (size_t i = 0; i < PHYS_SIZE; i++)
		x->f.mem[i] = (uint8_t)(i * 7);
	ops.hw_breakpoints = true;
	gdb_session_init(&x->s, &ops, &x->f);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* Send one packet; the reply as a C string. */
static const char *pkt_len(struct fixture *x, const char *p, size_t len, enum gdb_after *after)
{
	enum gdb_after a = gdb_session_packet(&x->s, p, len);

	if (after)
		*after = a;
	assert_true(x->s.reply_len < sizeof(x->s.reply));
	x->s.reply[x->s.reply_len] = 0;
	return x->s.reply;
}

static const char *pkt(struct fixture *x, const char *p)
{
	enum gdb_after a;
	const char *r = pkt_len(x, p, strlen(p), &a);

	assert_int_equal(a, GDB_AFTER_REPLY);
	return r;
}

static void test_supported_and_xml(void **state)
{
	struct fixture *x = *state;
	char xml[16384] = "";
	uint64_t off = 0;

	assert_non_null(strstr(pkt(x, "qSupported:multiprocess+;swbreak+;hwbreak+"),
			       "qXfer:features:read+"));
	assert_non_null(strstr(x->s.reply, "swbreak+"));
	assert_non_null(strstr(x->s.reply, "hwbreak+"));
	assert_non_null(strstr(x->s.reply, "PacketSize=4000"));
	/* Read the description in small pieces, as gdb may. */
	for (;;) {
		char q[80];
		const char *r;

		snprintf(q, sizeof(q), "qXfer:features:read:target.xml:%llx,1f0",
			 (unsigned long long)off);
		r = pkt(x, q);
		assert_true(r[0] == 'm' || r[0] == 'l');
		strcat(xml, r + 1);	/* the XML has nothing to escape */
		off += strlen(r + 1);
		if (r[0] == 'l')
			break;
	}
	assert_int_equal(strlen(xml), x->s.xml_len);
	assert_non_null(strstr(xml, "<architecture>i386:x86-64</architecture>"));
	assert_non_null(strstr(xml, "org.gnu.gdb.i386.core"));
	for (unsigned int i = 0; i < gdb_regs_count(); i++) {
		char name[40];

		snprintf(name, sizeof(name), "name=\"%s\"", gdb_reg_name(i));
		assert_non_null(strstr(xml, name));
	}
	assert_string_equal(pkt(x, "qXfer:features:read:other.xml:0,10"), "E02");
	assert_string_equal(pkt(x, "qXfer:features:read:target.xml:ffff,10"), "l");
	ops.hw_breakpoints = false;
	assert_null(strstr(pkt(x, "qSupported"), "hwbreak+"));
}

static void test_registers(void **state)
{
	struct fixture *x = *state;
	const char *r = pkt(x, "g");
	size_t rip_off = 0;
	char *g;

	assert_int_equal(strlen(r), 2 * gdb_regs_size());
	assert_memory_equal(r, "1111111111111111", 16);	/* rax, little-endian */
	for (unsigned int i = 0; i < 16; i++)
		rip_off += 2 * gdb_reg_size(i);
	assert_memory_equal(r + rip_off, "0000100000000000", 16);	/* rip 0x100000 */
	assert_memory_equal(r + rip_off + 16, "46020000", 8);	/* eflags */
	assert_memory_equal(r + rip_off + 24, "08000000", 8);	/* cs */
	/* G writes them all back, changed. */
	g = malloc(strlen(r) + 2);
	assert_non_null(g);
	g[0] = 'G';
	strcpy(g + 1, r);
	memcpy(g + 1, "2a00000000000000", 16);
	assert_string_equal(pkt(x, g), "OK");
	assert_int_equal(x->f.st[0].regs.rax, 42);
	assert_int_equal(x->f.st[0].regs.rip, 0x100000);
	g[strlen(g) - 1] = 0;	/* one digit short */
	assert_string_equal(pkt(x, g), "E01");
	free(g);
	/* p/P: register 16 is rip; the selected thread is Hg's. */
	assert_string_equal(pkt(x, "Hg2"), "OK");
	assert_string_equal(pkt(x, "p10"), "0100100000000000");
	assert_string_equal(pkt(x, "P10=efbeadde00000000"), "OK");
	assert_int_equal(x->f.st[1].regs.rip, 0xdeadbeef);
	assert_int_equal(x->f.st[0].regs.rip, 0x100000);
	assert_string_equal(pkt(x, "P10=efbe"), "E01");
	assert_string_equal(pkt(x, "p1000"), "E16");
	assert_string_equal(pkt(x, "pffffffffffffffff"), "E16");
}

static void test_register_conversions(void **state)
{
	struct gdb_x86_state s = { 0 };
	uint8_t v[16];
	unsigned int ftag = 0, cs = 0, fs_base = 0, cr3 = 0;

	for (unsigned int i = 0; i < gdb_regs_count(); i++) {
		if (!strcmp(gdb_reg_name(i), "ftag"))
			ftag = i;
		if (!strcmp(gdb_reg_name(i), "cs"))
			cs = i;
		if (!strcmp(gdb_reg_name(i), "fs_base"))
			fs_base = i;
		if (!strcmp(gdb_reg_name(i), "cr3"))
			cr3 = i;
	}
	/* TOP = 7: ST(0) is physical register 7.  R7 holds 1.0 (valid), R6
	 * zero, every other register empty. */
	s.fpu.fsw = 7 << 11;
	s.fpu.ftwx = 0xC0;
	memcpy(s.fpu.fpr[0], "\x00\x00\x00\x00\x00\x00\x00\x80\xff\x3f", 10);
	assert_int_equal(gdb_reg_get(&s, ftag, v), 4);
	assert_int_equal(v[0] | v[1] << 8, 0x1FFF);	/* R7 00, R6 01, rest 11 */
	v[0] = 0xFF;
	v[1] = 0x0F;	/* R6, R7 in use */
	gdb_reg_set(&s, ftag, v);
	assert_int_equal(s.fpu.ftwx, 0xC0);
	s.sregs.cs.selector = 0x33;
	assert_int_equal(gdb_reg_get(&s, cs, v), 4);
	assert_memory_equal(v, "\x33\0\0\0", 4);
	s.sregs.fs.base = 0x7fff12345678ULL;
	assert_int_equal(gdb_reg_get(&s, fs_base, v), 8);
	assert_memory_equal(v, "\x78\x56\x34\x12\xff\x7f\0\0", 8);
	memcpy(v, "\x00\x90\x00\x00\x00\x00\x00\x00", 8);
	gdb_reg_set(&s, cr3, v);
	assert_int_equal(s.sregs.cr3, 0x9000);
	assert_int_equal(gdb_reg_get(&s, gdb_regs_count(), v), 0);
	assert_int_equal(gdb_reg_set(&s, gdb_regs_count(), v), 0);
}

static void test_memory(void **state)
{
	struct fixture *x = *state;
	char want[64];

	snprintf(want, sizeof(want), "%02x%02x", (uint8_t)(0x100 * 7), (uint8_t)(0x101 * 7));
	assert_string_equal(pkt(x, "m100,2"), want);
	/* Through the high mapping: HIGH + 5 is physical 0x10005. */
	snprintf(want, sizeof(want), "%02x", (uint8_t)(0x10005 * 7));
	assert_string_equal(pkt(x, "mffffffff80000005,1"), want);
	/* Unmapped: an error; mapped then unmapped: the mapped part. */
	assert_string_equal(pkt(x, "m4000000000,4"), "E0e");
	assert_int_equal(strlen(pkt(x, "mffffffff8000fffe,4")), 4);
	assert_string_equal(pkt(x, "M200,3:aabbcc"), "OK");
	assert_memory_equal(x->f.mem + 0x200, "\xaa\xbb\xcc", 3);
	assert_string_equal(pkt(x, "M200,3:aabb"), "E01");
	assert_string_equal(pkt(x, "M200,2:zzzz"), "E01");
	assert_string_equal(pkt(x, "M4000000000,1:00"), "E0e");
	/* X: binary, NUL bytes and all (escapes are undone by the framing). */
	assert_string_equal(pkt_len(x, "X300,3:\0\x7d#", 10, NULL), "OK");
	assert_memory_equal(x->f.mem + 0x300, "\0\x7d#", 3);
	assert_string_equal(pkt_len(x, "X300,4:\0\x7d#", 10, NULL), "E01");
	assert_string_equal(pkt(x, "X300,0:"), "OK");	/* gdb's probe */
	/* Physical addresses after "monitor phys on" (hex of the command). */
	assert_string_equal(pkt(x, "qRcmd,70687973206f6e"), "OK");
	assert_non_null(strstr(x->s.console, "physical"));
	assert_string_equal(pkt(x, "mffffffff80000005,1"), "E0e");
	assert_string_equal(pkt(x, "qRcmd,70687973206f6666"), "OK");
	assert_non_null(strstr(x->s.console, "virtual"));
}

static void test_sw_breakpoints(void **state)
{
	struct fixture *x = *state;
	uint8_t orig = x->f.mem[0x10010];
	char want[8];

	assert_string_equal(pkt(x, "Z0,ffffffff80000010,1"), "OK");
	assert_int_equal(x->f.mem[0x10010], 0xCC);
	assert_non_null(gdb_session_sw_bp_at(&x->s, 0x10010));
	assert_null(gdb_session_sw_bp_at(&x->s, 0x10011));
	/* Reads show the original byte. */
	snprintf(want, sizeof(want), "%02x", orig);
	assert_string_equal(pkt(x, "mffffffff80000010,1"), want);
	/* Inserting twice is fine; a write under it changes the original. */
	assert_string_equal(pkt(x, "Z0,ffffffff80000010,1"), "OK");
	assert_int_equal(x->s.nr_sw, 1);
	assert_string_equal(pkt(x, "Mffffffff8000000f,2:9090"), "OK");
	assert_int_equal(x->f.mem[0x10010], 0xCC);
	assert_int_equal(x->f.mem[0x1000f], 0x90);
	assert_string_equal(pkt(x, "mffffffff80000010,1"), "90");
	/* Two addresses for one byte: the int3 goes when the last one does. */
	orig = x->f.mem[0x1008];
	assert_string_equal(pkt(x, "Z0,1008,1"), "OK");
	assert_string_equal(pkt(x, "Z0,7f0000000008,1"), "OK");
	assert_string_equal(pkt(x, "z0,1008,1"), "OK");
	assert_int_equal(x->f.mem[0x1008], 0xCC);
	assert_string_equal(pkt(x, "z0,7f0000000008,1"), "OK");
	assert_int_equal(x->f.mem[0x1008], orig);
	/* Unmapped, and removing what was never there. */
	assert_string_equal(pkt(x, "Z0,4000000000,1"), "E0e");
	assert_string_equal(pkt(x, "z0,4000000000,1"), "OK");
	/* Resuming says how many are planted; clearing restores memory. */
	pkt_len(x, "c", 1, NULL);
	assert_int_equal(x->f.last.nr_sw, 1);
	gdb_session_clear_breakpoints(&x->s);
	assert_int_equal(x->s.nr_sw, 0);
	assert_int_equal(x->f.mem[0x10010], 0x90);
}

static void test_sw_breakpoint_table_full(void **state)
{
	struct fixture *x = *state;
	char p[40];

	for (unsigned int i = 0; i < GDB_MAX_SW_BPS; i++) {
		snprintf(p, sizeof(p), "Z0,%x,1", 0x2000 + i);
		assert_string_equal(pkt(x, p), "OK");
	}
	assert_string_equal(pkt(x, "Z0,3000,1"), "E1c");	/* ENOSPC */
	gdb_session_clear_breakpoints(&x->s);
	for (unsigned int i = 0; i < GDB_MAX_SW_BPS; i++)
		assert_int_equal(x->f.mem[0x2000 + i], (uint8_t)((0x2000 + i) * 7));
}

static void test_hw_breakpoints(void **state)
{
	struct fixture *x = *state;

	assert_string_equal(pkt(x, "Z1,ffffffff81000000,1"), "OK");
	assert_string_equal(pkt(x, "Z1,ffffffff81000010,1"), "OK");
	assert_string_equal(pkt(x, "Z1,ffffffff81000010,1"), "OK");	/* again */
	assert_string_equal(pkt(x, "Z1,3,1"), "OK");
	assert_string_equal(pkt(x, "Z1,4,1"), "OK");
	assert_string_equal(pkt(x, "Z1,5,1"), "E1c");
	assert_string_equal(pkt(x, "z1,3,1"), "OK");
	pkt_len(x, "c", 1, NULL);
	assert_int_equal(x->f.last.nr_hw, 3);
	assert_true(x->f.last.hw[0] == 0xffffffff81000000ULL);
	/* Watchpoints and a host without hardware breakpoints: unsupported. */
	assert_string_equal(pkt(x, "Z2,1000,4"), "");
	ops.hw_breakpoints = false;
	assert_string_equal(pkt(x, "Z1,1000,1"), "");
	assert_string_equal(pkt(x, "Z9,1000,1"), "E01");
}

static void test_resume(void **state)
{
	struct fixture *x = *state;
	enum gdb_after a;

	pkt_len(x, "c", 1, &a);
	assert_int_equal(a, GDB_AFTER_RESUMED);
	for (unsigned int i = 0; i < NR_CPUS; i++)
		assert_int_equal(x->f.last.act[i], GDB_CONTINUE);
	/* s steps the selected vCPU only; "s ADDR" moves it first. */
	pkt(x, "Hc2");
	pkt_len(x, "s100040", 7, &a);
	assert_int_equal(a, GDB_AFTER_RESUMED);
	assert_int_equal(x->f.last.act[0], GDB_STAY);
	assert_int_equal(x->f.last.act[1], GDB_STEP);
	assert_int_equal(x->f.st[1].regs.rip, 0x100040);
	pkt_len(x, "C05;100080", 10, &a);
	assert_int_equal(a, GDB_AFTER_RESUMED);
	assert_int_equal(x->f.st[1].regs.rip, 0x100080);
	/* vCont: the leftmost action for each thread wins. */
	assert_string_equal(pkt(x, "vCont?"), "vCont;c;C;s;S;t");
	pkt_len(x, "vCont;s:3;c", 11, &a);
	assert_int_equal(a, GDB_AFTER_RESUMED);
	assert_int_equal(x->f.last.act[0], GDB_CONTINUE);
	assert_int_equal(x->f.last.act[2], GDB_STEP);
	pkt_len(x, "vCont;s:1", 9, &a);
	assert_int_equal(x->f.last.act[0], GDB_STEP);
	assert_int_equal(x->f.last.act[1], GDB_STAY);
	pkt_len(x, "vCont;C05:2;s", 13, &a);
	assert_int_equal(x->f.last.act[1], GDB_CONTINUE);
	assert_int_equal(x->f.last.act[0], GDB_STEP);
	assert_int_equal(x->s.reply_len, 0);
	/* A note from the target comes back as console text. */
	snprintf(x->f.note, sizeof(x->f.note), "cannot step ring 3\n");
	pkt_len(x, "vCont;s:1;c", 11, &a);
	assert_string_equal(x->s.console, "cannot step ring 3\n");
	assert_int_equal(x->f.resumes, 7);
	/* A resume the target refuses: an error, with the note. */
	x->f.fail = -EOPNOTSUPP;
	snprintf(x->f.note, sizeof(x->f.note), "cannot step ring 3 here\n");
	assert_string_equal(pkt(x, "vCont;s:1"), "E5f");
	assert_string_equal(x->s.console, "cannot step ring 3 here\n");
	x->f.fail = 0;
	assert_string_equal(pkt(x, "vCont;c:4"), "E01");	/* no such thread */
	assert_string_equal(pkt(x, "vCont;x"), "E01");
	assert_string_equal(pkt(x, "vCont;c:1x"), "E01");
	assert_int_equal(x->f.resumes, 7);
}

static void test_threads_and_stops(void **state)
{
	struct fixture *x = *state;
	struct gdb_stop st = { .cpu = 1, .signal = GDB_SIGTRAP, .kind = GDB_STOP_SWBREAK };

	assert_string_equal(pkt(x, "?"), "T05thread:1;");
	assert_string_equal(pkt(x, "qfThreadInfo"), "m1,2,3");
	assert_string_equal(pkt(x, "qsThreadInfo"), "l");
	assert_string_equal(pkt(x, "qC"), "QC1");
	assert_string_equal(pkt(x, "qAttached"), "1");
	assert_string_equal(pkt(x, "qThreadExtraInfo,2"), "764350552031");	/* "vCPU 1" */
	assert_string_equal(pkt(x, "T3"), "OK");
	assert_string_equal(pkt(x, "T4"), "E01");
	assert_string_equal(pkt(x, "Hg0"), "OK");
	assert_string_equal(pkt(x, "Hg-1"), "OK");
	assert_string_equal(pkt(x, "Hg4"), "E01");
	gdb_session_stopped(&x->s, &st);
	assert_string_equal(x->s.reply, "T05thread:2;swbreak:;");
	assert_string_equal(pkt(x, "qC"), "QC2");	/* gdb follows the stop */
	st = (struct gdb_stop){ .cpu = 2, .signal = GDB_SIGTRAP, .kind = GDB_STOP_HWBREAK };
	gdb_session_stopped(&x->s, &st);
	assert_string_equal(pkt(x, "?"), "T05thread:3;hwbreak:;");
	st = (struct gdb_stop){ .cpu = 0, .signal = GDB_SIGINT };
	gdb_session_stopped(&x->s, &st);
	assert_string_equal(pkt(x, "?"), "T02thread:1;");
}

static void test_monitor_detach_kill(void **state)
{
	struct fixture *x = *state;
	enum gdb_after a;

	assert_string_equal(pkt(x, "qRcmd,68656c70"), "OK");	/* help */
	assert_non_null(strstr(x->s.console, "phys"));
	assert_string_equal(pkt(x, "qRcmd,63617073"), "OK");	/* caps */
	assert_non_null(strstr(x->s.console, "fake host"));
	assert_string_equal(pkt(x, "qRcmd,6e6f7065"), "OK");	/* nope */
	assert_non_null(strstr(x->s.console, "unknown monitor command 'nope'"));
	assert_string_equal(pkt(x, "qRcmd,6"), "E01");
	assert_string_equal(pkt(x, "qRcmd,zz"), "E01");
	assert_string_equal(pkt(x, "QStartNoAckMode"), "OK");
	assert_true(x->s.no_ack);
	assert_string_equal(pkt(x, "vMustReplyEmpty"), "");
	assert_string_equal(pkt(x, "qSymbol::"), "OK");
	assert_string_equal(pkt(x, "qTStatus"), "");
	pkt_len(x, "D", 1, &a);
	assert_int_equal(a, GDB_AFTER_DETACH);
	assert_string_equal(x->s.reply, "OK");
	pkt_len(x, "D;1", 3, &a);
	assert_int_equal(a, GDB_AFTER_DETACH);
	pkt_len(x, "k", 1, &a);
	assert_int_equal(a, GDB_AFTER_KILL);
	assert_int_equal(x->f.kills, 1);
	pkt_len(x, "vKill;1", 7, &a);
	assert_int_equal(a, GDB_AFTER_KILL);
	assert_string_equal(x->s.reply, "OK");
	assert_int_equal(x->f.kills, 2);
}

/* Hostile packets: each earns an error or an empty reply, and neither
 * registers, memory nor the breakpoint tables change. */
static void test_hostile_packets(void **state)
{
	static const char *const bad[] = {
		"m", "mzz", "m1", "m1,", "m1,zz", "m,4", "m10000000000000000,1",
		"M", "M1,2", "M1,2:", "M1,2:zzzz", "M1,ffffffff:00",
		"X", "X1,2", "X1,ffffffffffffffff:",
		"Z", "Z0", "Z0,", "Z0,,", "Z0,1", "Z0,1,", "Z0,1,1x", "Z5,1,1", "zz,1,1",
		"p", "px", "P", "P1", "P1=", "P1=zz", "P10=00000000000000001",
		"G", "G00", "Gzz",
		"H", "Hx", "Hg", "Hgz", "Hq1", "T", "Tz", "T0",
		"vCont;", "vCont;q", "vCont;c:", "vCont;c:z", "vCont;C", "vCont;cc",
		"qThreadExtraInfo,", "qThreadExtraInfo,0", "qThreadExtraInfo,9",
		"qXfer:features:read:target.xml:", "qXfer:features:read:target.xml:0",
		"qXfer:features:read:target.xml:z,1", "qRcmd,1", "qRcmd,4",
		"CZZ", "C05;zz", "c1x", "sq", "S", "Sx",
	};
	struct fixture *x = *state;
	struct fake before = x->f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *r = pkt(x, bad[i]);

		if (r[0] && r[0] != 'E')
			fail_msg("'%s' was answered '%s'", bad[i], r);
	}
	assert_int_equal(x->f.resumes, 0);
	assert_int_equal(x->s.nr_sw, 0);
	assert_int_equal(x->s.nr_hw, 0);
	assert_memory_equal(x->f.mem, before.mem, sizeof(before.mem));
	assert_memory_equal(x->f.st, before.st, sizeof(before.st));
	/* An empty packet, and unknown ones, get the empty reply. */
	assert_string_equal(pkt_len(x, "", 0, NULL), "");
	assert_string_equal(pkt(x, "!"), "");
	assert_string_equal(pkt(x, "qOffsets"), "");
	assert_string_equal(pkt(x, "vFile:open:"), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_supported_and_xml, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
		cmocka_unit_test(test_register_conversions),
		cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sw_breakpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sw_breakpoint_table_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hw_breakpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_and_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_monitor_detach_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_packets, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

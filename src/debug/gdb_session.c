// SPDX-License-Identifier: MIT
/*
 * The packets of gdb's remote protocol that `target remote` uses, in
 * all-stop mode (gdb_session.h).  Every field is parsed with bounds; a
 * packet that does not parse gets "E01" and changes nothing.
 */
#include "debug/gdb_session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define E_MALFORMED 0x01
#define ALL_CPUS    (~0u)

static const struct gdb_stop initial_stop = { .cpu = 0, .signal = GDB_SIGTRAP };

void gdb_session_init(struct gdb_session *s, const struct gdb_target_ops *ops, void *target)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->target = target;
	s->c_cpu = ALL_CPUS;
	s->last_stop = initial_stop;
	s->xml_len = gdb_target_xml(s->xml, sizeof(s->xml));
}

__attribute__((format(printf, 2, 3)))
static enum gdb_after reply(struct gdb_session *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s->reply, sizeof(s->reply), fmt, ap);
	va_end(ap);
	s->reply_len = n < 0 ? 0 : (size_t)n < sizeof(s->reply) ? (size_t)n : sizeof(s->reply) - 1;
	return GDB_AFTER_REPLY;
}

static enum gdb_after reply_err(struct gdb_session *s, int code)
{
	return reply(s, "E%02x", code & 0xFF);
}

static unsigned int nr_cpus(struct gdb_session *s)
{
	unsigned int n = s->ops->nr_cpus(s->target);

	return n > GDB_MAX_CPUS ? GDB_MAX_CPUS : n;
}

/* A thread id: -1 (all), 0 (any) or a vCPU's id + 1. */
static int parse_tid(struct gdb_session *s, const char **p, unsigned int *cpu)
{
	uint64_t v;

	if ((*p)[0] == '-' && (*p)[1] == '1') {
		*p += 2;
		*cpu = ALL_CPUS;
		return 0;
	}
	if (rsp_parse_hex(p, &v))
		return -1;
	if (v == 0) {
		*cpu = ALL_CPUS;
		return 0;
	}
	if (v > nr_cpus(s))
		return -1;
	*cpu = (unsigned int)v - 1;
	return 0;
}

/* "ADDR,LEN" followed by `end`; *p is left after it. */
static int parse_addr_len(const char **p, uint64_t *addr, uint64_t *len, char end)
{
	if (rsp_parse_hex(p, addr) || **p != ',')
		return -1;
	(*p)++;
	if (rsp_parse_hex(p, len) || **p != end)
		return -1;
	if (end)
		(*p)++;
	return 0;
}

void gdb_session_stopped(struct gdb_session *s, const struct gdb_stop *st)
{
	const char *why = st->kind == GDB_STOP_SWBREAK ? "swbreak:;" :
			  st->kind == GDB_STOP_HWBREAK ? "hwbreak:;" : "";

	s->last_stop = *st;
	s->g_cpu = st->cpu;
	reply(s, "T%02xthread:%x;%s", st->signal, st->cpu + 1, why);
}

/* ---- registers ---------------------------------------------------------- */

static enum gdb_after read_all_regs(struct gdb_session *s)
{
	struct gdb_x86_state st;
	uint8_t val[GDB_REG_MAX_SIZE];
	size_t o = 0;

	if (s->ops->get_state(s->target, s->g_cpu, &st))
		return reply_err(s, EIO);
	for (unsigned int i = 0; i < gdb_regs_count(); i++) {
		size_t n = gdb_reg_get(&st, i, val);

		rsp_hex_encode(val, n, s->reply + o);
		o += 2 * n;
	}
	s->reply_len = o;
	return GDB_AFTER_REPLY;
}

static enum gdb_after write_all_regs(struct gdb_session *s, const char *hex, size_t len)
{
	struct gdb_x86_state st;
	uint8_t val[GDB_REG_MAX_SIZE];

	if (len != 2 * gdb_regs_size())
		return reply_err(s, E_MALFORMED);
	if (s->ops->get_state(s->target, s->g_cpu, &st))
		return reply_err(s, EIO);
	for (unsigned int i = 0; i < gdb_regs_count(); i++) {
		size_t n = gdb_reg_size(i);

		if (rsp_hex_decode(hex, n, val))
			return reply_err(s, E_MALFORMED);
		gdb_reg_set(&st, i, val);
		hex += 2 * n;
	}
	if (s->ops->set_state(s->target, s->g_cpu, &st))
		return reply_err(s, EIO);
	return reply(s, "OK");
}

static enum gdb_after read_reg(struct gdb_session *s, const char *p)
{
	struct gdb_x86_state st;
	uint8_t val[GDB_REG_MAX_SIZE];
	uint64_t n;
	size_t size;

	if (rsp_parse_hex(&p, &n) || *p)
		return reply_err(s, E_MALFORMED);
	size = gdb_reg_size(n > UINT32_MAX ? UINT32_MAX : (unsigned int)n);
	if (!size)
		return reply_err(s, EINVAL);
	if (s->ops->get_state(s->target, s->g_cpu, &st))
		return reply_err(s, EIO);
	gdb_reg_get(&st, (unsigned int)n, val);
	rsp_hex_encode(val, size, s->reply);
	s->reply_len = 2 * size;
	return GDB_AFTER_REPLY;
}

static enum gdb_after write_reg(struct gdb_session *s, const char *p)
{
	struct gdb_x86_state st;
	uint8_t val[GDB_REG_MAX_SIZE];
	uint64_t n;
	size_t size;

	if (rsp_parse_hex(&p, &n) || *p++ != '=')
		return reply_err(s, E_MALFORMED);
	size = gdb_reg_size(n > UINT32_MAX ? UINT32_MAX : (unsigned int)n);
	if (!size)
		return reply_err(s, EINVAL);
	if (strlen(p) != 2 * size || rsp_hex_decode(p, size, val))
		return reply_err(s, E_MALFORMED);
	if (s->ops->get_state(s->target, s->g_cpu, &st))
		return reply_err(s, EIO);
	gdb_reg_set(&st, (unsigned int)n, val);
	if (s->ops->set_state(s->target, s->g_cpu, &st))
		return reply_err(s, EIO);
	return reply(s, "OK");
}

/* ---- memory and breakpoints ---------------------------------------------- */

static enum gdb_after read_mem(struct gdb_session *s, const char *p)
{
	uint8_t buf[RSP_MAX_PACKET / 2];
	uint64_t addr, len;
	size_t got;

	if (parse_addr_len(&p, &addr, &len, 0))
		return reply_err(s, E_MALFORMED);
	if (len > sizeof(buf))
		len = sizeof(buf);	/* gdb asks again for the rest */
	got = gdb_mem_read(s, addr, buf, (size_t)len);
	if (!got && len)
		return reply_err(s, EFAULT);
	rsp_hex_encode(buf, got, s->reply);
	s->reply_len = 2 * got;
	return GDB_AFTER_REPLY;
}

static enum gdb_after write_mem(struct gdb_session *s, const char *p, size_t left, bool bin)
{
	uint8_t buf[RSP_MAX_PACKET];
	const char *start = p;
	uint64_t addr, len;

	if (parse_addr_len(&p, &addr, &len, ':') || len > sizeof(buf))
		return reply_err(s, E_MALFORMED);
	left -= (size_t)(p - start);
	if (bin) {
		if (left != len)
			return reply_err(s, E_MALFORMED);
		memcpy(buf, p, left);
	} else if (left != 2 * len || rsp_hex_decode(p, (size_t)len, buf)) {
		return reply_err(s, E_MALFORMED);
	}
	if (gdb_mem_write(s, addr, buf, (size_t)len) != len)
		return reply_err(s, EFAULT);
	return reply(s, "OK");
}

static enum gdb_after breakpoint(struct gdb_session *s, const char *p, bool insert)
{
	uint64_t type, addr, kind;
	int err;

	if (rsp_parse_hex(&p, &type) || *p++ != ',' || rsp_parse_hex(&p, &addr) ||
	    *p++ != ',' || rsp_parse_hex(&p, &kind) || (*p && *p != ';'))
		return reply_err(s, E_MALFORMED);
	if (type > 4)
		return reply_err(s, E_MALFORMED);
	err = insert ? gdb_bp_insert(s, (int)type, addr) : gdb_bp_remove(s, (int)type, addr);
	if (err == -ENOTSUP)
		return reply(s, "%s", "");	/* gdb then knows the type is unsupported */
	if (err)
		return reply_err(s, -err);
	return reply(s, "OK");
}

/* ---- running ------------------------------------------------------------- */

static enum gdb_after resume(struct gdb_session *s, struct gdb_resume_req *req)
{
	int err;

	memcpy(req->hw, s->hw, sizeof(req->hw));
	req->nr_hw = s->nr_hw;
	req->nr_sw = s->nr_sw;
	s->console[0] = 0;
	err = s->ops->resume(s->target, req, s->console, sizeof(s->console));
	if (err)
		return reply_err(s, -err);
	s->reply_len = 0;
	return GDB_AFTER_RESUMED;
}

static int set_pc(struct gdb_session *s, unsigned int cpu, uint64_t pc)
{
	struct gdb_x86_state st;

	if (s->ops->get_state(s->target, cpu, &st))
		return -EIO;
	st.regs.rip = pc;
	return s->ops->set_state(s->target, cpu, &st);
}

/* c, C, s, S: "c[ADDR]", "CSIG[;ADDR]" (the signal is not delivered). */
static enum gdb_after cont_or_step(struct gdb_session *s, char op, const char *p)
{
	struct gdb_resume_req req = { 0 };
	unsigned int n = nr_cpus(s), cpu = s->c_cpu != ALL_CPUS ? s->c_cpu : s->g_cpu;
	bool step = op == 's' || op == 'S';
	uint64_t v;

	if (op == 'C' || op == 'S') {
		if (rsp_parse_hex(&p, &v))
			return reply_err(s, E_MALFORMED);
		if (*p == ';')
			p++;
		else if (*p)
			return reply_err(s, E_MALFORMED);
	}
	if (*p) {
		if (rsp_parse_hex(&p, &v) || *p)
			return reply_err(s, E_MALFORMED);
		if (set_pc(s, cpu, v))
			return reply_err(s, EIO);
	}
	/* c runs every vCPU; s steps one and leaves the others stopped. */
	for (unsigned int i = 0; i < n; i++)
		req.act[i] = step ? (i == cpu ? GDB_STEP : GDB_STAY) : GDB_CONTINUE;
	return resume(s, &req);
}

/* vCont;ACTION[:TID]...: for each vCPU the leftmost matching action. */
static enum gdb_after vcont(struct gdb_session *s, const char *p)
{
	struct gdb_resume_req req = { 0 };
	bool set[GDB_MAX_CPUS] = { false };
	unsigned int n = nr_cpus(s);

	while (*p == ';') {
		enum gdb_resume act;
		unsigned int cpu = ALL_CPUS;
		uint64_t sig;
		char op = *++p;

		p++;
		if (op == 'c' || op == 'C')
			act = GDB_CONTINUE;
		else if (op == 's' || op == 'S')
			act = GDB_STEP;
		else if (op == 't')
			act = GDB_STAY;
		else
			return reply_err(s, E_MALFORMED);
		if ((op == 'C' || op == 'S') && rsp_parse_hex(&p, &sig))
			return reply_err(s, E_MALFORMED);
		if (*p == ':' && (p++, parse_tid(s, &p, &cpu)))
			return reply_err(s, E_MALFORMED);
		for (unsigned int i = 0; i < n; i++) {
			if (!set[i] && (cpu == ALL_CPUS || cpu == i)) {
				req.act[i] = act;
				set[i] = true;
			}
		}
	}
	if (*p)
		return reply_err(s, E_MALFORMED);
	return resume(s, &req);
}

/* ---- queries ------------------------------------------------------------- */

static enum gdb_after xfer_features(struct gdb_session *s, const char *p)
{
	const char *annex = "target.xml:";
	uint64_t off, len;
	size_t used, o;

	if (strncmp(p, annex, strlen(annex)))
		return reply_err(s, ENOENT);
	p += strlen(annex);
	if (parse_addr_len(&p, &off, &len, 0) || !s->xml_len)
		return reply_err(s, E_MALFORMED);
	if (off >= s->xml_len)
		return reply(s, "l");
	if (len > sizeof(s->reply) / 2)
		len = sizeof(s->reply) / 2;
	if (len > s->xml_len - off)
		len = s->xml_len - off;
	o = rsp_escape((const uint8_t *)s->xml + off, (size_t)len, s->reply + 1,
		       sizeof(s->reply) - 1, &used);
	s->reply[0] = off + used < s->xml_len ? 'm' : 'l';
	s->reply_len = o + 1;
	return GDB_AFTER_REPLY;
}

static void monitor_help(struct gdb_session *s)
{
	snprintf(s->console, sizeof(s->console),
		 "minivmm monitor commands:\n"
		 "  phys [on|off]  memory and breakpoint addresses are guest-physical\n"
		 "                 (on) or guest-virtual through the vCPU (off, default)\n"
		 "  caps           what this host's KVM lets the stub do\n");
}

static enum gdb_after monitor(struct gdb_session *s, const char *hex)
{
	char cmd[128];
	size_t n = strlen(hex) / 2;

	if (strlen(hex) % 2 || n >= sizeof(cmd) || rsp_hex_decode(hex, n, (uint8_t *)cmd))
		return reply_err(s, E_MALFORMED);
	cmd[n] = 0;
	if (!strcmp(cmd, "phys on") || !strcmp(cmd, "phys off"))
		s->phys = !strcmp(cmd, "phys on");
	if (!strncmp(cmd, "phys", 4) && (!cmd[4] || !strcmp(cmd + 4, " on") ||
					 !strcmp(cmd + 4, " off"))) {
		snprintf(s->console, sizeof(s->console), "addresses are guest-%s\n",
			 s->phys ? "physical" : "virtual");
	} else if (!strcmp(cmd, "caps")) {
		s->ops->describe(s->target, s->console, sizeof(s->console) - 1);
		strcat(s->console, "\n");
	} else if (!strcmp(cmd, "help")) {
		monitor_help(s);
	} else {
		snprintf(s->console, sizeof(s->console),
			 "unknown monitor command '%.100s' (try: monitor help)\n", cmd);
	}
	return reply(s, "OK");
}

static enum gdb_after thread_list(struct gdb_session *s)
{
	size_t o = 0;

	s->reply[o++] = 'm';
	for (unsigned int i = 0; i < nr_cpus(s); i++)
		o += (size_t)snprintf(s->reply + o, sizeof(s->reply) - o, "%s%x", i ? "," : "",
				      i + 1);
	s->reply_len = o;
	return GDB_AFTER_REPLY;
}

static enum gdb_after query(struct gdb_session *s, const char *p)
{
	if (!strncmp(p, "qSupported", 10))
		return reply(s, "PacketSize=%x;qXfer:features:read+;swbreak+;%s"
			     "QStartNoAckMode+;vContSupported+", RSP_MAX_PACKET,
			     s->ops->hw_breakpoints ? "hwbreak+;" : "");
	if (!strncmp(p, "qXfer:features:read:", 20))
		return xfer_features(s, p + 20);
	if (!strcmp(p, "qfThreadInfo"))
		return thread_list(s);
	if (!strcmp(p, "qsThreadInfo"))
		return reply(s, "l");
	if (!strcmp(p, "qC"))
		return reply(s, "QC%x", s->g_cpu + 1);
	if (!strncmp(p, "qAttached", 9))
		return reply(s, "1");	/* gdb detaches, not kills, when it quits */
	if (!strncmp(p, "qThreadExtraInfo,", 17)) {
		const char *t = p + 17;
		char text[32];
		unsigned int cpu;

		if (parse_tid(s, &t, &cpu) || *t || cpu == ALL_CPUS)
			return reply_err(s, E_MALFORMED);
		snprintf(text, sizeof(text), "vCPU %u", cpu);
		rsp_hex_encode((const uint8_t *)text, strlen(text), s->reply);
		s->reply_len = 2 * strlen(text);
		return GDB_AFTER_REPLY;
	}
	if (!strncmp(p, "qRcmd,", 6))
		return monitor(s, p + 6);
	if (!strncmp(p, "qSymbol:", 8))
		return reply(s, "OK");
	return reply(s, "%s", "");	/* not supported */
}

static enum gdb_after set_thread(struct gdb_session *s, const char *p)
{
	char which = *p++;
	unsigned int cpu;

	if ((which != 'g' && which != 'c') || parse_tid(s, &p, &cpu) || *p)
		return reply_err(s, E_MALFORMED);
	if (which == 'c')
		s->c_cpu = cpu;
	else if (cpu != ALL_CPUS)
		s->g_cpu = cpu;
	return reply(s, "OK");
}

static enum gdb_after v_packet(struct gdb_session *s, const char *p)
{
	if (!strcmp(p, "vCont?"))
		return reply(s, "vCont;c;C;s;S;t");
	if (!strncmp(p, "vCont;", 6))
		return vcont(s, p + 5);
	if (!strncmp(p, "vKill", 5)) {
		s->ops->kill(s->target);
		reply(s, "OK");
		return GDB_AFTER_KILL;
	}
	return reply(s, "%s", "");	/* vMustReplyEmpty and the rest */
}

enum gdb_after gdb_session_packet(struct gdb_session *s, const char *pkt, size_t len)
{
	const char *p = pkt + 1;
	unsigned int cpu;

	s->console[0] = 0;
	s->reply_len = 0;
	if (!len)
		return reply(s, "%s", "");
	switch (pkt[0]) {
	case '?':
		gdb_session_stopped(s, &s->last_stop);
		return GDB_AFTER_REPLY;
	case 'g':
		return read_all_regs(s);
	case 'G':
		return write_all_regs(s, p, len - 1);
	case 'p':
		return read_reg(s, p);
	case 'P':
		return write_reg(s, p);
	case 'm':
		return read_mem(s, p);
	case 'M':
		return write_mem(s, p, len - 1, false);
	case 'X':
		return write_mem(s, p, len - 1, true);
	case 'Z':
	case 'z':
		return breakpoint(s, p, pkt[0] == 'Z');
	case 'c':
	case 'C':
	case 's':
	case 'S':
		return cont_or_step(s, pkt[0], p);
	case 'H':
		return set_thread(s, p);
	case 'T':
		if (parse_tid(s, &p, &cpu) || *p || cpu == ALL_CPUS)
			return reply_err(s, E_MALFORMED);
		return reply(s, "OK");
	case 'D':
		reply(s, "OK");
		return GDB_AFTER_DETACH;
	case 'k':
		s->ops->kill(s->target);
		return GDB_AFTER_KILL;
	case 'q':
		return query(s, pkt);
	case 'Q':
		if (!strcmp(pkt, "QStartNoAckMode")) {
			s->no_ack = true;
			return reply(s, "OK");
		}
		return reply(s, "%s", "");
	case 'v':
		return v_packet(s, pkt);
	default:
		return reply(s, "%s", "");
	}
}

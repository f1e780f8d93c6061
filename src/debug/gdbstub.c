// SPDX-License-Identifier: MIT
/*
 * The gdb stub's thread (gdbstub.h): one poll loop over the listening
 * socket or the client, the vCPUs' stop eventfd and the quit eventfd.
 * Writes to the client carry a timeout and MSG_NOSIGNAL: a client that
 * stops reading or goes away is dropped, never waited for.
 */
#include "debug/gdbstub_priv.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/sandbox.h"
#include "debug/gdb_listen.h"

#define SEND_TIMEOUT_S 5
#define READ_CHUNK     4096

static struct log_ratelimit running_packets = LOG_RATELIMIT_INIT(3);

/* ---- sending --------------------------------------------------------------- */

static void send_raw(struct gdbstub *g, const char *buf, size_t len)
{
	while (len && !g->client_broken) {
		ssize_t n = send(g->client_fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			g->client_broken = true;	/* gone, or not reading */
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void send_packet(struct gdbstub *g, const char *payload, size_t len)
{
	g->frame_len = rsp_encode(payload, len, true, g->frame, sizeof(g->frame));
	if (!g->frame_len) /* cannot happen with replies sized to RSP_MAX_REPLY */
		g->frame_len = rsp_encode("E01", 3, false, g->frame, sizeof(g->frame));
	send_raw(g, g->frame, g->frame_len);
}

/* Console text for gdb's terminal: an 'O' packet, hex. */
static void send_console(struct gdbstub *g, const char *text)
{
	char hex[2 * sizeof(g->session->console) + 2] = "O";
	size_t n = strnlen(text, sizeof(g->session->console));

	rsp_hex_encode((const uint8_t *)text, n, hex + 1);
	send_packet(g, hex, 1 + 2 * n);
}

static void send_reply(struct gdbstub *g)
{
	struct gdb_session *s = g->session;

	send_packet(g, s->reply, s->reply_len);
}

/* ---- stopping and resuming ------------------------------------------------ */

static void pause_vcpus(struct gdbstub *g)
{
	vcpu_pause_all(g->p.pause, g->p.vcpus, g->p.nr_vcpus);
}

/* Everything runs again with debugging off. */
static void let_go(struct gdbstub *g)
{
	struct gdb_resume_req req = { .detach = true };
	char note[8];

	gdb_session_clear_breakpoints(g->session);
	if (g->ops.resume(g, &req, note, sizeof(note)))
		log_warn("gdb: cannot turn guest debugging off; the guest runs on");
}

/* The target is running; stop it and take the stop that won, if any. */
static bool stop_running(struct gdbstub *g, struct gdb_stop *st)
{
	bool was_running, pending;

	pthread_mutex_lock(&g->lock);
	was_running = g->running;
	pending = g->stop_pending;
	*st = g->stop;
	g->running = false;
	g->stop_pending = false;
	pthread_mutex_unlock(&g->lock);
	if (was_running) {
		pause_vcpus(g);
		for (unsigned int i = 0; i < g->p.nr_vcpus; i++)
			gdb_vcpu_stopped(g, i);
	}
	return pending;
}

static void close_client(struct gdbstub *g, const char *why)
{
	if (g->client_fd < 0)
		return;
	close(g->client_fd);
	g->client_fd = -1;
	log_info("gdb: client %s", why);
}

/* A client that vanished (or detached): the guest runs on without it. */
static void drop_client(struct gdbstub *g, const char *why)
{
	struct gdb_stop st;

	stop_running(g, &st);
	let_go(g);
	close_client(g, why);
}

/* A vCPU stopped for gdb (the stop eventfd). */
static void vcpu_stopped(struct gdbstub *g)
{
	struct gdb_stop st;
	uint64_t n;

	if (read(g->stop_fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&g->lock);
	if (!g->running || !g->stop_pending) {
		pthread_mutex_unlock(&g->lock);
		return;		/* taken by a Ctrl-C already */
	}
	pthread_mutex_unlock(&g->lock);
	if (!stop_running(g, &st) || g->client_fd < 0)
		return;
	gdb_session_stopped(g->session, &st);
	send_reply(g);
}

static void interrupt(struct gdbstub *g)
{
	struct gdb_stop st;
	bool running;

	pthread_mutex_lock(&g->lock);
	running = g->running;
	pthread_mutex_unlock(&g->lock);
	if (!running)
		return;	/* stray Ctrl-C while stopped: nothing to stop */
	if (!stop_running(g, &st))
		st = (struct gdb_stop){ .cpu = g->session->g_cpu, .signal = GDB_SIGINT };
	gdb_session_stopped(g->session, &st);
	send_reply(g);
}

/* ---- the client ------------------------------------------------------------ */

static void handle_packet(struct gdbstub *g)
{
	struct gdb_session *s = g->session;
	enum gdb_after after;
	bool running;

	if (!s->no_ack)
		send_raw(g, "+", 1);
	pthread_mutex_lock(&g->lock);
	running = g->running;
	pthread_mutex_unlock(&g->lock);
	if (running) {	/* all-stop: only Ctrl-C means something now */
		if (log_ratelimit_ok(&running_packets, "gdb packets while running"))
			log_warn("gdb: packet '%.20s' while the guest runs ignored", g->dec.buf);
		return;
	}
	after = gdb_session_packet(s, (const char *)g->dec.buf, g->dec.len);
	if (s->console[0])
		send_console(g, s->console);
	switch (after) {
	case GDB_AFTER_REPLY:
		send_reply(g);
		break;
	case GDB_AFTER_RESUMED:
		break;
	case GDB_AFTER_DETACH:
		send_reply(g);
		drop_client(g, "detached; the guest runs on");
		break;
	case GDB_AFTER_KILL:
		if (s->reply_len)
			send_reply(g);
		close_client(g, "killed the VM");
		break;
	}
}

static void client_byte(struct gdbstub *g, uint8_t c)
{
	switch (rsp_decode_byte(&g->dec, c)) {
	case RSP_PACKET:
		handle_packet(g);
		break;
	case RSP_BAD_CHECKSUM:
		if (!g->session->no_ack)
			send_raw(g, "-", 1);
		break;
	case RSP_MALFORMED:	/* complete, but unusable: say so once */
		if (!g->session->no_ack)
			send_raw(g, "+", 1);
		send_packet(g, "E01", 3);
		break;
	case RSP_INTERRUPT:
		interrupt(g);
		break;
	case RSP_NAK:
		if (g->frame_len)
			send_raw(g, g->frame, g->frame_len);
		break;
	case RSP_ACK:
	case RSP_NONE:
		break;
	}
}

static void client_input(struct gdbstub *g)
{
	uint8_t buf[READ_CHUNK];
	ssize_t n = read(g->client_fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		drop_client(g, n == 0 ? "disconnected; the guest runs on" :
			    "connection failed; the guest runs on");
		return;
	}
	for (ssize_t i = 0; i < n && g->client_fd >= 0 && !g->client_broken; i++)
		client_byte(g, buf[i]);
	if (g->client_fd >= 0 && g->client_broken)
		drop_client(g, "stopped reading; dropped, the guest runs on");
}

static void accept_client(struct gdbstub *g)
{
	struct timeval tv = { .tv_sec = SEND_TIMEOUT_S };
	int one = 1, fd = accept4(g->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (!g->is_unix)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	g->client_fd = fd;
	g->client_broken = false;
	g->frame_len = 0;
	rsp_decoder_init(&g->dec);
	/* All-stop from the first packet on, as QEMU: the guest waits. */
	pause_vcpus(g);
	gdb_session_init(g->session, &g->ops, g);
	log_info("gdb: client connected; the guest is paused");
}

/* The VM is over: a gdb waiting for the guest hears how it ended. */
static void say_goodbye(struct gdbstub *g)
{
	char pkt[8];
	bool running;

	if (g->client_fd < 0)
		return;
	pthread_mutex_lock(&g->lock);
	running = g->running;
	pthread_mutex_unlock(&g->lock);
	if (running) {
		if (g->exit_signal > 0)
			snprintf(pkt, sizeof(pkt), "X%02x", g->exit_signal & 0xFF);
		else
			snprintf(pkt, sizeof(pkt), "W%02x", g->exit_status & 0xFF);
		send_packet(g, pkt, strlen(pkt));
	}
	close_client(g, "closed: the VM has stopped");
}

/* One gdb at a time: a second one is told so by a closed connection. */
static void refuse_client(struct gdbstub *g)
{
	int fd = accept4(g->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	close(fd);
	log_warn("gdb: a second client refused: one gdb at a time");
}

static void *stub_thread(void *arg)
{
	struct gdbstub *g = arg;

	sandbox_enter(SANDBOX_GDB);
	for (;;) {
		struct pollfd fds[4] = {
			{ .fd = g->quit_fd, .events = POLLIN },
			{ .fd = g->stop_fd, .events = POLLIN },
			{ .fd = g->listen_fd, .events = POLLIN },
			{ .fd = g->client_fd, .events = POLLIN },	/* -1: ignored */
		};

		if (poll(fds, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("gdb: poll failed: %s; the stub stops", strerror(errno));
			break;
		}
		if (fds[0].revents)
			break;
		if (fds[1].revents)
			vcpu_stopped(g);
		if (fds[3].revents && g->client_fd >= 0)
			client_input(g);
		if (fds[2].revents) {
			if (g->client_fd >= 0)
				refuse_client(g);
			else
				accept_client(g);
		}
	}
	say_goodbye(g);
	return NULL;
}

/* ---- life cycle ------------------------------------------------------------ */

static void say_caps(struct gdbstub *g)
{
	int err = kvm_probe_debug(g->p.kvm, &g->caps);

	kvm_debug_caps_describe(&g->caps, g->caps_text, sizeof(g->caps_text));
	if (err && g->caps.api)
		snprintf(g->caps_text, sizeof(g->caps_text),
			 "the probe failed (%s): assuming single-step and hardware breakpoints "
			 "work", strerror(-err));
	if (err && g->caps.api) {
		g->caps.step[0] = g->caps.step[1] = true;
		g->caps.hw_bp[0] = g->caps.hw_bp[1] = true;
	}
	log_info("gdb: host KVM (%s paging): %s", host_paging_name(g->p.kvm->paging),
		 g->caps_text);
	gdb_vcpu_caps(g);
	if (g->vec_bp || g->vec_step)
		log_info("gdb: ring 3 breakpoints%s through the guest's %s handlers "
			 "(docs/debugging.md)", g->vec_step ? " and steps" : "",
			 g->vec_step ? "#BP and #DB" : "#BP");
	g->ops = gdb_vm_target_ops;
	g->ops.hw_breakpoints = (g->caps.flags & KVM_GUESTDBG_USE_HW_BP) &&
				(g->caps.hw_bp[0] || g->caps.hw_bp[1]);
}

int gdbstub_create(const struct gdbstub_params *p, struct gdbstub **out)
{
	struct gdbstub *g = calloc(1, sizeof(*g));
	struct gdb_listen l;
	char why[160];
	int err;

	if (!g)
		return -ENOMEM;
	g->p = *p;
	g->listen_fd = g->client_fd = g->stop_fd = g->quit_fd = -1;
	pthread_mutex_init(&g->lock, NULL);
	*out = g;
	if (gdb_listen_parse(p->listen, &l, why, sizeof(why))) {
		log_err("-gdb: %s", why);
		return -EINVAL;
	}
	g->session = calloc(1, sizeof(*g->session));
	g->vdbg = calloc(p->nr_vcpus ? p->nr_vcpus : 1, sizeof(*g->vdbg));
	g->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	g->quit_fd = eventfd(0, EFD_CLOEXEC);
	if (!g->session || !g->vdbg || g->stop_fd < 0 || g->quit_fd < 0)
		return -ENOMEM;
	for (unsigned int i = 0; i < p->nr_vcpus; i++)
		g->vdbg[i].slot[0] = g->vdbg[i].slot[1] = -1;
	say_caps(g);
	gdb_session_init(g->session, &g->ops, g);
	err = gdb_listen_open(&l, g->where, sizeof(g->where));
	if (err < 0)
		return err;
	g->listen_fd = err;
	g->is_unix = l.is_unix;
	snprintf(g->unix_path, sizeof(g->unix_path), "%s", l.path);
	log_info("gdb: listening on %s%s", g->where,
		 vcpu_pause_requested(p->pause) ? "; the vCPUs wait for gdb (-S)" : "");
	return 0;
}

int gdbstub_start(struct gdbstub *g)
{
	int err = pthread_create(&g->thread, NULL, stub_thread, g);

	if (err) {
		log_err("gdb: cannot start the stub thread: %s", strerror(err));
		return -err;
	}
	pthread_setname_np(g->thread, "minivmm-gdb");
	g->started = true;
	return 0;
}

void gdbstub_stop(struct gdbstub *g, int status, int signo)
{
	uint64_t one = 1;
	ssize_t r;

	if (!g || !g->started)
		return;
	pthread_mutex_lock(&g->lock);
	g->exit_status = status;
	g->exit_signal = signo;
	pthread_mutex_unlock(&g->lock);
	r = write(g->quit_fd, &one, sizeof(one));
	(void)r;
	pthread_join(g->thread, NULL);
	g->started = false;
}

void gdbstub_destroy(struct gdbstub *g)
{
	if (!g)
		return;
	gdbstub_stop(g, 0, 0);
	if (g->client_fd >= 0)
		close(g->client_fd);
	if (g->listen_fd >= 0)
		close(g->listen_fd);
	if (g->is_unix)
		unlink(g->unix_path);
	if (g->stop_fd >= 0)
		close(g->stop_fd);
	if (g->quit_fd >= 0)
		close(g->quit_fd);
	pthread_mutex_destroy(&g->lock);
	free(g->session);
	free(g->vdbg);
	free(g);
}

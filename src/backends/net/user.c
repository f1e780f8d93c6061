// SPDX-License-Identifier: MIT
/*
 * -netdev user: libslirp on the VM's I/O thread.
 *
 * libslirp is single-threaded and poll(2)-shaped: before every sleep it
 * names the sockets it wants watched and how long it may sleep
 * (slirp_pollfds_fill), after it reads the results (slirp_pollfds_poll),
 * and it keeps timers (TCP's fast and slow timeouts, DHCP and ARP) that the
 * application runs.  All of that is an evloop poller here, so slirp, the
 * device's queues and its interrupts share one thread and need no locks.
 *
 * Guest → host: a frame is flattened into one buffer (slirp takes a flat
 * packet), its checksum completed when the guest left it to us (we offer
 * checksum offload and do it here, natively, rather than in the guest's
 * ring 0), and handed to slirp_input.
 *
 * Host → guest: slirp calls send_packet with a frame; it goes straight to
 * the device.  When the guest has no receive buffers the frame is queued
 * (bounded: USER_RXQ_FRAMES frames, USER_RXQ_BYTES bytes; beyond that
 * dropped, as a full NIC drops, and TCP retransmits) until the device says
 * it can take frames again.  Frames slirp made are correct by
 * construction, so when the guest accepts checksum offload they arrive
 * marked DATA_VALID and its stack does not verify them again.
 */
#include "backends/net/backend.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <slirp/libslirp.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/util.h"

#define USER_RXQ_FRAMES 1024
#define USER_RXQ_BYTES  (4u << 20)

struct user_timer {
	struct user_timer *next;
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms;            /* -1: not armed */
};

struct user_frame {
	struct user_frame *next;
	size_t len;
	uint8_t data[];
};

struct net_user {
	struct net_backend nb;
	char id[NETDEV_ID_MAX + 1];
	Slirp *slirp;
	struct user_timer *timers;
	bool guest_csum;              /* the guest takes DATA_VALID */
	bool rx_blocked;              /* the device said "no room" */
	struct user_frame *rxq_head, **rxq_tail;
	unsigned int rxq_frames;
	size_t rxq_bytes;
	struct log_ratelimit rl;
	uint8_t tx[NET_FRAME_MAX];
};

static struct net_user *to_user(struct net_backend *nb)
{
	return container_of(nb, struct net_user, nb);
}

/* ---- host → guest -------------------------------------------------------- */

static bool deliver(struct net_user *u, const void *buf, size_t len)
{
	struct net_hdr h = { .flags = u->guest_csum ? NET_HDR_F_DATA_VALID : 0 };
	struct iovec v = { .iov_base = (void *)buf, .iov_len = len };

	return u->nb.port.receive(u->nb.port.ctx, &h, &v, 1, len);
}

static ssize_t user_send_packet(const void *buf, size_t len, void *opaque)
{
	struct net_user *u = opaque;
	struct user_frame *f;

	if (len < NET_ETH_HLEN || len > NET_FRAME_MAX)
		return (ssize_t)len;
	if (!u->rx_blocked && !u->rxq_head) {
		if (deliver(u, buf, len))
			return (ssize_t)len;
		u->rx_blocked = true;
	}
	if (u->rxq_frames >= USER_RXQ_FRAMES || u->rxq_bytes + len > USER_RXQ_BYTES ||
	    !(f = malloc(sizeof(*f) + len))) {
		net_count(&u->nb.stats.rx_dropped, 1);
		return (ssize_t)len;
	}
	f->next = NULL;
	f->len = len;
	memcpy(f->data, buf, len);
	*u->rxq_tail = f;
	u->rxq_tail = &f->next;
	u->rxq_frames++;
	u->rxq_bytes += len;
	return (ssize_t)len;
}

static void user_rx_resume(struct net_backend *nb)
{
	struct net_user *u = to_user(nb);

	u->rx_blocked = false;
	while (u->rxq_head) {
		struct user_frame *f = u->rxq_head;

		if (!deliver(u, f->data, f->len)) {
			u->rx_blocked = true;
			return;
		}
		u->rxq_head = f->next;
		if (!u->rxq_head)
			u->rxq_tail = &u->rxq_head;
		u->rxq_frames--;
		u->rxq_bytes -= f->len;
		free(f);
	}
}

static void user_set_rx_offloads(struct net_backend *nb, unsigned int offloads)
{
	to_user(nb)->guest_csum = offloads & NET_OFF_CSUM;
}

/* ---- guest → host -------------------------------------------------------- */

static void user_send(struct net_backend *nb, const struct net_hdr *h,
		      const struct iovec *iov, unsigned int cnt, size_t len)
{
	struct net_user *u = to_user(nb);
	size_t off = 0;

	for (unsigned int i = 0; i < cnt && off < len; i++) {
		size_t n = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;

		memcpy(u->tx + off, iov[i].iov_base, n);
		off += n;
	}
	if (h->flags & NET_HDR_F_NEEDS_CSUM &&
	    net_csum_complete(u->tx, off, le16toh(h->csum_start), le16toh(h->csum_offset))) {
		net_count(&nb->stats.tx_dropped, 1);
		return;
	}
	slirp_input(u->slirp, u->tx, (int)off);
}

/* ---- slirp's callbacks ---------------------------------------------------- */

static void user_guest_error(const char *msg, void *opaque)
{
	struct net_user *u = opaque;

	if (log_ratelimit_ok(&u->rl, "netdev user guest error"))
		log_warn("netdev %s: guest error: %s", u->id, msg);
}

static int64_t user_clock_ns(void *opaque)
{
	return (int64_t)now_ns();
}

static void *user_timer_new(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct net_user *u = opaque;
	struct user_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->id = id;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = u->timers;
	u->timers = t;
	return t;
}

static void user_timer_free(void *timer, void *opaque)
{
	struct net_user *u = opaque;

	for (struct user_timer **p = &u->timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = ((struct user_timer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void user_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	((struct user_timer *)timer)->expire_ms = expire_ms;
}

static void user_no_fd(int fd, void *opaque)
{
}

static void user_notify(void *opaque)
{
	/* slirp runs on the I/O thread only: the next poll sees the change. */
}

static const SlirpCb user_callbacks = {
	.send_packet = user_send_packet,
	.guest_error = user_guest_error,
	.clock_get_ns = user_clock_ns,
	.timer_free = user_timer_free,
	.timer_mod = user_timer_mod,
	.register_poll_fd = user_no_fd,
	.unregister_poll_fd = user_no_fd,
	.notify = user_notify,
	.timer_new_opaque = user_timer_new,
};

/* ---- the poller ------------------------------------------------------------ */

static int add_poll(int fd, int events, void *opaque)
{
	short ev = (events & SLIRP_POLL_IN ? POLLIN : 0) | (events & SLIRP_POLL_OUT ? POLLOUT : 0) |
		   (events & SLIRP_POLL_PRI ? POLLPRI : 0);

	return evloop_pollset_add(opaque, fd, ev);
}

static int get_revents(int idx, void *opaque)
{
	short r = evloop_pollset_revents(opaque, idx);

	return (r & POLLIN ? SLIRP_POLL_IN : 0) | (r & POLLOUT ? SLIRP_POLL_OUT : 0) |
	       (r & POLLPRI ? SLIRP_POLL_PRI : 0) | (r & POLLERR ? SLIRP_POLL_ERR : 0) |
	       (r & POLLHUP ? SLIRP_POLL_HUP : 0);
}

static void user_fill(void *ctx, struct evloop_pollset *ps, int *timeout_ms)
{
	struct net_user *u = ctx;
	uint32_t t = UINT32_MAX;
	int64_t now = (int64_t)(now_ns() / 1000000);

	slirp_pollfds_fill(u->slirp, &t, add_poll, ps);
	for (struct user_timer *tm = u->timers; tm; tm = tm->next) {
		if (tm->expire_ms < 0)
			continue;
		if (tm->expire_ms <= now)
			t = 0;
		else if ((uint64_t)(tm->expire_ms - now) < t)
			t = (uint32_t)(tm->expire_ms - now);
	}
	*timeout_ms = t > INT_MAX ? -1 : (int)t;
}

static void user_dispatch(void *ctx, const struct evloop_pollset *ps)
{
	struct net_user *u = ctx;
	int64_t now;

	slirp_pollfds_poll(u->slirp, 0, get_revents, (void *)ps);
	now = (int64_t)(now_ns() / 1000000);
	/* A timer's handler may free or re-arm timers: restart the walk after
	 * each one that fires. */
	for (bool fired = true; fired;) {
		fired = false;
		for (struct user_timer *tm = u->timers; tm; tm = tm->next) {
			if (tm->expire_ms >= 0 && tm->expire_ms <= now) {
				tm->expire_ms = -1;
				slirp_handle_timer(u->slirp, tm->id, tm->cb_opaque);
				fired = true;
				break;
			}
		}
	}
}

/* ---- creation -------------------------------------------------------------- */

static void user_destroy(struct net_backend *nb)
{
	struct net_user *u = to_user(nb);

	if (u->slirp)
		slirp_cleanup(u->slirp);
	while (u->timers)
		user_timer_free(u->timers, u);
	while (u->rxq_head) {
		struct user_frame *f = u->rxq_head;

		u->rxq_head = f->next;
		free(f);
	}
	free(u);
}

static const struct net_backend_ops user_ops = {
	.send = user_send,
	.rx_resume = user_rx_resume,
	.set_rx_offloads = user_set_rx_offloads,
	.destroy = user_destroy,
};

int net_user_open(const struct netdev_config *cfg, struct evloop *loop,
		  struct net_backend **out)
{
	struct net_user *u = calloc(1, sizeof(*u));
	SlirpConfig sc = { .version = 4 };
	struct evloop_poller poller = { .fill = user_fill, .dispatch = user_dispatch };
	int err;

	if (!u)
		return -ENOMEM;
	snprintf(u->id, sizeof(u->id), "%s", cfg->id);
	u->rxq_tail = &u->rxq_head;
	u->rl.burst = 10;
	u->nb.ops = &user_ops;
	u->nb.id = u->id;
	u->nb.kind = "user";
	u->nb.tx_offloads = NET_OFF_CSUM;
	u->nb.rx_offloads = NET_OFF_CSUM;
	sc.restricted = cfg->restricted;
	sc.if_mtu = sc.if_mru = cfg->mtu;
	u->nb.mtu = cfg->mtu;
	sc.in_enabled = true;
	inet_pton(AF_INET, "10.0.2.0", &sc.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &sc.vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &sc.vhost);
	inet_pton(AF_INET, "10.0.2.15", &sc.vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &sc.vnameserver);
	sc.vhostname = "minivmm";
	u->slirp = slirp_new(&sc, &user_callbacks, u);
	if (!u->slirp) {
		log_err("netdev %s: libslirp could not start", cfg->id);
		user_destroy(&u->nb);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < cfg->nr_fwd; i++) {
		const struct netdev_fwd *f = &cfg->fwd[i];
		char host[INET_ADDRSTRLEN], guest[INET_ADDRSTRLEN];

		errno = 0;
		if (slirp_add_hostfwd(u->slirp, f->udp, f->host_addr, f->host_port,
				      f->guest_addr, f->guest_port) < 0) {
			err = errno ? -errno : -EADDRINUSE;
			inet_ntop(AF_INET, &f->host_addr, host, sizeof(host));
			inet_ntop(AF_INET, &f->guest_addr, guest, sizeof(guest));
			log_err("netdev %s: hostfwd %s:%s:%u-%s:%u: cannot listen on the host: %s",
				cfg->id, f->udp ? "udp" : "tcp", host, f->host_port, guest,
				f->guest_port, strerror(-err));
			user_destroy(&u->nb);
			return err;
		}
	}
	poller.ctx = u;
	err = evloop_add_poller(loop, &poller);
	if (err) {
		user_destroy(&u->nb);
		return err;
	}
	*out = &u->nb;
	return 0;
}

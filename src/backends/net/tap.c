// SPDX-License-Identifier: MIT
/*
 * -netdev tap: a tap interface from /dev/net/tun with IFF_VNET_HDR, so each
 * frame carries a 12-byte virtio-net header and the host kernel honours the
 * guest's checksum and segmentation offloads (and hands it large segments
 * once the guest accepts them: TUNSETOFFLOAD).
 *
 * The descriptor is watched by an evloop poller only while the device can
 * take frames: when the guest has no receive buffers the frame just read
 * waits in `held` and the tap is not read again until the guest posts
 * some, so the host kernel's queue (not minivmm) absorbs a burst.
 */
#include "backends/net/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

/* Frames read per wake-up before the loop looks at its other sources. */
#define TAP_BURST 64

struct net_tap {
	struct net_backend nb;
	char id[NETDEV_ID_MAX + 1];
	char ifname[IFNAMSIZ];
	int fd;
	int poll_idx;
	bool rx_blocked;
	size_t held;                  /* a frame read but not yet taken (bytes) */
	struct log_ratelimit rl;
	uint8_t buf[NET_HDR_LEN + NET_FRAME_MAX];
};

static struct net_tap *to_tap(struct net_backend *nb)
{
	return container_of(nb, struct net_tap, nb);
}

/* The held frame to the device: true when taken. */
static bool tap_deliver(struct net_tap *t)
{
	struct iovec v = { .iov_base = t->buf + NET_HDR_LEN, .iov_len = t->held - NET_HDR_LEN };

	if (!t->nb.port.receive(t->nb.port.ctx, (const struct net_hdr *)t->buf, &v, 1,
				v.iov_len)) {
		t->rx_blocked = true;
		return false;
	}
	t->held = 0;
	return true;
}

static void tap_read_burst(struct net_tap *t)
{
	for (int i = 0; i < TAP_BURST && !t->rx_blocked; i++) {
		ssize_t n = read(t->fd, t->buf, sizeof(t->buf));

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    log_ratelimit_ok(&t->rl, "tap read"))
				log_warn("netdev %s: read from %s: %s", t->id, t->ifname,
					 strerror(errno));
			return;
		}
		if ((size_t)n < NET_HDR_LEN + NET_ETH_HLEN) {
			net_count(&t->nb.stats.rx_dropped, 1);
			continue;
		}
		t->held = (size_t)n;
		if (!tap_deliver(t))
			return;
	}
}

static void tap_fill(void *ctx, struct evloop_pollset *ps, int *timeout_ms)
{
	struct net_tap *t = ctx;

	t->poll_idx = t->rx_blocked ? -1 : evloop_pollset_add(ps, t->fd, POLLIN);
}

static void tap_dispatch(void *ctx, const struct evloop_pollset *ps)
{
	struct net_tap *t = ctx;

	if (t->poll_idx >= 0 && (evloop_pollset_revents(ps, t->poll_idx) & (POLLIN | POLLERR)))
		tap_read_burst(t);
}

static void tap_rx_resume(struct net_backend *nb)
{
	struct net_tap *t = to_tap(nb);

	t->rx_blocked = false;
	if (t->held)
		tap_deliver(t);
	/* The next fill watches the tap again. */
}

static void tap_send(struct net_backend *nb, const struct net_hdr *h,
		     const struct iovec *iov, unsigned int cnt, size_t len)
{
	struct net_tap *t = to_tap(nb);
	struct iovec v[1 + 64];
	unsigned int n = 0;
	ssize_t w;

	v[n++] = (struct iovec){ .iov_base = (void *)h, .iov_len = NET_HDR_LEN };
	if (cnt > 64) {
		/* Rare (a frame in more than 64 pieces): one flat copy. */
		size_t off = 0;

		for (unsigned int i = 0; i < cnt && off < len; i++) {
			size_t c = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;

			memcpy(t->buf + NET_HDR_LEN + off, iov[i].iov_base, c);
			off += c;
		}
		memcpy(t->buf, h, NET_HDR_LEN);
		w = write(t->fd, t->buf, NET_HDR_LEN + off);
	} else {
		for (unsigned int i = 0; i < cnt; i++)
			v[n++] = iov[i];
		w = writev(t->fd, v, (int)n);
	}
	if (w < 0) {
		net_count(&nb->stats.tx_dropped, 1);
		if (errno != EAGAIN && errno != EIO && log_ratelimit_ok(&t->rl, "tap write"))
			log_warn("netdev %s: write to %s: %s", t->id, t->ifname, strerror(errno));
	}
}

static void tap_set_rx_offloads(struct net_backend *nb, unsigned int offloads)
{
	struct net_tap *t = to_tap(nb);
	unsigned int f = 0;

	if (offloads & NET_OFF_CSUM) {
		f |= TUN_F_CSUM;
		if (offloads & NET_OFF_TSO4)
			f |= TUN_F_TSO4;
		if (offloads & NET_OFF_TSO6)
			f |= TUN_F_TSO6;
		if ((offloads & NET_OFF_ECN) && (f & (TUN_F_TSO4 | TUN_F_TSO6)))
			f |= TUN_F_TSO_ECN;
	}
	if (ioctl(t->fd, TUNSETOFFLOAD, f) < 0 && log_ratelimit_ok(&t->rl, "tap offload"))
		log_warn("netdev %s: TUNSETOFFLOAD on %s: %s", t->id, t->ifname, strerror(errno));
}

static void tap_destroy(struct net_backend *nb)
{
	struct net_tap *t = to_tap(nb);

	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

static const struct net_backend_ops tap_ops = {
	.send = tap_send,
	.rx_resume = tap_rx_resume,
	.set_rx_offloads = tap_set_rx_offloads,
	.destroy = tap_destroy,
};

int net_tap_open(const struct netdev_config *cfg, struct evloop *loop,
		 struct net_backend **out)
{
	struct net_tap *t = calloc(1, sizeof(*t));
	struct evloop_poller poller = { .fill = tap_fill, .dispatch = tap_dispatch };
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int hdr_len = NET_HDR_LEN, err;

	if (!t)
		return -ENOMEM;
	snprintf(t->id, sizeof(t->id), "%s", cfg->id);
	snprintf(t->ifname, sizeof(t->ifname), "%s", cfg->ifname);
	t->rl.burst = 10;
	t->poll_idx = -1;
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		err = -errno;
		log_err("netdev %s: cannot open /dev/net/tun: %s", cfg->id, strerror(errno));
		goto fail;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", cfg->ifname);
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		if (errno == EPERM)
			log_err("netdev %s: cannot create or attach tap %s: this needs "
				"CAP_NET_ADMIN (or a tap made persistent for this user with "
				"`ip tuntap add %s mode tap user $USER`)", cfg->id, cfg->ifname,
				cfg->ifname);
		else if (errno == EBUSY || errno == EINVAL)
			log_err("netdev %s: %s exists and is not a free tap with vnet headers: %s",
				cfg->id, cfg->ifname, strerror(errno));
		else
			log_err("netdev %s: TUNSETIFF %s: %s", cfg->id, cfg->ifname,
				strerror(errno));
		goto fail;
	}
	if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
		err = -errno;
		log_err("netdev %s: TUNSETVNETHDRSZ on %s: %s", cfg->id, cfg->ifname,
			strerror(errno));
		goto fail;
	}
	/* Nothing large until the guest says it takes it. */
	if (ioctl(t->fd, TUNSETOFFLOAD, 0) < 0) {
		err = -errno;
		log_err("netdev %s: TUNSETOFFLOAD on %s: %s", cfg->id, cfg->ifname,
			strerror(errno));
		goto fail;
	}
	t->nb.ops = &tap_ops;
	t->nb.id = t->id;
	t->nb.kind = "tap";
	t->nb.tx_offloads = NET_OFF_CSUM | NET_OFF_TSO4 | NET_OFF_TSO6 | NET_OFF_ECN;
	t->nb.rx_offloads = NET_OFF_CSUM | NET_OFF_TSO4 | NET_OFF_TSO6 | NET_OFF_ECN;
	/* Nothing is read before the guest's driver is ready. */
	t->rx_blocked = true;
	poller.ctx = t;
	err = evloop_add_poller(loop, &poller);
	if (err)
		goto fail;
	*out = &t->nb;
	return 0;
fail:
	tap_destroy(&t->nb);
	return err;
}

int net_backend_open(const struct netdev_config *cfg, struct evloop *loop,
		     struct net_backend **out)
{
	*out = NULL;
	return cfg->kind == NETDEV_TAP ? net_tap_open(cfg, loop, out)
				       : net_user_open(cfg, loop, out);
}

void net_backend_destroy(struct net_backend *nb)
{
	if (nb)
		nb->ops->destroy(nb);
}

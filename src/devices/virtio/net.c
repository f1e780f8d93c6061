// SPDX-License-Identifier: MIT
/*
 * virtio-net (virtio 1.x, 5.1), written from the specification.
 *
 * Transmit (queue 1): each chain is a virtio-net header and one frame, all
 * readable.  The header is copied out (it may be split anywhere), the
 * frame's iovecs are the chain's minus those 12 bytes, and the backend gets
 * them straight from guest memory.  A frame too short or too long, or one
 * whose header asks for an offload that was not negotiated, is dropped and
 * counted (a driver bug, not a broken queue); a chain with writable buffers
 * breaks the queue.
 *
 * Receive (queue 0): the backend hands over a frame; without MRG_RXBUF it
 * must fit the next chain (header included) or it is dropped; with it, it
 * is spread over as many chains as it needs, whose used elements are
 * filled unseen and published at once, with num_buffers in the first
 * header.  When chains run out midway the ones taken are given back
 * (virtq_unpop), the backend is told "no room", and the next kick of
 * queue 0 resumes it.
 *
 * Hostile input: rings through virtqueue.c (bounded chains, checked
 * addresses); header fields are checked against the negotiated features;
 * frame lengths against NET_ETH_HLEN..NET_FRAME_MAX.
 *
 * Locking: tx_lock guards queue 1, rx_lock queue 0 and the receive state;
 * active/features are written under both.  Lock order: the transport's
 * access_lock, tx_lock, rx_lock (a frame sent can make the backend answer
 * at once, e.g. libslirp's ARP replies), the transport's irq_lock.
 */
#include "devices/virtio/net.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

_Static_assert(sizeof(struct net_hdr) == NET_HDR_LEN, "virtio-net header layout");
_Static_assert(sizeof(struct virtio_net_config) == 12, "virtio-net config layout");

struct virtio_net {
	struct virtio_dev vdev;
	struct virtq queues[2];
	struct net_backend *be;
	struct evloop *loop;
	int work_fd;                  /* kicks handed to the I/O thread */
	atomic_uint pending;          /* bit q: queue q was kicked elsewhere */
	struct log_ratelimit rl;
	struct virtio_net_config cfg;
	/* Written under both locks. */
	bool active;
	uint64_t features;
	unsigned int tx_allowed;      /* NET_OFF_* the guest may leave undone */
	pthread_mutex_t tx_lock;
	struct virtq_chain tx_chain;  /* under tx_lock */
	struct iovec tx_iov[VIRTQ_MAX_IOV];
	pthread_mutex_t rx_lock;
	/* Under rx_lock. */
	bool rx_waiting;              /* the backend was told "no room" */
	bool rx_offloads_new;         /* rx_offloads not yet told to the backend */
	unsigned int rx_offloads;     /* NET_OFF_* the guest accepts */
	struct virtq_chain rx_chain;
	struct {
		uint16_t head;
		uint32_t len;
	} merge[VIRTIO_NET_MAX_MERGE];
	/* Counters: written under their queue's lock, read with relaxed loads. */
	struct virtio_net_stats st;
};

static struct virtio_net *to_net(struct virtio_dev *d)
{
	return container_of(d, struct virtio_net, vdev);
}

struct virtio_dev *virtio_net_dev(struct virtio_net *n)
{
	return &n->vdev;
}

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *out)
{
	const uint64_t *src = (const uint64_t *)&n->st;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

static bool has(const struct virtio_net *n, unsigned int bit)
{
	return (n->features >> bit) & 1;
}

static void queue_broken(struct virtio_net *n, unsigned int qi, const char *why)
{
	n->queues[qi].broken = true;
	if (log_ratelimit_ok(&n->rl, "malformed virtio-net buffer"))
		log_warn("virtio-net: queue %u: %s; device needs reset", qi, why);
}

static void dropped(struct virtio_net *n, const char *why)
{
	if (log_ratelimit_ok(&n->rl, "virtio-net frame dropped"))
		log_warn("virtio-net: frame dropped: %s", why);
}

/* ---- transmit ----------------------------------------------------------- */

/* The header's requests within what was negotiated? */
static bool tx_hdr_ok(const struct virtio_net *n, const struct net_hdr *h, size_t len)
{
	uint8_t gso = h->gso_type & ~NET_HDR_GSO_ECN;

	if (h->flags & ~NET_HDR_F_NEEDS_CSUM)
		return false;
	if ((h->flags & NET_HDR_F_NEEDS_CSUM) &&
	    (!(n->tx_allowed & NET_OFF_CSUM) ||
	     (size_t)le16toh(h->csum_start) + le16toh(h->csum_offset) + 2 > len))
		return false;
	if ((h->gso_type & NET_HDR_GSO_ECN) && !(n->tx_allowed & NET_OFF_ECN))
		return false;
	switch (gso) {
	case NET_HDR_GSO_NONE:
		return len <= NET_FRAME_MAX;
	case NET_HDR_GSO_TCPV4:
		return (n->tx_allowed & NET_OFF_TSO4) && h->gso_size;
	case NET_HDR_GSO_TCPV6:
		return (n->tx_allowed & NET_OFF_TSO6) && h->gso_size;
	default:
		return false;
	}
}

/* The chain's readable part after the header, as iovecs into n->tx_iov. */
static unsigned int tx_frame_iov(struct virtio_net *n, const struct virtq_chain *ch)
{
	size_t skip = NET_HDR_LEN;
	unsigned int cnt = 0;

	for (unsigned int i = 0; i < ch->nr_out; i++) {
		const struct iovec *v = &ch->iov[i];

		if (skip >= v->iov_len) {
			skip -= v->iov_len;
			continue;
		}
		n->tx_iov[cnt].iov_base = (uint8_t *)v->iov_base + skip;
		n->tx_iov[cnt].iov_len = v->iov_len - skip;
		skip = 0;
		cnt++;
	}
	return cnt;
}

/* On the I/O thread, under tx_lock. */
static void tx_process_locked(struct virtio_net *n)
{
	struct virtq *q = &n->queues[VIRTIO_NET_TXQ];
	struct virtq_chain *ch = &n->tx_chain;
	bool pushed = false;

	for (;;) {
		struct net_hdr h;
		size_t len;
		int r = virtq_pop(q, ch);

		if (r < 0)
			break;
		if (r == 0) {
			if (virtq_set_avail_event(q))
				continue;
			break;
		}
		if (ch->nr_in) {
			queue_broken(n, VIRTIO_NET_TXQ, "writable buffer in a transmit chain");
			break;
		}
		len = ch->out_len >= NET_HDR_LEN ? ch->out_len - NET_HDR_LEN : 0;
		if (len < NET_ETH_HLEN || len > NET_FRAME_MAX) {
			net_count(&n->st.tx_dropped, 1);
			dropped(n, len < NET_ETH_HLEN ? "transmit chain shorter than a header"
						      : "transmit frame longer than 64 KiB");
		} else {
			virtq_chain_read(ch, 0, &h, sizeof(h));
			if (!tx_hdr_ok(n, &h, len)) {
				net_count(&n->st.tx_dropped, 1);
				dropped(n, "header asks for an offload not negotiated");
			} else {
				unsigned int cnt = tx_frame_iov(n, ch);

				h.num_buffers = 0;
				n->be->ops->send(n->be, &h, n->tx_iov, cnt, len);
				net_count(&n->st.tx_frames, 1);
				net_count(&n->st.tx_bytes, len);
			}
		}
		if (virtq_push(q, ch->head, 0))
			break;
		pushed = true;
	}
	virtio_dev_signal(&n->vdev, VIRTIO_NET_TXQ, pushed);
}

/* ---- receive ------------------------------------------------------------ */

/* Copy from a frame's iovecs, skipping `off` bytes of it, into a chain's
 * writable part at `dst_off`; returns the bytes copied. */
static size_t copy_frame(const struct virtq_chain *ch, uint64_t dst_off,
			 const struct iovec *iov, unsigned int cnt, size_t off, size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < cnt && done < len; i++) {
		size_t n;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		n = iov[i].iov_len - off;
		if (n > len - done)
			n = len - done;
		n = virtq_chain_write(ch, dst_off + done, (const uint8_t *)iov[i].iov_base + off, n);
		done += n;
		off = 0;
		if (!n)
			break;
	}
	return done;
}

/* The header the guest sees: what the backend says, within what the guest
 * accepted. */
static void rx_hdr(const struct virtio_net *n, const struct net_hdr *in, struct net_hdr *out)
{
	memset(out, 0, sizeof(*out));
	if (has(n, VIRTIO_NET_F_GUEST_CSUM)) {
		out->flags = in->flags & (NET_HDR_F_NEEDS_CSUM | NET_HDR_F_DATA_VALID);
		out->csum_start = in->csum_start;
		out->csum_offset = in->csum_offset;
	}
	if ((has(n, VIRTIO_NET_F_GUEST_TSO4) || has(n, VIRTIO_NET_F_GUEST_TSO6)) &&
	    in->gso_type != NET_HDR_GSO_NONE) {
		out->gso_type = in->gso_type;
		out->gso_size = in->gso_size;
		out->hdr_len = in->hdr_len;
	}
}

enum rx_result { RX_DONE, RX_NO_ROOM, RX_BROKEN };

/* Where byte `off` of a chain's writable part lives (NULL past its end). */
static uint8_t *chain_byte(const struct virtq_chain *ch, uint64_t off)
{
	for (unsigned int i = ch->nr_out; i < ch->nr_out + ch->nr_in; i++) {
		if (off < ch->iov[i].iov_len)
			return (uint8_t *)ch->iov[i].iov_base + off;
		off -= ch->iov[i].iov_len;
	}
	return NULL;
}

/* Under rx_lock, active: one frame into as many chains as it needs. */
static enum rx_result rx_place(struct virtio_net *n, const struct net_hdr *h,
			       const struct iovec *iov, unsigned int cnt, size_t len)
{
	struct virtq *q = &n->queues[VIRTIO_NET_RXQ];
	struct virtq_chain *ch = &n->rx_chain;
	bool mrg = has(n, VIRTIO_NET_F_MRG_RXBUF), fits = true;
	size_t total = NET_HDR_LEN + len, placed = 0;
	uint8_t *nb_lo = NULL, *nb_hi = NULL;   /* the first header's num_buffers */
	unsigned int used = 0;
	struct net_hdr hdr;

	rx_hdr(n, h, &hdr);
	while (placed < total) {
		size_t take, hdr_part = used ? 0 : NET_HDR_LEN;
		int r = virtq_pop(q, ch);

		if (r <= 0) {
			virtq_unpop(q, (uint16_t)used);
			return r < 0 ? RX_BROKEN : RX_NO_ROOM;
		}
		if (ch->nr_out || ch->in_len < hdr_part || !ch->in_len) {
			queue_broken(n, VIRTIO_NET_RXQ, ch->nr_out ? "readable buffer in a receive chain"
								   : "receive buffer too small");
			virtq_unpop(q, (uint16_t)(used + 1));
			return RX_BROKEN;
		}
		take = total - placed < ch->in_len ? total - placed : (size_t)ch->in_len;
		if (!used) {
			virtq_chain_write(ch, 0, &hdr, sizeof(hdr));
			nb_lo = chain_byte(ch, offsetof(struct net_hdr, num_buffers));
			nb_hi = chain_byte(ch, offsetof(struct net_hdr, num_buffers) + 1);
		}
		copy_frame(ch, hdr_part, iov, cnt, placed ? placed - NET_HDR_LEN : 0,
			   take - hdr_part);
		n->merge[used].head = ch->head;
		n->merge[used].len = (uint32_t)take;
		used++;
		placed += take;
		if (placed < total && (!mrg || used == VIRTIO_NET_MAX_MERGE)) {
			fits = false;
			break;
		}
	}
	if (!fits) {
		/* It can never fit: the chains go back empty, the frame is lost. */
		for (unsigned int i = 0; i < used; i++)
			n->merge[i].len = 0;
		net_count(&n->st.rx_dropped, 1);
		dropped(n, mrg ? "frame needs too many receive buffers"
			       : "frame larger than the guest's receive buffer");
	} else if (nb_lo && nb_hi) {
		/* 1 without MRG_RXBUF (5.1.6.4). */
		*nb_lo = (uint8_t)used;
		*nb_hi = (uint8_t)(used >> 8);
	}
	for (unsigned int i = 0; i < used; i++)
		if (virtq_fill(q, n->merge[i].head, n->merge[i].len, (uint16_t)i))
			return RX_BROKEN;
	if (virtq_flush(q, (uint16_t)used))
		return RX_BROKEN;
	if (fits) {
		net_count(&n->st.rx_frames, 1);
		net_count(&n->st.rx_bytes, len);
	}
	return RX_DONE;
}

static bool net_receive(void *ctx, const struct net_hdr *h, const struct iovec *iov,
			unsigned int cnt, size_t len)
{
	struct virtio_net *n = ctx;
	enum rx_result r = RX_NO_ROOM;
	bool taken;

	pthread_mutex_lock(&n->rx_lock);
	if (n->active && n->queues[VIRTIO_NET_RXQ].enabled && !n->queues[VIRTIO_NET_RXQ].broken) {
		r = rx_place(n, h, iov, cnt, len);
		/* Buffers ran out: ask the driver to kick for the next one, and
		 * look once more in case it posted meanwhile. */
		if (r == RX_NO_ROOM && virtq_set_avail_event(&n->queues[VIRTIO_NET_RXQ]))
			r = rx_place(n, h, iov, cnt, len);
	}
	taken = r != RX_NO_ROOM;
	if (r == RX_BROKEN)
		net_count(&n->st.rx_dropped, 1);
	if (r == RX_NO_ROOM) {
		n->rx_waiting = true;
		net_count(&n->st.rx_no_buffers, 1);
	}
	virtio_dev_signal(&n->vdev, VIRTIO_NET_RXQ, r == RX_DONE);
	pthread_mutex_unlock(&n->rx_lock);
	return taken;
}

/* On the I/O thread: the guest posted receive buffers. */
static void rx_kicked(struct virtio_net *n)
{
	bool wake, tell;
	unsigned int offloads;

	pthread_mutex_lock(&n->rx_lock);
	wake = n->rx_waiting && n->active;
	if (wake)
		n->rx_waiting = false;
	tell = n->rx_offloads_new;
	n->rx_offloads_new = false;
	offloads = n->rx_offloads;
	pthread_mutex_unlock(&n->rx_lock);
	/* The backend hears of a new driver's offloads on its own thread,
	 * before it delivers anything to that driver. */
	if (tell)
		n->be->ops->set_rx_offloads(n->be, offloads);
	if (wake)
		n->be->ops->rx_resume(n->be);
}

/* ---- kicks -------------------------------------------------------------- */

/* On the I/O thread. */
static void process_queue(struct virtio_net *n, unsigned int qi)
{
	if (qi == VIRTIO_NET_RXQ) {
		rx_kicked(n);
	} else if (qi == VIRTIO_NET_TXQ) {
		pthread_mutex_lock(&n->tx_lock);
		if (n->active)
			tx_process_locked(n);
		pthread_mutex_unlock(&n->tx_lock);
	}
}

static void work_ready(void *ctx)
{
	struct virtio_net *n = ctx;
	uint64_t v;
	unsigned int bits;

	if (read(n->work_fd, &v, sizeof(v)) != sizeof(v))
		return;
	bits = atomic_exchange(&n->pending, 0);
	for (unsigned int qi = 0; qi < 2; qi++)
		if (bits & (1u << qi))
			process_queue(n, qi);
}

static void net_queue_notify(struct virtio_dev *d, unsigned int qi)
{
	struct virtio_net *n = to_net(d);
	uint64_t one = 1;

	if (qi >= 2)
		return;
	if (!n->loop || evloop_in_thread(n->loop)) {
		process_queue(n, qi);
		return;
	}
	atomic_fetch_or(&n->pending, 1u << qi);
	if (write(n->work_fd, &one, sizeof(one)) != sizeof(one) &&
	    log_ratelimit_ok(&n->rl, "virtio-net kick"))
		log_warn("virtio-net: cannot hand a kick to the I/O thread");
}

/* ---- device type ops ---------------------------------------------------- */

static void net_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct virtio_net *n = to_net(d);

	virtio_config_copy(&n->cfg, sizeof(n->cfg), off, data, len);
}

static void net_config_write(struct virtio_dev *d, uint32_t off, const void *data,
			     uint32_t len)
{
	/* The MAC is read-only without VIRTIO_NET_F_CTRL_MAC_ADDR (legacy
	 * drivers wrote it; modern ones may not). */
}

static void lock_both(struct virtio_net *n)
{
	pthread_mutex_lock(&n->tx_lock);
	pthread_mutex_lock(&n->rx_lock);
}

static void unlock_both(struct virtio_net *n)
{
	pthread_mutex_unlock(&n->rx_lock);
	pthread_mutex_unlock(&n->tx_lock);
}

static unsigned int offloads_of(uint64_t f, unsigned int csum, unsigned int tso4,
				unsigned int tso6, unsigned int ecn)
{
	return ((f >> csum) & 1 ? NET_OFF_CSUM : 0) | ((f >> tso4) & 1 ? NET_OFF_TSO4 : 0) |
	       ((f >> tso6) & 1 ? NET_OFF_TSO6 : 0) | ((f >> ecn) & 1 ? NET_OFF_ECN : 0);
}

static int net_activate(struct virtio_dev *d, uint64_t features)
{
	struct virtio_net *n = to_net(d);

	if (!((features >> VIRTIO_F_VERSION_1) & 1) || features & ~d->host_features)
		return -EINVAL;
	lock_both(n);
	for (unsigned int i = 0; i < d->nr_queues; i++)
		n->queues[i].features = virtio_ring_features(features);
	n->features = features;
	n->tx_allowed = offloads_of(features, VIRTIO_NET_F_CSUM, VIRTIO_NET_F_HOST_TSO4,
				    VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_HOST_ECN);
	n->rx_offloads = offloads_of(features, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4,
				     VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_ECN);
	n->rx_offloads_new = true;
	n->active = true;
	n->rx_waiting = true;         /* let the backend deliver from now on */
	unlock_both(n);
	/* The kick of queue 0 tells the backend, on the I/O thread. */
	net_queue_notify(d, VIRTIO_NET_RXQ);
	net_queue_notify(d, VIRTIO_NET_TXQ);
	return 0;
}

static void net_reset(struct virtio_dev *d)
{
	struct virtio_net *n = to_net(d);

	lock_both(n);
	n->active = false;
	n->features = 0;
	n->tx_allowed = 0;
	n->rx_waiting = false;
	for (unsigned int i = 0; i < d->nr_queues; i++)
		virtq_reset(&n->queues[i]);
	unlock_both(n);
}

static void net_destroy(struct virtio_dev *d)
{
	struct virtio_net *n = to_net(d);

	pthread_mutex_destroy(&n->rx_lock);
	pthread_mutex_destroy(&n->tx_lock);
	if (n->work_fd >= 0)
		close(n->work_fd);
	free(n);
}

static const struct virtio_dev_ops net_ops = {
	.config_read = net_config_read,
	.config_write = net_config_write,
	.activate = net_activate,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
	.destroy = net_destroy,
};

/* ---- creation ----------------------------------------------------------- */

static uint64_t features_for(const struct net_backend *be)
{
	uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_INDIRECT_DESC |
		     1ull << VIRTIO_F_EVENT_IDX | 1ull << VIRTIO_NET_F_MAC |
		     1ull << VIRTIO_NET_F_STATUS | 1ull << VIRTIO_NET_F_MRG_RXBUF;

	if (be->mtu)
		f |= 1ull << VIRTIO_NET_F_MTU;
	if (be->tx_offloads & NET_OFF_CSUM) {
		f |= 1ull << VIRTIO_NET_F_CSUM;
		/* Segmentation offloads need checksum offload (5.1.3.1). */
		if (be->tx_offloads & NET_OFF_TSO4)
			f |= 1ull << VIRTIO_NET_F_HOST_TSO4;
		if (be->tx_offloads & NET_OFF_TSO6)
			f |= 1ull << VIRTIO_NET_F_HOST_TSO6;
		if ((be->tx_offloads & NET_OFF_ECN) && (be->tx_offloads & (NET_OFF_TSO4 | NET_OFF_TSO6)))
			f |= 1ull << VIRTIO_NET_F_HOST_ECN;
	}
	if (be->rx_offloads & NET_OFF_CSUM) {
		f |= 1ull << VIRTIO_NET_F_GUEST_CSUM;
		if (be->rx_offloads & NET_OFF_TSO4)
			f |= 1ull << VIRTIO_NET_F_GUEST_TSO4;
		if (be->rx_offloads & NET_OFF_TSO6)
			f |= 1ull << VIRTIO_NET_F_GUEST_TSO6;
		if ((be->rx_offloads & NET_OFF_ECN) && (be->rx_offloads & (NET_OFF_TSO4 | NET_OFF_TSO6)))
			f |= 1ull << VIRTIO_NET_F_GUEST_ECN;
	}
	return f;
}

int virtio_net_create(const struct virtio_net_params *p, struct virtio_net **out)
{
	uint16_t s = p->queue_size;
	struct virtio_net *n;
	int err;

	*out = NULL;
	if (!p->mem || !p->backend || s < 2 || s > VIRTQ_MAX_SIZE || (s & (s - 1))) {
		log_err("virtio-net: invalid parameters (memory map, backend, loop, queue size)");
		return -EINVAL;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->work_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->work_fd < 0) {
		err = -errno;
		free(n);
		return err;
	}
	pthread_mutex_init(&n->tx_lock, NULL);
	pthread_mutex_init(&n->rx_lock, NULL);
	virtq_init(&n->queues[VIRTIO_NET_RXQ], p->mem, s);
	virtq_init(&n->queues[VIRTIO_NET_TXQ], p->mem, s);
	n->be = p->backend;
	n->loop = p->loop;
	n->rl.burst = 10;
	memcpy(n->cfg.mac, p->mac, sizeof(n->cfg.mac));
	n->cfg.status = htole16(VIRTIO_NET_S_LINK_UP);
	n->cfg.max_virtqueue_pairs = htole16(1);
	n->cfg.mtu = htole16(p->backend->mtu);
	n->vdev.ops = &net_ops;
	n->vdev.name = "virtio-net";
	n->vdev.device_id = VIRTIO_ID_NET;
	n->vdev.host_features = features_for(p->backend);
	n->vdev.config_size = sizeof(n->cfg);
	n->vdev.nr_queues = 2;
	n->vdev.queues = n->queues;
	err = p->loop ? evloop_add(p->loop, n->work_fd, work_ready, n) : 0;
	if (err) {
		net_destroy(&n->vdev);
		return err;
	}
	p->backend->port.receive = net_receive;
	p->backend->port.ctx = n;
	*out = n;
	return 0;
}

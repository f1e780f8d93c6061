// SPDX-License-Identifier: MIT
/*
 * virtio-net against the test driver and a recording backend, in guest
 * memory whose 2 MiB slots lie scattered in host memory: transmit (header
 * split from the frame, frames across slots, offloads refused unless
 * negotiated, short frames, writable buffers), receive without and with
 * mergeable buffers (num_buffers, elements published at once, a frame
 * that needs one buffer more than posted is not half-delivered, backend
 * resumed by the next kick), DATA_VALID only with GUEST_CSUM, and the
 * checksum helper on a real TCP segment.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/evloop.h"
#include "devices/net.h"
#include "devices/virtio/net.h"
#include "mmu/iovec.h"

#include "fake_mem.h"
#include "quiet_log.h"
#include "virtio_driver.h"

#define QSIZE    16
#define RXQ      VIRTIO_NET_RXQ
#define TXQ      VIRTIO_NET_TXQ
#define TX_DATA  0x400000ull
#define RX_DATA  0x800000ull
#define SLOT_END 0x600000ull
#define F_VER1   (1ull << VIRTIO_F_VERSION_1)
#define F_MRG    (1ull << VIRTIO_NET_F_MRG_RXBUF)
#define F_CSUM   (1ull << VIRTIO_NET_F_CSUM)
#define F_GCSUM  (1ull << VIRTIO_NET_F_GUEST_CSUM)

/* ---- the recording backend ------------------------------------------- */

struct fake_be {
	struct net_backend nb;
	unsigned int sent;
	struct net_hdr last_hdr;
	uint8_t last[NET_FRAME_MAX];
	size_t last_len;
	unsigned int resumed, offloads_set;
	unsigned int rx_offloads_seen;
};

static void be_send(struct net_backend *nb, const struct net_hdr *h, const struct iovec *iov,
		    unsigned int cnt, size_t len)
{
	struct fake_be *b = (struct fake_be *)nb;
	size_t off = 0;

	for (unsigned int i = 0; i < cnt; i++) {
		assert_true(off + iov[i].iov_len <= sizeof(b->last));
		memcpy(b->last + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	assert_int_equal(off, len);
	b->last_len = len;
	b->last_hdr = *h;
	b->sent++;
}

static void be_resume(struct net_backend *nb)
{
	((struct fake_be *)nb)->resumed++;
}

static void be_offloads(struct net_backend *nb, unsigned int off)
{
	((struct fake_be *)nb)->offloads_set++;
	((struct fake_be *)nb)->rx_offloads_seen = off;
}

static void be_destroy(struct net_backend *nb)
{
}

static const struct net_backend_ops be_ops = {
	.send = be_send, .rx_resume = be_resume, .set_rx_offloads = be_offloads,
	.destroy = be_destroy,
};

/* ---- fixture ---------------------------------------------------------- */

struct nfx {
	struct tdrv t;
	struct fake_be be;
	struct virtio_net *n;
	struct virtio_dev *d;
	unsigned int notified[2], needs_reset;
};

static void on_queue(void *ctx, unsigned int q)
{
	((struct nfx *)ctx)->notified[q]++;
}

static void on_needs_reset(void *ctx)
{
	((struct nfx *)ctx)->needs_reset++;
}

static struct nfx *make_on(uint64_t features, unsigned int offloads, struct evloop *loop)
{
	struct nfx *f = calloc(1, sizeof(*f));
	struct virtio_net_params p;

	assert_non_null(f);
	assert_int_equal(fake_mem_init_slots(&f->t.map, 0, TD_SLOT, TD_RAM / TD_SLOT, true), 0);
	f->be.nb = (struct net_backend){ .ops = &be_ops, .id = "t", .kind = "fake",
					 .tx_offloads = offloads, .rx_offloads = offloads };
	p = (struct virtio_net_params){ .mem = &f->t.map, .backend = &f->be.nb,
		.mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 }, .queue_size = QSIZE, .loop = loop };
	assert_int_equal(virtio_net_create(&p, &f->n), 0);
	f->d = virtio_net_dev(f->n);
	f->d->notify = (struct virtio_notify){ .queue = on_queue, .needs_reset = on_needs_reset,
					       .ctx = f };
	for (unsigned int i = 0; i < 2; i++) {
		td_place(&f->t, &f->d->queues[i], i, QSIZE);
		assert_int_equal(virtq_enable(&f->d->queues[i]), 0);
	}
	assert_int_equal(f->d->ops->activate(f->d, F_VER1 | features), 0);
	return f;
}

static struct nfx *make(uint64_t features, unsigned int offloads)
{
	return make_on(features, offloads, NULL);
}

static void destroy(struct nfx *f)
{
	f->d->ops->destroy(f->d);
	fake_mem_destroy(&f->t.map);
	free(f);
}

static struct virtq *Q(struct nfx *f, unsigned int qi)
{
	return &f->d->queues[qi];
}

static void pattern(uint8_t *buf, size_t len, size_t from)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((from + i) * 31 + (from + i) / 251);
}

static void assert_used(struct nfx *f, unsigned int qi, uint16_t i, uint32_t id, uint32_t len)
{
	uint32_t got_id, got_len;

	td_used_elem(&f->t, Q(f, qi), i, &got_id, &got_len);
	assert_int_equal(got_id, id);
	assert_int_equal(got_len, len);
}

/* Post receive buffers of `size` bytes at RX_DATA + i * 64 KiB, each its
 * own chain (descriptor i). */
static void post_rx(struct nfx *f, uint16_t first, unsigned int n, uint32_t size)
{
	for (unsigned int i = 0; i < n; i++) {
		uint16_t d = (uint16_t)(first + i);

		td_desc(&f->t, Q(f, RXQ), d, RX_DATA + d * 0x10000ull, size, VIRTQ_DESC_F_WRITE, 0);
		td_publish(&f->t, Q(f, RXQ), RXQ, d);
	}
}

static bool deliver(struct nfx *f, const uint8_t *frame, size_t len, uint8_t flags)
{
	struct net_hdr h = { .flags = flags };
	struct iovec v = { .iov_base = (void *)frame, .iov_len = len };

	return f->be.nb.port.receive(f->be.nb.port.ctx, &h, &v, 1, len);
}

/* ---- transmit ---------------------------------------------------------- */

static void tx_header_apart_and_across_slots(void **state)
{
	struct nfx *f = make(0, 0);
	struct net_hdr h = { 0 };
	uint8_t frame[3000], got[3000];
	uint64_t at = SLOT_END - 1000;

	pattern(frame, sizeof(frame), 7);
	assert_int_equal(mem_write_span(&f->t.map, TX_DATA, &h, sizeof(h)), 0);
	assert_int_equal(mem_write_span(&f->t.map, at, frame, sizeof(frame)), 0);
	td_desc(&f->t, Q(f, TXQ), 0, TX_DATA, NET_HDR_LEN, VIRTQ_DESC_F_NEXT, 1);
	td_desc(&f->t, Q(f, TXQ), 1, at, sizeof(frame), 0, 0);
	td_publish(&f->t, Q(f, TXQ), TXQ, 0);
	f->d->ops->queue_notify(f->d, TXQ);
	assert_int_equal(f->be.sent, 1);
	assert_int_equal(f->be.last_len, sizeof(frame));
	memcpy(got, f->be.last, sizeof(got));
	assert_memory_equal(got, frame, sizeof(frame));
	assert_int_equal(td_used_idx(&f->t, Q(f, TXQ)), 1);
	assert_used(f, TXQ, 0, 0, 0);
	assert_int_equal(f->notified[TXQ], 1);
	/* Header and frame in one descriptor, the header split at byte 5. */
	td_desc(&f->t, Q(f, TXQ), 2, TX_DATA, 5, VIRTQ_DESC_F_NEXT, 3);
	td_desc(&f->t, Q(f, TXQ), 3, TX_DATA + 5, NET_HDR_LEN - 5 + 60, 0, 0);
	td_publish(&f->t, Q(f, TXQ), TXQ, 2);
	f->d->ops->queue_notify(f->d, TXQ);
	assert_int_equal(f->be.sent, 2);
	assert_int_equal(f->be.last_len, 60);
	destroy(f);
}

static void tx_bad_frames_dropped(void **state)
{
	struct nfx *f = make(0, 0);
	struct net_hdr csum = { .flags = NET_HDR_F_NEEDS_CSUM, .csum_start = htole16(34),
				.csum_offset = htole16(16) };
	struct net_hdr gso = { .gso_type = NET_HDR_GSO_TCPV4, .gso_size = htole16(1448) };
	struct virtio_net_stats st;

	/* Shorter than an Ethernet header. */
	td_desc(&f->t, Q(f, TXQ), 0, TX_DATA, NET_HDR_LEN + 10, 0, 0);
	td_publish(&f->t, Q(f, TXQ), TXQ, 0);
	/* Checksum offload that was not offered. */
	assert_int_equal(mem_write_span(&f->t.map, TX_DATA + 0x1000, &csum, sizeof(csum)), 0);
	td_desc(&f->t, Q(f, TXQ), 1, TX_DATA + 0x1000, NET_HDR_LEN + 100, 0, 0);
	td_publish(&f->t, Q(f, TXQ), TXQ, 1);
	/* TSO that was not offered. */
	assert_int_equal(mem_write_span(&f->t.map, TX_DATA + 0x2000, &gso, sizeof(gso)), 0);
	td_desc(&f->t, Q(f, TXQ), 2, TX_DATA + 0x2000, NET_HDR_LEN + 100, 0, 0);
	td_publish(&f->t, Q(f, TXQ), TXQ, 2);
	f->d->ops->queue_notify(f->d, TXQ);
	assert_int_equal(f->be.sent, 0);
	assert_int_equal(td_used_idx(&f->t, Q(f, TXQ)), 3);
	virtio_net_get_stats(f->n, &st);
	assert_int_equal(st.tx_dropped, 3);
	assert_int_equal(f->needs_reset, 0);
	destroy(f);
	/* With CSUM negotiated the same checksum request goes through. */
	f = make(F_CSUM, NET_OFF_CSUM);
	assert_int_equal(mem_write_span(&f->t.map, TX_DATA, &csum, sizeof(csum)), 0);
	td_desc(&f->t, Q(f, TXQ), 0, TX_DATA, NET_HDR_LEN + 100, 0, 0);
	td_publish(&f->t, Q(f, TXQ), TXQ, 0);
	f->d->ops->queue_notify(f->d, TXQ);
	assert_int_equal(f->be.sent, 1);
	assert_int_equal(f->be.last_hdr.flags, NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(le16toh(f->be.last_hdr.csum_offset), 16);
	/* ...but not one whose checksum field lies past the frame. */
	csum.csum_start = htole16(95);
	assert_int_equal(mem_write_span(&f->t.map, TX_DATA, &csum, sizeof(csum)), 0);
	td_desc(&f->t, Q(f, TXQ), 1, TX_DATA, NET_HDR_LEN + 100, 0, 0);
	td_publish(&f->t, Q(f, TXQ), TXQ, 1);
	f->d->ops->queue_notify(f->d, TXQ);
	assert_int_equal(f->be.sent, 1);
	destroy(f);
}

static void tx_writable_buffer_breaks_queue(void **state)
{
	struct nfx *f = make(0, 0);

	td_desc(&f->t, Q(f, TXQ), 0, TX_DATA, NET_HDR_LEN + 60, VIRTQ_DESC_F_NEXT, 1);
	td_desc(&f->t, Q(f, TXQ), 1, TX_DATA + 0x1000, 100, VIRTQ_DESC_F_WRITE, 0);
	td_publish(&f->t, Q(f, TXQ), TXQ, 0);
	f->d->ops->queue_notify(f->d, TXQ);
	assert_int_equal(f->be.sent, 0);
	assert_int_equal(f->needs_reset, 1);
	assert_int_equal(td_used_idx(&f->t, Q(f, TXQ)), 0);
	destroy(f);
}

/* ---- receive ------------------------------------------------------------ */

static void rx_one_buffer(void **state)
{
	struct nfx *f = make(0, NET_OFF_CSUM);
	uint8_t frame[1514], got[1514];
	struct net_hdr h;

	pattern(frame, sizeof(frame), 3);
	/* Nothing posted: no room, and the next kick resumes the backend. */
	assert_false(deliver(f, frame, sizeof(frame), NET_HDR_F_DATA_VALID));
	post_rx(f, 0, 2, NET_HDR_LEN + 1514);
	f->d->ops->queue_notify(f->d, RXQ);
	assert_int_equal(f->be.resumed, 2);   /* activation's kick, then this one */
	assert_true(deliver(f, frame, sizeof(frame), NET_HDR_F_DATA_VALID));
	assert_int_equal(td_used_idx(&f->t, Q(f, RXQ)), 1);
	assert_used(f, RXQ, 0, 0, NET_HDR_LEN + sizeof(frame));
	assert_int_equal(mem_read_span(&f->t.map, RX_DATA, &h, sizeof(h)), 0);
	/* GUEST_CSUM was offered but not negotiated: no DATA_VALID. */
	assert_int_equal(h.flags, 0);
	assert_int_equal(le16toh(h.num_buffers), 1);
	assert_int_equal(mem_read_span(&f->t.map, RX_DATA + NET_HDR_LEN, got, sizeof(got)), 0);
	assert_memory_equal(got, frame, sizeof(frame));
	assert_int_equal(f->notified[RXQ], 1);
	destroy(f);

	f = make(F_GCSUM, NET_OFF_CSUM);
	/* Larger than the posted buffer without MRG_RXBUF: dropped, the
	 * buffer comes back empty. */
	post_rx(f, 0, 1, 200);
	assert_true(deliver(f, frame, 1000, 0));
	assert_used(f, RXQ, 0, 0, 0);
	post_rx(f, 1, 1, 200);
	assert_true(deliver(f, frame, 100, NET_HDR_F_DATA_VALID));
	assert_used(f, RXQ, 1, 1, NET_HDR_LEN + 100);
	assert_int_equal(mem_read_span(&f->t.map, RX_DATA + 0x10000, &h, sizeof(h)), 0);
	assert_int_equal(h.flags, NET_HDR_F_DATA_VALID);
	destroy(f);
}

static void rx_mergeable(void **state)
{
	struct nfx *f = make(F_MRG, 0);
	uint8_t frame[4000], got[4000];
	struct net_hdr h;
	size_t off = 0;

	pattern(frame, sizeof(frame), 11);
	/* Two 1536-byte buffers cannot hold 12 + 4000 bytes: nothing is
	 * published, both stay available. */
	post_rx(f, 0, 2, 1536);
	assert_false(deliver(f, frame, sizeof(frame), 0));
	assert_int_equal(td_used_idx(&f->t, Q(f, RXQ)), 0);
	post_rx(f, 2, 1, 1536);
	f->d->ops->queue_notify(f->d, RXQ);
	assert_int_equal(f->be.resumed, 2);
	assert_true(deliver(f, frame, sizeof(frame), 0));
	/* Three elements, published together. */
	assert_int_equal(td_used_idx(&f->t, Q(f, RXQ)), 3);
	assert_used(f, RXQ, 0, 0, 1536);
	assert_used(f, RXQ, 1, 1, 1536);
	assert_used(f, RXQ, 2, 2, NET_HDR_LEN + 4000 - 2 * 1536);
	assert_int_equal(mem_read_span(&f->t.map, RX_DATA, &h, sizeof(h)), 0);
	assert_int_equal(le16toh(h.num_buffers), 3);
	assert_int_equal(mem_read_span(&f->t.map, RX_DATA + NET_HDR_LEN, got, 1536 - NET_HDR_LEN),
			 0);
	off = 1536 - NET_HDR_LEN;
	assert_int_equal(mem_read_span(&f->t.map, RX_DATA + 0x10000, got + off, 1536), 0);
	off += 1536;
	assert_int_equal(mem_read_span(&f->t.map, RX_DATA + 0x20000, got + off,
				       sizeof(frame) - off), 0);
	assert_memory_equal(got, frame, sizeof(frame));
	assert_int_equal(f->notified[RXQ], 1);
	destroy(f);
}

static void rx_readable_buffer_breaks_queue(void **state)
{
	struct nfx *f = make(F_MRG, 0);
	uint8_t frame[100] = { 0 };

	td_desc(&f->t, Q(f, RXQ), 0, RX_DATA, 1536, 0, 0);
	td_publish(&f->t, Q(f, RXQ), RXQ, 0);
	assert_true(deliver(f, frame, sizeof(frame), 0));
	assert_int_equal(f->needs_reset, 1);
	assert_int_equal(td_used_idx(&f->t, Q(f, RXQ)), 0);
	/* A reset brings it back. */
	f->d->ops->reset(f->d);
	assert_false(deliver(f, frame, sizeof(frame), 0));
	destroy(f);
}

static void features_follow_backend(void **state)
{
	struct nfx *f = make(0, 0);
	uint64_t hf = f->d->host_features;

	assert_true(hf & (1ull << VIRTIO_NET_F_MAC));
	assert_true(hf & (1ull << VIRTIO_NET_F_STATUS));
	assert_true(hf & F_MRG);
	assert_false(hf & (F_CSUM | F_GCSUM));
	assert_false(hf & (1ull << VIRTIO_NET_F_HOST_TSO4));
	destroy(f);
	f = make(0, NET_OFF_CSUM | NET_OFF_TSO4 | NET_OFF_TSO6 | NET_OFF_ECN);
	hf = f->d->host_features;
	assert_true(hf & (1ull << VIRTIO_NET_F_HOST_TSO4));
	assert_true(hf & (1ull << VIRTIO_NET_F_GUEST_TSO6));
	assert_true(hf & (1ull << VIRTIO_NET_F_HOST_ECN));
	/* Activation told the backend what the guest accepts (nothing). */
	assert_int_equal(f->be.offloads_set, 1);
	assert_int_equal(f->be.rx_offloads_seen, 0);
	{
		struct virtio_net_config cfg;

		f->d->ops->config_read(f->d, 0, &cfg, sizeof(cfg));
		assert_int_equal(cfg.mac[0], 0x52);
		assert_int_equal(cfg.mac[5], 0x56);
		assert_int_equal(le16toh(cfg.status), VIRTIO_NET_S_LINK_UP);
		assert_int_equal(le16toh(cfg.mtu), 0);
	}
	assert_false(hf & (1ull << VIRTIO_NET_F_MTU));
	destroy(f);
}

/* An IPv4/TCP SYN whose checksum is known (computed by Linux). */
static void csum_complete_tcp(void **state)
{
	static const uint8_t pkt[] = {
		/* Ethernet */
		0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00,
		/* IPv4: 10.0.2.15 -> 10.0.2.2, TCP, 40 bytes */
		0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0x40, 0x06, 0x62, 0xc2,
		0x0a, 0x00, 0x02, 0x0f, 0x0a, 0x00, 0x02, 0x02,
		/* TCP: 1234 -> 80, seq 1, SYN, window 8192, checksum below */
		0x04, 0xd2, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
		0x50, 0x02, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	uint8_t frame[sizeof(pkt)];
	uint32_t sum = 0;

	memcpy(frame, pkt, sizeof(pkt));
	/* The guest leaves the pseudo-header sum in the field. */
	sum = 0x0a00 + 0x020f + 0x0a00 + 0x0202 + 6 + 20;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	frame[34 + 16] = (uint8_t)(sum >> 8);
	frame[34 + 17] = (uint8_t)sum;
	assert_int_equal(net_csum_complete(frame, sizeof(frame), 34, 16), 0);
	/* Verify: the ones' complement sum over pseudo-header and segment. */
	{
		uint32_t v = 0x0a00 + 0x020f + 0x0a00 + 0x0202 + 6 + 20;

		for (size_t i = 34; i < sizeof(frame); i += 2)
			v += (uint32_t)frame[i] << 8 | frame[i + 1];
		while (v >> 16)
			v = (v & 0xffff) + (v >> 16);
		assert_int_equal(v, 0xffff);
	}
	assert_int_equal(net_csum_complete(frame, sizeof(frame), 34, 20), -EINVAL);
}

/* The checksum a backend completes for the guest (devices/net.h): the
 * ones' complement sum from csum_start, the guest's pseudo-header sum in
 * the field included; odd lengths; a computed 0 sent as 0xffff; a field
 * past the frame refused. */
static void csum_complete_edges(void **state)
{
	uint8_t f[7] = { 0x00, 0x00, 0x12, 0x34, 0x56, 0x78, 0x9A };
	uint8_t z[4] = { 0x00, 0x00, 0xFF, 0xFF };

	(void)state;
	assert_int_equal(net_csum_complete(f, sizeof(f), 0, 0), 0);
	/* 0x1234 + 0x5678 + 0x9A00 (the odd tail) = 0x102AC, folded 0x02AD */
	assert_int_equal(f[0], 0xFD);
	assert_int_equal(f[1], 0x52);
	assert_int_equal(net_csum_complete(z, sizeof(z), 0, 0), 0);
	assert_int_equal(z[0], 0xFF);
	assert_int_equal(z[1], 0xFF);
	assert_int_equal(net_csum_complete(f, sizeof(f), 4, 2), -EINVAL);
	assert_int_equal(net_csum_complete(f, sizeof(f), 0xFFFF, 0xFFFF), -EINVAL);
}

/* With an I/O thread, a kick from another thread (a vCPU's, without an
 * ioeventfd) is handed to the I/O thread, which sends the frame; bad
 * parameters are refused. */
static void tx_kick_from_another_thread(void **state)
{
	struct evloop *loop;
	struct nfx *f;
	struct net_hdr h = { 0 };
	uint8_t frame[60];
	struct virtio_net_params bad = { 0 };
	struct virtio_net *n;

	(void)state;
	assert_int_equal(evloop_create(&loop), 0);
	f = make_on(0, 0, loop);
	assert_int_equal(evloop_start(loop, "test-io"), 0);
	pattern(frame, sizeof(frame), 3);
	assert_int_equal(mem_write_span(&f->t.map, TX_DATA, &h, sizeof(h)), 0);
	assert_int_equal(mem_write_span(&f->t.map, TX_DATA + 0x100, frame, sizeof(frame)), 0);
	td_desc(&f->t, Q(f, TXQ), 0, TX_DATA, NET_HDR_LEN, VIRTQ_DESC_F_NEXT, 1);
	td_desc(&f->t, Q(f, TXQ), 1, TX_DATA + 0x100, sizeof(frame), 0, 0);
	td_publish(&f->t, Q(f, TXQ), TXQ, 0);
	f->d->ops->queue_notify(f->d, TXQ);
	for (int i = 0; i < 2000 && !__atomic_load_n(&f->be.sent, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	evloop_stop(loop);
	assert_int_equal(f->be.sent, 1);
	assert_int_equal(f->be.last_len, sizeof(frame));
	destroy(f);
	evloop_destroy(loop);

	bad.queue_size = 3;
	assert_int_equal(virtio_net_create(&bad, &n), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tx_header_apart_and_across_slots),
		cmocka_unit_test(tx_bad_frames_dropped),
		cmocka_unit_test(tx_writable_buffer_breaks_queue),
		cmocka_unit_test(csum_complete_edges),
		cmocka_unit_test(tx_kick_from_another_thread),
		cmocka_unit_test(rx_one_buffer),
		cmocka_unit_test(rx_mergeable),
		cmocka_unit_test(rx_readable_buffer_breaks_queue),
		cmocka_unit_test(features_follow_backend),
		cmocka_unit_test(csum_complete_tcp),
	};

	return cmocka_run_group_tests(tests, quiet_log_setup, quiet_log_teardown);
}

// SPDX-License-Identifier: MIT
/*
 * virtio-blk (virtio 1.x, 5.2), written from the specification.
 *
 * A kick pops every available chain of the queue, checks the request
 * (header, status byte, sector range, data length, read-only) and either
 * answers it at once (GET_ID, errors, empty transfers) or builds a
 * block_io whose iovecs point straight into guest memory.  The backend
 * completes those on its own thread; the completion writes the status
 * byte, returns the chain and interrupts the driver when the ring says so.
 *
 * Locking: one mutex per queue serialises the ring (kicks from vCPU or I/O
 * threads, completions from the backend thread).  Requests are submitted
 * after the lock is dropped, so a backend may complete synchronously from
 * inside submit().  Completions call virtio_notify.queue with the queue
 * lock held (the transport must not call back into the device from it).  Each queue counts its requests in flight; reset waits
 * for the count to reach zero, so nothing is written to guest memory after
 * it returns.  A legitimate driver never has more requests in flight than
 * the queue size (each owns a head), so more means a reused head: broken.
 *
 * DISCARD and WRITE_ZEROES take one segment per request (max_*_seg = 1).
 */
#include "devices/virtio/blk.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

_Static_assert(offsetof(struct virtio_blk_config, blk_size) == 20, "config layout");
_Static_assert(offsetof(struct virtio_blk_config, num_queues) == 34, "config layout");
_Static_assert(offsetof(struct virtio_blk_config, max_discard_sectors) == 36, "config layout");
_Static_assert(offsetof(struct virtio_blk_config, write_zeroes_may_unmap) == 56, "config layout");
_Static_assert(sizeof(struct virtio_blk_config) == 60, "config layout");
_Static_assert(sizeof(struct virtio_blk_req_hdr) == 16, "request header");
_Static_assert(sizeof(struct virtio_blk_discard_wz) == 16, "discard segment");

struct blk_queue {
	pthread_mutex_t lock;
	pthread_cond_t idle;       /* signalled when inflight drops to 0 */
	unsigned int inflight;     /* popped, not yet pushed back */
	struct virtq_chain chain;  /* scratch for virtq_pop, under lock */
};

struct virtio_blk {
	struct virtio_dev vdev;
	struct block_backend *backend;
	struct virtio_blk_config cfg;  /* little-endian, as the guest reads it */
	char serial[VIRTIO_BLK_ID_BYTES];
	uint64_t capacity;             /* sectors */
	uint64_t features;             /* negotiated */
	bool active;                   /* DRIVER_OK seen, no reset since */
	struct blk_queue *bqs;
	struct log_ratelimit rl;
};

struct blk_req {
	struct block_io io;
	struct virtio_blk *blk;
	struct blk_req *next;          /* the kick's list of requests to submit */
	unsigned int qi;
	uint16_t head;
	uint8_t *status;               /* the chain's last writable byte */
	unsigned int nr_iov;
	struct iovec iov[];
};

/* What parsing a chain decided. */
enum parsed { PARSED_DONE, PARSED_SUBMIT, PARSED_MALFORMED };

static struct virtio_blk *to_blk(struct virtio_dev *d)
{
	return (struct virtio_blk *)((char *)d - offsetof(struct virtio_blk, vdev));
}

static bool has_feature(const struct virtio_blk *b, unsigned int bit)
{
	return (b->features >> bit) & 1;
}

/* ---- completion ------------------------------------------------------- */

/* Under the queue lock: status byte, used element; true to notify. */
static bool finish_locked(struct virtio_blk *b, unsigned int qi, uint16_t head,
			  uint8_t *status, uint8_t value, uint32_t written,
			  bool *needs_reset)
{
	struct virtq *q = &b->vdev.queues[qi];

	*status = value;
	if (virtq_push(q, head, written)) {
		*needs_reset = true;
		return false;
	}
	return virtq_should_notify(q);
}

static void signal_driver(struct virtio_blk *b, unsigned int qi, bool notify,
			  bool needs_reset)
{
	const struct virtio_notify *n = &b->vdev.notify;

	if (notify && n->queue)
		n->queue(n->ctx, qi);
	if (needs_reset && n->needs_reset)
		n->needs_reset(n->ctx);
}

static void complete(struct blk_req *r, uint8_t value, uint32_t written)
{
	struct virtio_blk *b = r->blk;
	struct blk_queue *bq = &b->bqs[r->qi];
	bool notify, needs_reset = false;
	unsigned int qi = r->qi;

	pthread_mutex_lock(&bq->lock);
	notify = finish_locked(b, qi, r->head, r->status, value, written, &needs_reset);
	/* Signal before the request stops counting: once inflight is 0, a
	 * reset may return and the device be destroyed. */
	signal_driver(b, qi, notify, needs_reset);
	if (--bq->inflight == 0)
		pthread_cond_broadcast(&bq->idle);
	pthread_mutex_unlock(&bq->lock);
	free(r);
}

static uint8_t status_of(int64_t err)
{
	return err == -EOPNOTSUPP || err == -ENOTSUP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
}

static void req_done(struct block_io *io, int64_t result)
{
	struct blk_req *r = (struct blk_req *)((char *)io - offsetof(struct blk_req, io));
	bool transfer = io->op == BLOCK_READ || io->op == BLOCK_WRITE;

	if (result < 0 || (transfer && (uint64_t)result != io->len)) {
		complete(r, result < 0 ? status_of(result) : VIRTIO_BLK_S_IOERR, 1);
		return;
	}
	/* used.len counts bytes written into the chain: data read, status. */
	complete(r, VIRTIO_BLK_S_OK, io->op == BLOCK_READ ? (uint32_t)io->len + 1 : 1);
}

/* ---- parsing ---------------------------------------------------------- */

/* The iovecs covering bytes [off, off+len) of src; returns their count. */
static unsigned int iov_slice(const struct iovec *src, unsigned int n, uint64_t off,
			      uint64_t len, struct iovec *dst)
{
	unsigned int count = 0;

	for (unsigned int i = 0; i < n && len; i++) {
		uint64_t chunk;

		if (off >= src[i].iov_len) {
			off -= src[i].iov_len;
			continue;
		}
		chunk = src[i].iov_len - off;
		if (chunk > len)
			chunk = len;
		dst[count].iov_base = (uint8_t *)src[i].iov_base + off;
		dst[count].iov_len = chunk;
		count++;
		len -= chunk;
		off = 0;
	}
	return count;
}

static bool range_ok(const struct virtio_blk *b, uint64_t sector, uint64_t nsect)
{
	return sector <= b->capacity && nsect <= b->capacity - sector;
}

struct parse {
	struct virtio_blk *b;
	unsigned int qi;
	const struct virtq_chain *c;
	uint8_t *status;
	uint8_t value;        /* PARSED_DONE: the status to write */
	uint32_t written;     /* PARSED_DONE: used.len */
	struct blk_req *req;  /* PARSED_SUBMIT */
};

static enum parsed done(struct parse *p, uint8_t value, uint32_t written)
{
	p->value = value;
	p->written = written;
	return PARSED_DONE;
}

static enum parsed new_req(struct parse *p, enum block_op op, uint64_t offset,
			   uint64_t len, bool writable, uint64_t data_off)
{
	const struct virtq_chain *c = p->c;
	const struct iovec *src = writable ? c->iov + c->nr_out : c->iov;
	unsigned int n = writable ? c->nr_in : c->nr_out;
	struct blk_req *r = malloc(sizeof(*r) + (size_t)n * sizeof(struct iovec));

	if (!r)
		return done(p, VIRTIO_BLK_S_IOERR, 1);
	*r = (struct blk_req){ .blk = p->b, .qi = p->qi, .head = c->head, .status = p->status };
	if (op == BLOCK_READ || op == BLOCK_WRITE)
		r->nr_iov = iov_slice(src, n, data_off, len, r->iov);
	r->io = (struct block_io){ .op = op, .offset = offset, .len = len,
				   .iov = r->iov, .nr_iov = r->nr_iov,
				   .done = req_done, .ctx = r };
	p->req = r;
	return PARSED_SUBMIT;
}

static enum parsed parse_rw(struct parse *p, uint32_t type, uint64_t sector)
{
	const struct virtq_chain *c = p->c;
	bool in = type == VIRTIO_BLK_T_IN;
	uint64_t len = in ? c->in_len - 1 : c->out_len - sizeof(struct virtio_blk_req_hdr);

	if (!in && p->b->backend->readonly)
		return done(p, VIRTIO_BLK_S_IOERR, 1);
	if (len % VIRTIO_BLK_SECTOR || !range_ok(p->b, sector, len / VIRTIO_BLK_SECTOR))
		return done(p, VIRTIO_BLK_S_IOERR, 1);
	if (len == 0)
		return done(p, VIRTIO_BLK_S_OK, 1);
	return new_req(p, in ? BLOCK_READ : BLOCK_WRITE, sector * VIRTIO_BLK_SECTOR, len,
		       in, in ? 0 : sizeof(struct virtio_blk_req_hdr));
}

static enum parsed parse_discard_wz(struct parse *p, uint32_t type)
{
	const struct virtq_chain *c = p->c;
	struct virtio_blk *b = p->b;
	bool wz = type == VIRTIO_BLK_T_WRITE_ZEROES;
	struct virtio_blk_discard_wz seg;
	uint64_t sector;
	uint32_t nsect, flags;

	/* Writes to a read-only device fail with IOERR (5.2.6.2), whether
	 * or not the command itself was offered. */
	if (b->backend->readonly)
		return done(p, VIRTIO_BLK_S_IOERR, 1);
	if (wz ? !has_feature(b, VIRTIO_BLK_F_WRITE_ZEROES) : !has_feature(b, VIRTIO_BLK_F_DISCARD))
		return done(p, VIRTIO_BLK_S_UNSUPP, 1);
	/* Exactly one segment (max_discard_seg = max_write_zeroes_seg = 1). */
	if (c->out_len - sizeof(struct virtio_blk_req_hdr) != sizeof(seg))
		return done(p, VIRTIO_BLK_S_IOERR, 1);
	virtq_chain_read(c, sizeof(struct virtio_blk_req_hdr), &seg, sizeof(seg));
	sector = le64toh(seg.sector);
	nsect = le32toh(seg.num_sectors);
	flags = le32toh(seg.flags);
	if (flags & ~VIRTIO_BLK_WZ_FLAG_UNMAP || (!wz && flags))
		return done(p, VIRTIO_BLK_S_UNSUPP, 1);
	if (nsect > VIRTIO_BLK_MAX_DISCARD_SECT || !range_ok(b, sector, nsect))
		return done(p, VIRTIO_BLK_S_IOERR, 1);
	if (nsect == 0)
		return done(p, VIRTIO_BLK_S_OK, 1);
	return new_req(p, wz ? BLOCK_WRITE_ZEROES : BLOCK_DISCARD, sector * VIRTIO_BLK_SECTOR,
		       (uint64_t)nsect * VIRTIO_BLK_SECTOR, false, 0);
}

static enum parsed parse_chain(struct parse *p)
{
	const struct virtq_chain *c = p->c;
	const struct iovec *last;
	struct virtio_blk_req_hdr hdr;
	uint32_t type, n;

	/* 16 readable header bytes, and at least the writable status byte. */
	if (c->out_len < sizeof(hdr) || c->in_len < 1)
		return PARSED_MALFORMED;
	last = &c->iov[c->nr_out + c->nr_in - 1];
	p->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	virtq_chain_read(c, 0, &hdr, sizeof(hdr));
	type = le32toh(hdr.type);
	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		return parse_rw(p, type, le64toh(hdr.sector));
	case VIRTIO_BLK_T_FLUSH:
		return new_req(p, BLOCK_FLUSH, 0, 0, false, 0);
	case VIRTIO_BLK_T_GET_ID:
		n = c->in_len - 1 < VIRTIO_BLK_ID_BYTES ? (uint32_t)c->in_len - 1 : VIRTIO_BLK_ID_BYTES;
		virtq_chain_write(c, 0, p->b->serial, n);
		return done(p, VIRTIO_BLK_S_OK, n + 1);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return parse_discard_wz(p, type);
	default:
		return done(p, VIRTIO_BLK_S_UNSUPP, 1);
	}
}

/* ---- the queue -------------------------------------------------------- */

static void queue_broken(struct virtio_blk *b, unsigned int qi, const char *why)
{
	b->vdev.queues[qi].broken = true;
	if (log_ratelimit_ok(&b->rl, "malformed virtio-blk request"))
		log_warn("virtio-blk: queue %u: %s; device needs reset", qi, why);
}

/* Under the lock: pop and parse everything available.  Requests to submit
 * are returned on *list; the rest are answered here. */
static void process_locked(struct virtio_blk *b, unsigned int qi, struct blk_req **list,
			   bool *notify, bool *needs_reset)
{
	struct virtq *q = &b->vdev.queues[qi];
	struct blk_queue *bq = &b->bqs[qi];
	struct blk_req **tail = list;

	for (;;) {
		struct parse p = { .b = b, .qi = qi, .c = &bq->chain };
		int r = virtq_pop(q, &bq->chain);

		if (r < 0) {
			*needs_reset = true;
			return;
		}
		if (r == 0) {
			if (virtq_set_avail_event(q))
				continue;
			return;
		}
		if (bq->inflight >= q->size) {
			queue_broken(b, qi, "more requests in flight than the queue holds");
			*needs_reset = true;
			return;
		}
		switch (parse_chain(&p)) {
		case PARSED_MALFORMED:
			queue_broken(b, qi, "request without header or status byte");
			*needs_reset = true;
			return;
		case PARSED_DONE:
			*notify |= finish_locked(b, qi, bq->chain.head, p.status, p.value,
						 p.written, needs_reset);
			break;
		case PARSED_SUBMIT:
			bq->inflight++;
			*tail = p.req;
			tail = &p.req->next;
			break;
		}
	}
}

static void blk_queue_notify(struct virtio_dev *d, unsigned int qi)
{
	struct virtio_blk *b = to_blk(d);
	struct blk_req *list = NULL, *next;
	bool notify = false, needs_reset = false;

	if (qi >= d->nr_queues)
		return;
	pthread_mutex_lock(&b->bqs[qi].lock);
	if (b->active)
		process_locked(b, qi, &list, &notify, &needs_reset);
	pthread_mutex_unlock(&b->bqs[qi].lock);
	signal_driver(b, qi, notify, needs_reset);
	if (!list)
		return;
	for (struct blk_req *r = list; r; r = next) {
		int err;

		next = r->next;  /* r may be freed by a synchronous completion */
		err = block_submit(b->backend, &r->io);
		if (err)
			complete(r, status_of(err), 1);
	}
	if (b->backend->ops->flush_queue)
		b->backend->ops->flush_queue(b->backend);
}

/* ---- device type ops -------------------------------------------------- */

static void blk_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	const struct virtio_blk *b = to_blk(d);

	virtio_config_copy(&b->cfg, sizeof(b->cfg), off, data, len);
}

static void blk_config_write(struct virtio_dev *d, uint32_t off, const void *data,
			     uint32_t len)
{
	/* Nothing is writable: writeback needs VIRTIO_BLK_F_CONFIG_WCE. */
}

static int blk_activate(struct virtio_dev *d, uint64_t features)
{
	struct virtio_blk *b = to_blk(d);

	if (!((features >> VIRTIO_F_VERSION_1) & 1) || features & ~d->host_features)
		return -EINVAL;
	/* Kicks read active under a queue lock; set it under all of them. */
	for (unsigned int i = 0; i < d->nr_queues; i++) {
		pthread_mutex_lock(&b->bqs[i].lock);
		d->queues[i].features = virtio_ring_features(features);
	}
	b->features = features;
	b->active = true;
	for (unsigned int i = d->nr_queues; i-- > 0;)
		pthread_mutex_unlock(&b->bqs[i].lock);
	return 0;
}

static void blk_reset(struct virtio_dev *d)
{
	struct virtio_blk *b = to_blk(d);

	for (unsigned int i = 0; i < d->nr_queues; i++)
		pthread_mutex_lock(&b->bqs[i].lock);
	b->active = false;
	for (unsigned int i = d->nr_queues; i-- > 0;)
		pthread_mutex_unlock(&b->bqs[i].lock);
	/* No locks held: completions need them. */
	if (b->backend->ops->drain)
		b->backend->ops->drain(b->backend);
	for (unsigned int i = 0; i < d->nr_queues; i++) {
		struct blk_queue *bq = &b->bqs[i];

		pthread_mutex_lock(&bq->lock);
		while (bq->inflight)
			pthread_cond_wait(&bq->idle, &bq->lock);
		virtq_reset(&d->queues[i]);
		pthread_mutex_unlock(&bq->lock);
	}
	b->features = 0;
}

static void blk_destroy(struct virtio_dev *d)
{
	struct virtio_blk *b = to_blk(d);

	blk_reset(d);
	for (unsigned int i = 0; i < d->nr_queues; i++) {
		pthread_mutex_destroy(&b->bqs[i].lock);
		pthread_cond_destroy(&b->bqs[i].idle);
	}
	free(b->bqs);
	free(d->queues);
	free(b);
}

static const struct virtio_dev_ops blk_ops = {
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.activate = blk_activate,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
	.destroy = blk_destroy,
};

/* ---- creation --------------------------------------------------------- */

static uint64_t offered_features(const struct block_backend *be)
{
	uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_INDIRECT_DESC |
		     1ull << VIRTIO_F_EVENT_IDX | 1ull << VIRTIO_BLK_F_SIZE_MAX |
		     1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |
		     1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_MQ;

	if (be->readonly)
		f |= 1ull << VIRTIO_BLK_F_RO;
	if (be->can_discard && !be->readonly)
		f |= 1ull << VIRTIO_BLK_F_DISCARD;
	if (be->can_write_zeroes && !be->readonly)
		f |= 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	return f;
}

static void fill_config(struct virtio_blk *b, const struct virtio_blk_params *p)
{
	unsigned int bs = p->backend->logical_block ? p->backend->logical_block : 512;
	struct virtio_blk_config *c = &b->cfg;

	c->capacity = htole64(b->capacity);
	c->size_max = htole32(VIRTIO_BLK_SIZE_MAX);
	c->seg_max = htole32(p->queue_size - 2u); /* header and status take two */
	c->blk_size = htole32(bs);
	c->num_queues = htole16((uint16_t)p->nr_queues);
	c->max_discard_sectors = htole32(VIRTIO_BLK_MAX_DISCARD_SECT);
	c->max_discard_seg = htole32(1);
	c->discard_sector_alignment = htole32(bs / VIRTIO_BLK_SECTOR);
	c->max_write_zeroes_sectors = htole32(VIRTIO_BLK_MAX_DISCARD_SECT);
	c->max_write_zeroes_seg = htole32(1);
	c->write_zeroes_may_unmap = 0;
}

static int check_params(const struct virtio_blk_params *p)
{
	if (!p->mem || !p->backend || !p->backend->ops || !p->backend->ops->submit)
		return -EINVAL;
	if (p->nr_queues < 1 || p->nr_queues > VIRTIO_BLK_MAX_QUEUES)
		return -EINVAL;
	if (p->queue_size < 4 || p->queue_size > VIRTQ_MAX_SIZE ||
	    p->queue_size & (p->queue_size - 1))
		return -EINVAL;
	if (p->serial && strlen(p->serial) > VIRTIO_BLK_ID_BYTES)
		return -EINVAL;
	if (p->backend->size % VIRTIO_BLK_SECTOR)
		return -EINVAL;
	return 0;
}

int virtio_blk_create(const struct virtio_blk_params *p, struct virtio_dev **out)
{
	struct virtio_blk *b;
	int err = check_params(p);

	if (err) {
		log_err("virtio-blk: invalid parameters");
		return err;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->vdev.queues = calloc(p->nr_queues, sizeof(struct virtq));
	b->bqs = calloc(p->nr_queues, sizeof(struct blk_queue));
	if (!b->vdev.queues || !b->bqs) {
		free(b->vdev.queues);
		free(b->bqs);
		free(b);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < p->nr_queues; i++) {
		virtq_init(&b->vdev.queues[i], p->mem, p->queue_size);
		pthread_mutex_init(&b->bqs[i].lock, NULL);
		pthread_cond_init(&b->bqs[i].idle, NULL);
	}
	b->backend = p->backend;
	b->capacity = p->backend->size / VIRTIO_BLK_SECTOR;
	if (p->serial)
		memcpy(b->serial, p->serial, strlen(p->serial));
	b->rl.burst = 10;
	fill_config(b, p);
	b->vdev.ops = &blk_ops;
	b->vdev.name = "virtio-blk";
	b->vdev.device_id = VIRTIO_ID_BLOCK;
	b->vdev.host_features = offered_features(p->backend);
	b->vdev.config_size = sizeof(b->cfg);
	b->vdev.nr_queues = p->nr_queues;
	*out = &b->vdev;
	return 0;
}

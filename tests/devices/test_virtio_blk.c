// SPDX-License-Identifier: MIT
/*
 * virtio-blk against the test driver and an in-memory block backend that
 * completes synchronously (inside submit), later on request (deferred), or
 * on its own thread: every request type, every error status, read-only
 * enforcement, sector ranges, malformed chains, reset draining.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "devices/virtio/blk.h"
#include "mmu/iovec.h"
#include "virtio_driver.h"

#define DISK_SIZE  (1024 * 1024ull)        /* 2048 sectors */
#define CAPACITY   (DISK_SIZE / 512)
#define QSIZE      32
#define MAX_PEND   64
#define HDR_BASE   0x300000ull             /* headers and status bytes */

/* ---- fake backend ----------------------------------------------------- */

enum fake_mode { FAKE_SYNC, FAKE_DEFERRED, FAKE_THREAD };

struct fake_backend {
	struct block_backend be;
	uint8_t *disk;
	enum fake_mode mode;
	int submit_err;            /* returned by submit when set */
	int64_t force_result;      /* when force: the result of every request */
	bool force;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct block_io *pending[MAX_PEND];
	unsigned int nr_pending;
	unsigned int nr_submit, nr_flush_queue, nr_drain;
	struct block_io last;      /* a copy of the last submitted request */
	struct iovec last_iov[8];
	pthread_t thread;
	bool stop;
};

static int64_t fake_execute(struct fake_backend *f, struct block_io *io)
{
	uint64_t off = io->offset;

	if (f->force)
		return f->force_result;
	switch (io->op) {
	case BLOCK_READ:
	case BLOCK_WRITE:
		for (unsigned int i = 0; i < io->nr_iov; i++) {
			assert_true(off + io->iov[i].iov_len <= DISK_SIZE);
			if (io->op == BLOCK_READ)
				memcpy(io->iov[i].iov_base, f->disk + off, io->iov[i].iov_len);
			else
				memcpy(f->disk + off, io->iov[i].iov_base, io->iov[i].iov_len);
			off += io->iov[i].iov_len;
		}
		return (int64_t)(off - io->offset);
	case BLOCK_DISCARD:
	case BLOCK_WRITE_ZEROES:
		assert_true(io->offset + io->len <= DISK_SIZE);
		memset(f->disk + io->offset, 0, io->len);
		return 0;
	case BLOCK_FLUSH:
		return 0;
	}
	return -EINVAL;
}

static int fake_submit(struct block_backend *b, struct block_io *io)
{
	struct fake_backend *f = (struct fake_backend *)b;

	pthread_mutex_lock(&f->lock);
	f->nr_submit++;
	f->last = *io;
	memcpy(f->last_iov, io->iov, sizeof(struct iovec) * (io->nr_iov < 8 ? io->nr_iov : 8));
	if (f->submit_err) {
		pthread_mutex_unlock(&f->lock);
		return f->submit_err;
	}
	if (f->mode != FAKE_SYNC) {
		assert_true(f->nr_pending < MAX_PEND);
		f->pending[f->nr_pending++] = io;
		pthread_cond_signal(&f->cond);
		pthread_mutex_unlock(&f->lock);
		return 0;
	}
	pthread_mutex_unlock(&f->lock);
	io->done(io, fake_execute(f, io));
	return 0;
}

static void fake_flush_queue(struct block_backend *b)
{
	((struct fake_backend *)b)->nr_flush_queue++;
}

/* Complete pending request i (in submission order). */
static void fake_complete(struct fake_backend *f, unsigned int i)
{
	struct block_io *io;

	pthread_mutex_lock(&f->lock);
	assert_true(i < f->nr_pending);
	io = f->pending[i];
	memmove(&f->pending[i], &f->pending[i + 1], (f->nr_pending - i - 1) * sizeof(io));
	f->nr_pending--;
	pthread_mutex_unlock(&f->lock);
	io->done(io, fake_execute(f, io));
}

static int fake_drain(struct block_backend *b)
{
	struct fake_backend *f = (struct fake_backend *)b;

	f->nr_drain++;
	if (f->mode == FAKE_DEFERRED)
		while (f->nr_pending)
			fake_complete(f, 0);
	return 0;
}

static void *fake_thread(void *arg)
{
	struct fake_backend *f = arg;

	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (!f->nr_pending && !f->stop)
			pthread_cond_wait(&f->cond, &f->lock);
		if (!f->nr_pending)
			break;
		pthread_mutex_unlock(&f->lock);
		fake_complete(f, 0);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

static const struct block_backend_ops fake_ops = {
	.submit = fake_submit,
	.flush_queue = fake_flush_queue,
	.drain = fake_drain,
};

/* ---- fixture ---------------------------------------------------------- */

struct fx {
	struct tdrv t;
	struct fake_backend fb;
	struct virtio_dev *d;
	unsigned int notified[4], needs_reset;
	unsigned int nreq;         /* requests built so far (buffer slots) */
};

static void on_queue(void *ctx, unsigned int q)
{
	struct fx *f = ctx;

	if (q < 4)
		__atomic_fetch_add(&f->notified[q], 1, __ATOMIC_RELAXED);
}

static void on_needs_reset(void *ctx)
{
	((struct fx *)ctx)->needs_reset++;
}

static struct fx *make(bool readonly, bool discard, unsigned int nr_queues, uint64_t extra)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct virtio_blk_params p;
	uint64_t features;

	assert_non_null(f);
	td_map(&f->t);
	f->fb.disk = malloc(DISK_SIZE);
	assert_non_null(f->fb.disk);
	for (uint64_t i = 0; i < DISK_SIZE; i++)
		f->fb.disk[i] = (uint8_t)(i * 7 + i / 512);
	f->fb.be = (struct block_backend){ .ops = &fake_ops, .path = "fake", .size = DISK_SIZE,
					   .readonly = readonly, .can_discard = discard,
					   .can_write_zeroes = discard, .logical_block = 512 };
	pthread_mutex_init(&f->fb.lock, NULL);
	pthread_cond_init(&f->fb.cond, NULL);
	p = (struct virtio_blk_params){ .mem = &f->t.map, .backend = &f->fb.be,
		.nr_queues = nr_queues, .queue_size = QSIZE, .serial = "minivmm-disk-0" };
	assert_int_equal(virtio_blk_create(&p, &f->d), 0);
	f->d->notify = (struct virtio_notify){ .queue = on_queue,
		.needs_reset = on_needs_reset, .ctx = f };
	for (unsigned int i = 0; i < nr_queues; i++) {
		td_place(&f->t, &f->d->queues[i], i, QSIZE);
		assert_int_equal(virtq_enable(&f->d->queues[i]), 0);
	}
	/* Negotiate everything offered except the ring extras not asked for. */
	features = f->d->host_features &
		   ~(1ull << VIRTIO_F_EVENT_IDX | 1ull << VIRTIO_F_INDIRECT_DESC);
	assert_int_equal(f->d->ops->activate(f->d, features | extra), 0);
	return f;
}

static int setup(void **state)
{
	*state = make(false, true, 1, 0);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->fb.mode == FAKE_THREAD) {
		pthread_mutex_lock(&f->fb.lock);
		f->fb.stop = true;
		pthread_cond_signal(&f->fb.cond);
		pthread_mutex_unlock(&f->fb.lock);
		pthread_join(f->fb.thread, NULL);
	}
	f->d->ops->destroy(f->d);
	pthread_mutex_destroy(&f->fb.lock);
	pthread_cond_destroy(&f->fb.cond);
	free(f->fb.disk);
	mem_map_destroy(&f->t.map);
	free(f);
	return 0;
}

/* ---- the test driver's requests --------------------------------------- */

struct req {
	unsigned int qi;
	uint16_t head;
	uint64_t hdr, status, data;   /* gpas */
};

/* Header, optional data buffer, status byte: descriptors head..head+2. */
static struct req build(struct fx *f, unsigned int qi, uint16_t head, uint32_t type,
			uint64_t sector, uint64_t data, uint32_t data_len, bool data_write)
{
	struct virtq *q = &f->d->queues[qi];
	struct req r = { .qi = qi, .head = head, .data = data };
	struct virtio_blk_req_hdr h = { htole32(type), 0, htole64(sector) };
	uint8_t junk = 0xEE;
	uint16_t st = data_len ? head + 2 : head + 1;

	r.hdr = HDR_BASE + (f->nreq % 1024) * 0x40;
	r.status = r.hdr + 0x20;
	f->nreq++;
	assert_int_equal(mem_write(&f->t.map, r.hdr, &h, sizeof(h)), 0);
	assert_int_equal(mem_write(&f->t.map, r.status, &junk, 1), 0);
	td_desc(&f->t, q, head, r.hdr, sizeof(h), VIRTQ_DESC_F_NEXT, (uint16_t)(head + 1));
	if (data_len)
		td_desc(&f->t, q, head + 1, data, data_len,
			VIRTQ_DESC_F_NEXT | (data_write ? VIRTQ_DESC_F_WRITE : 0), st);
	td_desc(&f->t, q, st, r.status, 1, VIRTQ_DESC_F_WRITE, 0);
	return r;
}

static void kick(struct fx *f, const struct req *r)
{
	td_publish(&f->t, &f->d->queues[r->qi], r->qi, r->head);
	f->d->ops->queue_notify(f->d, r->qi);
}

static uint8_t status_of(struct fx *f, const struct req *r)
{
	uint8_t s;

	assert_int_equal(mem_read(&f->t.map, r->status, &s, 1), 0);
	return s;
}

/* Build, kick, expect one used element for it with this status. */
static uint8_t run(struct fx *f, uint32_t type, uint64_t sector, uint64_t data,
		   uint32_t len, bool data_write, uint32_t *used_len)
{
	struct virtq *q = &f->d->queues[0];
	uint16_t before = td_used_idx(&f->t, q);
	struct req r = build(f, 0, 0, type, sector, data, len, data_write);
	uint32_t id, l;

	kick(f, &r);
	assert_int_equal(td_used_idx(&f->t, q), (uint16_t)(before + 1));
	td_used_elem(&f->t, q, before, &id, &l);
	assert_int_equal(id, 0);
	if (used_len)
		*used_len = l;
	return status_of(f, &r);
}

static void fill_guest(struct fx *f, uint64_t gpa, size_t len, uint8_t seed)
{
	uint8_t *buf = malloc(len);

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 13);
	assert_int_equal(mem_write_span(&f->t.map, gpa, buf, len), 0);
	free(buf);
}

static void assert_guest_is_disk(struct fx *f, uint64_t gpa, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);

	assert_int_equal(mem_read_span(&f->t.map, gpa, buf, len), 0);
	assert_memory_equal(buf, f->fb.disk + off, len);
	free(buf);
}

/* ---- configuration and features --------------------------------------- */

static uint32_t cfg32(struct fx *f, uint32_t off)
{
	uint32_t v;

	f->d->ops->config_read(f->d, off, &v, 4);
	return le32toh(v);
}

static void test_config(void **state)
{
	struct fx *f = *state;
	uint64_t cap;
	uint16_t nq;
	uint8_t beyond[8];

	assert_int_equal(f->d->device_id, VIRTIO_ID_BLOCK);
	assert_int_equal(f->d->config_size, 60);
	f->d->ops->config_read(f->d, 0, &cap, 8);
	assert_int_equal(le64toh(cap), CAPACITY);
	assert_int_equal(cfg32(f, 8), VIRTIO_BLK_SIZE_MAX);
	assert_int_equal(cfg32(f, 12), QSIZE - 2);
	assert_int_equal(cfg32(f, 20), 512);
	f->d->ops->config_read(f->d, 34, &nq, 2);
	assert_int_equal(le16toh(nq), 1);
	assert_int_equal(cfg32(f, 36), VIRTIO_BLK_MAX_DISCARD_SECT);
	assert_int_equal(cfg32(f, 40), 1);
	assert_int_equal(cfg32(f, 44), 1);
	assert_int_equal(cfg32(f, 48), VIRTIO_BLK_MAX_DISCARD_SECT);
	assert_int_equal(cfg32(f, 52), 1);
	/* Reads past the end (or straddling it) see zeroes. */
	memset(beyond, 0xAA, sizeof(beyond));
	f->d->ops->config_read(f->d, 56, beyond, 8);
	for (unsigned int i = 0; i < 8; i++)
		assert_int_equal(beyond[i], 0);
	f->d->ops->config_read(f->d, 0xFFFFFFF0u, beyond, 8);
	assert_int_equal(beyond[0], 0);
	/* Writes change nothing. */
	f->d->ops->config_write(f->d, 0, beyond, 8);
	f->d->ops->config_read(f->d, 0, &cap, 8);
	assert_int_equal(le64toh(cap), CAPACITY);
}

static void test_features(void **state)
{
	struct fx *f = *state;
	uint64_t want = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_INDIRECT_DESC |
			1ull << VIRTIO_F_EVENT_IDX | 1ull << VIRTIO_BLK_F_SIZE_MAX |
			1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |
			1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_MQ |
			1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	struct fx *ro = make(true, true, 1, 0);

	assert_int_equal(f->d->host_features, want);
	assert_int_equal(ro->d->host_features,
			 (want | 1ull << VIRTIO_BLK_F_RO) &
			 ~(1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES));
	teardown((void **)&ro);
	/* A legacy driver, or features never offered, are refused. */
	assert_int_equal(f->d->ops->activate(f->d, 1ull << VIRTIO_BLK_F_FLUSH), -EINVAL);
	assert_int_equal(f->d->ops->activate(f->d, 1ull << VIRTIO_F_VERSION_1 | 1ull << 40),
			 -EINVAL);
}

static void test_bad_params(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *d = NULL;
	struct virtio_blk_params p = { .mem = &f->t.map, .backend = &f->fb.be,
				       .nr_queues = 1, .queue_size = QSIZE };

	p.queue_size = 24;
	assert_int_equal(virtio_blk_create(&p, &d), -EINVAL);
	p.queue_size = QSIZE;
	p.nr_queues = 0;
	assert_int_equal(virtio_blk_create(&p, &d), -EINVAL);
	p.nr_queues = 1;
	p.serial = "123456789012345678901";
	assert_int_equal(virtio_blk_create(&p, &d), -EINVAL);
	assert_null(d);
}

/* ---- requests --------------------------------------------------------- */

static void test_read(void **state)
{
	struct fx *f = *state;
	uint32_t used;

	assert_int_equal(run(f, VIRTIO_BLK_T_IN, 3, TD_DATA, 1024, true, &used),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1025);
	assert_guest_is_disk(f, TD_DATA, 3 * 512, 1024);
	assert_int_equal(f->notified[0], 1);
	/* The backend got guest memory itself, no bounce buffer. */
	assert_int_equal(f->fb.last.op, BLOCK_READ);
	assert_int_equal(f->fb.last.offset, 3 * 512);
	assert_int_equal(f->fb.last.len, 1024);
	assert_int_equal(f->fb.last.nr_iov, 1);
	assert_ptr_equal(f->fb.last_iov[0].iov_base, td_hva(&f->t, TD_DATA, 1024));
	assert_int_equal(f->fb.nr_flush_queue, 1);
}

static void test_read_spanning_slots(void **state)
{
	struct fx *f = *state;
	uint64_t gpa = 3 * TD_SLOT - 512;

	assert_int_equal(run(f, VIRTIO_BLK_T_IN, 100, gpa, 2048, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(f->fb.last.nr_iov, 2);
	assert_int_equal(f->fb.last_iov[0].iov_len, 512);
	assert_int_equal(f->fb.last_iov[1].iov_len, 1536);
	assert_ptr_equal(f->fb.last_iov[1].iov_base, td_hva(&f->t, 3 * TD_SLOT, 1536));
	assert_guest_is_disk(f, gpa, 100 * 512, 2048);
}

static void test_read_data_and_status_one_buffer(void **state)
{
	struct fx *f = *state;
	struct virtq *q = &f->d->queues[0];
	struct virtio_blk_req_hdr h = { htole32(VIRTIO_BLK_T_IN), 0, htole64(7) };
	uint8_t st;
	uint32_t id, len;

	/* One writable descriptor holds 512 data bytes and the status byte. */
	assert_int_equal(mem_write(&f->t.map, HDR_BASE, &h, sizeof(h)), 0);
	td_desc(&f->t, q, 0, HDR_BASE, 16, VIRTQ_DESC_F_NEXT, 1);
	td_desc(&f->t, q, 1, TD_DATA, 513, VIRTQ_DESC_F_WRITE, 0);
	td_publish(&f->t, q, 0, 0);
	f->d->ops->queue_notify(f->d, 0);
	assert_int_equal(mem_read(&f->t.map, TD_DATA + 512, &st, 1), 0);
	assert_int_equal(st, VIRTIO_BLK_S_OK);
	assert_guest_is_disk(f, TD_DATA, 7 * 512, 512);
	td_used_elem(&f->t, q, 0, &id, &len);
	assert_int_equal(len, 513);
}

static void test_write(void **state)
{
	struct fx *f = *state;
	uint32_t used;

	fill_guest(f, TD_DATA, 1536, 0x42);
	assert_int_equal(run(f, VIRTIO_BLK_T_OUT, 2045, TD_DATA, 1536, false, &used),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	assert_int_equal(f->fb.last.op, BLOCK_WRITE);
	assert_guest_is_disk(f, TD_DATA, 2045 * 512, 1536); /* the last 3 sectors */
}

static void test_flush(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(f->fb.last.op, BLOCK_FLUSH);
}

static void test_get_id(void **state)
{
	struct fx *f = *state;
	uint8_t id[VIRTIO_BLK_ID_BYTES], want[VIRTIO_BLK_ID_BYTES] = "minivmm-disk-0";
	uint32_t used;

	memset(id, 0xAA, sizeof(id));
	assert_int_equal(mem_write(&f->t.map, TD_DATA, id, sizeof(id)), 0);
	assert_int_equal(run(f, VIRTIO_BLK_T_GET_ID, 0, TD_DATA, VIRTIO_BLK_ID_BYTES, true,
			     &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, VIRTIO_BLK_ID_BYTES + 1);
	assert_int_equal(mem_read(&f->t.map, TD_DATA, id, sizeof(id)), 0);
	assert_memory_equal(id, want, sizeof(id));
	assert_int_equal(f->fb.nr_submit, 0);
	/* A shorter buffer gets what fits. */
	assert_int_equal(run(f, VIRTIO_BLK_T_GET_ID, 0, TD_DATA + 0x100, 4, true, &used),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(used, 5);
}

static uint8_t run_seg(struct fx *f, uint32_t type, uint64_t sector, uint32_t n,
		       uint32_t flags)
{
	struct virtio_blk_discard_wz seg = { htole64(sector), htole32(n), htole32(flags) };

	assert_int_equal(mem_write(&f->t.map, TD_DATA, &seg, sizeof(seg)), 0);
	return run(f, type, 0, TD_DATA, sizeof(seg), false, NULL);
}

static bool disk_zero(struct fx *f, uint64_t off, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (f->fb.disk[off + i])
			return false;
	return true;
}

static void test_discard_write_zeroes(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run_seg(f, VIRTIO_BLK_T_DISCARD, 10, 2, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(f->fb.last.op, BLOCK_DISCARD);
	assert_int_equal(f->fb.last.offset, 10 * 512);
	assert_int_equal(f->fb.last.len, 1024);
	assert_true(disk_zero(f, 10 * 512, 1024));
	assert_false(disk_zero(f, 12 * 512, 512));
	assert_int_equal(run_seg(f, VIRTIO_BLK_T_WRITE_ZEROES, 20, 1,
				 VIRTIO_BLK_WZ_FLAG_UNMAP), VIRTIO_BLK_S_OK);
	assert_int_equal(f->fb.last.op, BLOCK_WRITE_ZEROES);
	assert_true(disk_zero(f, 20 * 512, 512));
	/* unmap is for write zeroes only; unknown flags are unsupported. */
	assert_int_equal(run_seg(f, VIRTIO_BLK_T_DISCARD, 10, 2, VIRTIO_BLK_WZ_FLAG_UNMAP),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(run_seg(f, VIRTIO_BLK_T_WRITE_ZEROES, 10, 2, 2), VIRTIO_BLK_S_UNSUPP);
	/* Range and size limits. */
	assert_int_equal(run_seg(f, VIRTIO_BLK_T_DISCARD, CAPACITY - 1, 2, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(run_seg(f, VIRTIO_BLK_T_DISCARD, UINT64_MAX, 1, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(run_seg(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, VIRTIO_BLK_MAX_DISCARD_SECT + 1,
				 0), VIRTIO_BLK_S_IOERR);
	/* Two segments (we offer one) or a partial one. */
	assert_int_equal(run(f, VIRTIO_BLK_T_DISCARD, 0, TD_DATA, 32, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(run(f, VIRTIO_BLK_T_DISCARD, 0, TD_DATA, 8, false, NULL),
			 VIRTIO_BLK_S_IOERR);
}

static void test_discard_not_negotiated(void **state)
{
	struct fx *f = make(false, false, 1, 0);

	assert_int_equal(run_seg(f, VIRTIO_BLK_T_DISCARD, 0, 1, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(run_seg(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(f->fb.nr_submit, 0);
	teardown((void **)&f);
}

static void test_unknown_type(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run(f, 0x1234, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(run(f, 2, 0, TD_DATA, 512, true, NULL), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(f->fb.nr_submit, 0);
}

static void test_readonly(void **state)
{
	struct fx *f = make(true, true, 1, 0);
	uint8_t before[512];

	memcpy(before, f->fb.disk, sizeof(before));
	fill_guest(f, TD_DATA, 512, 1);
	assert_int_equal(run(f, VIRTIO_BLK_T_OUT, 0, TD_DATA, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_memory_equal(f->fb.disk, before, sizeof(before));
	assert_int_equal(run_seg(f, VIRTIO_BLK_T_DISCARD, 0, 1, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(run_seg(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(f->fb.nr_submit, 0);
	assert_memory_equal(f->fb.disk, before, sizeof(before));
	/* Reads and flushes still work. */
	assert_int_equal(run(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(run(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	teardown((void **)&f);
}

static void test_out_of_range(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run(f, VIRTIO_BLK_T_IN, CAPACITY, TD_DATA, 512, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(run(f, VIRTIO_BLK_T_IN, CAPACITY - 1, TD_DATA, 1024, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(run(f, VIRTIO_BLK_T_OUT, UINT64_MAX, TD_DATA, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* sector * 512 would wrap to 0. */
	assert_int_equal(run(f, VIRTIO_BLK_T_OUT, 1ull << 55, TD_DATA, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(f->fb.nr_submit, 0);
	/* The last sector is fine; so is an empty transfer at the end. */
	assert_int_equal(run(f, VIRTIO_BLK_T_IN, CAPACITY - 1, TD_DATA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(run(f, VIRTIO_BLK_T_IN, CAPACITY, 0, 0, true, NULL), VIRTIO_BLK_S_OK);
}

static void test_bad_length(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 511, true, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(run(f, VIRTIO_BLK_T_OUT, 0, TD_DATA, 513, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(f->fb.nr_submit, 0);
}

static void expect_broken(struct fx *f)
{
	assert_int_equal(f->needs_reset, 1);
	assert_true(f->d->queues[0].broken);
	assert_int_equal(td_used_idx(&f->t, &f->d->queues[0]), 0);
	assert_int_equal(f->fb.nr_submit, 0);
}

static void test_no_status_byte(void **state)
{
	struct fx *f = *state;
	struct virtq *q = &f->d->queues[0];

	/* Header and a readable data buffer, nothing writable. */
	td_desc(&f->t, q, 0, HDR_BASE, 16, VIRTQ_DESC_F_NEXT, 1);
	td_desc(&f->t, q, 1, TD_DATA, 512, 0, 0);
	td_publish(&f->t, q, 0, 0);
	f->d->ops->queue_notify(f->d, 0);
	expect_broken(f);
}

static void test_short_header(void **state)
{
	struct fx *f = *state;
	struct virtq *q = &f->d->queues[0];

	td_desc(&f->t, q, 0, HDR_BASE, 8, VIRTQ_DESC_F_NEXT, 1);
	td_desc(&f->t, q, 1, HDR_BASE + 0x20, 1, VIRTQ_DESC_F_WRITE, 0);
	td_publish(&f->t, q, 0, 0);
	f->d->ops->queue_notify(f->d, 0);
	expect_broken(f);
}

static void test_malformed_ring(void **state)
{
	struct fx *f = *state;
	struct virtq *q = &f->d->queues[0];

	/* The data buffer lies in the MMIO hole: the virtqueue refuses it. */
	struct req r = build(f, 0, 0, VIRTIO_BLK_T_IN, 0, TD_HOLE, 512, true);

	kick(f, &r);
	expect_broken(f);
	assert_int_equal(status_of(f, &r), 0xEE); /* untouched */
	/* Later kicks do nothing but repeat the request for a reset. */
	f->d->ops->queue_notify(f->d, 0);
	assert_int_equal(f->needs_reset, 2);
	/* A reset brings the queue back. */
	f->d->ops->reset(f->d);
	assert_false(q->broken);
	assert_false(q->enabled);
}

static void test_backend_errors(void **state)
{
	struct fx *f = *state;

	f->fb.force = true;
	f->fb.force_result = -EIO;
	assert_int_equal(run(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true, NULL), VIRTIO_BLK_S_IOERR);
	f->fb.force_result = -EOPNOTSUPP;
	assert_int_equal(run(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	f->fb.force_result = 512; /* short read */
	assert_int_equal(run(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 1024, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	f->fb.force = false;
	f->fb.submit_err = -EAGAIN;
	assert_int_equal(run(f, VIRTIO_BLK_T_OUT, 0, TD_DATA, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	f->fb.submit_err = 0;
	assert_int_equal(run(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
}

/* ---- requests in flight ----------------------------------------------- */

static void publish(struct fx *f, const struct req *r)
{
	td_publish(&f->t, &f->d->queues[r->qi], r->qi, r->head);
}

static void test_deferred_completion(void **state)
{
	struct fx *f = *state;
	struct virtq *q = &f->d->queues[0];
	struct req r[3];
	uint32_t id, len;

	f->fb.mode = FAKE_DEFERRED;
	for (unsigned int i = 0; i < 3; i++) {
		r[i] = build(f, 0, (uint16_t)(i * 3), VIRTIO_BLK_T_IN, i * 8,
			     TD_DATA + i * 0x1000, 512, true);
		publish(f, &r[i]);
	}
	f->d->ops->queue_notify(f->d, 0);
	assert_int_equal(f->fb.nr_pending, 3);
	assert_int_equal(td_used_idx(&f->t, q), 0);
	assert_int_equal(f->notified[0], 0);
	assert_int_equal(status_of(f, &r[0]), 0xEE);

	/* Completion order, not submission order, fills the used ring. */
	fake_complete(&f->fb, 2);
	assert_int_equal(td_used_idx(&f->t, q), 1);
	td_used_elem(&f->t, q, 0, &id, &len);
	assert_int_equal(id, 6);
	assert_int_equal(len, 513);
	assert_int_equal(status_of(f, &r[2]), VIRTIO_BLK_S_OK);
	assert_int_equal(status_of(f, &r[0]), 0xEE);
	assert_int_equal(f->notified[0], 1);
	fake_complete(&f->fb, 0);
	fake_complete(&f->fb, 0);
	assert_int_equal(td_used_idx(&f->t, q), 3);
	td_used_elem(&f->t, q, 1, &id, &len);
	assert_int_equal(id, 0);
	td_used_elem(&f->t, q, 2, &id, &len);
	assert_int_equal(id, 3);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(status_of(f, &r[i]), VIRTIO_BLK_S_OK);
		assert_guest_is_disk(f, TD_DATA + i * 0x1000, i * 8 * 512, 512);
	}
}

static void test_reset_drains(void **state)
{
	struct fx *f = *state;
	struct virtq *q = &f->d->queues[0];
	uint64_t used_gpa = q->used_gpa;
	struct req a, b;

	f->fb.mode = FAKE_DEFERRED;
	a = build(f, 0, 0, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true);
	b = build(f, 0, 3, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
	publish(f, &a);
	publish(f, &b);
	f->d->ops->queue_notify(f->d, 0);
	assert_int_equal(f->fb.nr_pending, 2);
	f->d->ops->reset(f->d);
	assert_int_equal(f->fb.nr_drain, 1);
	assert_int_equal(f->fb.nr_pending, 0);
	assert_int_equal(status_of(f, &a), VIRTIO_BLK_S_OK);
	assert_int_equal(status_of(f, &b), VIRTIO_BLK_S_OK);
	assert_int_equal(td_r16(&f->t, used_gpa + 2), 2);
	assert_false(q->enabled);
	/* After reset the device ignores kicks until activated again. */
	td_place(&f->t, q, 0, QSIZE);
	assert_int_equal(virtq_enable(q), 0);
	a = build(f, 0, 0, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true);
	kick(f, &a);
	assert_int_equal(f->fb.nr_pending, 0);
	assert_int_equal(f->d->ops->activate(f->d, 1ull << VIRTIO_F_VERSION_1), 0);
	f->d->ops->queue_notify(f->d, 0);
	assert_int_equal(f->fb.nr_pending, 1);
	fake_complete(&f->fb, 0);
	assert_int_equal(status_of(f, &a), VIRTIO_BLK_S_OK);
}

static void test_head_reused_in_flight(void **state)
{
	struct fx *f = *state;
	struct req r;

	f->fb.mode = FAKE_DEFERRED;
	r = build(f, 0, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
	/* The same head QSIZE times: the most a legal driver could have. */
	for (unsigned int i = 0; i < QSIZE; i++)
		publish(f, &r);
	f->d->ops->queue_notify(f->d, 0);
	assert_int_equal(f->fb.nr_pending, QSIZE);
	assert_int_equal(f->needs_reset, 0);
	kick(f, &r);
	assert_int_equal(f->needs_reset, 1);
	assert_true(f->d->queues[0].broken);
	assert_int_equal(f->fb.nr_pending, QSIZE);
	f->d->ops->reset(f->d);  /* drains all of them */
	assert_int_equal(f->fb.nr_pending, 0);
}

static void test_multiqueue(void **state)
{
	struct fx *f = make(false, true, 2, 0);
	struct req r = build(f, 1, 4, VIRTIO_BLK_T_IN, 9, TD_DATA, 512, true);
	uint16_t nq;

	f->d->ops->config_read(f->d, 34, &nq, 2);
	assert_int_equal(le16toh(nq), 2);
	kick(f, &r);
	assert_int_equal(status_of(f, &r), VIRTIO_BLK_S_OK);
	assert_int_equal(td_used_idx(&f->t, &f->d->queues[1]), 1);
	assert_int_equal(td_used_idx(&f->t, &f->d->queues[0]), 0);
	assert_int_equal(f->notified[1], 1);
	assert_int_equal(f->notified[0], 0);
	f->d->ops->queue_notify(f->d, 7); /* no such queue: ignored */
	teardown((void **)&f);
}

static void test_event_idx_suppression(void **state)
{
	struct fx *f = make(false, true, 1, 1ull << VIRTIO_F_EVENT_IDX);
	struct virtq *q = &f->d->queues[0];

	assert_true(q->features & VIRTQ_F_EVENT_IDX);
	td_set_used_event(&f->t, q, 0);
	assert_int_equal(run(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(f->notified[0], 1);
	assert_int_equal(td_avail_event(&f->t, q), 1); /* published going idle */
	/* The driver wants to hear only after the 4th completion. */
	td_set_used_event(&f->t, q, 3);
	assert_int_equal(run(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(run(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(f->notified[0], 1);
	assert_int_equal(run(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(f->notified[0], 2);
	assert_int_equal(td_avail_event(&f->t, q), 4);
	teardown((void **)&f);
}

static void test_indirect_request(void **state)
{
	struct fx *f = make(false, true, 1, 1ull << VIRTIO_F_INDIRECT_DESC);
	struct virtq *q = &f->d->queues[0];
	struct virtio_blk_req_hdr h = { htole32(VIRTIO_BLK_T_IN), 0, htole64(5) };
	uint64_t table = TD_DATA + 0x80000;
	uint8_t st;

	assert_int_equal(mem_write(&f->t.map, HDR_BASE, &h, sizeof(h)), 0);
	td_desc_at(&f->t, table, 0, HDR_BASE, 16, VIRTQ_DESC_F_NEXT, 1);
	td_desc_at(&f->t, table, 1, TD_DATA, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	td_desc_at(&f->t, table, 2, TD_DATA + 0x1000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	td_desc_at(&f->t, table, 3, HDR_BASE + 0x20, 1, VIRTQ_DESC_F_WRITE, 0);
	td_desc(&f->t, q, 0, table, 4 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	td_publish(&f->t, q, 0, 0);
	f->d->ops->queue_notify(f->d, 0);
	assert_int_equal(mem_read(&f->t.map, HDR_BASE + 0x20, &st, 1), 0);
	assert_int_equal(st, VIRTIO_BLK_S_OK);
	assert_guest_is_disk(f, TD_DATA, 5 * 512, 512);
	assert_guest_is_disk(f, TD_DATA + 0x1000, 6 * 512, 512);
	teardown((void **)&f);
}

static void wait_used(struct fx *f, struct virtq *q, uint16_t target)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (__atomic_load_n((uint16_t *)td_hva(&f->t, q->used_gpa + 2, 2),
			       __ATOMIC_ACQUIRE) != target) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		assert_true(now.tv_sec - start.tv_sec < 20);
		sched_yield();
	}
}

static void test_completion_thread(void **state)
{
	struct fx *f = *state;
	struct virtq *q = &f->d->queues[0];
	uint16_t done = 0;

	f->fb.mode = FAKE_THREAD;
	assert_int_equal(pthread_create(&f->fb.thread, NULL, fake_thread, &f->fb), 0);
	for (unsigned int round = 0; round < 40; round++) {
		struct req r[8];

		/* Kick each one: completions race with the next kick. */
		for (unsigned int i = 0; i < 8; i++) {
			r[i] = build(f, 0, (uint16_t)(i * 3), VIRTIO_BLK_T_IN, round * 8 + i,
				     TD_DATA + i * 0x1000, 512, true);
			kick(f, &r[i]);
		}
		done = (uint16_t)(done + 8);
		wait_used(f, q, done);
		for (unsigned int i = 0; i < 8; i++) {
			assert_int_equal(status_of(f, &r[i]), VIRTIO_BLK_S_OK);
			assert_guest_is_disk(f, TD_DATA + i * 0x1000, (round * 8 + i) * 512, 512);
		}
	}
	assert_true(__atomic_load_n(&f->notified[0], __ATOMIC_RELAXED) >= 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_config),
		T(test_features),
		T(test_bad_params),
		T(test_read),
		T(test_read_spanning_slots),
		T(test_read_data_and_status_one_buffer),
		T(test_write),
		T(test_flush),
		T(test_get_id),
		T(test_discard_write_zeroes),
		T(test_discard_not_negotiated),
		T(test_unknown_type),
		T(test_readonly),
		T(test_out_of_range),
		T(test_bad_length),
		T(test_no_status_byte),
		T(test_short_header),
		T(test_malformed_ring),
		T(test_backend_errors),
		T(test_deferred_completion),
		T(test_reset_drains),
		T(test_head_reused_in_flight),
		T(test_multiqueue),
		T(test_event_idx_suppression),
		T(test_indirect_request),
		T(test_completion_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

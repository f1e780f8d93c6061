/* SPDX-License-Identifier: MIT */
/*
 * What a block device model (virtio-blk) sees of the disk image behind it:
 * asynchronous requests on iovecs that point straight into guest memory,
 * completed by a callback.  Implementations live in src/backends/block/
 * (io_uring, a thread pool); tests use an in-memory fake.
 */
#ifndef MINIVMM_DEVICES_BLOCK_H
#define MINIVMM_DEVICES_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

enum block_op {
	BLOCK_READ,
	BLOCK_WRITE,
	BLOCK_FLUSH,          /* fdatasync unless the backend is cache=unsafe */
	BLOCK_DISCARD,        /* fallocate(PUNCH_HOLE | KEEP_SIZE) */
	BLOCK_WRITE_ZEROES,   /* fallocate(ZERO_RANGE), else written zeroes */
};

struct block_io;
/* Called once per submitted request, on the backend's completion thread:
 * result is the byte count (READ/WRITE), 0, or -errno. */
typedef void (*block_done_fn)(struct block_io *io, int64_t result);

struct block_io {
	enum block_op op;
	uint64_t offset;             /* bytes; READ/WRITE/DISCARD/WRITE_ZEROES */
	uint64_t len;                /* DISCARD/WRITE_ZEROES; READ/WRITE: sum of iov */
	const struct iovec *iov;     /* READ/WRITE; valid until done */
	unsigned int nr_iov;
	block_done_fn done;
	void *ctx;                   /* the caller's */
};

struct block_backend;

struct block_backend_ops {
	/* Queue one request; 0, or -errno when it cannot be queued (then done
	 * is not called).  May be called from any thread. */
	int (*submit)(struct block_backend *b, struct block_io *io);
	/* Push queued requests to the kernel (a batch per kick). */
	void (*flush_queue)(struct block_backend *b);
	/* Wait for every request in flight, then fdatasync (unless unsafe). */
	int (*drain)(struct block_backend *b);
	void (*destroy)(struct block_backend *b);
};

struct block_backend {
	const struct block_backend_ops *ops;
	const char *path;            /* for messages */
	uint64_t size;               /* bytes, a multiple of 512 */
	bool readonly;
	bool can_discard, can_write_zeroes;
	unsigned int logical_block;  /* 512, or the O_DIRECT alignment */
};

static inline int block_submit(struct block_backend *b, struct block_io *io)
{
	return b->ops->submit(b, io);
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * What both block backends keep per request: where the next transfer
 * starts after a short one, and WRITE_ZEROES done as writes of zeroes when
 * the file system cannot zero a range.  Private to src/backends/block/.
 */
#ifndef MINIVMM_BACKENDS_BLOCK_REQ_H
#define MINIVMM_BACKENDS_BLOCK_REQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backends/block/image.h"
#include "devices/block.h"

#define BLK_ZERO_BUF  (64u * 1024)
#define BLK_ZERO_IOVS 16u            /* 1 MiB of zeroes per write */

struct blk_req {
	struct block_io *io;
	const struct iovec *iov;     /* what the next transfer covers */
	unsigned int nr_iov;
	uint64_t pos;                /* file offset of the next transfer */
	uint64_t done;               /* bytes transferred so far */
	struct iovec *rest;          /* own copy, once a transfer came up short */
	bool zeroing;                /* WRITE_ZEROES as writes */
	unsigned int retries;        /* io_uring: reissues after -ECANCELED */
	struct blk_req *next;        /* the threads backend's queue */
	struct iovec zero_iov[BLK_ZERO_IOVS];
};

/* The refusals devices/block.h lists for submit: 0, -EINVAL or -EROFS. */
int blk_req_check(const struct block_image *img, const struct block_io *io);
/* NULL when out of memory. */
struct blk_req *blk_req_new(struct block_io *io);
void blk_req_free(struct blk_req *r);
/* Switches a WRITE_ZEROES to writes of zeroes (r->iov: the first chunk). */
void blk_req_start_zeroing(struct blk_req *r);
/*
 * Accounts n bytes moved by the last READ/WRITE transfer: 1 when more
 * remains (r->iov, r->nr_iov and r->pos describe it), 0 when the request
 * is complete (r->done is its result), -errno when it failed.
 */
int blk_req_advance(struct blk_req *r, uint64_t n);
/* True for the ops that move data through r->iov. */
static inline bool blk_req_transfers(const struct blk_req *r)
{
	return r->io->op == BLOCK_READ || r->io->op == BLOCK_WRITE || r->zeroing;
}
/* The request's result once complete: bytes for READ/WRITE, else 0. */
static inline int64_t blk_req_result(const struct blk_req *r)
{
	return (r->io->op == BLOCK_READ || r->io->op == BLOCK_WRITE) ? (int64_t)r->done : 0;
}

#endif

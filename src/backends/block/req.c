// SPDX-License-Identifier: MIT
#include "backends/block/req.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Aligned for O_DIRECT; only ever read. */
static const char blk_zeroes[BLK_ZERO_BUF] __attribute__((aligned(4096)));

static bool is_write(enum block_op op)
{
	return op == BLOCK_WRITE || op == BLOCK_DISCARD || op == BLOCK_WRITE_ZEROES;
}

static int check_iov(const struct block_image *img, const struct block_io *io)
{
	uint64_t sum = 0;

	if (!io->iov || io->nr_iov == 0 || io->nr_iov > IOV_MAX)
		return -EINVAL;
	for (unsigned int i = 0; i < io->nr_iov; i++) {
		const struct iovec *v = &io->iov[i];

		if (v->iov_len > UINT64_MAX - sum)
			return -EINVAL;
		sum += v->iov_len;
		if (img->direct && ((uintptr_t)v->iov_base % img->mem_align ||
				    v->iov_len % img->logical_block))
			return -EINVAL;
	}
	return sum == io->len ? 0 : -EINVAL;
}

int blk_req_check(const struct block_image *img, const struct block_io *io)
{
	if (!io || !io->done || (unsigned int)io->op > BLOCK_WRITE_ZEROES)
		return -EINVAL;
	if (img->readonly && is_write(io->op))
		return -EROFS;
	if (io->op == BLOCK_FLUSH)
		return 0;
	if ((io->op == BLOCK_READ || io->op == BLOCK_WRITE) && check_iov(img, io))
		return -EINVAL;
	if (io->len == 0 || io->offset > img->size || io->len > img->size - io->offset)
		return -EINVAL;
	if (img->direct && (io->offset % img->logical_block || io->len % img->logical_block))
		return -EINVAL;
	return 0;
}

struct blk_req *blk_req_new(struct block_io *io)
{
	struct blk_req *r = malloc(sizeof(*r));

	if (!r)
		return NULL;
	r->io = io;
	r->iov = io->iov;
	r->nr_iov = io->nr_iov;
	r->pos = io->offset;
	r->done = 0;
	r->rest = NULL;
	r->zeroing = false;
	r->retries = 0;
	r->next = NULL;
	return r;
}

void blk_req_free(struct blk_req *r)
{
	free(r->rest);
	free(r);
}

static void zero_chunk(struct blk_req *r)
{
	uint64_t left = r->io->len - r->done;
	unsigned int n = 0;

	for (; left && n < BLK_ZERO_IOVS; n++) {
		size_t len = left < BLK_ZERO_BUF ? (size_t)left : BLK_ZERO_BUF;

		r->zero_iov[n].iov_base = (void *)blk_zeroes;
		r->zero_iov[n].iov_len = len;
		left -= len;
	}
	r->iov = r->zero_iov;
	r->nr_iov = n;
}

void blk_req_start_zeroing(struct blk_req *r)
{
	r->zeroing = true;
	r->pos = r->io->offset;
	r->done = 0;
	zero_chunk(r);
}

/* Drops the first n bytes of the current iovecs, in an own copy. */
static int skip_bytes(struct blk_req *r, uint64_t n)
{
	struct iovec *v;
	unsigned int i = 0;

	if (!r->rest) {
		r->rest = malloc(r->nr_iov * sizeof(*r->rest));
		if (!r->rest)
			return -ENOMEM;
		memcpy(r->rest, r->iov, r->nr_iov * sizeof(*r->rest));
		r->iov = r->rest;
	}
	v = r->rest + (r->iov - r->rest);
	while (i < r->nr_iov && n >= v[i].iov_len) {
		n -= v[i].iov_len;
		i++;
	}
	if (i == r->nr_iov)
		return -EIO;            /* the kernel moved more than asked */
	v[i].iov_base = (char *)v[i].iov_base + n;
	v[i].iov_len -= n;
	r->iov = v + i;
	r->nr_iov -= i;
	return 1;
}

int blk_req_advance(struct blk_req *r, uint64_t n)
{
	if (n > r->io->len - r->done)
		return -EIO;
	r->done += n;
	r->pos += n;
	if (r->done == r->io->len)
		return 0;
	if (n == 0)                     /* end of file: a short read, or a stuck write */
		return r->io->op == BLOCK_READ ? 0 : -EIO;
	if (r->zeroing) {
		zero_chunk(r);
		return 1;
	}
	return skip_bytes(r, n);
}

/* SPDX-License-Identifier: MIT */
/*
 * Opening the disk image behind a drive: raw files and block devices only,
 * locked against a second user (shared for read-only, exclusive for
 * read-write, like QEMU), with the O_DIRECT alignment for cache=none.
 */
#ifndef MINIVMM_BACKENDS_BLOCK_IMAGE_H
#define MINIVMM_BACKENDS_BLOCK_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/block/drive.h"

struct block_image {
	int fd;                      /* -1 when closed */
	char *path;                  /* for messages */
	uint64_t size;               /* bytes, a multiple of 512 */
	bool readonly;
	bool direct;                 /* cache=none: O_DIRECT */
	bool unsafe;                 /* cache=unsafe: flushes are ignored */
	bool blockdev;
	bool can_discard;
	/* 512, or with O_DIRECT the alignment offsets and lengths need (and
	 * mem_align the one buffer addresses need; 1 without O_DIRECT). */
	unsigned int logical_block;
	unsigned int mem_align;
};

/* 0, or -errno with one log_err line naming the file and the problem. */
__attribute__((warn_unused_result))
int image_open(const struct drive_config *cfg, struct block_image *img);
/* Releases the lock (closing the descriptor does) and frees path. */
void image_close(struct block_image *img);

#endif

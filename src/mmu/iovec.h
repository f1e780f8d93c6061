/* SPDX-License-Identifier: MIT */
/*
 * Guest buffers as host iovecs.  mem_gpa_to_hva() refuses a range that
 * crosses a slot boundary; a guest buffer (a virtio descriptor, say) may
 * legally do so, so this walks it slot by slot, one iovec per slot.
 */
#ifndef MINIVMM_MMU_IOVEC_H
#define MINIVMM_MMU_IOVEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mmu/memory.h"

/*
 * Translate [gpa, gpa+len) into at most max iovecs, one per slot crossed,
 * in address order; *n gets how many were written (0 for len 0).  Every
 * byte must be guest RAM: -EFAULT when part of the range is not (a gap, the
 * MMIO hole, past the top) or gpa+len wraps; -E2BIG when more than max
 * iovecs would be needed.  On failure *n and iov[] hold nothing useful.
 */
__attribute__((warn_unused_result))
int mem_gpa_to_iov(const struct mem_map *map, uint64_t gpa, uint64_t len,
		   struct iovec *iov, unsigned int max, unsigned int *n);

/* Whether every byte of [gpa, gpa+len) is guest RAM (len 0: true). */
bool mem_range_is_ram(const struct mem_map *map, uint64_t gpa, uint64_t len);

/* Checked copies that, unlike mem_read/mem_write, may cross slots;
 * -EFAULT unless the whole range is RAM. */
int mem_read_span(const struct mem_map *map, uint64_t gpa, void *dst, size_t len);
int mem_write_span(const struct mem_map *map, uint64_t gpa, const void *src, size_t len);

#endif

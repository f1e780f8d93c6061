// SPDX-License-Identifier: MIT
/*
 * Guest buffers as host iovecs, slot by slot (see iovec.h).  Adjacent slots
 * are not merged even when their host memory happens to be contiguous: the
 * slot table, not the host mapping, is what says where RAM is.  Only RAM
 * slots count: the test guests' MMU regions (mailbox, page-table pool,
 * shadow store) are slots too, but a device reaching them would bypass the
 * MMU protocol (and the pool's write trap).
 */
#include "mmu/iovec.h"

#include <errno.h>
#include <string.h>

int mem_gpa_to_iov(const struct mem_map *map, uint64_t gpa, uint64_t len,
		   struct iovec *iov, unsigned int max, unsigned int *n)
{
	unsigned int count = 0;

	*n = 0;
	if (len == 0)
		return 0;
	if (len - 1 > UINT64_MAX - gpa)
		return -EFAULT; /* gpa + len wraps past 2^64 */
	while (len) {
		const struct mem_slot *s = mem_find_slot(map, gpa);
		uint64_t off, chunk;

		if (!s || s->kind != MEM_RAM)
			return -EFAULT;
		if (count == max)
			return -E2BIG;
		off = gpa - s->gpa;
		chunk = s->size - off < len ? s->size - off : len;
		iov[count].iov_base = s->hva + off;
		iov[count].iov_len = chunk;
		count++;
		len -= chunk;
		gpa += chunk; /* cannot wrap: checked above */
	}
	*n = count;
	return 0;
}

bool mem_range_is_ram(const struct mem_map *map, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		return true;
	if (len - 1 > UINT64_MAX - gpa)
		return false;
	while (len) {
		const struct mem_slot *s = mem_find_slot(map, gpa);
		uint64_t room;

		if (!s || s->kind != MEM_RAM)
			return false;
		room = s->size - (gpa - s->gpa);
		if (room >= len)
			return true;
		len -= room;
		gpa += room;
	}
	return true;
}

/* Small copies (ring fields, descriptors, headers): one iovec per slot
 * crossed, and a copy never crosses more than a few. */
#define SPAN_IOV 8

int mem_read_span(const struct mem_map *map, uint64_t gpa, void *dst, size_t len)
{
	struct iovec iov[SPAN_IOV];
	unsigned int n;
	uint8_t *p = dst;
	int r = mem_gpa_to_iov(map, gpa, len, iov, SPAN_IOV, &n);

	if (r)
		return r;
	for (unsigned int i = 0; i < n; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	return 0;
}

int mem_write_span(const struct mem_map *map, uint64_t gpa, const void *src, size_t len)
{
	struct iovec iov[SPAN_IOV];
	unsigned int n;
	const uint8_t *p = src;
	int r = mem_gpa_to_iov(map, gpa, len, iov, SPAN_IOV, &n);

	if (r)
		return r;
	for (unsigned int i = 0; i < n; i++) {
		memcpy(iov[i].iov_base, p, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	return 0;
}

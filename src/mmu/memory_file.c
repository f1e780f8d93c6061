// SPDX-License-Identifier: MIT
/* Guest memory to and from snapshot files (memory.h). */
#include "mmu/memory.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096u

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (unsigned int i = 0; i < PAGE / 8; i += 4)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3])
			return false;
	return true;
}

static int write_all(int fd, const uint8_t *buf, uint64_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len > (1u << 30) ? (1u << 30) : len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int mem_slot_save(const struct mem_slot *slot, int fd, uint64_t *data)
{
	uint64_t run = 0, start = 0;
	int err = 0;

	*data = 0;
	if (ftruncate(fd, (off_t)slot->size))
		return -errno;
	/* Runs of non-zero pages, one write each. */
	for (uint64_t off = 0; !err && off <= slot->size; off += PAGE) {
		bool zero = off == slot->size || page_is_zero(slot->hva + off);

		if (!zero) {
			if (!run)
				start = off;
			run += PAGE;
			continue;
		}
		if (run) {
			err = write_all(fd, slot->hva + start, run, start);
			*data += run;
			run = 0;
		}
	}
	return err;
}

int mem_slot_map_file(const struct mem_slot *slot, int fd)
{
	void *p = mmap(slot->hva, slot->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0);

	return p == MAP_FAILED ? -errno : 0;
}

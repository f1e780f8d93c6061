// SPDX-License-Identifier: MIT
/*
 * The address bus: a sorted table of [base, base+len) ranges, searched
 * without a lock because it is frozen before any vCPU runs.
 *
 * bus_access() is where access splitting and unclaimed accesses are defined
 * for every device: an access may straddle ranges and gaps, so it is cut
 * into pieces, each piece going to the device owning it (further cut to the
 * device's access width) or, when nobody owns it, reading as 0xFF.
 */
#include "devices/bus.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define BUS_MAX_ACCESS   8
#define BUS_WARN_BURST   16

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	atomic_init(&bus->unclaimed, 0);
	atomic_init(&bus->unclaimed_rl.count, 0);
	bus->unclaimed_rl.burst = BUS_WARN_BURST;
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr_ranges = 0;
	bus->cap = 0;
}

/* Last byte of a range; never wraps because bus_insert refuses that. */
static uint64_t range_last(const struct bus_range *r)
{
	return r->base + (r->len - 1);
}

/* Index of the first range whose base is above addr (nr_ranges if none). */
static unsigned int first_above(const struct bus *bus, uint64_t addr)
{
	unsigned int lo = 0, hi = bus->nr_ranges;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	unsigned int i = first_above(bus, addr);
	const struct bus_range *r;

	if (i == 0)
		return NULL;
	r = &bus->ranges[i - 1];
	return addr - r->base < r->len ? r : NULL;
}

static int bus_grow(struct bus *bus)
{
	unsigned int cap = bus->cap ? bus->cap * 2 : 8;
	struct bus_range *ranges;

	if (cap < bus->cap)
		return -ENOMEM;
	ranges = realloc(bus->ranges, (size_t)cap * sizeof(*ranges));
	if (!ranges)
		return -ENOMEM;
	bus->ranges = ranges;
	bus->cap = cap;
	return 0;
}

int bus_insert(struct bus *bus, uint64_t base, uint64_t len,
	       struct device *dev)
{
	uint64_t last;
	unsigned int i;
	int ret;

	if (!dev || len == 0)
		return -EINVAL;
	/* A range may end exactly at 2^64 but not wrap past it. */
	if (len - 1 > UINT64_MAX - base)
		return -EINVAL;
	last = base + (len - 1);

	i = first_above(bus, base);
	if (i > 0 && range_last(&bus->ranges[i - 1]) >= base)
		return -EEXIST;
	if (i < bus->nr_ranges && bus->ranges[i].base <= last)
		return -EEXIST;

	if (bus->nr_ranges == bus->cap) {
		ret = bus_grow(bus);
		if (ret)
			return ret;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i],
		(bus->nr_ranges - i) * sizeof(*bus->ranges));
	bus->ranges[i] = (struct bus_range){ .base = base, .len = len, .dev = dev };
	bus->nr_ranges++;
	return 0;
}

/* Hand one piece that lies wholly inside r to its device, cut into chunks
 * of the device's access width that never cross a naturally aligned
 * boundary of that width (alignment is judged on the device offset). */
static void dev_access(const struct bus_range *r, uint64_t addr, uint8_t *data,
		       uint32_t len, bool is_write)
{
	struct device *dev = r->dev;
	uint64_t offset = addr - r->base;
	uint32_t width = dev->ops->access_size;

	while (len > 0) {
		uint32_t chunk = len;

		if (width) {
			uint32_t to_boundary = width - (uint32_t)(offset % width);

			if (chunk > to_boundary)
				chunk = to_boundary;
		}
		if (is_write) {
			if (dev->ops->write)
				dev->ops->write(dev, offset, data, chunk);
		} else if (dev->ops->read) {
			dev->ops->read(dev, offset, data, chunk);
		} else {
			memset(data, 0xFF, chunk);
		}
		offset += chunk;
		data += chunk;
		len -= chunk;
	}
}

static void report_unclaimed(struct bus *bus, uint64_t addr,
			     const uint8_t *data, uint32_t len, bool is_write)
{
	uint64_t value = 0;

	if (!log_ratelimit_ok(&bus->unclaimed_rl, "unclaimed access"))
		return;
	if (!is_write) {
		log_warn("unclaimed %s read of %" PRIu32 " byte%s at 0x%" PRIx64,
			 bus->name, len, len == 1 ? "" : "s", addr);
		return;
	}
	for (uint32_t i = 0; i < len; i++)
		value |= (uint64_t)data[i] << (8 * i);
	log_warn("unclaimed %s write of %" PRIu32 " byte%s at 0x%" PRIx64
		 " (value 0x%" PRIx64 ")",
		 bus->name, len, len == 1 ? "" : "s", addr, value);
}

/* Length of the piece starting at addr: up to the end of the range that
 * holds it, or up to the next range (or 2^64) when addr is in a gap. */
static uint32_t piece_len(const struct bus *bus, uint64_t addr, uint32_t left,
			  const struct bus_range **owner)
{
	unsigned int i = first_above(bus, addr);
	const struct bus_range *r = i > 0 ? &bus->ranges[i - 1] : NULL;
	uint64_t room;

	if (r && addr - r->base < r->len) {
		*owner = r;
		room = range_last(r) - addr; /* bytes after addr */
	} else {
		*owner = NULL;
		room = i < bus->nr_ranges ? bus->ranges[i].base - addr - 1
					  : UINT64_MAX - addr;
	}
	return room < left - 1 ? (uint32_t)room + 1 : left;
}

bool bus_access(struct bus *bus, uint64_t addr, void *data, uint32_t len,
		bool is_write)
{
	uint8_t *bytes = data;
	bool claimed = true;
	uint32_t pos = 0;

	if (len == 0 || len > BUS_MAX_ACCESS) {
		if (log_ratelimit_ok(&bus->unclaimed_rl, "unclaimed access"))
			log_warn("bad %s access size %" PRIu32 " at 0x%" PRIx64,
				 bus->name, len, addr);
		return false;
	}

	while (pos < len) {
		/* Wraps modulo 2^64 like the address lines would; a piece
		 * never spans the wrap because piece_len stops at 2^64. */
		uint64_t a = addr + pos;
		const struct bus_range *r;
		uint32_t n = piece_len(bus, a, len - pos, &r);

		if (r) {
			dev_access(r, a, bytes + pos, n, is_write);
		} else {
			if (!is_write)
				memset(bytes + pos, 0xFF, n);
			report_unclaimed(bus, a, bytes + pos, n, is_write);
			claimed = false;
		}
		pos += n;
	}
	/* Counted once per guest access, however many gaps it touched. */
	if (!claimed)
		atomic_fetch_add(&bus->unclaimed, 1);
	return claimed;
}

// SPDX-License-Identifier: MIT
/*
 * The host bridge.  Two locks, always taken in this order:
 *  - cfg_lock serialises configuration cycles (CONFIG_ADDRESS is one latch
 *    shared by every vCPU, as on hardware);
 *  - decode (a rwlock) guards the table of decoding BARs: memory cycles
 *    read it, configuration writes rebuild it.
 * Functions' own locks nest inside both; BAR handlers run under the read
 * side of decode only.
 */
#include "devices/pci/host.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/snap.h"
#include "devices/pci/window.h"

#define CFG_ADDR_OFF   0       /* CONFIG_ADDRESS inside the port range */
#define CFG_DATA_OFF   4       /* CONFIG_DATA */
#define HOST_WARN_BURST 16

struct decode {
	uint64_t base, size;
	struct device *dev;
};

struct pci_host {
	struct device cfg_dev;
	struct device mmio_dev;
	struct pci_func bridge;         /* 00:00.0 */
	struct pci_window win;
	pthread_mutex_t cfg_lock;
	uint32_t cfg_addr;              /* CONFIG_ADDRESS latch */
	struct pci_func *slots[PCI_HOST_SLOTS];
	pthread_rwlock_t decode_lock;
	struct decode decode[PCI_HOST_SLOTS * PCI_NR_BARS];
	unsigned int nr_decode;
	struct log_ratelimit rl;
};

/* ---- configuration mechanism #1 ---------------------------------------- */

static struct pci_func *cfg_target(struct pci_host *h)
{
	uint32_t a = h->cfg_addr;

	if (!(a & PCI_CFG_ENABLE) || (a >> 16 & 0xFF) != 0 || (a >> 8 & 7) != 0)
		return NULL;
	return h->slots[a >> 11 & 0x1F];
}

/* Data-port bytes [off, off+len) of the selected register (off 0..3). */
static void data_access(struct pci_host *h, uint32_t off, uint8_t *data,
			uint32_t len, bool is_write);

static void rebuild_decode(struct pci_host *h);

static void cfg_access(struct device *dev, uint64_t offset, uint8_t *data,
		       uint32_t len, bool is_write)
{
	struct pci_host *h = container_of(dev, struct pci_host, cfg_dev);

	pthread_mutex_lock(&h->cfg_lock);
	while (len > 0) {
		/* Cut at the address/data boundary, so each part is judged
		 * on its own. */
		uint32_t n = offset < CFG_DATA_OFF && offset + len > CFG_DATA_OFF
			     ? (uint32_t)(CFG_DATA_OFF - offset) : len;

		if (offset >= CFG_DATA_OFF) {
			data_access(h, (uint32_t)(offset - CFG_DATA_OFF), data, n, is_write);
		} else if (offset == CFG_ADDR_OFF && n == 4) {
			if (is_write)
				h->cfg_addr = pci_get32(data) & PCI_CFG_ADDR_MASK;
			else
				pci_put32(data, h->cfg_addr);
		} else if (!is_write) {
			/* Not a CONFIG_ADDRESS cycle: nothing answers. */
			memset(data, 0xFF, n);
		}
		offset += n;
		data += n;
		len -= n;
	}
	pthread_mutex_unlock(&h->cfg_lock);
}

static void data_access(struct pci_host *h, uint32_t off, uint8_t *data,
			uint32_t len, bool is_write)
{
	struct pci_func *f = cfg_target(h);
	uint32_t reg = (h->cfg_addr & 0xFC) + off;

	if (!f) {
		if (!is_write)
			memset(data, 0xFF, len);
		return;
	}
	if (!is_write) {
		pci_cfg_read(f, reg, data, len);
		return;
	}
	/* A write may move a BAR or toggle decoding: the table follows. */
	pthread_rwlock_wrlock(&h->decode_lock);
	pci_cfg_write(f, reg, data, len);
	rebuild_decode(h);
	pthread_rwlock_unlock(&h->decode_lock);
}

static void cfg_read(struct device *dev, uint64_t offset, void *data, uint32_t len)
{
	cfg_access(dev, offset, data, len, false);
}

static void cfg_write(struct device *dev, uint64_t offset, const void *data,
		      uint32_t len)
{
	uint8_t buf[8];

	/* cfg_access works in place; a write's data is only read. */
	memcpy(buf, data, len > sizeof(buf) ? sizeof(buf) : len);
	cfg_access(dev, offset, buf, len > sizeof(buf) ? sizeof(buf) : len, true);
}

static void cfg_reset(struct device *dev)
{
	struct pci_host *h = container_of(dev, struct pci_host, cfg_dev);

	pthread_mutex_lock(&h->cfg_lock);
	h->cfg_addr = 0;
	pthread_mutex_unlock(&h->cfg_lock);
}

static const struct device_ops cfg_ops = {
	.access_size = 0,       /* widths and offsets are judged here */
	.read = cfg_read,
	.write = cfg_write,
	.reset = cfg_reset,
};

/* ---- the memory window ------------------------------------------------- */

/* Tell f's listener where BAR b now decodes, if that changed. */
static void bar_update(struct pci_func *f, unsigned int b, bool live, uint64_t addr)
{
	struct pci_bar *bar = &f->bars[b];

	if (bar->live == live && (!live || bar->live_addr == addr))
		return;
	bar->live = live;
	bar->live_addr = addr;
	if (f->bar_listener.changed)
		f->bar_listener.changed(f->bar_listener.ctx, b, live, addr);
}

/* With decode_lock held for writing. */
static void rebuild_decode(struct pci_host *h)
{
	h->nr_decode = 0;
	for (unsigned int s = 0; s < PCI_HOST_SLOTS; s++) {
		struct pci_func *f = h->slots[s];

		for (unsigned int b = 0; f && b < PCI_NR_BARS; b++) {
			uint64_t addr, size = f->bars[b].size;
			bool live = pci_bar_decode(f, b, &addr) && addr >= h->win.base &&
				    addr < h->win.end && size <= h->win.end - addr;

			bar_update(f, b, live, addr);
			if (!live)
				continue;
			h->decode[h->nr_decode++] = (struct decode){
				.base = addr, .size = size, .dev = f->bars[b].dev,
			};
		}
	}
}

static const struct decode *find_decode(const struct pci_host *h, uint64_t addr,
					uint32_t len)
{
	for (unsigned int i = 0; i < h->nr_decode; i++) {
		const struct decode *d = &h->decode[i];

		if (addr - d->base < d->size && len <= d->size - (addr - d->base))
			return d;
	}
	return NULL;
}

static void mmio_access(struct device *dev, uint64_t offset, void *data,
			uint32_t len, bool is_write)
{
	struct pci_host *h = container_of(dev, struct pci_host, mmio_dev);
	uint64_t addr = h->win.base + offset;
	const struct decode *d;

	pthread_rwlock_rdlock(&h->decode_lock);
	d = find_decode(h, addr, len);
	if (d && is_write && d->dev->ops->write)
		d->dev->ops->write(d->dev, addr - d->base, data, len);
	else if (d && !is_write && d->dev->ops->read)
		d->dev->ops->read(d->dev, addr - d->base, data, len);
	else if (!is_write)
		memset(data, 0xFF, len);
	pthread_rwlock_unlock(&h->decode_lock);
	if (!d && log_ratelimit_ok(&h->rl, "pci window access"))
		log_warn("pci: %s of %" PRIu32 " bytes at 0x%" PRIx64
			 " decoded by no BAR", is_write ? "write" : "read", len, addr);
}

static void mmio_read(struct device *dev, uint64_t offset, void *data, uint32_t len)
{
	mmio_access(dev, offset, data, len, false);
}

static void mmio_write(struct device *dev, uint64_t offset, const void *data,
		       uint32_t len)
{
	mmio_access(dev, offset, (void *)data, len, true);
}

static const struct device_ops mmio_ops = {
	.access_size = 0,       /* the BAR's handler takes any width */
	.read = mmio_read,
	.write = mmio_write,
};

/* ---- set-up ------------------------------------------------------------- */

struct pci_host *pci_host_create(uint64_t mmio_base, uint64_t mmio_end,
				 const struct mem_map *mem)
{
	static const struct pci_func_id bridge_id = {
		.vendor = PCI_HOST_VENDOR, .device = PCI_HOST_DEVICE,
		.subsys_vendor = PCI_HOST_VENDOR, .subsys = PCI_HOST_DEVICE,
		.class_code = PCI_CLASS_HOST_BRIDGE,
	};
	struct pci_host *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	if (pci_window_init(&h->win, mmio_base, mmio_end, mem))
		goto fail_free;
	if (pthread_mutex_init(&h->cfg_lock, NULL))
		goto fail_free;
	if (pthread_rwlock_init(&h->decode_lock, NULL))
		goto fail_mutex;
	if (pci_func_init(&h->bridge, "pci-host", &bridge_id, NULL))
		goto fail_rwlock;
	h->cfg_dev = (struct device){ .ops = &cfg_ops, .name = "pci-cfg" };
	h->mmio_dev = (struct device){ .ops = &mmio_ops, .name = "pci-mmio" };
	h->slots[0] = &h->bridge;
	h->rl.burst = HOST_WARN_BURST;
	return h;

fail_rwlock:
	pthread_rwlock_destroy(&h->decode_lock);
fail_mutex:
	pthread_mutex_destroy(&h->cfg_lock);
fail_free:
	free(h);
	return NULL;
}

void pci_host_destroy(struct pci_host *h)
{
	if (!h)
		return;
	pci_func_destroy(&h->bridge);
	pthread_rwlock_destroy(&h->decode_lock);
	pthread_mutex_destroy(&h->cfg_lock);
	free(h);
}

struct device *pci_host_cfg_device(struct pci_host *h)
{
	return &h->cfg_dev;
}

struct device *pci_host_mmio_device(struct pci_host *h)
{
	return &h->mmio_dev;
}

void pci_host_window(const struct pci_host *h, uint64_t *base, uint64_t *end)
{
	*base = h->win.base;
	*end = h->win.end;
}

/* The implemented BAR with the largest size not yet placed, or -1. */
static int largest_unplaced(const struct pci_func *f, const bool *placed)
{
	int best = -1;

	for (int b = 0; b < PCI_NR_BARS; b++)
		if (f->bars[b].size && !placed[b] &&
		    (best < 0 || f->bars[b].size > f->bars[best].size))
			best = b;
	return best;
}

int pci_host_add(struct pci_host *h, struct pci_func *f, unsigned int slot)
{
	bool placed[PCI_NR_BARS] = { false };
	int b, ret;

	if (slot == 0 || slot >= PCI_HOST_SLOTS || !f)
		return -EINVAL;
	if (h->slots[slot])
		return -EEXIST;
	while ((b = largest_unplaced(f, placed)) >= 0) {
		uint64_t addr;

		ret = pci_window_alloc(&h->win, f->bars[b].size, &addr);
		if (ret) {
			log_err("pci: no room for BAR %d of %s (%" PRIu64 " bytes)",
				b, f->name, f->bars[b].size);
			return ret;
		}
		pci_bar_set_addr(f, (unsigned int)b, addr);
		placed[b] = true;
	}
	pthread_rwlock_wrlock(&h->decode_lock);
	h->slots[slot] = f;
	rebuild_decode(h);
	pthread_rwlock_unlock(&h->decode_lock);
	return 0;
}

void pci_host_snap(struct pci_host *h, struct snap *s)
{
	struct snap child;
	char name[16];

	pthread_mutex_lock(&h->cfg_lock);
	snap_u32(s, "config-address", &h->cfg_addr);
	pthread_mutex_unlock(&h->cfg_lock);
	if (snap_enter(s, "slot0", &child)) {
		pci_func_snap(&h->bridge, &child);
		snap_leave(&child);
	}
	for (unsigned int i = 1; i < PCI_HOST_SLOTS; i++) {
		if (!h->slots[i])
			continue;
		snprintf(name, sizeof(name), "slot%u", i);
		if (snap_enter(s, name, &child)) {
			pci_func_snap(h->slots[i], &child);
			snap_leave(&child);
		}
	}
	if (!snap_saving(s) && !snap_failed(s)) {
		pthread_rwlock_wrlock(&h->decode_lock);
		rebuild_decode(h);
		pthread_rwlock_unlock(&h->decode_lock);
	}
}

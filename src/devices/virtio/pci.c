// SPDX-License-Identifier: MIT
/*
 * The virtio-pci transport, written from the virtio 1.x specification
 * (4.1).  Where the specification leaves the device's answer to a driver's
 * mistake open, minivmm's choices are:
 *  - clearing a status bit other than by writing 0 is ignored;
 *  - FEATURES_OK is not kept unless the driver accepted only offered bits
 *    and VIRTIO_F_VERSION_1 (3.1.1, 2.2.1);
 *  - DRIVER_OK is not kept without FEATURES_OK; when the device type
 *    refuses to activate, NEEDS_RESET is set;
 *  - the queue fields are frozen once the queue is enabled, and a queue
 *    can only be enabled after FEATURES_OK (its ring features come from
 *    the negotiated ones); a ring that fails virtq_enable() leaves the
 *    queue disabled and sets NEEDS_RESET;
 *  - kicks before DRIVER_OK, or of a disabled queue, are dropped: a device
 *    type looks at its queues when it is activated;
 *  - queue_size reads the maximum after reset (4.1.4.3) and accepts 1 up
 *    to the maximum; virtq_enable() insists on a power of two.
 */
#include "devices/virtio/pci.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/snap.h"
#include "devices/pci/msix.h"

#define VIRTIO_STATUS_DRIVER_BITS (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | \
				   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK | \
				   VIRTIO_STATUS_FAILED)
#define VIRTIO_PCI_WARN_BURST 16

struct virtio_pci {
	struct pci_func func;
	struct device bar;
	struct virtio_dev *vdev;
	struct log_ratelimit rl;
	pthread_mutex_t access_lock;
	/* Under access_lock. */
	uint32_t dfselect, gfselect;
	uint64_t driver_features;
	uint16_t queue_select;
	bool active;                /* DRIVER_OK accepted by the device type */
	pthread_mutex_t irq_lock;
	/* Under irq_lock (also each queue's msix_vector). */
	uint8_t status;
	uint8_t isr;
	uint8_t config_gen;
	uint16_t config_vector;
};

/* Anything a guest can trigger is logged, rate-limited. */
#define vp_warn(vp, fmt, ...)                                                  \
	do {                                                                   \
		if (log_ratelimit_ok(&(vp)->rl, "virtio-pci warning"))         \
			log_warn("virtio-pci: %s: " fmt, (vp)->vdev->name,     \
				 __VA_ARGS__);                                 \
	} while (0)

/* ---- interrupts (irq_lock held) ----------------------------------------- */

static void raise_locked(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit)
{
	if (vector != VIRTIO_MSI_NO_VECTOR) {
		if (pci_msix_notify(&vp->func, vector) != -ENODEV)
			return;
	} else if (pci_msix_enabled(&vp->func)) {
		return;     /* MSI-X on, no vector: the driver wants none */
	}
	vp->isr |= isr_bit;
	pci_intx_set(&vp->func, true);
}

static void config_irq_locked(struct virtio_pci *vp)
{
	if (vp->status & VIRTIO_STATUS_DRIVER_OK)
		raise_locked(vp, vp->config_vector, VIRTIO_PCI_ISR_CONFIG);
}

static void notify_queue(void *ctx, unsigned int q)
{
	struct virtio_pci *vp = ctx;

	if (q >= vp->vdev->nr_queues)
		return;
	pthread_mutex_lock(&vp->irq_lock);
	if (vp->status & VIRTIO_STATUS_DRIVER_OK)
		raise_locked(vp, vp->vdev->queues[q].msix_vector, VIRTIO_PCI_ISR_QUEUE);
	pthread_mutex_unlock(&vp->irq_lock);
}

static void notify_config(void *ctx)
{
	struct virtio_pci *vp = ctx;

	pthread_mutex_lock(&vp->irq_lock);
	vp->config_gen++;
	config_irq_locked(vp);
	pthread_mutex_unlock(&vp->irq_lock);
}

static void notify_needs_reset(void *ctx)
{
	struct virtio_pci *vp = ctx;

	pthread_mutex_lock(&vp->irq_lock);
	if (!(vp->status & VIRTIO_STATUS_NEEDS_RESET)) {
		vp->status |= VIRTIO_STATUS_NEEDS_RESET;
		config_irq_locked(vp);
	}
	pthread_mutex_unlock(&vp->irq_lock);
}

static uint8_t status_get(struct virtio_pci *vp)
{
	uint8_t s;

	pthread_mutex_lock(&vp->irq_lock);
	s = vp->status;
	pthread_mutex_unlock(&vp->irq_lock);
	return s;
}

static uint8_t isr_read_clear(struct virtio_pci *vp)
{
	uint8_t isr;

	pthread_mutex_lock(&vp->irq_lock);
	isr = vp->isr;
	vp->isr = 0;
	pci_intx_set(&vp->func, false);
	pthread_mutex_unlock(&vp->irq_lock);
	return isr;
}

/* ---- reset, negotiation, activation (access_lock held) ------------------ */

/* The transport's registers and the queues as after a reset. */
static void reset_registers(struct virtio_pci *vp)
{
	struct virtio_dev *d = vp->vdev;

	pthread_mutex_lock(&vp->irq_lock);
	vp->status = 0;
	for (unsigned int i = 0; i < d->nr_queues; i++) {
		struct virtq *q = &d->queues[i];

		virtq_reset(q);
		q->size = q->max_size;
		q->msix_vector = VIRTIO_MSI_NO_VECTOR;
	}
	vp->isr = 0;
	vp->config_vector = VIRTIO_MSI_NO_VECTOR;
	pci_intx_set(&vp->func, false);
	pthread_mutex_unlock(&vp->irq_lock);
	vp->dfselect = vp->gfselect = 0;
	vp->driver_features = 0;
	vp->queue_select = 0;
	vp->active = false;
}

static void reset_locked(struct virtio_pci *vp)
{
	/* Status first, so notifications from the device type's own reset
	 * (completions drained meanwhile) raise nothing. */
	pthread_mutex_lock(&vp->irq_lock);
	vp->status = 0;
	pthread_mutex_unlock(&vp->irq_lock);
	vp->active = false;
	if (vp->vdev->ops->reset)
		vp->vdev->ops->reset(vp->vdev);
	reset_registers(vp);
}

static bool features_ok(struct virtio_pci *vp)
{
	uint64_t extra = vp->driver_features & ~vp->vdev->host_features;

	if (extra) {
		vp_warn(vp, "driver accepted features 0x%" PRIx64
			" that were not offered (0x%" PRIx64 ")", extra,
			vp->vdev->host_features);
		return false;
	}
	if (!(vp->driver_features >> VIRTIO_F_VERSION_1 & 1)) {
		vp_warn(vp, "driver did not accept VIRTIO_F_VERSION_1 (features 0x%"
			PRIx64 ")", vp->driver_features);
		return false;
	}
	return true;
}

static void status_write(struct virtio_pci *vp, uint8_t v)
{
	uint8_t old = status_get(vp);
	uint8_t want = v & VIRTIO_STATUS_DRIVER_BITS;
	bool activate = false;

	if (v == 0) {
		reset_locked(vp);
		return;
	}
	if (old & VIRTIO_STATUS_DRIVER_BITS & ~want) {
		vp_warn(vp, "status write 0x%x clears bits of 0x%x without a reset:"
			" ignored", v, old);
		return;
	}
	if ((want & ~old & VIRTIO_STATUS_FEATURES_OK) && !features_ok(vp))
		want &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	if (want & ~old & VIRTIO_STATUS_DRIVER_OK) {
		if (want & VIRTIO_STATUS_FEATURES_OK) {
			activate = true;
		} else {
			vp_warn(vp, "DRIVER_OK without FEATURES_OK (status 0x%x): refused", v);
			want &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
		}
	}
	pthread_mutex_lock(&vp->irq_lock);
	vp->status = want | (vp->status & VIRTIO_STATUS_NEEDS_RESET);
	pthread_mutex_unlock(&vp->irq_lock);
	if (!activate)
		return;
	if (vp->vdev->ops->activate &&
	    vp->vdev->ops->activate(vp->vdev, vp->driver_features)) {
		vp_warn(vp, "device refused features 0x%" PRIx64 ": NEEDS_RESET",
			vp->driver_features);
		notify_needs_reset(vp);
		return;
	}
	vp->active = true;
}

static void queue_enable(struct virtio_pci *vp, struct virtq *q, uint16_t v)
{
	if (v != 1) {
		vp_warn(vp, "queue_enable write %u to queue %u: ignored", v,
			vp->queue_select);
		return;
	}
	if (q->enabled)
		return;
	if (!(status_get(vp) & VIRTIO_STATUS_FEATURES_OK)) {
		vp_warn(vp, "queue %u enabled before FEATURES_OK: ignored",
			vp->queue_select);
		return;
	}
	q->features = virtio_ring_features(vp->driver_features);
	if (virtq_enable(q)) {
		q->enabled = false;
		notify_needs_reset(vp);
	}
}

/* Queue kick: whatever the route (BAR write or ioeventfd). */
static void kick_locked(struct virtio_pci *vp, unsigned int qi)
{
	struct virtio_dev *d = vp->vdev;

	if (qi >= d->nr_queues || !vp->active || !d->queues[qi].enabled) {
		vp_warn(vp, "kick of queue %u dropped (device %s)", qi,
			vp->active ? "active" : "not active");
		return;
	}
	if (d->ops->queue_notify)
		d->ops->queue_notify(d, qi);
	if (d->queues[qi].broken)
		notify_needs_reset(vp);
}

/* ---- common configuration (access_lock held) ---------------------------- */

/* Width of the field at off; 64-bit fields also answer at off + 4 (4). */
static unsigned int field_width(uint32_t off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: case VIRTIO_PCI_COMMON_DF:
	case VIRTIO_PCI_COMMON_GFSELECT: case VIRTIO_PCI_COMMON_GF:
	case VIRTIO_PCI_COMMON_Q_DESC + 4: case VIRTIO_PCI_COMMON_Q_AVAIL + 4:
	case VIRTIO_PCI_COMMON_Q_USED + 4:
		return 4;
	case VIRTIO_PCI_COMMON_MSIX: case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_Q_SELECT: case VIRTIO_PCI_COMMON_Q_SIZE:
	case VIRTIO_PCI_COMMON_Q_MSIX: case VIRTIO_PCI_COMMON_Q_ENABLE:
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return 2;
	case VIRTIO_PCI_COMMON_STATUS: case VIRTIO_PCI_COMMON_CFGGEN:
		return 1;
	case VIRTIO_PCI_COMMON_Q_DESC: case VIRTIO_PCI_COMMON_Q_AVAIL:
	case VIRTIO_PCI_COMMON_Q_USED:
		return 8;
	}
	return 0;
}

static bool field_access_ok(uint64_t off, uint32_t len)
{
	unsigned int w = off < VIRTIO_PCI_COMMON_LEN ? field_width((uint32_t)off) : 0;

	return w && (len == w || (w == 8 && len == 4));
}

static struct virtq *selected(struct virtio_pci *vp)
{
	if (vp->queue_select >= vp->vdev->nr_queues)
		return NULL;
	return &vp->vdev->queues[vp->queue_select];
}

/* The 64-bit address field of q at off (rounded to the field). */
static uint64_t *queue_addr(struct virtq *q, uint64_t off)
{
	if (off < VIRTIO_PCI_COMMON_Q_AVAIL)
		return &q->desc_gpa;
	return off < VIRTIO_PCI_COMMON_Q_USED ? &q->avail_gpa : &q->used_gpa;
}

static uint64_t common_read(struct virtio_pci *vp, uint64_t off)
{
	struct virtio_dev *d = vp->vdev;
	struct virtq *q = selected(vp);
	uint64_t v;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: return vp->dfselect;
	case VIRTIO_PCI_COMMON_DF:
		return vp->dfselect < 2 ? (uint32_t)(d->host_features >> (32 * vp->dfselect)) : 0;
	case VIRTIO_PCI_COMMON_GFSELECT: return vp->gfselect;
	case VIRTIO_PCI_COMMON_GF:
		return vp->gfselect < 2 ? (uint32_t)(vp->driver_features >> (32 * vp->gfselect)) : 0;
	case VIRTIO_PCI_COMMON_NUMQ: return d->nr_queues;
	case VIRTIO_PCI_COMMON_Q_SELECT: return vp->queue_select;
	case VIRTIO_PCI_COMMON_STATUS: return status_get(vp);
	}
	pthread_mutex_lock(&vp->irq_lock);
	switch (off) {
	case VIRTIO_PCI_COMMON_MSIX: v = vp->config_vector; break;
	case VIRTIO_PCI_COMMON_CFGGEN: v = vp->config_gen; break;
	case VIRTIO_PCI_COMMON_Q_MSIX: v = q ? q->msix_vector : VIRTIO_MSI_NO_VECTOR; break;
	default: v = 0; break;
	}
	pthread_mutex_unlock(&vp->irq_lock);
	if (!q || off < VIRTIO_PCI_COMMON_Q_SIZE || off == VIRTIO_PCI_COMMON_Q_MSIX)
		return v;
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE: return q->size;
	case VIRTIO_PCI_COMMON_Q_ENABLE: return q->enabled;
	case VIRTIO_PCI_COMMON_Q_NOFF: return vp->queue_select;
	}
	/* One of the 64-bit addresses or its high half. */
	return *queue_addr(q, off) >> (off % 8 ? 32 : 0);
}

static uint16_t valid_vector(struct virtio_pci *vp, uint64_t v)
{
	return v < pci_msix_nr_vectors(&vp->func) ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

static void driver_features_write(struct virtio_pci *vp, uint32_t v)
{
	uint64_t mask;

	/* Only selectors 0 and 1 exist (64 feature bits): the shift below
	 * must not see the guest's other values. */
	if (vp->gfselect >= 2)
		return;
	mask = 0xFFFFFFFFULL << (32 * vp->gfselect);
	if (status_get(vp) & VIRTIO_STATUS_FEATURES_OK) {
		vp_warn(vp, "driver_feature write 0x%x after FEATURES_OK (select %u):"
			" ignored", v, vp->gfselect);
		return;
	}
	vp->driver_features = (vp->driver_features & ~mask) |
			      ((uint64_t)v << (32 * vp->gfselect));
}

static void queue_write(struct virtio_pci *vp, uint64_t off, uint64_t v, uint32_t len)
{
	struct virtq *q = selected(vp);
	uint64_t *addr;

	if (!q) {
		vp_warn(vp, "write to queue field 0x%" PRIx64 " of absent queue %u:"
			" ignored", off, vp->queue_select);
		return;
	}
	if (off == VIRTIO_PCI_COMMON_Q_ENABLE) {
		queue_enable(vp, q, (uint16_t)v);
		return;
	}
	if (q->enabled) {
		vp_warn(vp, "write to field 0x%" PRIx64 " of enabled queue %u: ignored",
			off, vp->queue_select);
		return;
	}
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		if (v >= 1 && v <= q->max_size)
			q->size = (uint16_t)v;
		return;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		pthread_mutex_lock(&vp->irq_lock);
		q->msix_vector = valid_vector(vp, v);
		pthread_mutex_unlock(&vp->irq_lock);
		return;
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return;
	}
	addr = queue_addr(q, off);
	if (len == 8)
		*addr = v;
	else if (off % 8)
		*addr = (*addr & 0xFFFFFFFFULL) | v << 32;
	else
		*addr = (*addr & ~0xFFFFFFFFULL) | (uint32_t)v;
}

static void common_write(struct virtio_pci *vp, uint64_t off, uint64_t v, uint32_t len)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: vp->dfselect = (uint32_t)v; return;
	case VIRTIO_PCI_COMMON_GFSELECT: vp->gfselect = (uint32_t)v; return;
	case VIRTIO_PCI_COMMON_GF: driver_features_write(vp, (uint32_t)v); return;
	case VIRTIO_PCI_COMMON_Q_SELECT: vp->queue_select = (uint16_t)v; return;
	case VIRTIO_PCI_COMMON_STATUS: status_write(vp, (uint8_t)v); return;
	case VIRTIO_PCI_COMMON_MSIX:
		pthread_mutex_lock(&vp->irq_lock);
		vp->config_vector = valid_vector(vp, v);
		pthread_mutex_unlock(&vp->irq_lock);
		return;
	case VIRTIO_PCI_COMMON_DF: case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_CFGGEN:
		vp_warn(vp, "write 0x%" PRIx64 " to read-only field 0x%" PRIx64
			": ignored", v, off);
		return;
	}
	queue_write(vp, off, v, len);
}

/* ---- the BAR ------------------------------------------------------------ */

static uint64_t get_le(const uint8_t *p, uint32_t len)
{
	uint64_t v = 0;

	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le(uint8_t *p, uint64_t v, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static bool within(uint64_t off, uint32_t len, uint64_t base, uint64_t size)
{
	return off >= base && off - base < size && len <= size - (off - base);
}

/* Returns false when nothing at [off, off+len) answers the access. */
static bool bar_locked(struct virtio_pci *vp, uint64_t off, uint8_t *data,
		       uint32_t len, bool is_write)
{
	struct virtio_dev *d = vp->vdev;

	if (within(off, len, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN)) {
		off -= VIRTIO_PCI_COMMON_OFF;
		if (!field_access_ok(off, len))
			return false;
		if (is_write)
			common_write(vp, off, get_le(data, len), len);
		else
			put_le(data, common_read(vp, off), len);
	} else if (within(off, len, VIRTIO_PCI_ISR_OFF, VIRTIO_PCI_ISR_LEN)) {
		if (!is_write)
			data[0] = isr_read_clear(vp);
	} else if (within(off, len, VIRTIO_PCI_DEVICE_OFF, d->config_size)) {
		off -= VIRTIO_PCI_DEVICE_OFF;
		if (is_write && d->ops->config_write)
			d->ops->config_write(d, (uint32_t)off, data, len);
		else if (!is_write && d->ops->config_read)
			d->ops->config_read(d, (uint32_t)off, data, len);
		else if (!is_write)
			memset(data, 0xFF, len);
	} else if (within(off, len, VIRTIO_PCI_NOTIFY_OFF,
			  (uint64_t)d->nr_queues * VIRTIO_PCI_NOTIFY_MULT) &&
		   (off - VIRTIO_PCI_NOTIFY_OFF) % VIRTIO_PCI_NOTIFY_MULT + len <=
		   VIRTIO_PCI_NOTIFY_MULT) {
		/* Inside one queue's notify address. */
		off -= VIRTIO_PCI_NOTIFY_OFF;
		if (is_write)
			kick_locked(vp, (unsigned int)(off / VIRTIO_PCI_NOTIFY_MULT));
		else
			memset(data, 0, len);
	} else {
		return false;
	}
	return true;
}

static void bar_access(struct device *dev, uint64_t off, uint8_t *data,
		       uint32_t len, bool is_write)
{
	struct virtio_pci *vp = container_of(dev, struct virtio_pci, bar);
	uint64_t table_len = (uint64_t)pci_msix_nr_vectors(&vp->func) * PCI_MSIX_ENTRY_SIZE;
	bool ok;

	/* MSI-X has its own lock and never calls into the device type. */
	if (within(off, len, VIRTIO_PCI_MSIX_OFF, table_len)) {
		if (is_write)
			pci_msix_table_write(&vp->func, off - VIRTIO_PCI_MSIX_OFF, data, len);
		else
			pci_msix_table_read(&vp->func, off - VIRTIO_PCI_MSIX_OFF, data, len);
		return;
	}
	if (within(off, len, VIRTIO_PCI_PBA_OFF, PCI_MSIX_PBA_SIZE(pci_msix_nr_vectors(&vp->func)))) {
		if (!is_write)
			pci_msix_pba_read(&vp->func, off - VIRTIO_PCI_PBA_OFF, data, len);
		return;
	}
	pthread_mutex_lock(&vp->access_lock);
	ok = bar_locked(vp, off, data, len, is_write);
	pthread_mutex_unlock(&vp->access_lock);
	if (ok)
		return;
	if (!is_write)
		memset(data, 0xFF, len);
	vp_warn(vp, "BAR %s of %u bytes at 0x%" PRIx64 " hits no register",
		is_write ? "write" : "read", len, off);
}

static void bar_read(struct device *dev, uint64_t off, void *data, uint32_t len)
{
	bar_access(dev, off, data, len, false);
}

static void bar_write(struct device *dev, uint64_t off, const void *data, uint32_t len)
{
	uint8_t buf[8];

	if (len > sizeof(buf))
		return;
	memcpy(buf, data, len);
	bar_access(dev, off, buf, len, true);
}

static const struct device_ops bar_ops = {
	.access_size = 0,
	.read = bar_read,
	.write = bar_write,
};

void virtio_pci_kick(struct virtio_pci *vp, unsigned int q)
{
	pthread_mutex_lock(&vp->access_lock);
	kick_locked(vp, q);
	pthread_mutex_unlock(&vp->access_lock);
}

/* ---- set-up ------------------------------------------------------------- */

static uint32_t class_of(uint16_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET: return 0x020000;     /* ethernet controller */
	case VIRTIO_ID_BLOCK: return 0x018000;   /* other mass storage */
	case VIRTIO_ID_CONSOLE: return 0x078000; /* other communication */
	}
	return 0xFF0000;                         /* unassigned class */
}

static int add_vcap(struct pci_func *f, uint8_t type, uint32_t off, uint32_t len)
{
	uint8_t cap[VIRTIO_PCI_NOTIFY_CAP_LEN] = { 0 };
	uint8_t cap_len = type == VIRTIO_PCI_CAP_NOTIFY_CFG ? VIRTIO_PCI_NOTIFY_CAP_LEN
							    : VIRTIO_PCI_CAP_LEN;

	cap[2] = cap_len;
	cap[VIRTIO_PCI_CAP_CFG_TYPE] = type;
	cap[VIRTIO_PCI_CAP_BAR] = VIRTIO_PCI_BAR;
	pci_put32(&cap[VIRTIO_PCI_CAP_OFFSET], off);
	pci_put32(&cap[VIRTIO_PCI_CAP_LENGTH], len);
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
		pci_put32(&cap[VIRTIO_PCI_CAP_MULTIPLIER], VIRTIO_PCI_NOTIFY_MULT);
	return pci_cap_add(f, PCI_CAP_ID_VNDR, cap, cap_len, NULL);
}

static int setup_func(struct virtio_pci *vp, const struct irq_line *intx,
		      const struct msi_sink *msi)
{
	struct virtio_dev *d = vp->vdev;
	struct pci_func_id id = {
		.vendor = VIRTIO_PCI_VENDOR,
		.device = (uint16_t)(VIRTIO_PCI_DEVICE_BASE + d->device_id),
		.subsys_vendor = VIRTIO_PCI_VENDOR, .subsys = VIRTIO_PCI_SUBSYS,
		.class_code = class_of(d->device_id), .revision = VIRTIO_PCI_REVISION,
	};
	struct pci_func *f = &vp->func;
	int ret = pci_func_init(f, d->name, &id, intx);

	if (ret)
		return ret;
	ret = pci_func_add_bar(f, VIRTIO_PCI_BAR, VIRTIO_PCI_BAR_SIZE, PCI_BAR_F_64, &vp->bar);
	if (!ret)
		ret = pci_msix_init(f, d->nr_queues + 1, VIRTIO_PCI_BAR, VIRTIO_PCI_MSIX_OFF,
				    VIRTIO_PCI_PBA_OFF, msi);
	if (!ret)
		ret = add_vcap(f, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF,
			       VIRTIO_PCI_COMMON_LEN);
	if (!ret)
		ret = add_vcap(f, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
			       d->nr_queues * VIRTIO_PCI_NOTIFY_MULT);
	if (!ret)
		ret = add_vcap(f, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, VIRTIO_PCI_ISR_LEN);
	if (!ret && d->config_size)
		ret = add_vcap(f, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
			       d->config_size);
	if (ret)
		pci_func_destroy(f);
	return ret;
}

struct virtio_pci *virtio_pci_create(struct virtio_dev *vdev,
				     const struct irq_line *intx,
				     const struct msi_sink *msi)
{
	struct virtio_pci *vp;

	if (!vdev || !vdev->ops || !vdev->queues || vdev->nr_queues == 0 ||
	    vdev->nr_queues > VIRTIO_PCI_MAX_QUEUES ||
	    vdev->config_size > VIRTIO_PCI_DEVICE_MAX ||
	    !(vdev->host_features >> VIRTIO_F_VERSION_1 & 1)) {
		log_err("virtio-pci: %s: bad device (queues, config size or no VERSION_1)",
			vdev && vdev->name ? vdev->name : "?");
		return NULL;
	}
	vp = calloc(1, sizeof(*vp));
	if (!vp)
		return NULL;
	vp->vdev = vdev;
	vp->rl.burst = VIRTIO_PCI_WARN_BURST;
	vp->bar = (struct device){ .ops = &bar_ops, .name = vdev->name };
	if (pthread_mutex_init(&vp->access_lock, NULL))
		goto fail_free;
	if (pthread_mutex_init(&vp->irq_lock, NULL))
		goto fail_access;
	if (setup_func(vp, intx, msi))
		goto fail_irq;
	vdev->notify = (struct virtio_notify){
		.queue = notify_queue, .config = notify_config,
		.needs_reset = notify_needs_reset, .ctx = vp,
	};
	reset_registers(vp);
	return vp;

fail_irq:
	pthread_mutex_destroy(&vp->irq_lock);
fail_access:
	pthread_mutex_destroy(&vp->access_lock);
fail_free:
	log_err("virtio-pci: %s: cannot set up the PCI function", vdev->name);
	free(vp);
	return NULL;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	if (!vp)
		return;
	vp->vdev->notify = (struct virtio_notify){ 0 };
	pci_func_destroy(&vp->func);
	pthread_mutex_destroy(&vp->irq_lock);
	pthread_mutex_destroy(&vp->access_lock);
	free(vp);
}

struct pci_func *virtio_pci_func(struct virtio_pci *vp)
{
	return &vp->func;
}

static void queue_snap(struct virtq *q, struct snap *s)
{
	uint16_t last_avail, used_idx, signalled_used;
	bool signalled_valid, broken;

	snap_u16(s, "size", &q->size);
	snap_u64(s, "desc", &q->desc_gpa);
	snap_u64(s, "avail", &q->avail_gpa);
	snap_u64(s, "used", &q->used_gpa);
	snap_u16(s, "vector", &q->msix_vector);
	snap_bool(s, "enabled", &q->enabled);
	snap_uint(s, "features", &q->features, (VIRTQ_F_INDIRECT_DESC | VIRTQ_F_EVENT_IDX) + 1);
	last_avail = q->last_avail;
	used_idx = q->used_idx;
	signalled_used = q->signalled_used;
	signalled_valid = q->signalled_valid;
	broken = q->broken;
	snap_u16(s, "last-avail", &last_avail);
	snap_u16(s, "used-idx", &used_idx);
	snap_u16(s, "signalled-used", &signalled_used);
	snap_bool(s, "signalled-valid", &signalled_valid);
	snap_bool(s, "broken", &broken);
	if (snap_saving(s) || snap_failed(s) || !q->enabled)
		return;
	/* The rings' host addresses again, then where the device was. */
	if (virtq_enable(q)) {
		snap_fail(s, "desc", -EINVAL, "the saved rings are not in guest RAM");
		return;
	}
	q->last_avail = last_avail;
	q->used_idx = used_idx;
	q->signalled_used = signalled_used;
	q->signalled_valid = signalled_valid;
	q->broken = broken;
}

void virtio_pci_snap(struct virtio_pci *vp, struct snap *s)
{
	struct virtio_dev *d = vp->vdev;
	struct snap child;
	uint32_t nq = d->nr_queues;
	char name[16];

	pthread_mutex_lock(&vp->access_lock);
	snap_u32(s, "dfselect", &vp->dfselect);
	snap_u32(s, "gfselect", &vp->gfselect);
	snap_u64(s, "driver-features", &vp->driver_features);
	snap_u16(s, "queue-select", &vp->queue_select);
	snap_bool(s, "active", &vp->active);
	pthread_mutex_lock(&vp->irq_lock);
	snap_u8(s, "status", &vp->status);
	snap_u8(s, "isr", &vp->isr);
	snap_u8(s, "config-generation", &vp->config_gen);
	snap_u16(s, "config-vector", &vp->config_vector);
	pthread_mutex_unlock(&vp->irq_lock);
	snap_u32(s, "queues", &nq);
	if (!snap_saving(s) && !snap_failed(s) && nq != d->nr_queues)
		snap_fail(s, "queues", -EXDEV, "%u queues saved, %s has %u", nq, d->name,
			  d->nr_queues);
	for (unsigned int i = 0; i < d->nr_queues; i++) {
		snprintf(name, sizeof(name), "queue%u", i);
		if (snap_enter(s, name, &child)) {
			queue_snap(&d->queues[i], &child);
			snap_leave(&child);
		}
	}
	if (snap_enter(s, "msix", &child)) {
		pci_msix_snap(&vp->func, &child);
		snap_leave(&child);
	}
	if (!snap_saving(s) && !snap_failed(s) && vp->active && d->ops->activate &&
	    d->ops->activate(d, vp->driver_features))
		snap_fail(s, "driver-features", -EINVAL, "%s refused the saved features 0x%llx",
			  d->name, (unsigned long long)vp->driver_features);
	/* A kick the old process had not served yet (its ioeventfd fired as
	 * it stopped) is not in the snapshot: look at every queue once, as a
	 * kick would; with nothing new in a ring it does nothing. */
	for (unsigned int i = 0; !snap_saving(s) && !snap_failed(s) && vp->active &&
	     i < d->nr_queues; i++)
		if (d->queues[i].enabled)
			kick_locked(vp, i);
	pthread_mutex_unlock(&vp->access_lock);
}

/* SPDX-License-Identifier: MIT */
/*
 * A device type behind the real virtio-pci transport, for device tests:
 * the guest's register accesses go straight to the function's BAR device
 * (no host bridge, no bus), interrupts arrive on a recorded INTx line and
 * the ISR.  Queue n's rings are those td_place() gives queue n, so the
 * test driver (virtio_driver.h) writes descriptors and avail entries as
 * usual.  Include after <cmocka.h> and virtio_driver.h.
 */
#ifndef MINIVMM_TESTS_VIRTIO_BAR_H
#define MINIVMM_TESTS_VIRTIO_BAR_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/pci.h"

struct vbar {
	struct virtio_pci *vp;
	struct device *bar;
	unsigned int raises;   /* INTx rising edges */
	bool line;
};

static inline void vbar_line(void *ctx, uint32_t gsi, bool level)
{
	struct vbar *v = ctx;

	if (level && !v->line)
		v->raises++;
	v->line = level;
}

static inline void vbar_attach(struct vbar *v, struct virtio_dev *d)
{
	struct irq_line intx = { .set = vbar_line, .ctx = v, .gsi = 11 };

	memset(v, 0, sizeof(*v));
	v->vp = virtio_pci_create(d, &intx, NULL);
	assert_non_null(v->vp);
	v->bar = virtio_pci_func(v->vp)->bars[VIRTIO_PCI_BAR].dev;
	assert_non_null(v->bar);
}

static inline uint64_t vbar_rd(struct vbar *v, uint64_t off, uint32_t len)
{
	uint8_t b[8] = { 0 };
	uint64_t x = 0;

	v->bar->ops->read(v->bar, off, b, len);
	for (uint32_t i = 0; i < len; i++)
		x |= (uint64_t)b[i] << (8 * i);
	return x;
}

static inline void vbar_wr(struct vbar *v, uint64_t off, uint64_t x, uint32_t len)
{
	uint8_t b[8];

	for (uint32_t i = 0; i < 8; i++)
		b[i] = (uint8_t)(x >> (8 * i));
	v->bar->ops->write(v->bar, off, b, len);
}

#define VBAR_C(field) (VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_##field)

static inline uint8_t vbar_status(struct vbar *v)
{
	return (uint8_t)vbar_rd(v, VBAR_C(STATUS), 1);
}

static inline uint64_t vbar_offered(struct vbar *v)
{
	uint64_t lo;

	vbar_wr(v, VBAR_C(DFSELECT), 0, 4);
	lo = vbar_rd(v, VBAR_C(DF), 4);
	vbar_wr(v, VBAR_C(DFSELECT), 1, 4);
	return lo | vbar_rd(v, VBAR_C(DF), 4) << 32;
}

/* Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK (3.1.1); the status. */
static inline uint8_t vbar_negotiate(struct vbar *v, uint64_t features)
{
	vbar_wr(v, VBAR_C(STATUS), 0, 1);
	vbar_wr(v, VBAR_C(STATUS), VIRTIO_STATUS_ACKNOWLEDGE, 1);
	vbar_wr(v, VBAR_C(STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	vbar_wr(v, VBAR_C(GFSELECT), 0, 4);
	vbar_wr(v, VBAR_C(GF), (uint32_t)features, 4);
	vbar_wr(v, VBAR_C(GFSELECT), 1, 4);
	vbar_wr(v, VBAR_C(GF), (uint32_t)(features >> 32), 4);
	vbar_wr(v, VBAR_C(STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		   VIRTIO_STATUS_FEATURES_OK, 1);
	return vbar_status(v);
}

/* Lay out queue n's rings (td_place) and enable it through the registers. */
static inline void vbar_queue(struct vbar *v, struct tdrv *t, struct virtq *q,
			      unsigned int n, uint16_t size)
{
	struct virtq shadow = *q;

	td_place(t, &shadow, n, size);
	vbar_wr(v, VBAR_C(Q_SELECT), n, 2);
	vbar_wr(v, VBAR_C(Q_SIZE), size, 2);
	vbar_wr(v, VBAR_C(Q_DESC), shadow.desc_gpa, 8);
	vbar_wr(v, VBAR_C(Q_AVAIL), shadow.avail_gpa, 8);
	vbar_wr(v, VBAR_C(Q_USED), shadow.used_gpa, 8);
	vbar_wr(v, VBAR_C(Q_ENABLE), 1, 2);
	assert_int_equal(vbar_rd(v, VBAR_C(Q_ENABLE), 2), 1);
}

static inline void vbar_driver_ok(struct vbar *v)
{
	vbar_wr(v, VBAR_C(STATUS), vbar_status(v) | VIRTIO_STATUS_DRIVER_OK, 1);
}

/* A write to queue n's notify address, as the guest kicks. */
static inline void vbar_kick(struct vbar *v, unsigned int n)
{
	vbar_wr(v, virtio_pci_notify_offset(n), n, 2);
}

/* Read (and so clear) the ISR, as an INTx handler does. */
static inline uint8_t vbar_isr(struct vbar *v)
{
	return (uint8_t)vbar_rd(v, VIRTIO_PCI_ISR_OFF, 1);
}

static inline void vbar_detach(struct vbar *v)
{
	virtio_pci_destroy(v->vp);
	v->vp = NULL;
}

#endif

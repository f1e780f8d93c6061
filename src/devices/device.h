/* SPDX-License-Identifier: MIT */
/*
 * What every emulated device sees of the world: a const ops table called
 * with offsets inside the device's own range, and the dependencies it is
 * handed at construction (an interrupt line, a byte sink, a power control).
 * Devices never learn where they are placed; the board code decides that.
 */
#ifndef MINIVMM_DEVICE_H
#define MINIVMM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"	/* container_of, for the devices */

struct device;

struct device_ops {
	/* Natural access width in bytes (1, 2, 4 or 8); the bus splits wider
	 * accesses into accesses of this width.  0 means "any width". */
	uint8_t access_size;
	void (*read)(struct device *dev, uint64_t offset, void *data, uint32_t len);
	void (*write)(struct device *dev, uint64_t offset, const void *data, uint32_t len);
	void (*reset)(struct device *dev);
	void (*destroy)(struct device *dev);
};

struct device {
	const struct device_ops *ops;
	const char *name;
};

/* An interrupt line into the platform's interrupt controller. */
struct irq_line {
	void (*set)(void *ctx, uint32_t gsi, bool level);
	void *ctx;
	uint32_t gsi;
};

static inline void irq_line_set(const struct irq_line *line, bool level)
{
	if (line && line->set)
		line->set(line->ctx, line->gsi, level);
}

/* A message-signalled interrupt (PCI MSI-X): a dword write of data to addr. */
struct msi_msg {
	uint64_t addr;
	uint32_t data;
};

/* Where a PCI function's MSI-X messages go.  One sink per function; vector
 * is the function's table index, so the platform can keep one route (GSI,
 * irqfd) per vector.  Called with the function's MSI-X lock held: neither
 * callback may call back into the device. */
struct msi_sink {
	/* Deliver one message (KVM_SIGNAL_MSI, or the vector's irqfd). */
	void (*send)(void *ctx, unsigned int vector, const struct msi_msg *msg);
	/* Optional: the vector's message or effective mask changed (entry
	 * mask, function mask or MSI-X enable), to update GSI routing. */
	void (*update)(void *ctx, unsigned int vector, const struct msi_msg *msg,
		       bool masked);
	void *ctx;
};

/* Where a device's output bytes go (terminal, file, test buffer). */
struct byte_sink {
	void (*write)(void *ctx, const uint8_t *buf, size_t len);
	void *ctx;
};

static inline void byte_sink_write(const struct byte_sink *sink,
				   const uint8_t *buf, size_t len)
{
	if (sink && sink->write)
		sink->write(sink->ctx, buf, len);
}

/* How a device asks the machine to stop: guest poweroff, reset, or a
 * requested exit status (debug-exit port). */
enum power_event {
	POWER_OFF,
	POWER_RESET,
	POWER_EXIT_STATUS,
};

struct power_ctl {
	void (*request)(void *ctx, enum power_event ev, int status);
	void *ctx;
};

static inline void power_ctl_request(const struct power_ctl *pc,
				     enum power_event ev, int status)
{
	if (pc && pc->request)
		pc->request(pc->ctx, ev, status);
}

static inline void device_destroy(struct device *dev)
{
	if (dev && dev->ops->destroy)
		dev->ops->destroy(dev);
}

#endif

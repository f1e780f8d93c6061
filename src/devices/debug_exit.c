// SPDX-License-Identifier: MIT
/*
 * Debug-exit port.  Unlike QEMU's isa-debug-exit, the status is passed
 * through unchanged (QEMU exits with (S << 1) | 1), so guests can report 0.
 */
#include "devices/debug_exit.h"

#include <stdlib.h>
#include <string.h>

struct debug_exit {
	struct device dev;
	struct power_ctl pc;
};

static void debug_exit_read(struct device *dev, uint64_t offset, void *data,
			    uint32_t len)
{
	memset(data, 0xFF, len);
}

static void debug_exit_write(struct device *dev, uint64_t offset,
			     const void *data, uint32_t len)
{
	struct debug_exit *dx = container_of(dev, struct debug_exit, dev);

	/* The range is one byte wide; anything else is not ours. */
	if (offset != 0 || len == 0)
		return;
	power_ctl_request(&dx->pc, POWER_EXIT_STATUS, *(const uint8_t *)data);
}

static void debug_exit_destroy(struct device *dev)
{
	free(container_of(dev, struct debug_exit, dev));
}

static const struct device_ops debug_exit_ops = {
	.access_size = 1,
	.read = debug_exit_read,
	.write = debug_exit_write,
	.destroy = debug_exit_destroy,
};

struct device *debug_exit_create(const struct power_ctl *pc)
{
	struct debug_exit *dx = calloc(1, sizeof(*dx));

	if (!dx)
		return NULL;
	dx->dev.ops = &debug_exit_ops;
	dx->dev.name = "debug-exit";
	if (pc)
		dx->pc = *pc;
	return &dx->dev;
}

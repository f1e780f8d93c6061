/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (virtio 1.x, 5.3) with one port and no MULTIPORT: Linux
 * makes it hvc0.  Queue 0 (receiveq) carries host input to the guest,
 * queue 1 (transmitq) guest output to a byte_sink, a whole chain per sink
 * call (up to 4 KiB at a time) — many bytes per kick, where the UART takes
 * one exit per byte.
 *
 * Host input is offered with virtio_console_input(), which takes what the
 * guest's posted receive buffers hold; the caller keeps the rest and
 * offers it again when rx_ready() says the guest posted more buffers.
 *
 * Threads: input (console thread), kicks (I/O thread or a vCPU) and reset
 * (a vCPU) may race; each queue has its own lock.
 */
#ifndef MINIVMM_DEVICES_VIRTIO_CONSOLE_H
#define MINIVMM_DEVICES_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/virtio/virtio_dev.h"
#include "mmu/memory.h"

#define VIRTIO_CONSOLE_F_SIZE       0
#define VIRTIO_CONSOLE_F_MULTIPORT  1
#define VIRTIO_CONSOLE_QUEUE_SIZE   128
#define VIRTIO_CONSOLE_RX           0
#define VIRTIO_CONSOLE_TX           1

struct virtio_console;

struct virtio_console_params {
	const struct mem_map *mem;
	struct byte_sink out;              /* guest output */
	/* The guest posted receive buffers (or the device became ready):
	 * offer pending input again.  Called without the device's locks. */
	void (*rx_ready)(void *ctx);
	void *rx_ctx;
};

__attribute__((warn_unused_result))
int virtio_console_create(const struct virtio_console_params *p, struct virtio_console **out);
struct virtio_dev *virtio_console_dev(struct virtio_console *c);
/* Host input: bytes taken (0 when the driver is not ready or posted no
 * buffer). */
size_t virtio_console_input(struct virtio_console *c, const uint8_t *buf, size_t len);

#endif

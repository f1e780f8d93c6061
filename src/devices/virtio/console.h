/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (virtio 1.x, 5.3): one port, no MULTIPORT.  Linux binds
 * port 0 of such a device to hvc0.  Queue 0 (receiveq) carries host input
 * to the guest, queue 1 (transmitq) the guest's output to a byte_sink.
 *
 * Threads:
 *  - the transport calls the virtio_dev ops (kicks, activate, reset,
 *    config) on a vCPU thread or, for ioeventfd kicks, the I/O thread;
 *  - virtio_console_input() and virtio_console_set_size() may be called
 *    from any other thread (the I/O thread) at the same time.
 * The sink is called on whichever thread kicks queue 1, with the transmit
 * lock held: it may block, but must not call into the device.
 */
#ifndef MINIVMM_DEVICES_VIRTIO_CONSOLE_H
#define MINIVMM_DEVICES_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/virtio/virtio_dev.h"
#include "mmu/memory.h"

/* Feature bits (5.3.3). */
#define VIRTIO_CONSOLE_F_SIZE        0
#define VIRTIO_CONSOLE_F_MULTIPORT   1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

#define VIRTIO_CONSOLE_RXQ 0   /* receiveq(port0): host → guest */
#define VIRTIO_CONSOLE_TXQ 1   /* transmitq(port0): guest → host */

/* Configuration space (5.3.4), little-endian: the fields up to
 * max_nr_ports (emerg_wr is not offered). */
struct virtio_console_config {
	uint16_t cols;
	uint16_t rows;
	uint32_t max_nr_ports;    /* 1; meaningful only with MULTIPORT */
} __attribute__((packed));

struct virtio_console;

struct virtio_console_params {
	const struct mem_map *mem;
	/* The guest's output (copied; called with the transmit lock held). */
	struct byte_sink out;
	/* Optional: called when the guest posts receive buffers after an
	 * input() call could not place everything (or was made before the
	 * driver was ready), on the thread that kicked queue 0 (inside the
	 * transport's kick: it must not call into the transport).  No device
	 * lock is held, so it may call virtio_console_input() itself or wake
	 * the thread that does. */
	void (*rx_ready)(void *ctx);
	void *rx_ctx;
	uint16_t rx_queue_size;   /* powers of two, 2..VIRTQ_MAX_SIZE */
	uint16_t tx_queue_size;
	/* Terminal size: both non-zero offers VIRTIO_CONSOLE_F_SIZE. */
	uint16_t cols, rows;
};

/* A virtio-console device type for a transport; freed by its ops->destroy
 * (no other call may run then or later).  0, -EINVAL (logged), -ENOMEM. */
__attribute__((warn_unused_result))
int virtio_console_create(const struct virtio_console_params *p,
			  struct virtio_console **out);
struct virtio_dev *virtio_console_dev(struct virtio_console *c);

/* Host input: copies as much of buf as the guest's posted receive buffers
 * take, returns the count (0..len).  Short of len, the caller keeps the
 * rest and tries again after rx_ready.  Any thread. */
size_t virtio_console_input(struct virtio_console *c, const uint8_t *buf, size_t len);

/* Whether the guest has a receive buffer posted right now (a hint: the
 * guest may take it the next moment only by giving it back to us). */
bool virtio_console_can_input(struct virtio_console *c);

/* New terminal size; with F_SIZE negotiated the driver gets a
 * configuration-change interrupt.  -ENOTSUP when F_SIZE was not offered.
 * Any thread. */
int virtio_console_set_size(struct virtio_console *c, uint16_t cols, uint16_t rows);

#endif

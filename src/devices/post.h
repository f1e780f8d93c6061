/* SPDX-License-Identifier: MIT */
/*
 * The POST-code port (BOARD_POST_PORT, 0x80).  Firmware and test guests
 * write progress codes to it, and Linux uses it as an I/O delay, so writes
 * must stay cheap: the last code is kept in an atomic, lock-free.  Reads
 * return the last code written (0xFF before the first write).
 */
#ifndef MINIVMM_POST_H
#define MINIVMM_POST_H

#include "devices/device.h"

struct post;

/* Returns NULL on ENOMEM; free with device_destroy(post_device()). */
struct post *post_create(void);
struct device *post_device(struct post *post);

/* The last code written (0-255), or -1 if none since power-on or reset.
 * Safe to call from any thread. */
int post_last_code(const struct post *post);

#endif

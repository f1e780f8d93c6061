/* SPDX-License-Identifier: MIT */
/*
 * The debug-exit port (BOARD_DEBUG_EXIT_PORT): a 1-byte write of S asks the
 * machine to stop with exit status S (0-255).  Reads return 0xFF, as an
 * empty port would: the port is write-only and carries no state.
 */
#ifndef MINIVMM_DEBUG_EXIT_H
#define MINIVMM_DEBUG_EXIT_H

#include "devices/device.h"

/* pc is copied; NULL makes every write a no-op.  Returns NULL on ENOMEM;
 * free with device_destroy(). */
struct device *debug_exit_create(const struct power_ctl *pc);

#endif

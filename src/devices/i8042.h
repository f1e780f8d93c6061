/* SPDX-License-Identifier: MIT */
/*
 * A minimal i8042 keyboard controller: enough for a probing kernel to see a
 * sane controller with nothing attached, and the PC reset line.
 *
 * The controller answers on two 1-byte ports that are not adjacent (data at
 * 0x60, command/status at 0x64, with 0x61 belonging to someone else), so it
 * exposes two struct devices, each placed by the board on its own 1-byte
 * range; both see offset 0 only.  Each device holds a reference to the
 * controller: call device_destroy() on both, the second one frees it.
 */
#ifndef MINIVMM_I8042_H
#define MINIVMM_I8042_H

#include "devices/device.h"

#define I8042_STATUS_OBF   0x01 /* output buffer full: data port has a byte */
#define I8042_STATUS_IBF   0x02 /* input buffer full: never, we are instant */
#define I8042_STATUS_SYS   0x04 /* system flag (CTR bit 2) */
#define I8042_STATUS_CMD   0x08 /* last write went to the command port */

#define I8042_CTR_SYS      0x04

#define I8042_CMD_READ_CTR    0x20
#define I8042_CMD_WRITE_CTR   0x60
#define I8042_CMD_AUX_DISABLE 0xA7
#define I8042_CMD_AUX_ENABLE  0xA8
#define I8042_CMD_SELF_TEST   0xAA
#define I8042_CMD_KBD_TEST    0xAB
#define I8042_CMD_KBD_DISABLE 0xAD
#define I8042_CMD_KBD_ENABLE  0xAE
#define I8042_CMD_READ_OUTP   0xD0
#define I8042_CMD_WRITE_OUTP  0xD1
#define I8042_CMD_RESET       0xFE /* pulse output-port bit 0: CPU reset */

#define I8042_SELF_TEST_OK    0x55
#define I8042_OUTP_RESET      0x01 /* output port bit 0: 0 holds CPU reset */
#define I8042_OUTP_A20        0x02

struct i8042;

/* pc is copied and may be NULL (reset requests are then ignored). */
struct i8042 *i8042_create(const struct power_ctl *pc);
struct device *i8042_data_device(struct i8042 *kbc);  /* BOARD_I8042_DATA */
struct device *i8042_cmd_device(struct i8042 *kbc);   /* BOARD_I8042_CMD */
/* Save or restore the controller's RAM, output port and buffer. */
struct snap;
void i8042_snap(struct i8042 *kbc, struct snap *s);

#endif

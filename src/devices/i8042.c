// SPDX-License-Identifier: MIT
/*
 * Minimal i8042.  Modelled:
 * - the status register: OBF, SYS (mirrors CTR bit 2), and the A2 bit
 *   telling which port was written last; IBF is never set because every
 *   command completes within the write;
 * - a one-byte output buffer read through the data port (reading it empty
 *   returns the stale byte, as the chip does);
 * - the 32 bytes of controller RAM via 0x20-0x3F / 0x60-0x7F (byte 0 is the
 *   command byte, CTR), self-test 0xAA -> 0x55, keyboard-port test 0xAB -> 0,
 *   keyboard/aux enable and disable (CTR bits 4/5), output port read/write
 *   0xD0/0xD1 and the pulse commands 0xF0-0xFF, where a pulse of output-port
 *   bit 0 (e.g. 0xFE), or clearing it with 0xD1, resets the machine.
 * Not modelled: any keyboard or mouse (bytes written for them are dropped,
 *   so drivers time out and find nothing attached), aux-port commands
 *   (0xA9, 0xD2-0xD4 get no reply), interrupts (no IRQ line is wired; replies
 *   are polled), and the A20 gate (KVM has none: output-port bit 1 reads 1).
 */
#include "devices/i8042.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/snap.h"

#define I8042_RAM_SIZE     32
#define I8042_CTR_KBD_DIS  0x10
#define I8042_CTR_AUX_DIS  0x20

struct i8042 {
	struct device data_dev;
	struct device cmd_dev;
	atomic_int refs;
	pthread_mutex_t lock;
	struct power_ctl pc;

	uint8_t ram[I8042_RAM_SIZE]; /* ram[0] is the command byte (CTR) */
	uint8_t outp;
	uint8_t ob;
	bool obf;
	bool last_was_cmd;
	uint8_t pending;             /* command waiting for its data byte */
};

static void power_on(struct i8042 *k)
{
	for (unsigned int i = 0; i < I8042_RAM_SIZE; i++)
		k->ram[i] = 0;
	k->outp = I8042_OUTP_RESET | I8042_OUTP_A20;
	k->ob = 0;
	k->obf = false;
	k->last_was_cmd = false;
	k->pending = 0;
}

static void output(struct i8042 *k, uint8_t byte)
{
	k->ob = byte;
	k->obf = true;
}

/* Returns true when the command asks for a machine reset. */
static bool run_command(struct i8042 *k, uint8_t cmd)
{
	k->pending = 0;
	if (cmd >= 0x20 && cmd < 0x20 + I8042_RAM_SIZE) {
		output(k, k->ram[cmd - 0x20]);
		return false;
	}
	if (cmd >= 0x60 && cmd < 0x60 + I8042_RAM_SIZE) {
		k->pending = cmd;
		return false;
	}
	switch (cmd) {
	case I8042_CMD_AUX_DISABLE:
		k->ram[0] |= I8042_CTR_AUX_DIS;
		break;
	case I8042_CMD_AUX_ENABLE:
		k->ram[0] &= (uint8_t)~I8042_CTR_AUX_DIS;
		break;
	case I8042_CMD_SELF_TEST:
		k->ram[0] |= I8042_CTR_SYS;
		output(k, I8042_SELF_TEST_OK);
		break;
	case I8042_CMD_KBD_TEST:
		output(k, 0x00);
		break;
	case I8042_CMD_KBD_DISABLE:
		k->ram[0] |= I8042_CTR_KBD_DIS;
		break;
	case I8042_CMD_KBD_ENABLE:
		k->ram[0] &= (uint8_t)~I8042_CTR_KBD_DIS;
		break;
	case I8042_CMD_READ_OUTP:
		output(k, k->outp);
		break;
	case I8042_CMD_WRITE_OUTP:
		k->pending = cmd;
		break;
	default:
		/* 0xF0-0xFF pulse the output-port bits whose mask bit is 0;
		 * bit 0 is wired to the CPU reset line. */
		if (cmd >= 0xF0)
			return !(cmd & I8042_OUTP_RESET);
		break;
	}
	return false;
}

/* A data-port write: the argument of a pending command, or a byte for the
 * keyboard, which is not there. */
static bool data_write(struct i8042 *k, uint8_t val)
{
	uint8_t cmd = k->pending;

	k->pending = 0;
	if (cmd >= 0x60 && cmd < 0x60 + I8042_RAM_SIZE) {
		k->ram[cmd - 0x60] = val;
	} else if (cmd == I8042_CMD_WRITE_OUTP) {
		k->outp = val | I8042_OUTP_A20;
		return !(val & I8042_OUTP_RESET);
	}
	return false;
}

static uint8_t status(const struct i8042 *k)
{
	uint8_t st = k->ram[0] & I8042_CTR_SYS;

	if (k->obf)
		st |= I8042_STATUS_OBF;
	if (k->last_was_cmd)
		st |= I8042_STATUS_CMD;
	return st;
}

static void fill(uint8_t *bytes, uint32_t len, uint8_t first)
{
	/* Offsets past 0 lie outside a 1-byte range; read them as open bus. */
	for (uint32_t i = 0; i < len; i++)
		bytes[i] = i ? 0xFF : first;
}

static void data_read(struct device *dev, uint64_t offset, void *data,
		      uint32_t len)
{
	struct i8042 *k = container_of(dev, struct i8042, data_dev);
	uint8_t val = 0xFF;

	pthread_mutex_lock(&k->lock);
	if (offset == 0) {
		val = k->ob;
		k->obf = false;
	}
	pthread_mutex_unlock(&k->lock);
	fill(data, len, val);
}

static void cmd_read(struct device *dev, uint64_t offset, void *data,
		     uint32_t len)
{
	struct i8042 *k = container_of(dev, struct i8042, cmd_dev);
	uint8_t val = 0xFF;

	pthread_mutex_lock(&k->lock);
	if (offset == 0)
		val = status(k);
	pthread_mutex_unlock(&k->lock);
	fill(data, len, val);
}

static void port_write(struct i8042 *k, bool is_cmd, uint64_t offset,
		       const void *data, uint32_t len)
{
	uint8_t val = *(const uint8_t *)data;
	bool reset;

	if (offset != 0 || len == 0)
		return;
	pthread_mutex_lock(&k->lock);
	k->last_was_cmd = is_cmd;
	reset = is_cmd ? run_command(k, val) : data_write(k, val);
	pthread_mutex_unlock(&k->lock);
	/* Outside the lock: the power controller may call back into us. */
	if (reset)
		power_ctl_request(&k->pc, POWER_RESET, 0);
}

static void data_write_op(struct device *dev, uint64_t offset,
			  const void *data, uint32_t len)
{
	port_write(container_of(dev, struct i8042, data_dev), false, offset,
		   data, len);
}

static void cmd_write_op(struct device *dev, uint64_t offset,
			 const void *data, uint32_t len)
{
	port_write(container_of(dev, struct i8042, cmd_dev), true, offset,
		   data, len);
}

static void i8042_reset(struct i8042 *k)
{
	pthread_mutex_lock(&k->lock);
	power_on(k);
	pthread_mutex_unlock(&k->lock);
}

static void data_reset(struct device *dev)
{
	i8042_reset(container_of(dev, struct i8042, data_dev));
}

static void cmd_reset(struct device *dev)
{
	i8042_reset(container_of(dev, struct i8042, cmd_dev));
}

static void i8042_put(struct i8042 *k)
{
	if (atomic_fetch_sub(&k->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}

static void data_destroy(struct device *dev)
{
	i8042_put(container_of(dev, struct i8042, data_dev));
}

static void cmd_destroy(struct device *dev)
{
	i8042_put(container_of(dev, struct i8042, cmd_dev));
}

static const struct device_ops i8042_data_ops = {
	.access_size = 1,
	.read = data_read,
	.write = data_write_op,
	.reset = data_reset,
	.destroy = data_destroy,
};

static const struct device_ops i8042_cmd_ops = {
	.access_size = 1,
	.read = cmd_read,
	.write = cmd_write_op,
	.reset = cmd_reset,
	.destroy = cmd_destroy,
};

struct i8042 *i8042_create(const struct power_ctl *pc)
{
	struct i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	if (pthread_mutex_init(&k->lock, NULL)) {
		free(k);
		return NULL;
	}
	k->data_dev = (struct device){ .ops = &i8042_data_ops, .name = "i8042-data" };
	k->cmd_dev = (struct device){ .ops = &i8042_cmd_ops, .name = "i8042-cmd" };
	atomic_init(&k->refs, 2);
	if (pc)
		k->pc = *pc;
	power_on(k);
	return k;
}

struct device *i8042_data_device(struct i8042 *kbc)
{
	return &kbc->data_dev;
}

struct device *i8042_cmd_device(struct i8042 *kbc)
{
	return &kbc->cmd_dev;
}

void i8042_snap(struct i8042 *k, struct snap *s)
{
	pthread_mutex_lock(&k->lock);
	snap_bytes(s, "ram", k->ram, sizeof(k->ram));
	snap_u8(s, "outp", &k->outp);
	snap_u8(s, "ob", &k->ob);
	snap_bool(s, "obf", &k->obf);
	snap_bool(s, "last-was-cmd", &k->last_was_cmd);
	snap_u8(s, "pending", &k->pending);
	pthread_mutex_unlock(&k->lock);
}

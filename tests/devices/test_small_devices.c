// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/bus.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/post.h"

#define MAX_REQ 8

struct fake_power {
	unsigned int nr;
	enum power_event ev[MAX_REQ];
	int status[MAX_REQ];
};

static void fake_request(void *ctx, enum power_event ev, int status)
{
	struct fake_power *p = ctx;

	assert_true(p->nr < MAX_REQ);
	p->ev[p->nr] = ev;
	p->status[p->nr] = status;
	p->nr++;
}

static uint8_t rd(struct device *dev)
{
	uint8_t v;

	dev->ops->read(dev, 0, &v, 1);
	return v;
}

static void wr(struct device *dev, uint8_t v)
{
	dev->ops->write(dev, 0, &v, 1);
}

/* ---- i8042 ------------------------------------------------------------ */

struct kbc_fixture {
	struct fake_power power;
	struct i8042 *kbc;
	struct device *data;
	struct device *cmd;
};

static int kbc_setup(void **state)
{
	struct kbc_fixture *f = test_calloc(1, sizeof(*f));
	struct power_ctl pc = { .request = fake_request, .ctx = &f->power };

	f->kbc = i8042_create(&pc);
	assert_non_null(f->kbc);
	f->data = i8042_data_device(f->kbc);
	f->cmd = i8042_cmd_device(f->kbc);
	assert_ptr_not_equal(f->data, f->cmd);
	*state = f;
	return 0;
}

static int kbc_teardown(void **state)
{
	struct kbc_fixture *f = *state;

	/* Both devices must be destroyed; the second frees the controller. */
	device_destroy(f->data);
	device_destroy(f->cmd);
	test_free(f);
	return 0;
}

static void test_i8042_idle(void **state)
{
	struct kbc_fixture *f = *state;

	assert_int_equal(rd(f->cmd), 0);
	assert_int_equal(rd(f->data), 0);
	assert_int_equal(f->power.nr, 0);
}

static void test_i8042_reset_pulse(void **state)
{
	struct kbc_fixture *f = *state;

	wr(f->cmd, I8042_CMD_RESET);
	assert_int_equal(f->power.nr, 1);
	assert_int_equal(f->power.ev[0], POWER_RESET);
	/* Pulses that leave bit 0 alone do not reset. */
	wr(f->cmd, 0xFF);
	wr(f->cmd, 0xFD);
	assert_int_equal(f->power.nr, 1);
	/* 0xFE written to the data port is a keyboard byte, not a reset. */
	wr(f->data, I8042_CMD_RESET);
	assert_int_equal(f->power.nr, 1);
}

static void test_i8042_output_port_reset(void **state)
{
	struct kbc_fixture *f = *state;

	wr(f->cmd, I8042_CMD_READ_OUTP);
	assert_int_equal(rd(f->cmd) & I8042_STATUS_OBF, I8042_STATUS_OBF);
	assert_int_equal(rd(f->data), I8042_OUTP_RESET | I8042_OUTP_A20);
	wr(f->cmd, I8042_CMD_WRITE_OUTP);
	wr(f->data, I8042_OUTP_RESET | I8042_OUTP_A20);
	assert_int_equal(f->power.nr, 0);
	wr(f->cmd, I8042_CMD_WRITE_OUTP);
	wr(f->data, I8042_OUTP_A20);
	assert_int_equal(f->power.nr, 1);
	assert_int_equal(f->power.ev[0], POWER_RESET);
}

static void test_i8042_self_test_and_ctr(void **state)
{
	struct kbc_fixture *f = *state;

	wr(f->cmd, I8042_CMD_SELF_TEST);
	assert_int_equal(rd(f->cmd),
			 I8042_STATUS_OBF | I8042_STATUS_SYS | I8042_STATUS_CMD);
	assert_int_equal(rd(f->data), I8042_SELF_TEST_OK);
	assert_int_equal(rd(f->cmd) & I8042_STATUS_OBF, 0);

	wr(f->cmd, I8042_CMD_WRITE_CTR);
	assert_int_equal(rd(f->cmd) & I8042_STATUS_OBF, 0);
	wr(f->data, 0x47);
	assert_int_equal(rd(f->cmd) & I8042_STATUS_CMD, 0);
	wr(f->cmd, I8042_CMD_READ_CTR);
	assert_int_equal(rd(f->data), 0x47);

	wr(f->cmd, I8042_CMD_KBD_DISABLE);
	wr(f->cmd, I8042_CMD_AUX_DISABLE);
	wr(f->cmd, I8042_CMD_READ_CTR);
	assert_int_equal(rd(f->data), 0x47 | 0x10 | 0x20);
	wr(f->cmd, I8042_CMD_KBD_ENABLE);
	wr(f->cmd, I8042_CMD_AUX_ENABLE);
	wr(f->cmd, I8042_CMD_READ_CTR);
	assert_int_equal(rd(f->data), 0x47);

	wr(f->cmd, I8042_CMD_KBD_TEST);
	assert_int_equal(rd(f->cmd) & I8042_STATUS_OBF, I8042_STATUS_OBF);
	assert_int_equal(rd(f->data), 0x00);

	/* Other RAM bytes round-trip through 0x6N / 0x2N. */
	wr(f->cmd, 0x65);
	wr(f->data, 0x99);
	wr(f->cmd, 0x25);
	assert_int_equal(rd(f->data), 0x99);
	wr(f->cmd, I8042_CMD_READ_CTR);
	assert_int_equal(rd(f->data), 0x47);

	/* Device reset: back to power-on. */
	f->cmd->ops->reset(f->cmd);
	assert_int_equal(rd(f->cmd), 0);
	wr(f->cmd, I8042_CMD_READ_CTR);
	assert_int_equal(rd(f->data), 0);
	assert_int_equal(f->power.nr, 0);
}

static void test_i8042_on_bus(void **state)
{
	struct kbc_fixture *f = *state;
	struct bus bus;
	uint8_t v = I8042_CMD_RESET;

	bus_init(&bus, "pio");
	assert_int_equal(bus_insert(&bus, 0x60, 1, f->data), 0);
	assert_int_equal(bus_insert(&bus, 0x64, 1, f->cmd), 0);
	assert_true(bus_access(&bus, 0x64, &v, 1, true));
	assert_int_equal(f->power.nr, 1);
	/* 0x61 stays free for others. */
	assert_null(bus_find(&bus, 0x61));
	bus_destroy(&bus);
}

/* ---- debug-exit ------------------------------------------------------- */

static void test_debug_exit(void **state)
{
	struct fake_power power = { 0 };
	struct power_ctl pc = { .request = fake_request, .ctx = &power };
	struct device *dev = debug_exit_create(&pc);
	struct bus bus;
	uint8_t v;

	assert_non_null(dev);
	wr(dev, 0);
	wr(dev, 42);
	wr(dev, 0xFF);
	assert_int_equal(power.nr, 3);
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(power.ev[i], POWER_EXIT_STATUS);
	assert_int_equal(power.status[0], 0);
	assert_int_equal(power.status[1], 42);
	assert_int_equal(power.status[2], 255);
	assert_int_equal(rd(dev), 0xFF);
	assert_int_equal(power.nr, 3);

	bus_init(&bus, "pio");
	assert_int_equal(bus_insert(&bus, 0x501, 1, dev), 0);
	v = 7;
	assert_true(bus_access(&bus, 0x501, &v, 1, true));
	assert_int_equal(power.nr, 4);
	assert_int_equal(power.status[3], 7);
	bus_destroy(&bus);
	device_destroy(dev);

	/* No power control: writes are harmless. */
	dev = debug_exit_create(NULL);
	assert_non_null(dev);
	wr(dev, 1);
	device_destroy(dev);
}

/* ---- POST port -------------------------------------------------------- */

static void test_post(void **state)
{
	struct post *post = post_create();
	struct device *dev;

	assert_non_null(post);
	dev = post_device(post);
	assert_int_equal(post_last_code(post), -1);
	assert_int_equal(rd(dev), 0xFF);
	wr(dev, 0x00);
	assert_int_equal(post_last_code(post), 0);
	assert_int_equal(rd(dev), 0x00);
	wr(dev, 0x55);
	wr(dev, 0xAA);
	assert_int_equal(post_last_code(post), 0xAA);
	assert_int_equal(rd(dev), 0xAA);
	dev->ops->reset(dev);
	assert_int_equal(post_last_code(post), -1);
	device_destroy(dev);
}

#define K(fn) cmocka_unit_test_setup_teardown(fn, kbc_setup, kbc_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		K(test_i8042_idle),
		K(test_i8042_reset_pulse),
		K(test_i8042_output_port_reset),
		K(test_i8042_self_test_and_ctr),
		K(test_i8042_on_bus),
		cmocka_unit_test(test_debug_exit),
		cmocka_unit_test(test_post),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

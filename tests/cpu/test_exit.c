// SPDX-License-Identifier: MIT
/*
 * vcpu_handle_exit driven with hand-filled kvm_run buffers: port and MMIO
 * accesses reach fake devices on real buses, and every other exit maps to
 * the right vCPU action with a reason.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/bus.h"
#include "base/util.h"
#include "cpu/exit.h"

#include "fake_dev.h"

/* Like KVM's mapping: the run structure, then the PIO data page. */
#define RUN_SIZE   8192
#define DATA_OFF   4096
#define FAKE_PORT  0x3F8
#define FAKE_MMIO  0xD0000000ULL

static const struct device_ops fake_ops = { .read = fake_read, .write = fake_write };

struct fixture {
	struct kvm_run *run;  /* RUN_SIZE bytes, exactly, so ASan sees overruns */
	struct bus pio, mmio;
	struct fake_dev port_dev, mmio_dev;
	struct exit_ctx ctx;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->run = calloc(1, RUN_SIZE);
	if (!f->run)
		return -1;
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	fake_init(&f->port_dev, &fake_ops, "fake-pio", 0x40, true);
	fake_init(&f->mmio_dev, &fake_ops, "fake-mmio", 0x80, true);
	if (bus_insert(&f->pio, FAKE_PORT, 8, &f->port_dev.dev) ||
	    bus_insert(&f->mmio, FAKE_MMIO, 0x1000, &f->mmio_dev.dev))
		return -1;
	f->ctx.pio = &f->pio;
	f->ctx.mmio = &f->mmio;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	free(f->run);
	free(f);
	return 0;
}

static uint8_t *io_data(struct fixture *f)
{
	return (uint8_t *)f->run + f->run->io.data_offset;
}

static void set_io(struct fixture *f, uint8_t direction, uint16_t port, uint8_t size,
		   uint32_t count, uint64_t data_offset)
{
	f->run->exit_reason = KVM_EXIT_IO;
	f->run->io.direction = direction;
	f->run->io.port = port;
	f->run->io.size = size;
	f->run->io.count = count;
	f->run->io.data_offset = data_offset;
}

static enum vcpu_action handle(struct fixture *f)
{
	return vcpu_handle_exit(f->run, RUN_SIZE, &f->ctx);
}

static void assert_why_contains(const struct fixture *f, const char *what)
{
	if (!strstr(f->ctx.why, what))
		fail_msg("why \"%s\" does not mention \"%s\"", f->ctx.why, what);
}

/* ---- port I/O ---------------------------------------------------------- */

static void test_pio_out(void **state)
{
	struct fixture *f = *state;

	set_io(f, KVM_EXIT_IO_OUT, FAKE_PORT + 3, 1, 1, DATA_OFF);
	io_data(f)[0] = 0x83;
	assert_int_equal(handle(f), VCPU_CONTINUE);
	assert_int_equal(f->port_dev.nr_calls, 1);
	assert_true(f->port_dev.calls[0].is_write);
	assert_int_equal(f->port_dev.calls[0].offset, 3);
	assert_int_equal(f->port_dev.calls[0].len, 1);
	assert_int_equal(f->port_dev.calls[0].data[0], 0x83);
	assert_int_equal(f->ctx.stats.pio_accesses, 1);
	assert_int_equal(f->ctx.stats.by_reason[KVM_EXIT_IO], 1);
}

static void test_pio_in(void **state)
{
	struct fixture *f = *state;

	set_io(f, KVM_EXIT_IO_IN, FAKE_PORT, 4, 1, DATA_OFF);
	memset(io_data(f), 0, 8);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	assert_int_equal(f->port_dev.nr_calls, 1);
	assert_false(f->port_dev.calls[0].is_write);
	assert_int_equal(f->port_dev.calls[0].offset, 0);
	assert_int_equal(f->port_dev.calls[0].len, 4);
	assert_memory_equal(io_data(f), ((uint8_t[]){ 0x40, 0x41, 0x42, 0x43 }), 4);
	assert_int_equal(io_data(f)[4], 0); /* nothing past size */
}

static void test_pio_unclaimed(void **state)
{
	struct fixture *f = *state;

	/* Nobody at port 0x70: reads float high, the vCPU keeps going. */
	set_io(f, KVM_EXIT_IO_IN, 0x70, 2, 1, DATA_OFF);
	memset(io_data(f), 0, 2);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	assert_int_equal(io_data(f)[0], 0xFF);
	assert_int_equal(io_data(f)[1], 0xFF);
	set_io(f, KVM_EXIT_IO_OUT, 0x70, 1, 1, DATA_OFF);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	assert_int_equal(f->port_dev.nr_calls, 0);
	assert_int_equal(atomic_load(&f->pio.unclaimed), 2);
}

static void test_pio_rep_out(void **state)
{
	struct fixture *f = *state;
	static const char msg[] = "HELLO";

	/* rep outsb of 5 bytes: five 1-byte writes, in order, same port. */
	set_io(f, KVM_EXIT_IO_OUT, FAKE_PORT, 1, 5, DATA_OFF);
	memcpy(io_data(f), msg, 5);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	assert_int_equal(f->port_dev.nr_calls, 5);
	for (unsigned int i = 0; i < 5; i++) {
		assert_true(f->port_dev.calls[i].is_write);
		assert_int_equal(f->port_dev.calls[i].offset, 0);
		assert_int_equal(f->port_dev.calls[i].len, 1);
		assert_int_equal(f->port_dev.calls[i].data[0], msg[i]);
	}
	assert_int_equal(f->ctx.stats.pio_accesses, 5);
	assert_int_equal(f->ctx.stats.by_reason[KVM_EXIT_IO], 1);

	/* rep outsw: 3 words, each its own access with its own data. */
	set_io(f, KVM_EXIT_IO_OUT, FAKE_PORT + 2, 2, 3, DATA_OFF + 6);
	memcpy(io_data(f), ((uint8_t[]){ 1, 2, 3, 4, 5, 6 }), 6);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	assert_int_equal(f->port_dev.nr_calls, 8);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(f->port_dev.calls[5 + i].offset, 2);
		assert_int_equal(f->port_dev.calls[5 + i].len, 2);
		assert_int_equal(f->port_dev.calls[5 + i].data[0], 2 * i + 1);
		assert_int_equal(f->port_dev.calls[5 + i].data[1], 2 * i + 2);
	}
	assert_int_equal(f->ctx.stats.pio_accesses, 8);
	assert_int_equal(f->ctx.stats.by_reason[KVM_EXIT_IO], 2);
}

static void test_pio_rep_in(void **state)
{
	struct fixture *f = *state;

	/* rep insd of 3 dwords: each item read separately into its slot. */
	set_io(f, KVM_EXIT_IO_IN, FAKE_PORT + 4, 4, 3, DATA_OFF);
	memset(io_data(f), 0, 16);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	assert_int_equal(f->port_dev.nr_calls, 3);
	for (unsigned int i = 0; i < 12; i++)
		assert_int_equal(io_data(f)[i], 0x40 + i);
	assert_int_equal(io_data(f)[12], 0);
	for (unsigned int i = 0; i < 3; i++) {
		assert_false(f->port_dev.calls[i].is_write);
		assert_int_equal(f->port_dev.calls[i].offset, 4);
		assert_int_equal(f->port_dev.calls[i].len, 4);
	}
	assert_int_equal(f->ctx.stats.pio_accesses, 3);
}

static void test_pio_rep_fills_data_area(void **state)
{
	struct fixture *f = *state;

	/* The largest rep that fits exactly in the run area is accepted. */
	set_io(f, KVM_EXIT_IO_IN, 0x70, 4, (RUN_SIZE - DATA_OFF) / 4, DATA_OFF);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	assert_int_equal(f->ctx.stats.pio_accesses, (RUN_SIZE - DATA_OFF) / 4);
	assert_int_equal(((uint8_t *)f->run)[RUN_SIZE - 1], 0xFF);
	/* Data may end exactly at the last byte. */
	set_io(f, KVM_EXIT_IO_OUT, FAKE_PORT, 1, 1, RUN_SIZE - 1);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	set_io(f, KVM_EXIT_IO_OUT, FAKE_PORT, 2, 1, RUN_SIZE - 2);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	assert_int_equal(f->port_dev.nr_calls, 2);
}

static void test_pio_count_zero(void **state)
{
	struct fixture *f = *state;

	set_io(f, KVM_EXIT_IO_OUT, FAKE_PORT, 1, 0, DATA_OFF);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	assert_int_equal(f->port_dev.nr_calls, 0);
	assert_int_equal(f->ctx.stats.pio_accesses, 0);
}

static void assert_malformed(struct fixture *f, uint8_t size, uint32_t count, uint64_t off)
{
	unsigned int calls = f->port_dev.nr_calls;
	uint64_t items = f->ctx.stats.pio_accesses;

	set_io(f, KVM_EXIT_IO_OUT, FAKE_PORT, size, count, off);
	f->ctx.why[0] = '\0';
	assert_int_equal(handle(f), VCPU_FAILED);
	assert_why_contains(f, "malformed I/O");
	assert_int_equal(f->port_dev.nr_calls, calls);
	assert_int_equal(f->ctx.stats.pio_accesses, items);
	set_io(f, KVM_EXIT_IO_IN, FAKE_PORT, size, count, off);
	assert_int_equal(handle(f), VCPU_FAILED);
	assert_int_equal(f->port_dev.nr_calls, calls);
}

static void test_pio_malformed_size(void **state)
{
	struct fixture *f = *state;

	assert_malformed(f, 0, 1, DATA_OFF);
	assert_malformed(f, 5, 1, DATA_OFF);
	assert_malformed(f, 8, 1, DATA_OFF);
	assert_malformed(f, 255, 1, DATA_OFF);
}

static void test_pio_malformed_bounds(void **state)
{
	struct fixture *f = *state;

	/* Data starting at or past the end of the run area. */
	assert_malformed(f, 1, 1, RUN_SIZE);
	assert_malformed(f, 1, 1, RUN_SIZE + 4096);
	/* Data running past the end. */
	assert_malformed(f, 2, 1, RUN_SIZE - 1);
	assert_malformed(f, 4, 1, RUN_SIZE - 3);
	assert_malformed(f, 4, (RUN_SIZE - DATA_OFF) / 4 + 1, DATA_OFF);
	assert_malformed(f, 1, 2, RUN_SIZE - 1);
	/* size * count must not wrap in 32 bits. */
	assert_malformed(f, 4, 0x40000001, DATA_OFF);
	assert_malformed(f, 4, UINT32_MAX, DATA_OFF);
	assert_malformed(f, 1, UINT32_MAX, 0);
}

static void test_pio_malformed_huge_offset(void **state)
{
	struct fixture *f = *state;

	/* An offset that would wrap the host pointer (run + offset). */
	assert_malformed(f, 1, 1, UINT64_MAX);
	assert_malformed(f, 4, 1, UINT64_MAX - 2);
	assert_malformed(f, 1, 1, 1ULL << 63);
}

static void test_pio_data_inside_kvm_run(void **state)
{
	struct fixture *f = *state;

	/* A data area over struct kvm_run itself (the I/O fields among it):
	 * found by fuzz_bus, where an IN wrote the count it was looping on. */
	assert_malformed(f, 2, 2, offsetof(struct kvm_run, io.count));
	assert_malformed(f, 1, 1, 0);
	assert_malformed(f, 1, 1, sizeof(struct kvm_run) - 1);
	assert_int_equal(f->port_dev.nr_calls, 0);
}

/* ---- MMIO -------------------------------------------------------------- */

static void set_mmio(struct fixture *f, uint64_t addr, uint32_t len, uint8_t is_write)
{
	f->run->exit_reason = KVM_EXIT_MMIO;
	f->run->mmio.phys_addr = addr;
	f->run->mmio.len = len;
	f->run->mmio.is_write = is_write;
}

static void test_mmio_write_read(void **state)
{
	struct fixture *f = *state;

	set_mmio(f, FAKE_MMIO + 0x10, 4, 1);
	memcpy(f->run->mmio.data, ((uint8_t[]){ 0xDE, 0xAD, 0xBE, 0xEF, 9, 9, 9, 9 }), 8);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	assert_int_equal(f->mmio_dev.nr_calls, 1);
	assert_true(f->mmio_dev.calls[0].is_write);
	assert_int_equal(f->mmio_dev.calls[0].offset, 0x10);
	assert_int_equal(f->mmio_dev.calls[0].len, 4);
	assert_memory_equal(f->mmio_dev.calls[0].data, ((uint8_t[]){ 0xDE, 0xAD, 0xBE, 0xEF }), 4);

	set_mmio(f, FAKE_MMIO + 0x18, 8, 0);
	memset(f->run->mmio.data, 0, 8);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	assert_int_equal(f->mmio_dev.nr_calls, 2);
	assert_false(f->mmio_dev.calls[1].is_write);
	assert_int_equal(f->mmio_dev.calls[1].offset, 0x18);
	assert_int_equal(f->mmio_dev.calls[1].len, 8);
	for (unsigned int i = 0; i < 8; i++)
		assert_int_equal(f->run->mmio.data[i], 0x80 + i);
	assert_int_equal(f->ctx.stats.mmio_accesses, 2);
	assert_int_equal(f->ctx.stats.by_reason[KVM_EXIT_MMIO], 2);
	/* MMIO never touches the port bus. */
	assert_int_equal(f->port_dev.nr_calls, 0);
	assert_int_equal(f->ctx.stats.pio_accesses, 0);
}

static void test_mmio_unclaimed(void **state)
{
	struct fixture *f = *state;

	set_mmio(f, 0xFED00000ULL, 2, 0);
	memset(f->run->mmio.data, 0, 8);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	assert_int_equal(f->run->mmio.data[0], 0xFF);
	assert_int_equal(f->run->mmio.data[1], 0xFF);
	assert_int_equal(f->run->mmio.data[2], 0);
	assert_int_equal(atomic_load(&f->mmio.unclaimed), 1);
}

static void test_mmio_malformed(void **state)
{
	struct fixture *f = *state;
	static const uint32_t bad[] = { 0, 9, 16, UINT32_MAX };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		set_mmio(f, FAKE_MMIO, bad[i], (uint8_t)(i & 1));
		f->ctx.why[0] = '\0';
		assert_int_equal(handle(f), VCPU_FAILED);
		assert_why_contains(f, "malformed MMIO");
	}
	assert_int_equal(f->mmio_dev.nr_calls, 0);
	assert_int_equal(f->ctx.stats.mmio_accesses, 0);
}

/* ---- everything else --------------------------------------------------- */

static enum vcpu_action handle_reason(struct fixture *f, uint32_t reason)
{
	f->run->exit_reason = reason;
	f->ctx.why[0] = '\0';
	return handle(f);
}

static void test_shutdown_is_triple_fault(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(handle_reason(f, KVM_EXIT_SHUTDOWN), VCPU_SHUTDOWN);
	assert_why_contains(f, "triple fault");
	assert_int_equal(f->ctx.stats.by_reason[KVM_EXIT_SHUTDOWN], 1);
}

static enum vcpu_action system_event(struct fixture *f, uint32_t type)
{
	f->run->system_event.type = type;
	return handle_reason(f, KVM_EXIT_SYSTEM_EVENT);
}

static void test_system_events(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(system_event(f, KVM_SYSTEM_EVENT_SHUTDOWN), VCPU_POWEROFF);
	assert_why_contains(f, "powered off");
	assert_int_equal(system_event(f, KVM_SYSTEM_EVENT_RESET), VCPU_RESET);
	assert_why_contains(f, "reset");
	assert_int_equal(system_event(f, KVM_SYSTEM_EVENT_CRASH), VCPU_FAILED);
	assert_why_contains(f, "crash");
	assert_int_equal(system_event(f, 0x7777), VCPU_FAILED);
	assert_why_contains(f, "30583"); /* 0x7777, named in the reason */
	assert_int_equal(f->ctx.stats.by_reason[KVM_EXIT_SYSTEM_EVENT], 4);
}

static void test_internal_error(void **state)
{
	struct fixture *f = *state;

	/* Emulation failures go back to the vCPU thread to complete. */
	f->run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	assert_int_equal(handle_reason(f, KVM_EXIT_INTERNAL_ERROR), VCPU_UNEMULATED);
	assert_why_contains(f, "internal error");
	assert_why_contains(f, "emulation");

	f->run->internal.suberror = KVM_INTERNAL_ERROR_SIMUL_EX;
	assert_int_equal(handle_reason(f, KVM_EXIT_INTERNAL_ERROR), VCPU_FAILED);
	assert_why_contains(f, "internal error");
	assert_null(strstr(f->ctx.why, "emulation"));
	assert_int_equal(f->ctx.stats.by_reason[KVM_EXIT_INTERNAL_ERROR], 2);
}

static void test_fail_entry(void **state)
{
	struct fixture *f = *state;

	f->run->fail_entry.hardware_entry_failure_reason = 0x80000021ULL;
	assert_int_equal(handle_reason(f, KVM_EXIT_FAIL_ENTRY), VCPU_FAILED);
	assert_why_contains(f, "entry");
	assert_why_contains(f, "0x80000021");
	assert_int_equal(f->ctx.stats.by_reason[KVM_EXIT_FAIL_ENTRY], 1);
}

static void test_intr_continues(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(handle_reason(f, KVM_EXIT_INTR), VCPU_CONTINUE);
	assert_int_equal(handle_reason(f, KVM_EXIT_INTR), VCPU_CONTINUE);
	assert_int_equal(f->ctx.stats.by_reason[KVM_EXIT_INTR], 2);
	assert_int_equal(f->port_dev.nr_calls + f->mmio_dev.nr_calls, 0);
}

static void test_hlt_fails(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(handle_reason(f, KVM_EXIT_HLT), VCPU_FAILED);
	assert_true(f->ctx.why[0] != '\0');
}

static uint64_t total_exits(const struct exit_ctx *ctx)
{
	uint64_t sum = 0;

	for (unsigned int i = 0; i < EXIT_REASON_MAX; i++)
		sum += ctx->stats.by_reason[i];
	return sum;
}

static void test_unknown_reasons(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(handle_reason(f, KVM_EXIT_HYPERCALL), VCPU_FAILED);
	assert_why_contains(f, "unexpected exit reason 3");
	assert_why_contains(f, "hypercall");
	/* A debug exit is for the debugger (the vCPU thread fails it when
	 * none is attached). */
	assert_int_equal(handle_reason(f, KVM_EXIT_DEBUG), VCPU_DEBUG);
	assert_int_equal(handle_reason(f, KVM_EXIT_UNKNOWN), VCPU_FAILED);
	assert_int_equal(handle_reason(f, EXIT_REASON_MAX - 1), VCPU_FAILED);
	assert_int_equal(f->ctx.stats.by_reason[EXIT_REASON_MAX - 1], 1);
	/* Reasons past the counter table are still counted, without overrun. */
	assert_int_equal(handle_reason(f, EXIT_REASON_MAX), VCPU_FAILED);
	assert_int_equal(handle_reason(f, 0xFFFFFFFFu), VCPU_FAILED);
	assert_why_contains(f, "4294967295");
	assert_why_contains(f, "other");
	assert_int_equal(total_exits(&f->ctx), 6);
}

static void test_stats_by_reason(void **state)
{
	struct fixture *f = *state;

	set_io(f, KVM_EXIT_IO_OUT, FAKE_PORT, 1, 4, DATA_OFF);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	set_io(f, KVM_EXIT_IO_IN, FAKE_PORT, 2, 1, DATA_OFF);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	set_mmio(f, FAKE_MMIO, 1, 1);
	assert_int_equal(handle(f), VCPU_CONTINUE);
	assert_int_equal(handle_reason(f, KVM_EXIT_INTR), VCPU_CONTINUE);
	/* A malformed exit is counted under its reason, not as accesses. */
	set_io(f, KVM_EXIT_IO_OUT, FAKE_PORT, 0, 4, DATA_OFF);
	assert_int_equal(handle(f), VCPU_FAILED);

	assert_int_equal(f->ctx.stats.by_reason[KVM_EXIT_IO], 3);
	assert_int_equal(f->ctx.stats.by_reason[KVM_EXIT_MMIO], 1);
	assert_int_equal(f->ctx.stats.by_reason[KVM_EXIT_INTR], 1);
	assert_int_equal(total_exits(&f->ctx), 5);
	assert_int_equal(f->ctx.stats.pio_accesses, 5);
	assert_int_equal(f->ctx.stats.mmio_accesses, 1);
}

static void test_reason_names(void **state)
{
	assert_string_equal(exit_reason_name(KVM_EXIT_IO), "io");
	assert_string_equal(exit_reason_name(KVM_EXIT_MMIO), "mmio");
	assert_string_equal(exit_reason_name(KVM_EXIT_SHUTDOWN), "shutdown");
	assert_string_equal(exit_reason_name(KVM_EXIT_SYSTEM_EVENT), "system_event");
	assert_string_equal(exit_reason_name(KVM_EXIT_INTERNAL_ERROR), "internal_error");
	assert_string_equal(exit_reason_name(EXIT_REASON_MAX - 1), "other");
	assert_string_equal(exit_reason_name(UINT32_MAX), "other");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_pio_out),
		T(test_pio_in),
		T(test_pio_unclaimed),
		T(test_pio_rep_out),
		T(test_pio_rep_in),
		T(test_pio_rep_fills_data_area),
		T(test_pio_count_zero),
		T(test_pio_malformed_size),
		T(test_pio_malformed_bounds),
		T(test_mmio_write_read),
		T(test_mmio_unclaimed),
		T(test_mmio_malformed),
		T(test_shutdown_is_triple_fault),
		T(test_system_events),
		T(test_internal_error),
		T(test_fail_entry),
		T(test_intr_continues),
		T(test_hlt_fails),
		T(test_unknown_reasons),
		T(test_stats_by_reason),
		T(test_reason_names),
		T(test_pio_data_inside_kvm_run),
		/* Last: under UBSan with halt_on_error a failure here ends the run. */
		T(test_pio_malformed_huge_offset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

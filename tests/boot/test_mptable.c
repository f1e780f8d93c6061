// SPDX-License-Identifier: MIT
/*
 * MP tables written into a real (anonymous) guest-RAM map and read back:
 * signatures, checksums, entry counts and the interrupt wiring.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "abi/board.h"
#include "mmu/memory.h"
#include "boot/mptable.h"

#define MiB BOARD_MiB

static int setup(void **state)
{
	struct mem_layout_spec split = { .kind = MEM_LAYOUT_SPLIT };
	struct mem_map *m = calloc(1, sizeof(*m));

	if (!m || mem_map_create(m, &split, MEM_BACKING_ANON, 16 * MiB, 32))
		return -1;
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	mem_map_destroy(*state);
	free(*state);
	return 0;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

/* The parts of a table read back from guest RAM. */
struct table {
	uint8_t raw[8192];
	struct mptable_floating fp;
	struct mptable_config h;
	size_t len; /* floating pointer + configuration table */
};

static void read_table(const struct mem_map *m, uint64_t gpa, uint64_t end, struct table *t)
{
	/* Low RAM sits at the same offset in the host mapping in every layout. */
	memcpy(t->raw, m->host_base + gpa, sizeof(t->raw));
	memcpy(&t->fp, t->raw, sizeof(t->fp));
	memcpy(&t->h, t->raw + 16, sizeof(t->h));
	t->len = 16 + t->h.length;
	assert_int_equal(end, gpa + t->len);
}

static void check_table(const struct mem_map *m, unsigned int ncpu)
{
	const unsigned int nisa = BOARD_IRQ0_IOAPIC_PIN == 2 ? 15 : 16;
	const unsigned int npci = BOARD_PCI_SLOTS - 1;
	const unsigned int nio = nisa + npci;
	unsigned int counts[5] = { 0 }, pci_seen = 0;
	bool pci_slot_seen[BOARD_PCI_SLOTS] = { false };
	struct table t;
	uint64_t end = 0;
	size_t off;

	assert_int_equal(mptable_write(m, BOARD_LINUX_MPTABLE, ncpu, &end), 0);
	read_table(m, BOARD_LINUX_MPTABLE, end, &t);

	/* Floating pointer: 16 bytes summing to 0, pointing right after itself. */
	assert_memory_equal(t.fp.signature, "_MP_", 4);
	assert_int_equal(t.fp.length, 1);
	assert_int_equal(t.fp.spec_rev, 4);
	assert_int_equal(t.fp.config_table, BOARD_LINUX_MPTABLE + 16);
	assert_int_equal(t.fp.feature[0], 0);
	assert_int_equal(t.fp.feature[1] & 0x80, 0);
	assert_int_equal(sum(t.raw, 16), 0);

	/* Configuration table: the whole base table sums to 0. */
	assert_memory_equal(t.h.signature, "PCMP", 4);
	assert_int_equal(t.h.spec_rev, 4);
	assert_int_equal(t.h.lapic_addr, BOARD_LAPIC_BASE);
	assert_int_equal(t.h.ext_length, 0);
	assert_int_equal(sum(t.raw + 16, t.h.length), 0);
	assert_int_equal(t.h.entry_count, ncpu + 2 + 1 + nio + 2);
	assert_int_equal(t.h.length, 44 + 20 * ncpu + 8 * (2 + 1 + nio + 2));

	off = 16 + sizeof(struct mptable_config);
	for (unsigned int i = 0; i < t.h.entry_count; i++) {
		uint8_t type = t.raw[off];

		assert_true(type <= MPTABLE_ENTRY_LOCALINT);
		counts[type]++;
		if (type == MPTABLE_ENTRY_PROCESSOR) {
			struct mptable_processor c;

			memcpy(&c, t.raw + off, sizeof(c));
			assert_int_equal(c.lapic_id, counts[type] - 1);
			assert_int_equal(c.flags, MPTABLE_CPU_ENABLED |
						  (c.lapic_id == 0 ? MPTABLE_CPU_BSP : 0));
			assert_int_equal(c.signature >> 8 & 0xf, 6);
			assert_true(c.features & (1u << 9)); /* APIC */
			off += sizeof(c);
			continue;
		}
		if (type == MPTABLE_ENTRY_BUS) {
			/* PCI bus 0 is MP bus 0 (Linux reads the id as the
			 * PCI bus number); ISA is bus 1. */
			assert_int_equal(t.raw[off + 1], counts[type] - 1);
			assert_memory_equal(t.raw + off + 2,
					    counts[type] == 1 ? "PCI   " : "ISA   ", 6);
		} else if (type == MPTABLE_ENTRY_IOAPIC) {
			struct mptable_ioapic io;

			memcpy(&io, t.raw + off, sizeof(io));
			assert_int_equal(io.id, ncpu);
			assert_int_equal(io.version, 0x11);
			assert_int_equal(io.flags & 1, 1);
			assert_int_equal(io.addr, BOARD_IOAPIC_BASE);
		} else if (type == MPTABLE_ENTRY_IOINT) {
			struct mptable_intsrc s;

			memcpy(&s, t.raw + off, sizeof(s));
			assert_int_equal(s.irq_type, MPTABLE_IRQ_INT);
			assert_int_equal(s.dst_apic, ncpu);
			if (s.src_bus == BOARD_PCI_MP_BUS) {
				unsigned int slot = s.src_irq >> 2;

				/* INTA# of slots 1..31, level, active low, on
				 * the I/O APIC pins above the ISA range. */
				assert_int_equal(s.src_irq & 3, 0);
				assert_true(slot >= 1 && slot < BOARD_PCI_SLOTS);
				assert_false(pci_slot_seen[slot]);
				pci_slot_seen[slot] = true;
				pci_seen++;
				assert_int_equal(s.flags, MPTABLE_IRQ_ACTIVE_LOW | MPTABLE_IRQ_LEVEL);
				assert_int_equal(s.dst_pin, BOARD_PCI_INTX_GSI(slot));
				assert_true(s.dst_pin >= 16 && s.dst_pin < BOARD_IOAPIC_PINS);
				off += 8;
				continue;
			}
			assert_int_equal(s.src_bus, BOARD_PCI_MP_BUS + 1);
			assert_int_equal(s.flags, 0);
			assert_int_equal(s.dst_pin, s.src_irq == 0 ? BOARD_IRQ0_IOAPIC_PIN : s.src_irq);
			if (BOARD_IRQ0_IOAPIC_PIN == 2)
				assert_int_not_equal(s.src_irq, 2);
		} else {
			struct mptable_intsrc s;

			memcpy(&s, t.raw + off, sizeof(s));
			assert_int_equal(s.dst_apic, 0xff);
			assert_int_equal(s.irq_type,
					 s.dst_pin == 0 ? MPTABLE_IRQ_EXTINT : MPTABLE_IRQ_NMI);
		}
		off += 8;
	}
	assert_int_equal(off, t.len);
	assert_int_equal(counts[MPTABLE_ENTRY_PROCESSOR], ncpu);
	assert_int_equal(counts[MPTABLE_ENTRY_BUS], 2);
	assert_int_equal(pci_seen, npci);
	assert_int_equal(counts[MPTABLE_ENTRY_IOAPIC], 1);
	assert_int_equal(counts[MPTABLE_ENTRY_IOINT], nio);
	assert_int_equal(counts[MPTABLE_ENTRY_LOCALINT], 2);
}

static void test_one_cpu(void **state)
{
	check_table(*state, 1);
}

static void test_four_cpus(void **state)
{
	check_table(*state, 4);
}

static void test_max_cpus(void **state)
{
	check_table(*state, MPTABLE_MAX_CPUS);
}

static void test_refusals(void **state)
{
	struct mem_map *m = *state;
	uint64_t end = 0x1234;

	assert_int_equal(mptable_write(m, BOARD_LINUX_MPTABLE, 0, &end), -EINVAL);
	assert_int_equal(mptable_write(m, BOARD_LINUX_MPTABLE, MPTABLE_MAX_CPUS + 1, &end),
			 -EINVAL);
	assert_int_equal(mptable_write(m, BOARD_LINUX_MPTABLE + 8, 1, &end), -EINVAL);
	/* Past the end of RAM, in the hole, and straddling the end of RAM. */
	assert_int_equal(mptable_write(m, 16 * MiB, 1, &end), -EFAULT);
	assert_int_equal(mptable_write(m, BOARD_MMIO_HOLE_START, 1, &end), -EFAULT);
	assert_int_equal(mptable_write(m, 16 * MiB - 64, 1, &end), -EFAULT);
	assert_int_equal(mptable_write(m, UINT64_MAX - 15, 1, &end), -EINVAL);
	assert_int_equal(end, 0x1234);
	/* NULL end is allowed. */
	assert_int_equal(mptable_write(m, BOARD_LINUX_MPTABLE, 2, NULL), 0);
}

/* Chunks of 4 KiB: a large table crosses slot boundaries and still lands. */
static void test_across_slots(void **state)
{
	struct mem_layout_spec chunks = { .kind = MEM_LAYOUT_CHUNKS, .chunk_size = 0x1000 };
	struct mem_map m;
	struct table t;
	uint64_t end;

	(void)state;
	assert_int_equal(mem_map_create(&m, &chunks, MEM_BACKING_ANON, 4 * MiB, 1024), 0);
	assert_int_equal(mptable_write(&m, BOARD_LINUX_MPTABLE + 0xf00, MPTABLE_MAX_CPUS, &end), 0);
	assert_true(end > BOARD_LINUX_MPTABLE + 0x2000);
	read_table(&m, BOARD_LINUX_MPTABLE + 0xf00, end, &t);
	assert_int_equal(sum(t.raw, 16), 0);
	assert_int_equal(sum(t.raw + 16, t.h.length), 0);
	mem_map_destroy(&m);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_one_cpu),
		T(test_four_cpus),
		T(test_max_cpus),
		T(test_refusals),
		cmocka_unit_test(test_across_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

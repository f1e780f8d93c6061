// SPDX-License-Identifier: MIT
/*
 * PCI: configuration mechanism #1 through a real port-I/O bus, BAR sizing,
 * placement and decoding through a real MMIO bus, the capability list as a
 * driver walks it, MSI-X masking and pending bits, INTx gating.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "abi/board.h"
#include "base/log.h"
#include "devices/bus.h"
#include "devices/pci/host.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci.h"
#include "devices/pci/window.h"

#include "fake_dev.h"
#include "quiet_log.h"

/* ---- port helpers over the bus ---------------------------------------- */

static uint32_t in(struct bus *pio, uint16_t port, uint32_t len)
{
	uint8_t b[4] = { 0 };

	bus_access(pio, port, b, len, false);
	return pci_get32(b);
}

static void out(struct bus *pio, uint16_t port, uint32_t v, uint32_t len)
{
	uint8_t b[4];

	pci_put32(b, v);
	bus_access(pio, port, b, len, true);
}

static uint32_t cfg_in(struct bus *pio, unsigned int dev, unsigned int reg,
		       uint32_t len)
{
	out(pio, BOARD_PCI_CFG_ADDR, pci_cfg_addr(0, dev, 0, reg), 4);
	return in(pio, (uint16_t)(BOARD_PCI_CFG_DATA + (reg & 3)), len);
}

static void cfg_out(struct bus *pio, unsigned int dev, unsigned int reg,
		    uint32_t v, uint32_t len)
{
	out(pio, BOARD_PCI_CFG_ADDR, pci_cfg_addr(0, dev, 0, reg), 4);
	out(pio, (uint16_t)(BOARD_PCI_CFG_DATA + (reg & 3)), v, len);
}

/* ---- a machine: host bridge + one test function ------------------------ */

#define TEST_SLOT 3
#define BAR0_SIZE 0x1000ULL
#define BAR2_SIZE 0x4000ULL     /* 64-bit, prefetchable: BARs 2 and 3 */
#define NR_VEC    4
#define TABLE_OFF 0x0
#define PBA_OFF   0x800

struct sent {
	unsigned int vector;
	struct msi_msg msg;
};

struct machine {
	struct bus pio, mmio;
	struct pci_host *host;
	struct pci_func f;
	struct fake_dev bar0;
	struct device bar2;     /* MSI-X table and PBA */
	struct sent sent[16];
	unsigned int nr_sent, nr_updates;
	bool last_update_masked;
	unsigned int last_update_vector;
	bool line;
	unsigned int line_changes;
	/* The BAR listener's calls for BAR 0. */
	unsigned int bar0_changes;
	bool bar0_live;
	uint64_t bar0_addr;
};

static const struct device_ops fake_ops = { .read = fake_read, .write = fake_write };

static struct machine *bar2_machine(struct device *dev)
{
	return container_of(dev, struct machine, bar2);
}

static void bar2_read(struct device *dev, uint64_t off, void *data, uint32_t len)
{
	struct pci_func *f = &bar2_machine(dev)->f;

	if (off >= PBA_OFF)
		pci_msix_pba_read(f, off - PBA_OFF, data, len);
	else
		pci_msix_table_read(f, off - TABLE_OFF, data, len);
}

static void bar2_write(struct device *dev, uint64_t off, const void *data, uint32_t len)
{
	if (off < PBA_OFF)
		pci_msix_table_write(&bar2_machine(dev)->f, off - TABLE_OFF, data, len);
}

static const struct device_ops bar2_ops = { .read = bar2_read, .write = bar2_write };

static void sink_send(void *ctx, unsigned int vector, const struct msi_msg *msg)
{
	struct machine *m = ctx;

	assert_true(m->nr_sent < 16);
	m->sent[m->nr_sent++] = (struct sent){ vector, *msg };
}

static void sink_update(void *ctx, unsigned int vector, const struct msi_msg *msg,
			bool masked)
{
	struct machine *m = ctx;

	m->nr_updates++;
	m->last_update_vector = vector;
	m->last_update_masked = masked;
}

static void line_set(void *ctx, uint32_t gsi, bool level)
{
	struct machine *m = ctx;

	assert_int_equal(gsi, 11);
	m->line = level;
	m->line_changes++;
}

static void bar_changed(void *ctx, unsigned int bar, bool live, uint64_t addr)
{
	struct machine *m = ctx;

	if (bar != 0)
		return;
	m->bar0_changes++;
	m->bar0_live = live;
	m->bar0_addr = addr;
}

static struct machine *machine_new(void)
{
	static const struct pci_func_id id = {
		.vendor = 0x1234, .device = 0x5678, .subsys_vendor = 0x1234,
		.subsys = 0x0001, .class_code = 0x0B4001, .revision = 7,
	};
	struct machine *m = test_calloc(1, sizeof(*m));
	struct irq_line line = { .set = line_set, .ctx = m, .gsi = 11 };
	struct msi_sink sink = { .send = sink_send, .update = sink_update, .ctx = m };
	uint64_t base, end;

	bus_init(&m->pio, "pio");
	bus_init(&m->mmio, "mmio");
	m->host = pci_host_create(BOARD_PCI_MMIO_BASE, BOARD_PCI_MMIO_END, NULL);
	assert_non_null(m->host);
	assert_int_equal(bus_insert(&m->pio, BOARD_PCI_CFG_ADDR, BOARD_PCI_CFG_SIZE,
				    pci_host_cfg_device(m->host)), 0);
	pci_host_window(m->host, &base, &end);
	assert_int_equal(bus_insert(&m->mmio, base, end - base,
				    pci_host_mmio_device(m->host)), 0);

	fake_init(&m->bar0, &fake_ops, "bar0", 0x40, false);
	m->bar2 = (struct device){ .ops = &bar2_ops, .name = "bar2" };
	assert_int_equal(pci_func_init(&m->f, "test", &id, &line), 0);
	assert_int_equal(pci_func_add_bar(&m->f, 0, BAR0_SIZE, 0, &m->bar0.dev), 0);
	assert_int_equal(pci_func_add_bar(&m->f, 2, BAR2_SIZE,
					  PCI_BAR_F_64 | PCI_BAR_F_PREFETCH, &m->bar2), 0);
	assert_int_equal(pci_msix_init(&m->f, NR_VEC, 2, TABLE_OFF, PBA_OFF, &sink), 0);
	m->f.bar_listener = (struct pci_bar_listener){ .changed = bar_changed, .ctx = m };
	assert_int_equal(pci_host_add(m->host, &m->f, TEST_SLOT), 0);
	return m;
}

static void machine_free(struct machine *m)
{
	pci_host_destroy(m->host);
	pci_func_destroy(&m->f);
	bus_destroy(&m->pio);
	bus_destroy(&m->mmio);
	test_free(m);
}

/* ---- configuration mechanism #1 ---------------------------------------- */

static void test_cfg_every_width_and_offset(void **state)
{
	struct machine *m = machine_new();
	uint32_t id = PCI_HOST_VENDOR | (uint32_t)PCI_HOST_DEVICE << 16;

	out(&m->pio, BOARD_PCI_CFG_ADDR, pci_cfg_addr(0, 0, 0, 0), 4);
	assert_int_equal(in(&m->pio, BOARD_PCI_CFG_DATA, 4), id);
	for (unsigned int o = 0; o < 4; o++)
		assert_int_equal(in(&m->pio, (uint16_t)(BOARD_PCI_CFG_DATA + o), 1),
				 (id >> (8 * o)) & 0xFF);
	for (unsigned int o = 0; o < 3; o++)
		assert_int_equal(in(&m->pio, (uint16_t)(BOARD_PCI_CFG_DATA + o), 2),
				 (id >> (8 * o)) & 0xFFFF);
	/* A dword at 0xCFD runs off the port range: 3 bytes, then unclaimed. */
	assert_int_equal(in(&m->pio, BOARD_PCI_CFG_DATA + 1, 4),
			 0xFF000000u | id >> 8);

	/* The test function: IDs, revision and class at byte granularity. */
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_VENDOR_ID, 2), 0x1234);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_DEVICE_ID, 2), 0x5678);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_REVISION_ID, 1), 7);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, 0x08, 4), 0x0B400107);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, 0x0B, 1), 0x0B);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_SUBSYSTEM_ID, 2), 1);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_INTERRUPT_LINE, 2), 0x010B);
	assert_int_equal(cfg_in(&m->pio, 0, PCI_CLASS_PROG + 1, 2), 0x0600);
	machine_free(m);
}

static void test_cfg_address_port(void **state)
{
	struct machine *m = machine_new();

	/* Linux's pci_check_type1(): a byte write to 0xCFB is not a
	 * CONFIG_ADDRESS cycle, a dword write is and reads back. */
	out(&m->pio, BOARD_PCI_CFG_ADDR, 0x12345678, 4);
	assert_int_equal(in(&m->pio, BOARD_PCI_CFG_ADDR, 4), 0x00345678);
	out(&m->pio, BOARD_PCI_CFG_ADDR + 3, 0x01, 1);
	assert_int_equal(in(&m->pio, BOARD_PCI_CFG_ADDR, 4), 0x00345678);
	out(&m->pio, BOARD_PCI_CFG_ADDR, 0x80000000, 4);
	assert_int_equal(in(&m->pio, BOARD_PCI_CFG_ADDR, 4), 0x80000000);
	/* Reserved bits 30:24 and 1:0 read back as zero. */
	out(&m->pio, BOARD_PCI_CFG_ADDR, 0xFFFFFFFF, 4);
	assert_int_equal(in(&m->pio, BOARD_PCI_CFG_ADDR, 4), PCI_CFG_ADDR_MASK);
	/* Byte and word reads of the address port answer nothing. */
	assert_int_equal(in(&m->pio, BOARD_PCI_CFG_ADDR, 1), 0xFF);
	assert_int_equal(in(&m->pio, BOARD_PCI_CFG_ADDR + 2, 2), 0xFFFF);
	out(&m->pio, BOARD_PCI_CFG_ADDR, 0x8000, 2);
	assert_int_equal(in(&m->pio, BOARD_PCI_CFG_ADDR, 4), PCI_CFG_ADDR_MASK);
	/* A dword straddling address and data ports: two halves, each judged
	 * alone (the address half is not a dword cycle). */
	out(&m->pio, BOARD_PCI_CFG_ADDR, pci_cfg_addr(0, 0, 0, 0), 4);
	assert_int_equal(in(&m->pio, BOARD_PCI_CFG_ADDR + 2, 4),
			 0xFFFFu | (uint32_t)PCI_HOST_VENDOR << 16);
	machine_free(m);
}

static void test_cfg_absent_functions(void **state)
{
	struct machine *m = machine_new();

	/* Enable bit clear. */
	out(&m->pio, BOARD_PCI_CFG_ADDR, pci_cfg_addr(0, 0, 0, 0) & ~PCI_CFG_ENABLE, 4);
	assert_int_equal(in(&m->pio, BOARD_PCI_CFG_DATA, 4), 0xFFFFFFFF);
	/* Empty slot, other bus, other function, and every width. */
	assert_int_equal(cfg_in(&m->pio, 5, 0, 4), 0xFFFFFFFF);
	assert_int_equal(cfg_in(&m->pio, 31, 0x3C, 1), 0xFF);
	assert_int_equal(cfg_in(&m->pio, 5, 2, 2), 0xFFFF);
	out(&m->pio, BOARD_PCI_CFG_ADDR, pci_cfg_addr(1, TEST_SLOT, 0, 0), 4);
	assert_int_equal(in(&m->pio, BOARD_PCI_CFG_DATA, 4), 0xFFFFFFFF);
	out(&m->pio, BOARD_PCI_CFG_ADDR, pci_cfg_addr(0, TEST_SLOT, 1, 0), 4);
	assert_int_equal(in(&m->pio, BOARD_PCI_CFG_DATA, 4), 0xFFFFFFFF);
	/* Writes there go nowhere, and the function is untouched. */
	out(&m->pio, BOARD_PCI_CFG_DATA, 0xFFFFFFFF, 4);
	cfg_out(&m->pio, 5, PCI_COMMAND, 0xFFFF, 2);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_COMMAND, 2), 0);
	machine_free(m);
}

static void test_cfg_read_only_fields(void **state)
{
	struct machine *m = machine_new();

	cfg_out(&m->pio, TEST_SLOT, PCI_VENDOR_ID, 0xFFFFFFFF, 4);
	cfg_out(&m->pio, TEST_SLOT, 0x08, 0xFFFFFFFF, 4);
	cfg_out(&m->pio, TEST_SLOT, PCI_HEADER_TYPE, 0x80, 1);
	cfg_out(&m->pio, TEST_SLOT, PCI_SUBSYSTEM_VENDOR_ID, 0, 4);
	cfg_out(&m->pio, TEST_SLOT, PCI_CAP_PTR, 0, 1);
	cfg_out(&m->pio, TEST_SLOT, PCI_INTERRUPT_PIN, 4, 1);
	cfg_out(&m->pio, TEST_SLOT, PCI_ROM_ADDRESS, 0xFFFFFFFF, 4);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, 0, 4), 0x56781234);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, 0x08, 4), 0x0B400107);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_HEADER_TYPE, 1), 0);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x00011234);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_CAP_PTR, 1), PCI_CAP_START);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_INTERRUPT_PIN, 1), PCI_INTX_PIN_A);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_ROM_ADDRESS, 4), 0);
	/* COMMAND: only MEMORY, MASTER and INTX_DISABLE stick (no I/O BARs). */
	cfg_out(&m->pio, TEST_SLOT, PCI_COMMAND, 0xFFFF, 2);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_COMMAND, 2),
			 PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	/* STATUS: capability list stays; error bits are write-1-to-clear. */
	m->f.cfg[PCI_STATUS + 1] |= 0x80;
	cfg_out(&m->pio, TEST_SLOT, PCI_STATUS, 0xFFFF, 2);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_STATUS, 2), PCI_STATUS_CAP_LIST);
	/* Writable: interrupt line and cache line size. */
	cfg_out(&m->pio, TEST_SLOT, PCI_INTERRUPT_LINE, 0x0A, 1);
	cfg_out(&m->pio, TEST_SLOT, PCI_CACHE_LINE_SIZE, 0x10, 1);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_INTERRUPT_LINE, 1), 0x0A);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_CACHE_LINE_SIZE, 1), 0x10);
	machine_free(m);
}

/* ---- BARs ------------------------------------------------------------- */

static void test_bar_placement_and_sizing(void **state)
{
	struct machine *m = machine_new();
	uint32_t bar0 = cfg_in(&m->pio, TEST_SLOT, PCI_BAR0, 4);
	uint32_t bar2 = cfg_in(&m->pio, TEST_SLOT, PCI_BAR0 + 8, 4);
	uint32_t bar3 = cfg_in(&m->pio, TEST_SLOT, PCI_BAR0 + 12, 4);
	uint64_t a0 = bar0 & ~0xFULL, a2 = (bar2 & ~0xFULL) | (uint64_t)bar3 << 32;

	/* Placed in the window, naturally aligned, not overlapping. */
	assert_int_equal(bar0 & 0xF, 0);
	assert_int_equal(bar2 & 0xF, PCI_BAR_MEM_64 | PCI_BAR_PREFETCH);
	assert_true(a0 >= BOARD_PCI_MMIO_BASE && a0 + BAR0_SIZE <= BOARD_PCI_MMIO_END);
	assert_true(a2 >= BOARD_PCI_MMIO_BASE && a2 + BAR2_SIZE <= BOARD_PCI_MMIO_END);
	assert_int_equal(a0 % BAR0_SIZE, 0);
	assert_int_equal(a2 % BAR2_SIZE, 0);
	assert_true(a0 + BAR0_SIZE <= a2 || a2 + BAR2_SIZE <= a0);

	/* Sizing as a driver does: all-ones, read the mask, restore. */
	cfg_out(&m->pio, TEST_SLOT, PCI_BAR0, 0xFFFFFFFF, 4);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_BAR0, 4), 0xFFFFF000);
	cfg_out(&m->pio, TEST_SLOT, PCI_BAR0, bar0, 4);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_BAR0, 4), bar0);
	cfg_out(&m->pio, TEST_SLOT, PCI_BAR0 + 8, 0xFFFFFFFF, 4);
	cfg_out(&m->pio, TEST_SLOT, PCI_BAR0 + 12, 0xFFFFFFFF, 4);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_BAR0 + 8, 4),
			 0xFFFFC000 | PCI_BAR_MEM_64 | PCI_BAR_PREFETCH);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_BAR0 + 12, 4), 0xFFFFFFFF);
	cfg_out(&m->pio, TEST_SLOT, PCI_BAR0 + 8, bar2, 4);
	cfg_out(&m->pio, TEST_SLOT, PCI_BAR0 + 12, bar3, 4);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_BAR0 + 8, 4), bar2);
	/* Unimplemented BARs read zero and stay zero. */
	cfg_out(&m->pio, TEST_SLOT, PCI_BAR0 + 4, 0xFFFFFFFF, 4);
	cfg_out(&m->pio, TEST_SLOT, PCI_BAR0 + 20, 0xFFFFFFFF, 4);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_BAR0 + 4, 4), 0);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_BAR0 + 20, 4), 0);
	/* Byte writes into a BAR keep its low bits. */
	cfg_out(&m->pio, TEST_SLOT, PCI_BAR0, 0xFF, 1);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, PCI_BAR0, 4), bar0);
	machine_free(m);
}

static uint32_t mmio_in(struct machine *m, uint64_t addr, uint32_t len)
{
	uint8_t b[8] = { 0 };

	bus_access(&m->mmio, addr, b, len, false);
	return pci_get32(b);
}

static void test_bar_decoding_follows_the_guest(void **state)
{
	struct machine *m = machine_new();
	uint64_t a0 = cfg_in(&m->pio, TEST_SLOT, PCI_BAR0, 4);
	uint64_t moved = BOARD_PCI_MMIO_BASE + 0x100000;

	/* Decoding is off until the driver sets COMMAND.MEMORY. */
	assert_int_equal(mmio_in(m, a0 + 4, 4), 0xFFFFFFFF);
	assert_int_equal(m->bar0.nr_calls, 0);
	assert_int_equal(m->bar0_changes, 0);
	cfg_out(&m->pio, TEST_SLOT, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(mmio_in(m, a0 + 4, 4), 0x47464544);
	/* The listener heard it once, and nothing of unrelated writes. */
	assert_int_equal(m->bar0_changes, 1);
	assert_true(m->bar0_live);
	assert_int_equal(m->bar0_addr, a0);
	cfg_out(&m->pio, TEST_SLOT, PCI_INTERRUPT_LINE, 5, 1);
	assert_int_equal(m->bar0_changes, 1);
	assert_int_equal(m->bar0.calls[0].offset, 4);
	/* An access running past the BAR's end is not decoded. */
	assert_int_equal(mmio_in(m, a0 + BAR0_SIZE - 2, 4), 0xFFFFFFFF);
	assert_int_equal(m->bar0.nr_calls, 1);

	/* Moved inside the window: the old place is dead, the new one works. */
	cfg_out(&m->pio, TEST_SLOT, PCI_BAR0, (uint32_t)moved, 4);
	assert_int_equal(mmio_in(m, a0, 1), 0xFF);
	assert_int_equal(mmio_in(m, moved + 8, 2), 0x4948);
	assert_int_equal(m->bar0.calls[1].offset, 8);
	assert_int_equal(m->bar0_changes, 2);
	assert_int_equal(m->bar0_addr, moved);
	/* Moved outside the window: nothing decodes it. */
	cfg_out(&m->pio, TEST_SLOT, PCI_BAR0, 0x10000000, 4);
	assert_int_equal(mmio_in(m, moved + 8, 2), 0xFFFF);
	assert_int_equal(m->bar0_changes, 3);
	assert_false(m->bar0_live);
	assert_int_equal(m->bar0.nr_calls, 2);
	/* Memory decoding off again. */
	cfg_out(&m->pio, TEST_SLOT, PCI_BAR0, (uint32_t)a0, 4);
	assert_int_equal(mmio_in(m, a0, 1), 0x40);
	assert_int_equal(m->bar0_changes, 4);
	assert_true(m->bar0_live);
	cfg_out(&m->pio, TEST_SLOT, PCI_COMMAND, 0, 2);
	assert_int_equal(mmio_in(m, a0, 1), 0xFF);
	assert_int_equal(m->bar0.nr_calls, 3);
	assert_int_equal(m->bar0_changes, 5);
	assert_false(m->bar0_live);
	machine_free(m);
}

static void test_bar_refusals(void **state)
{
	struct pci_func_id id = { .vendor = 1 };
	struct fake_dev d;
	struct pci_func f;

	fake_init(&d, &fake_ops, "d", 0, false);
	assert_int_equal(pci_func_init(&f, "f", &id, NULL), 0);
	assert_int_equal(pci_func_add_bar(&f, 6, 0x1000, 0, &d.dev), -EINVAL);
	assert_int_equal(pci_func_add_bar(&f, 5, 0x1000, PCI_BAR_F_64, &d.dev), -EINVAL);
	assert_int_equal(pci_func_add_bar(&f, 0, 0x800, 0, &d.dev), -EINVAL);
	assert_int_equal(pci_func_add_bar(&f, 0, 0x3000, 0, &d.dev), -EINVAL);
	assert_int_equal(pci_func_add_bar(&f, 0, 1ULL << 32, 0, &d.dev), -EINVAL);
	assert_int_equal(pci_func_add_bar(&f, 0, 0x1000, 0, NULL), -EINVAL);
	assert_int_equal(pci_func_add_bar(&f, 1, 1ULL << 32, PCI_BAR_F_64, &d.dev), 0);
	assert_int_equal(pci_func_add_bar(&f, 2, 0x1000, 0, &d.dev), -EINVAL);
	assert_int_equal(pci_func_add_bar(&f, 0, 0x1000, PCI_BAR_F_64, &d.dev), -EINVAL);
	assert_int_equal(pci_func_add_bar(&f, 0, 0x1000, 0, &d.dev), 0);
	/* A BAR above 4 GiB in size sizes across both registers. */
	pci_cfg_write(&f, PCI_BAR0 + 4, &(uint32_t){ 0xFFFFFFFF }, 4);
	pci_cfg_write(&f, PCI_BAR0 + 8, &(uint32_t){ 0xFFFFFFFF }, 4);
	assert_int_equal(pci_get32(&f.cfg[PCI_BAR0 + 4]), PCI_BAR_MEM_64);
	assert_int_equal(pci_get32(&f.cfg[PCI_BAR0 + 8]), 0xFFFFFFFF);
	pci_func_destroy(&f);
}

static void test_window_allocator(void **state)
{
	struct mem_slot slots[2] = {
		{ .gpa = 0, .size = 0xC0000000ULL },
		{ .gpa = 0x100000000ULL, .size = 0x40000000ULL },
	};
	struct mem_map mem = { .slots = slots, .nr_slots = 2 };
	struct pci_window w;
	uint64_t a;

	assert_int_equal(pci_window_init(&w, 0xBFFFF000ULL, 0xC1000000ULL, &mem), -EINVAL);
	assert_int_equal(pci_window_init(&w, 0xFF000000ULL, 0x100001000ULL, &mem), -EINVAL);
	assert_int_equal(pci_window_init(&w, 0xF0000000ULL, 0xF0000000ULL, &mem), -EINVAL);
	assert_int_equal(pci_window_init(&w, 0xF0000800ULL, 0xF1000000ULL, &mem), -EINVAL);
	assert_int_equal(pci_window_init(&w, BOARD_PCI_MMIO_BASE, BOARD_PCI_MMIO_END, &mem), 0);

	assert_int_equal(pci_window_alloc(&w, 0x3000, &a), -EINVAL);
	assert_int_equal(pci_window_alloc(&w, 0, &a), -EINVAL);
	assert_int_equal(pci_window_alloc(&w, 0x1000, &a), 0);
	assert_int_equal(a, BOARD_PCI_MMIO_BASE);
	assert_int_equal(pci_window_alloc(&w, 0x100000, &a), 0);
	assert_int_equal(a, BOARD_PCI_MMIO_BASE + 0x100000);
	assert_int_equal(pci_window_alloc(&w, 0x1000, &a), 0);
	assert_int_equal(a, BOARD_PCI_MMIO_BASE + 0x200000);
	assert_int_equal(pci_window_alloc(&w, 1ULL << 63, &a), -ENOSPC);
	assert_int_equal(pci_window_alloc(&w, 0x10000000, &a), -ENOSPC);
	/* Fill it exactly, then nothing more fits. */
	assert_int_equal(pci_window_alloc(&w, 0x8000000, &a), -ENOSPC);
	assert_int_equal(pci_window_alloc(&w, 0x4000000, &a), 0);
	assert_int_equal(a, 0xF4000000ULL);
	assert_int_equal(pci_window_alloc(&w, 0x4000000, &a), 0);
	assert_int_equal(pci_window_alloc(&w, 0x2000000, &a), 0);
	assert_int_equal(a + 0x2000000, BOARD_PCI_MMIO_END);
	assert_int_equal(pci_window_alloc(&w, 0x1000, &a), -ENOSPC);
}

static void test_host_add_refusals(void **state)
{
	struct machine *m = machine_new();
	struct pci_func_id id = { .vendor = 1 };
	struct fake_dev d;
	struct pci_func big;

	assert_int_equal(pci_host_add(m->host, &m->f, 0), -EINVAL);
	assert_int_equal(pci_host_add(m->host, &m->f, PCI_HOST_SLOTS), -EINVAL);
	assert_int_equal(pci_host_add(m->host, &m->f, TEST_SLOT), -EEXIST);
	assert_null(pci_host_create(0xF0000000ULL, 0xE0000000ULL, NULL));

	fake_init(&d, &fake_ops, "d", 0, false);
	assert_int_equal(pci_func_init(&big, "big", &id, NULL), 0);
	assert_int_equal(pci_func_add_bar(&big, 0, 1ULL << 30, PCI_BAR_F_64, &d.dev), 0);
	assert_int_equal(pci_host_add(m->host, &big, 4), -ENOSPC);
	assert_int_equal(cfg_in(&m->pio, 4, 0, 4), 0xFFFFFFFF);
	pci_func_destroy(&big);
	machine_free(m);
}

/* ---- capabilities ------------------------------------------------------- */

static void test_capability_walk(void **state)
{
	struct machine *m = machine_new();
	uint8_t vndr[16] = { 0, 0, 16, 0xAB };
	unsigned int seen = 0, msix_at = 0, vndr_at = 0;
	uint8_t off;

	assert_int_equal(pci_cap_add(&m->f, PCI_CAP_ID_VNDR, vndr, 13, NULL), 0);
	assert_int_equal(pci_cap_add(&m->f, PCI_CAP_ID_VNDR, vndr, 2, NULL), 0);

	/* As a driver: status says there is a list; follow it to the end. */
	assert_true(cfg_in(&m->pio, TEST_SLOT, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	off = (uint8_t)cfg_in(&m->pio, TEST_SLOT, PCI_CAP_PTR, 1);
	while (off) {
		uint8_t id = (uint8_t)cfg_in(&m->pio, TEST_SLOT, off, 1);

		assert_true(off >= PCI_CAP_START && off % 4 == 0);
		assert_true(seen++ < 48);
		if (id == PCI_CAP_ID_MSIX)
			msix_at = off;
		else if (id == PCI_CAP_ID_VNDR && !vndr_at)
			vndr_at = off;
		off = (uint8_t)cfg_in(&m->pio, TEST_SLOT, off + 1, 1);
	}
	assert_int_equal(seen, 3);
	assert_int_equal(msix_at, PCI_CAP_START);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, vndr_at + 2, 2), 0xAB10);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, msix_at + PCI_MSIX_FLAGS, 2), NR_VEC - 1);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, msix_at + PCI_MSIX_TABLE, 4), TABLE_OFF | 2);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, msix_at + PCI_MSIX_PBA, 4), PBA_OFF | 2);
	/* Capabilities are read-only (but for MSI-X's two control bits). */
	cfg_out(&m->pio, TEST_SLOT, vndr_at, 0xFFFFFFFF, 4);
	cfg_out(&m->pio, TEST_SLOT, msix_at + PCI_MSIX_TABLE, 0, 4);
	cfg_out(&m->pio, TEST_SLOT, msix_at, 0xFFFFFFFF, 4);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, vndr_at + 2, 2), 0xAB10);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, msix_at + PCI_MSIX_TABLE, 4), TABLE_OFF | 2);
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, msix_at + PCI_MSIX_FLAGS, 2),
			 PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | (NR_VEC - 1));
	assert_int_equal(cfg_in(&m->pio, TEST_SLOT, msix_at, 2), vndr_at << 8 | PCI_CAP_ID_MSIX);
	machine_free(m);
}

static void test_capability_space_runs_out(void **state)
{
	struct pci_func_id id = { .vendor = 1 };
	uint8_t cap[64] = { 0 };
	struct pci_func f;
	unsigned int n = 0;
	uint8_t off = 0;

	assert_int_equal(pci_func_init(&f, "f", &id, NULL), 0);
	assert_int_equal(pci_cap_add(&f, PCI_CAP_ID_VNDR, cap, 1, NULL), -EINVAL);
	while (pci_cap_add(&f, PCI_CAP_ID_VNDR, cap, 61, &off) == 0)
		n++;
	/* 192 bytes after the header: three 64-byte slots of 61 bytes. */
	assert_int_equal(n, 3);
	assert_int_equal(off, 0xC0);
	assert_int_equal(pci_cap_add(&f, PCI_CAP_ID_VNDR, cap, 2, NULL), -ENOSPC);
	assert_int_equal(f.cfg[0xC1], 0);
	pci_func_destroy(&f);
}

/* ---- MSI-X -------------------------------------------------------------- */

static uint64_t bar2_addr(struct machine *m)
{
	return (cfg_in(&m->pio, TEST_SLOT, PCI_BAR0 + 8, 4) & ~0xFULL) |
	       (uint64_t)cfg_in(&m->pio, TEST_SLOT, PCI_BAR0 + 12, 4) << 32;
}

static void mmio_out(struct machine *m, uint64_t addr, uint64_t v, uint32_t len)
{
	uint8_t b[8];

	pci_put32(b, (uint32_t)v);
	pci_put32(b + 4, (uint32_t)(v >> 32));
	bus_access(&m->mmio, addr, b, len, true);
}

static void program_vector(struct machine *m, unsigned int v, uint32_t data)
{
	uint64_t e = bar2_addr(m) + TABLE_OFF + v * PCI_MSIX_ENTRY_SIZE;

	mmio_out(m, e + PCI_MSIX_ENTRY_ADDR_LO, 0xFEE00000 | v << 12, 4);
	mmio_out(m, e + PCI_MSIX_ENTRY_ADDR_HI, 0, 4);
	mmio_out(m, e + PCI_MSIX_ENTRY_DATA, data, 4);
}

static void set_vector_mask(struct machine *m, unsigned int v, bool masked)
{
	mmio_out(m, bar2_addr(m) + TABLE_OFF + v * PCI_MSIX_ENTRY_SIZE +
		 PCI_MSIX_ENTRY_CTRL, masked, 4);
}

static void msix_control(struct machine *m, uint16_t ctrl)
{
	cfg_out(&m->pio, TEST_SLOT, PCI_CAP_START + PCI_MSIX_FLAGS, ctrl, 2);
}

static void test_msix_masking_and_pending(void **state)
{
	struct machine *m = machine_new();
	uint64_t pba;

	cfg_out(&m->pio, TEST_SLOT, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	pba = bar2_addr(m) + PBA_OFF;
	/* Disabled: the transport must fall back to INTx. */
	assert_int_equal(pci_msix_notify(&m->f, 0), -ENODEV);
	msix_control(m, PCI_MSIX_FLAGS_ENABLE);
	assert_true(pci_msix_enabled(&m->f));
	assert_int_equal(pci_msix_notify(&m->f, NR_VEC), -EINVAL);

	/* Entries start masked: the message waits in the PBA. */
	program_vector(m, 1, 0x41);
	assert_int_equal(pci_msix_notify(&m->f, 1), 1);
	assert_int_equal(m->nr_sent, 0);
	assert_int_equal(mmio_in(m, pba, 4), 0x2);
	/* Unmasking sends it and clears the pending bit. */
	set_vector_mask(m, 1, false);
	assert_int_equal(m->nr_sent, 1);
	assert_int_equal(m->sent[0].vector, 1);
	assert_int_equal(m->sent[0].msg.addr, 0xFEE01000);
	assert_int_equal(m->sent[0].msg.data, 0x41);
	assert_int_equal(mmio_in(m, pba, 4), 0);
	assert_false(m->last_update_masked);
	/* Unmasked: straight out. */
	assert_int_equal(pci_msix_notify(&m->f, 1), 0);
	assert_int_equal(m->nr_sent, 2);

	/* The function mask holds every vector; clearing it releases. */
	msix_control(m, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	assert_true(m->last_update_masked);
	assert_int_equal(pci_msix_notify(&m->f, 1), 1);
	assert_int_equal(pci_msix_notify(&m->f, 3), 1);
	assert_int_equal(mmio_in(m, pba, 1), 0x0A);
	msix_control(m, PCI_MSIX_FLAGS_ENABLE);
	/* Vector 1 goes; vector 3's entry is still masked, stays pending. */
	assert_int_equal(m->nr_sent, 3);
	assert_int_equal(mmio_in(m, pba, 1), 0x08);
	/* Writes to the PBA are ignored. */
	mmio_out(m, pba, 0, 8);
	assert_int_equal(mmio_in(m, pba, 1), 0x08);

	/* Disabling MSI-X: no messages, no pending bits set. */
	msix_control(m, 0);
	assert_int_equal(pci_msix_notify(&m->f, 1), -ENODEV);
	assert_int_equal(m->nr_sent, 3);
	machine_free(m);
}

static void test_msix_table_access(void **state)
{
	struct machine *m = machine_new();
	uint64_t t;
	unsigned int updates;

	cfg_out(&m->pio, TEST_SLOT, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	t = bar2_addr(m) + TABLE_OFF;
	msix_control(m, PCI_MSIX_FLAGS_ENABLE);
	/* Reset state: zero messages, masked. */
	assert_int_equal(mmio_in(m, t + PCI_MSIX_ENTRY_CTRL, 4), 1);
	assert_int_equal(mmio_in(m, t + 3 * 16 + PCI_MSIX_ENTRY_DATA, 4), 0);
	/* A qword write of the address; reserved control bits read zero. */
	mmio_out(m, t + 16, 0x00000000FEE02000ULL, 8);
	mmio_out(m, t + 16 + PCI_MSIX_ENTRY_CTRL, 0xFFFFFFFE, 4);
	assert_int_equal(mmio_in(m, t + 16, 4), 0xFEE02000);
	assert_int_equal(mmio_in(m, t + 16 + PCI_MSIX_ENTRY_CTRL, 4), 0);
	assert_int_equal(m->last_update_vector, 1);
	assert_false(m->last_update_masked);
	/* Rewriting the same value is no change for the platform. */
	updates = m->nr_updates;
	mmio_out(m, t + 16, 0xFEE02000, 4);
	assert_int_equal(m->nr_updates, updates);
	/* Past the table (inside the BAR): all-ones, writes dropped. */
	assert_int_equal(mmio_in(m, t + NR_VEC * 16, 4), 0xFFFFFFFF);
	mmio_out(m, t + NR_VEC * 16 - 2, 0, 4);
	assert_int_equal(mmio_in(m, t + NR_VEC * 16 - 4, 4), 1);
	/* Odd widths land byte-exact. */
	mmio_out(m, t + 2 * 16 + PCI_MSIX_ENTRY_DATA + 1, 0x77, 1);
	assert_int_equal(mmio_in(m, t + 2 * 16 + PCI_MSIX_ENTRY_DATA, 4), 0x7700);
	machine_free(m);
}

static void test_msix_init_refusals(void **state)
{
	struct pci_func_id id = { .vendor = 1 };
	struct fake_dev d;
	struct pci_func f;

	fake_init(&d, &fake_ops, "d", 0, false);
	assert_int_equal(pci_func_init(&f, "f", &id, NULL), 0);
	assert_int_equal(pci_msix_init(&f, 4, 0, 0, 0x800, NULL), -EINVAL);
	assert_int_equal(pci_func_add_bar(&f, 0, 0x1000, 0, &d.dev), 0);
	assert_int_equal(pci_msix_init(&f, 0, 0, 0, 0x800, NULL), -EINVAL);
	assert_int_equal(pci_msix_init(&f, 4, 0, 4, 0x800, NULL), -EINVAL);
	assert_int_equal(pci_msix_init(&f, 4, 0, 0xFF8, 0x800, NULL), -EINVAL);
	assert_int_equal(pci_msix_init(&f, 4, 0, 0, 0x1000, NULL), -EINVAL);
	assert_int_equal(pci_msix_init(&f, 2049, 0, 0, 0x800, NULL), -EINVAL);
	assert_int_equal(pci_msix_init(&f, 4, 1, 0, 0x800, NULL), -EINVAL);
	assert_int_equal(pci_msix_init(&f, 4, 0, 0, 0x800, NULL), 0);
	assert_int_equal(pci_msix_init(&f, 4, 0, 0, 0x800, NULL), -EINVAL);
	/* No sink: masking and pending still work, nothing is sent. */
	pci_cfg_write(&f, PCI_CAP_START + PCI_MSIX_FLAGS,
		      &(uint16_t){ PCI_MSIX_FLAGS_ENABLE }, 2);
	assert_int_equal(pci_msix_notify(&f, 0), 1);
	pci_func_destroy(&f);
}

/* ---- INTx ---------------------------------------------------------------- */

static void test_intx_gating(void **state)
{
	struct machine *m = machine_new();

	pci_intx_set(&m->f, true);
	assert_true(m->line);
	assert_true(cfg_in(&m->pio, TEST_SLOT, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* INTX_DISABLE drops the line but STATUS still shows the condition. */
	cfg_out(&m->pio, TEST_SLOT, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 2);
	assert_false(m->line);
	assert_true(cfg_in(&m->pio, TEST_SLOT, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	cfg_out(&m->pio, TEST_SLOT, PCI_COMMAND, 0, 2);
	assert_true(m->line);
	/* MSI-X enabled: the pin is not used. */
	msix_control(m, PCI_MSIX_FLAGS_ENABLE);
	assert_false(m->line);
	msix_control(m, 0);
	assert_true(m->line);
	pci_intx_set(&m->f, false);
	assert_false(m->line);
	assert_false(cfg_in(&m->pio, TEST_SLOT, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* Repeating a level does not toggle the line again. */
	unsigned int changes = m->line_changes;

	pci_intx_set(&m->f, false);
	assert_int_equal(m->line_changes, changes);
	machine_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cfg_every_width_and_offset),
		cmocka_unit_test(test_cfg_address_port),
		cmocka_unit_test(test_cfg_absent_functions),
		cmocka_unit_test(test_cfg_read_only_fields),
		cmocka_unit_test(test_bar_placement_and_sizing),
		cmocka_unit_test(test_bar_decoding_follows_the_guest),
		cmocka_unit_test(test_bar_refusals),
		cmocka_unit_test(test_window_allocator),
		cmocka_unit_test(test_host_add_refusals),
		cmocka_unit_test(test_capability_walk),
		cmocka_unit_test(test_capability_space_runs_out),
		cmocka_unit_test(test_msix_masking_and_pending),
		cmocka_unit_test(test_msix_table_access),
		cmocka_unit_test(test_msix_init_refusals),
		cmocka_unit_test(test_intx_gating),
	};

	return cmocka_run_group_tests(tests, quiet_log_setup, quiet_log_teardown);
}

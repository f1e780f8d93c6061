// SPDX-License-Identifier: MIT
/*
 * The virtio-pci transport, driven the way a guest driver drives it: through
 * the host bridge's configuration ports and its BAR on a real MMIO bus,
 * with a tiny virtio device type that records what the transport asks of it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "abi/board.h"
#include "base/log.h"
#include "devices/bus.h"
#include "devices/pci/host.h"
#include "devices/pci/msix.h"
#include "devices/virtio/pci.h"

#include "quiet_log.h"
#include "virtio_driver.h"

/* ---- a tiny virtio device type ----------------------------------------- */

#define NR_Q     2
#define QMAX     16
#define CFG_SIZE 8
#define F_TEST   (1ULL << 0)
#define F_VER1   (1ULL << VIRTIO_F_VERSION_1)
#define F_EIDX   (1ULL << VIRTIO_F_EVENT_IDX)
#define SLOT     4

struct tdev {
	struct virtio_dev vdev;
	struct virtq queues[NR_Q];
	uint8_t config[CFG_SIZE];
	unsigned int resets, activates, kicks[NR_Q];
	uint64_t activated_features;
	int activate_ret;
	bool pop_on_kick;
	struct virtq_chain *chain;
};

static struct tdev *to_tdev(struct virtio_dev *d)
{
	return container_of(d, struct tdev, vdev);
}

static void td_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	memcpy(data, &to_tdev(d)->config[off], len);
}

static void td_config_write(struct virtio_dev *d, uint32_t off, const void *data,
			    uint32_t len)
{
	memcpy(&to_tdev(d)->config[off], data, len);
}

static int td_activate(struct virtio_dev *d, uint64_t features)
{
	to_tdev(d)->activates++;
	to_tdev(d)->activated_features = features;
	return to_tdev(d)->activate_ret;
}

static void td_queue_notify(struct virtio_dev *d, unsigned int q)
{
	struct tdev *t = to_tdev(d);

	assert_true(q < NR_Q);
	t->kicks[q]++;
	if (t->pop_on_kick)
		(void)virtq_pop(&d->queues[q], t->chain);
}

static void td_reset(struct virtio_dev *d)
{
	to_tdev(d)->resets++;
}

static const struct virtio_dev_ops tdev_ops = {
	.config_read = td_config_read,
	.config_write = td_config_write,
	.activate = td_activate,
	.queue_notify = td_queue_notify,
	.reset = td_reset,
};

/* ---- the machine ---------------------------------------------------------- */

struct sent {
	unsigned int vector;
	uint32_t data;
};

struct vm {
	struct tdrv drv;
	struct bus pio, mmio;
	struct pci_host *host;
	struct tdev dev;
	struct virtio_pci *vp;
	uint64_t bar;
	bool line;
	struct sent sent[32];
	unsigned int nr_sent;
};

static void line_set(void *ctx, uint32_t gsi, bool level)
{
	((struct vm *)ctx)->line = level;
}

static void msi_send(void *ctx, unsigned int vector, const struct msi_msg *msg)
{
	struct vm *vm = ctx;

	assert_true(vm->nr_sent < 32);
	vm->sent[vm->nr_sent++] = (struct sent){ vector, msg->data };
}

static uint32_t cfg_in(struct vm *vm, unsigned int reg, uint32_t len)
{
	uint8_t b[4] = { 0 };

	pci_put32(b, pci_cfg_addr(0, SLOT, 0, reg));
	bus_access(&vm->pio, BOARD_PCI_CFG_ADDR, b, 4, true);
	bus_access(&vm->pio, BOARD_PCI_CFG_DATA + (reg & 3), b, len, false);
	return pci_get32(b) & (len == 4 ? 0xFFFFFFFF : (1u << (8 * len)) - 1);
}

static void cfg_out(struct vm *vm, unsigned int reg, uint32_t v, uint32_t len)
{
	uint8_t b[4];

	pci_put32(b, pci_cfg_addr(0, SLOT, 0, reg));
	bus_access(&vm->pio, BOARD_PCI_CFG_ADDR, b, 4, true);
	pci_put32(b, v);
	bus_access(&vm->pio, BOARD_PCI_CFG_DATA + (reg & 3), b, len, true);
}

static uint64_t rd(struct vm *vm, uint64_t off, uint32_t len)
{
	uint8_t b[8] = { 0 };
	uint64_t v = 0;

	bus_access(&vm->mmio, vm->bar + off, b, len, false);
	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void wr(struct vm *vm, uint64_t off, uint64_t v, uint32_t len)
{
	uint8_t b[8];

	for (uint32_t i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	bus_access(&vm->mmio, vm->bar + off, b, len, true);
}

#define C(field) (VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_##field)

static struct vm *vm_new(bool with_intx)
{
	struct vm *vm = test_calloc(1, sizeof(*vm));
	struct irq_line line = { .set = line_set, .ctx = vm, .gsi = 10 };
	struct msi_sink msi = { .send = msi_send, .ctx = vm };
	uint64_t base, end;

	td_map(&vm->drv);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm->host = pci_host_create(BOARD_PCI_MMIO_BASE, BOARD_PCI_MMIO_END, &vm->drv.map);
	assert_non_null(vm->host);
	pci_host_window(vm->host, &base, &end);
	assert_int_equal(bus_insert(&vm->pio, BOARD_PCI_CFG_ADDR, BOARD_PCI_CFG_SIZE,
				    pci_host_cfg_device(vm->host)), 0);
	assert_int_equal(bus_insert(&vm->mmio, base, end - base,
				    pci_host_mmio_device(vm->host)), 0);

	vm->dev.vdev = (struct virtio_dev){
		.ops = &tdev_ops, .name = "vtest", .device_id = VIRTIO_ID_RNG,
		.host_features = F_VER1 | F_EIDX | F_TEST, .config_size = CFG_SIZE,
		.nr_queues = NR_Q, .queues = vm->dev.queues,
	};
	for (unsigned int i = 0; i < NR_Q; i++)
		virtq_init(&vm->dev.queues[i], &vm->drv.map, QMAX);
	memcpy(vm->dev.config, "\x01\x02\x03\x04\x05\x06\x07\x08", CFG_SIZE);
	vm->dev.chain = test_malloc(sizeof(*vm->dev.chain));
	vm->vp = virtio_pci_create(&vm->dev.vdev, with_intx ? &line : NULL, &msi);
	assert_non_null(vm->vp);
	assert_int_equal(pci_host_add(vm->host, virtio_pci_func(vm->vp), SLOT), 0);

	vm->bar = (cfg_in(vm, PCI_BAR0, 4) & ~0xFULL) | (uint64_t)cfg_in(vm, PCI_BAR0 + 4, 4) << 32;
	cfg_out(vm, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	return vm;
}

static void vm_free(struct vm *vm)
{
	virtio_pci_destroy(vm->vp);
	pci_host_destroy(vm->host);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	mem_map_destroy(&vm->drv.map);
	test_free(vm->dev.chain);
	test_free(vm);
}

static uint8_t status(struct vm *vm)
{
	return (uint8_t)rd(vm, C(STATUS), 1);
}

/* The driver's initialisation (3.1.1) up to FEATURES_OK. */
static void negotiate(struct vm *vm, uint64_t features)
{
	wr(vm, C(STATUS), 0, 1);
	wr(vm, C(STATUS), VIRTIO_STATUS_ACKNOWLEDGE, 1);
	wr(vm, C(STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	wr(vm, C(GFSELECT), 0, 4);
	wr(vm, C(GF), (uint32_t)features, 4);
	wr(vm, C(GFSELECT), 1, 4);
	wr(vm, C(GF), (uint32_t)(features >> 32), 4);
	wr(vm, C(STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			  VIRTIO_STATUS_FEATURES_OK, 1);
}

static void setup_queue(struct vm *vm, unsigned int q, uint16_t size)
{
	uint64_t base = TD_RINGS + q * 0x10000ULL;

	wr(vm, C(Q_SELECT), q, 2);
	wr(vm, C(Q_SIZE), size, 2);
	wr(vm, C(Q_DESC), base, 8);
	wr(vm, C(Q_AVAIL), base + 0x4000, 4);           /* two halves */
	wr(vm, C(Q_AVAIL) + 4, 0, 4);
	wr(vm, C(Q_USED), base + 0x8000, 8);
	wr(vm, C(Q_ENABLE), 1, 2);
}

static void driver_ok(struct vm *vm)
{
	negotiate(vm, F_VER1 | F_EIDX);
	setup_queue(vm, 0, QMAX);
	setup_queue(vm, 1, 8);
	wr(vm, C(STATUS), status(vm) | VIRTIO_STATUS_DRIVER_OK, 1);
}

/* ---- identity and capabilities -------------------------------------- */

static void test_identity_and_capabilities(void **state)
{
	struct vm *vm = vm_new(true);
	uint32_t seen_types = 0, msix = 0;
	uint8_t off;

	assert_int_equal(cfg_in(vm, PCI_VENDOR_ID, 2), VIRTIO_PCI_VENDOR);
	assert_int_equal(cfg_in(vm, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
	assert_int_equal(cfg_in(vm, PCI_REVISION_ID, 1), 1);
	assert_int_equal(cfg_in(vm, PCI_SUBSYSTEM_VENDOR_ID, 2), VIRTIO_PCI_VENDOR);
	assert_int_equal(cfg_in(vm, PCI_INTERRUPT_PIN, 1), PCI_INTX_PIN_A);
	assert_int_equal(cfg_in(vm, PCI_INTERRUPT_LINE, 1), 10);
	assert_int_equal(cfg_in(vm, PCI_BAR0, 4) & 0xF, PCI_BAR_MEM_64);
	assert_true(vm->bar >= BOARD_PCI_MMIO_BASE && vm->bar < BOARD_PCI_MMIO_END);

	/* Walk the list as Linux's virtio_pci_modern does. */
	for (off = (uint8_t)cfg_in(vm, PCI_CAP_PTR, 1); off;
	     off = (uint8_t)cfg_in(vm, off + 1, 1)) {
		uint8_t id = (uint8_t)cfg_in(vm, off, 1);
		uint8_t type = (uint8_t)cfg_in(vm, off + VIRTIO_PCI_CAP_CFG_TYPE, 1);
		uint32_t at = cfg_in(vm, off + VIRTIO_PCI_CAP_OFFSET, 4);
		uint32_t len = cfg_in(vm, off + VIRTIO_PCI_CAP_LENGTH, 4);

		if (id == PCI_CAP_ID_MSIX) {
			msix = off;
			continue;
		}
		assert_int_equal(id, PCI_CAP_ID_VNDR);
		assert_int_equal(cfg_in(vm, off + VIRTIO_PCI_CAP_BAR, 1), 0);
		seen_types |= 1u << type;
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			assert_int_equal(at, VIRTIO_PCI_COMMON_OFF);
			assert_int_equal(len, VIRTIO_PCI_COMMON_LEN);
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			assert_int_equal(cfg_in(vm, off + 2, 1), VIRTIO_PCI_NOTIFY_CAP_LEN);
			assert_int_equal(at, VIRTIO_PCI_NOTIFY_OFF);
			assert_int_equal(len, NR_Q * 4);
			assert_int_equal(cfg_in(vm, off + VIRTIO_PCI_CAP_MULTIPLIER, 4), 4);
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			assert_int_equal(at, VIRTIO_PCI_ISR_OFF);
			assert_true(len >= 1);
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			assert_int_equal(at, VIRTIO_PCI_DEVICE_OFF);
			assert_int_equal(len, CFG_SIZE);
			break;
		default:
			fail();
		}
		assert_true(at + len <= VIRTIO_PCI_BAR_SIZE);
	}
	assert_int_equal(seen_types, 0x1E);
	assert_int_not_equal(msix, 0);
	assert_int_equal(cfg_in(vm, msix + PCI_MSIX_FLAGS, 2), NR_Q);  /* N - 1 */
	assert_int_equal(cfg_in(vm, msix + PCI_MSIX_TABLE, 4), VIRTIO_PCI_MSIX_OFF);
	assert_int_equal(cfg_in(vm, msix + PCI_MSIX_PBA, 4), VIRTIO_PCI_PBA_OFF);
	assert_int_equal(rd(vm, C(NUMQ), 2), NR_Q);
	/* Device configuration goes to the device type. */
	assert_int_equal(rd(vm, VIRTIO_PCI_DEVICE_OFF + 2, 2), 0x0403);
	wr(vm, VIRTIO_PCI_DEVICE_OFF + 7, 0xAA, 1);
	assert_int_equal(vm->dev.config[7], 0xAA);
	assert_int_equal(rd(vm, VIRTIO_PCI_DEVICE_OFF + 6, 4), 0xFFFFFFFF);
	vm_free(vm);
}

/* ---- feature negotiation ------------------------------------------------ */

static void test_features_accepted(void **state)
{
	struct vm *vm = vm_new(true);

	wr(vm, C(DFSELECT), 0, 4);
	assert_int_equal(rd(vm, C(DF), 4), (uint32_t)(F_EIDX | F_TEST));
	wr(vm, C(DFSELECT), 1, 4);
	assert_int_equal(rd(vm, C(DF), 4), 1);      /* VERSION_1 is bit 32 */
	wr(vm, C(DFSELECT), 2, 4);
	assert_int_equal(rd(vm, C(DF), 4), 0);
	assert_int_equal(rd(vm, C(DFSELECT), 4), 2);

	negotiate(vm, F_VER1 | F_TEST);
	assert_true(status(vm) & VIRTIO_STATUS_FEATURES_OK);
	wr(vm, C(GFSELECT), 0, 4);
	assert_int_equal(rd(vm, C(GF), 4), (uint32_t)F_TEST);
	/* Features are frozen after FEATURES_OK. */
	wr(vm, C(GF), 0, 4);
	assert_int_equal(rd(vm, C(GF), 4), (uint32_t)F_TEST);
	/* A select past the two words reads 0 and takes nothing. */
	wr(vm, C(GFSELECT), 7, 4);
	assert_int_equal(rd(vm, C(GF), 4), 0);
	vm_free(vm);
}

static void test_features_refused(void **state)
{
	struct vm *vm = vm_new(true);

	/* A bit that was not offered. */
	negotiate(vm, F_VER1 | (1ULL << 5));
	assert_false(status(vm) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(status(vm), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	/* No VERSION_1: a legacy driver. */
	negotiate(vm, F_TEST);
	assert_false(status(vm) & VIRTIO_STATUS_FEATURES_OK);
	/* And so DRIVER_OK is refused too; the device is not started. */
	wr(vm, C(STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			  VIRTIO_STATUS_DRIVER_OK, 1);
	assert_false(status(vm) & VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(vm->dev.activates, 0);
	vm_free(vm);
}

/* ---- status and reset ---------------------------------------------------- */

static void test_status_sequence_and_reset(void **state)
{
	struct vm *vm = vm_new(true);
	unsigned int resets;

	assert_int_equal(status(vm), 0);
	driver_ok(vm);
	assert_int_equal(status(vm), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(vm->dev.activates, 1);
	assert_int_equal(vm->dev.activated_features, F_VER1 | F_EIDX);
	assert_int_equal(vm->dev.queues[0].features, VIRTQ_F_EVENT_IDX);
	/* Clearing bits without a reset is ignored. */
	wr(vm, C(STATUS), VIRTIO_STATUS_ACKNOWLEDGE, 1);
	assert_true(status(vm) & VIRTIO_STATUS_DRIVER_OK);
	/* Setting DRIVER_OK again does not activate twice. */
	wr(vm, C(STATUS), status(vm), 1);
	assert_int_equal(vm->dev.activates, 1);

	wr(vm, C(MSIX), 1, 2);
	resets = vm->dev.resets;
	wr(vm, C(STATUS), 0, 1);
	assert_int_equal(vm->dev.resets, resets + 1);
	assert_int_equal(status(vm), 0);
	assert_int_equal(rd(vm, C(MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	wr(vm, C(GFSELECT), 1, 4);
	assert_int_equal(rd(vm, C(GF), 4), 0);
	assert_int_equal(rd(vm, C(Q_SELECT), 2), 0);
	for (unsigned int q = 0; q < NR_Q; q++) {
		wr(vm, C(Q_SELECT), q, 2);
		assert_int_equal(rd(vm, C(Q_ENABLE), 2), 0);
		assert_int_equal(rd(vm, C(Q_SIZE), 2), QMAX);
		assert_int_equal(rd(vm, C(Q_DESC), 8), 0);
		assert_int_equal(rd(vm, C(Q_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	}
	/* After reset the whole dance works again. */
	driver_ok(vm);
	assert_int_equal(vm->dev.activates, 2);
	vm_free(vm);
}

static void test_activate_refused_needs_reset(void **state)
{
	struct vm *vm = vm_new(true);

	vm->dev.activate_ret = -EINVAL;
	driver_ok(vm);
	assert_true(status(vm) & VIRTIO_STATUS_NEEDS_RESET);
	/* The config interrupt went out on INTx (no MSI-X). */
	assert_true(vm->line);
	assert_int_equal(rd(vm, VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_CONFIG);
	/* Not active: kicks go nowhere. */
	wr(vm, virtio_pci_notify_offset(0), 0, 2);
	assert_int_equal(vm->dev.kicks[0], 0);
	/* Writing status back keeps NEEDS_RESET (device-owned) until reset. */
	wr(vm, C(STATUS), status(vm) & ~VIRTIO_STATUS_NEEDS_RESET, 1);
	assert_true(status(vm) & VIRTIO_STATUS_NEEDS_RESET);
	wr(vm, C(STATUS), 0, 1);
	assert_int_equal(status(vm), 0);
	vm_free(vm);
}

/* ---- queue registers ---------------------------------------------------- */

static void test_queue_registers(void **state)
{
	struct vm *vm = vm_new(true);

	wr(vm, C(Q_SELECT), 1, 2);
	assert_int_equal(rd(vm, C(Q_SIZE), 2), QMAX);
	assert_int_equal(rd(vm, C(Q_NOFF), 2), 1);
	/* Size: 1..max accepted (power of two checked at enable). */
	wr(vm, C(Q_SIZE), QMAX * 2, 2);
	assert_int_equal(rd(vm, C(Q_SIZE), 2), QMAX);
	wr(vm, C(Q_SIZE), 0, 2);
	assert_int_equal(rd(vm, C(Q_SIZE), 2), QMAX);
	wr(vm, C(Q_SIZE), 4, 2);
	assert_int_equal(rd(vm, C(Q_SIZE), 2), 4);
	/* 64-bit fields, whole or in halves. */
	wr(vm, C(Q_DESC), 0x123456789ABCDEF0ULL, 8);
	assert_int_equal(rd(vm, C(Q_DESC), 4), 0x9ABCDEF0);
	assert_int_equal(rd(vm, C(Q_DESC) + 4, 4), 0x12345678);
	wr(vm, C(Q_DESC) + 4, 0, 4);
	assert_int_equal(rd(vm, C(Q_DESC), 8), 0x9ABCDEF0);
	/* Vectors past the table read back NO_VECTOR. */
	wr(vm, C(Q_MSIX), NR_Q + 1, 2);
	assert_int_equal(rd(vm, C(Q_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	wr(vm, C(Q_MSIX), NR_Q, 2);
	assert_int_equal(rd(vm, C(Q_MSIX), 2), NR_Q);
	/* queue_notify_off is read-only. */
	wr(vm, C(Q_NOFF), 9, 2);
	assert_int_equal(rd(vm, C(Q_NOFF), 2), 1);

	/* Enabling before FEATURES_OK is refused. */
	wr(vm, C(Q_ENABLE), 1, 2);
	assert_int_equal(rd(vm, C(Q_ENABLE), 2), 0);
	negotiate(vm, F_VER1);              /* resets: set the vector again */
	wr(vm, C(Q_SELECT), 1, 2);
	wr(vm, C(Q_MSIX), NR_Q, 2);
	setup_queue(vm, 1, 8);
	assert_int_equal(rd(vm, C(Q_ENABLE), 2), 1);
	assert_true(vm->dev.queues[1].enabled);
	/* Frozen once enabled; writing 0 does not disable. */
	wr(vm, C(Q_SIZE), 4, 2);
	wr(vm, C(Q_DESC), 0, 8);
	wr(vm, C(Q_MSIX), 0, 2);
	wr(vm, C(Q_ENABLE), 0, 2);
	assert_int_equal(rd(vm, C(Q_SIZE), 2), 8);
	assert_int_equal(rd(vm, C(Q_DESC), 8), TD_RINGS + 0x10000);
	assert_int_equal(rd(vm, C(Q_MSIX), 2), NR_Q);
	assert_int_equal(rd(vm, C(Q_ENABLE), 2), 1);
	assert_false(status(vm) & VIRTIO_STATUS_NEEDS_RESET);
	vm_free(vm);
}

static void test_queue_select_out_of_range(void **state)
{
	struct vm *vm = vm_new(true);

	negotiate(vm, F_VER1);
	wr(vm, C(Q_SELECT), NR_Q, 2);
	assert_int_equal(rd(vm, C(Q_SELECT), 2), NR_Q);
	assert_int_equal(rd(vm, C(Q_SIZE), 2), 0);      /* "not available" */
	assert_int_equal(rd(vm, C(Q_ENABLE), 2), 0);
	assert_int_equal(rd(vm, C(Q_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	wr(vm, C(Q_SIZE), 4, 2);
	wr(vm, C(Q_DESC), TD_RINGS, 8);
	wr(vm, C(Q_ENABLE), 1, 2);
	assert_int_equal(rd(vm, C(Q_SIZE), 2), 0);
	assert_int_equal(rd(vm, C(Q_DESC), 8), 0);
	wr(vm, C(Q_SELECT), 0xFFFF, 2);
	assert_int_equal(rd(vm, C(Q_SIZE), 2), 0);
	for (unsigned int q = 0; q < NR_Q; q++)
		assert_false(vm->dev.queues[q].enabled);
	vm_free(vm);
}

static void test_bad_ring_needs_reset(void **state)
{
	struct vm *vm = vm_new(true);

	negotiate(vm, F_VER1);
	wr(vm, C(STATUS), status(vm) | VIRTIO_STATUS_DRIVER_OK, 1);
	/* Size 6 is not a power of two: virtq_enable refuses. */
	wr(vm, C(Q_SELECT), 0, 2);
	wr(vm, C(Q_SIZE), 6, 2);
	wr(vm, C(Q_DESC), TD_RINGS, 8);
	wr(vm, C(Q_AVAIL), TD_RINGS + 0x4000, 8);
	wr(vm, C(Q_USED), TD_RINGS + 0x8000, 8);
	wr(vm, C(Q_ENABLE), 1, 2);
	assert_int_equal(rd(vm, C(Q_ENABLE), 2), 0);
	assert_true(status(vm) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(vm->line);
	vm_free(vm);
}

/* ---- notifications -------------------------------------------------- */

static void test_notify_routes_to_queue(void **state)
{
	struct vm *vm = vm_new(true);

	/* Before FEATURES_OK and before DRIVER_OK: dropped. */
	wr(vm, virtio_pci_notify_offset(0), 0, 2);
	negotiate(vm, F_VER1);
	setup_queue(vm, 0, QMAX);
	setup_queue(vm, 1, 8);
	wr(vm, virtio_pci_notify_offset(1), 1, 2);
	assert_int_equal(vm->dev.kicks[0] + vm->dev.kicks[1], 0);
	wr(vm, C(STATUS), status(vm) | VIRTIO_STATUS_DRIVER_OK, 1);

	/* The address names the queue, whatever is written. */
	wr(vm, virtio_pci_notify_offset(1), 0, 2);
	assert_int_equal(vm->dev.kicks[1], 1);
	wr(vm, virtio_pci_notify_offset(0), 0x12340000, 4);
	assert_int_equal(vm->dev.kicks[0], 1);
	virtio_pci_kick(vm->vp, 1);
	assert_int_equal(vm->dev.kicks[1], 2);
	/* Past the last queue, or straddling two notify addresses: nothing. */
	wr(vm, virtio_pci_notify_offset(NR_Q), 0, 2);
	wr(vm, virtio_pci_notify_offset(0) + 2, 0, 4);
	virtio_pci_kick(vm->vp, NR_Q);
	assert_int_equal(vm->dev.kicks[0], 1);
	assert_int_equal(vm->dev.kicks[1], 2);
	assert_int_equal(rd(vm, virtio_pci_notify_offset(0), 2), 0);
	vm_free(vm);
}

static void test_broken_queue_on_kick(void **state)
{
	struct vm *vm = vm_new(true);
	struct virtq *q = &vm->dev.queues[0];

	driver_ok(vm);
	vm->dev.pop_on_kick = true;
	/* A head past the ring: the device type's pop breaks the queue and
	 * the transport raises NEEDS_RESET with a config interrupt. */
	td_publish(&vm->drv, q, 0, QMAX + 3);
	wr(vm, virtio_pci_notify_offset(0), 0, 2);
	assert_int_equal(vm->dev.kicks[0], 1);
	assert_true(q->broken);
	assert_true(status(vm) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(vm->line);
	assert_int_equal(rd(vm, VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_CONFIG);
	/* Reset repairs it. */
	wr(vm, C(STATUS), 0, 1);
	assert_false(q->broken);
	vm_free(vm);
}

/* ---- interrupts ----------------------------------------------------------- */

static void test_intx_and_isr(void **state)
{
	struct vm *vm = vm_new(true);
	struct virtio_notify *n = &vm->dev.vdev.notify;

	/* Nothing before DRIVER_OK. */
	n->queue(n->ctx, 0);
	assert_false(vm->line);
	driver_ok(vm);

	n->queue(n->ctx, 1);
	assert_true(vm->line);
	assert_int_equal(rd(vm, VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_QUEUE);
	assert_false(vm->line);
	assert_int_equal(rd(vm, VIRTIO_PCI_ISR_OFF, 1), 0);

	/* Config changes bump the generation and set ISR bit 1. */
	assert_int_equal(rd(vm, C(CFGGEN), 1), 0);
	n->config(n->ctx);
	n->queue(n->ctx, 0);
	assert_int_equal(rd(vm, C(CFGGEN), 1), 1);
	/* A wide or odd ISR access is refused and clears nothing. */
	assert_int_equal(rd(vm, VIRTIO_PCI_ISR_OFF, 4), 0xFFFFFFFF);
	assert_true(vm->line);
	assert_int_equal(rd(vm, VIRTIO_PCI_ISR_OFF, 1),
			 VIRTIO_PCI_ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG);
	assert_false(vm->line);
	/* INTX_DISABLE gates the line, not the ISR. */
	cfg_out(vm, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE, 2);
	n->queue(n->ctx, 0);
	assert_false(vm->line);
	assert_int_equal(rd(vm, VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_QUEUE);
	/* A queue index from a confused device type is ignored. */
	n->queue(n->ctx, NR_Q);
	/* Reset drops a pending interrupt. */
	cfg_out(vm, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	n->queue(n->ctx, 0);
	assert_true(vm->line);
	wr(vm, C(STATUS), 0, 1);
	assert_false(vm->line);
	assert_int_equal(rd(vm, VIRTIO_PCI_ISR_OFF, 1), 0);
	assert_int_equal(vm->nr_sent, 0);
	vm_free(vm);
}

static void unmask_all(struct vm *vm)
{
	for (unsigned int v = 0; v <= NR_Q; v++) {
		uint64_t e = VIRTIO_PCI_MSIX_OFF + v * PCI_MSIX_ENTRY_SIZE;

		wr(vm, e + PCI_MSIX_ENTRY_ADDR_LO, 0xFEE00000, 4);
		wr(vm, e + PCI_MSIX_ENTRY_DATA, 0x30 + v, 4);
		wr(vm, e + PCI_MSIX_ENTRY_CTRL, 0, 4);
	}
}

static void test_msix_routing(void **state)
{
	struct vm *vm = vm_new(true);
	struct virtio_notify *n = &vm->dev.vdev.notify;
	uint8_t msix = PCI_CAP_START;    /* the first capability */

	assert_int_equal(cfg_in(vm, msix, 1), PCI_CAP_ID_MSIX);
	cfg_out(vm, msix + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	unmask_all(vm);
	negotiate(vm, F_VER1);
	wr(vm, C(MSIX), 0, 2);
	setup_queue(vm, 0, QMAX);
	wr(vm, C(Q_SELECT), 1, 2);
	wr(vm, C(Q_MSIX), 2, 2);
	setup_queue(vm, 1, 8);
	wr(vm, C(STATUS), status(vm) | VIRTIO_STATUS_DRIVER_OK, 1);

	n->queue(n->ctx, 1);
	n->config(n->ctx);
	assert_int_equal(vm->nr_sent, 2);
	assert_int_equal(vm->sent[0].vector, 2);
	assert_int_equal(vm->sent[0].data, 0x32);
	assert_int_equal(vm->sent[1].vector, 0);
	/* Queue 0 has NO_VECTOR: with MSI-X on that means no interrupt. */
	n->queue(n->ctx, 0);
	assert_int_equal(vm->nr_sent, 2);
	assert_false(vm->line);
	assert_int_equal(rd(vm, VIRTIO_PCI_ISR_OFF, 1), 0);
	/* Masked: the message waits in the PBA and goes on unmask. */
	wr(vm, VIRTIO_PCI_MSIX_OFF + 2 * 16 + PCI_MSIX_ENTRY_CTRL, 1, 4);
	n->queue(n->ctx, 1);
	assert_int_equal(vm->nr_sent, 2);
	assert_int_equal(rd(vm, VIRTIO_PCI_PBA_OFF, 8), 1u << 2);
	wr(vm, VIRTIO_PCI_MSIX_OFF + 2 * 16 + PCI_MSIX_ENTRY_CTRL, 0, 4);
	assert_int_equal(vm->nr_sent, 3);
	assert_int_equal(rd(vm, VIRTIO_PCI_PBA_OFF, 8), 0);
	/* MSI-X off again: the same vectors fall back to INTx. */
	cfg_out(vm, msix + PCI_MSIX_FLAGS, 0, 2);
	n->queue(n->ctx, 1);
	assert_int_equal(vm->nr_sent, 3);
	assert_true(vm->line);
	vm_free(vm);
}

static void test_no_intx_pin(void **state)
{
	struct vm *vm = vm_new(false);
	struct virtio_notify *n = &vm->dev.vdev.notify;

	assert_int_equal(cfg_in(vm, PCI_INTERRUPT_PIN, 1), 0);
	driver_ok(vm);
	n->queue(n->ctx, 0);
	assert_false(vm->line);
	assert_int_equal(rd(vm, VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_QUEUE);
	vm_free(vm);
}

/* ---- hostile accesses ------------------------------------------------------ */

static void test_hostile_common_accesses(void **state)
{
	struct vm *vm = vm_new(true);

	/* Wrong width or offset for a field: all-ones, nothing written. */
	assert_int_equal(rd(vm, C(NUMQ), 1), 0xFF);
	assert_int_equal(rd(vm, C(NUMQ), 4), 0xFFFFFFFF);
	assert_int_equal(rd(vm, C(DF), 2), 0xFFFF);
	assert_int_equal(rd(vm, C(DF), 8), 0xFFFFFFFFFFFFFFFFULL);
	assert_int_equal(rd(vm, C(DFSELECT) + 1, 1), 0xFF);
	assert_int_equal(rd(vm, C(Q_DESC) + 2, 4), 0xFFFFFFFF);
	assert_int_equal(rd(vm, C(Q_DESC) + 4, 8), 0xFFFFFFFFFFFFFFFFULL);
	assert_int_equal(rd(vm, C(STATUS), 2), 0xFFFF);
	wr(vm, C(DFSELECT), 0x0101, 2);
	wr(vm, C(STATUS), 0x0303, 2);
	wr(vm, C(Q_SELECT), 1, 4);
	assert_int_equal(rd(vm, C(DFSELECT), 4), 0);
	assert_int_equal(status(vm), 0);
	assert_int_equal(rd(vm, C(Q_SELECT), 2), 0);
	/* Read-only fields. */
	wr(vm, C(NUMQ), 7, 2);
	wr(vm, C(DF), 0, 4);
	wr(vm, C(CFGGEN), 9, 1);
	assert_int_equal(rd(vm, C(NUMQ), 2), NR_Q);
	assert_int_equal(rd(vm, C(DF), 4), (uint32_t)(F_EIDX | F_TEST));
	assert_int_equal(rd(vm, C(CFGGEN), 1), 0);
	/* Holes in the BAR, and past the common structure. */
	assert_int_equal(rd(vm, VIRTIO_PCI_COMMON_LEN, 4), 0xFFFFFFFF);
	assert_int_equal(rd(vm, C(Q_USED) + 4, 8), 0xFFFFFFFFFFFFFFFFULL);
	assert_int_equal(rd(vm, 0x6000, 4), 0xFFFFFFFF);
	assert_int_equal(rd(vm, VIRTIO_PCI_BAR_SIZE - 1, 1), 0xFF);
	wr(vm, 0x7000, 0xFFFFFFFF, 4);
	/* Unknown status bits are not kept; the device is not started. */
	wr(vm, C(STATUS), 0x30 | VIRTIO_STATUS_ACKNOWLEDGE, 1);
	assert_int_equal(status(vm), VIRTIO_STATUS_ACKNOWLEDGE);
	/* A driver writing NEEDS_RESET itself changes nothing. */
	wr(vm, C(STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_NEEDS_RESET, 1);
	assert_int_equal(status(vm), VIRTIO_STATUS_ACKNOWLEDGE);
	/* FAILED is the driver's to set. */
	wr(vm, C(STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_FAILED, 1);
	assert_int_equal(status(vm), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_FAILED);
	assert_int_equal(vm->dev.activates, 0);
	assert_int_equal(vm->dev.resets, 0);
	vm_free(vm);
}

static void test_create_refusals(void **state)
{
	struct virtq qs[1];
	struct virtio_dev d = {
		.ops = &tdev_ops, .name = "bad", .device_id = VIRTIO_ID_RNG,
		.host_features = F_TEST, .nr_queues = 1, .queues = qs,
	};

	virtq_init(&qs[0], NULL, 4);
	assert_null(virtio_pci_create(&d, NULL, NULL));        /* no VERSION_1 */
	d.host_features = F_VER1;
	d.nr_queues = 0;
	assert_null(virtio_pci_create(&d, NULL, NULL));
	d.nr_queues = VIRTIO_PCI_MAX_QUEUES + 1;
	assert_null(virtio_pci_create(&d, NULL, NULL));
	d.nr_queues = 1;
	d.config_size = VIRTIO_PCI_DEVICE_MAX + 1;
	assert_null(virtio_pci_create(&d, NULL, NULL));
	assert_null(virtio_pci_create(NULL, NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_and_capabilities),
		cmocka_unit_test(test_features_accepted),
		cmocka_unit_test(test_features_refused),
		cmocka_unit_test(test_status_sequence_and_reset),
		cmocka_unit_test(test_activate_refused_needs_reset),
		cmocka_unit_test(test_queue_registers),
		cmocka_unit_test(test_queue_select_out_of_range),
		cmocka_unit_test(test_bad_ring_needs_reset),
		cmocka_unit_test(test_notify_routes_to_queue),
		cmocka_unit_test(test_broken_queue_on_kick),
		cmocka_unit_test(test_intx_and_isr),
		cmocka_unit_test(test_msix_routing),
		cmocka_unit_test(test_no_intx_pin),
		cmocka_unit_test(test_hostile_common_accesses),
		cmocka_unit_test(test_create_refusals),
	};

	return cmocka_run_group_tests(tests, quiet_log_setup, quiet_log_teardown);
}

// SPDX-License-Identifier: MIT
#include "boot/mptable.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "abi/board.h"
#include "boot/loader.h"
#include "base/log.h"

_Static_assert(sizeof(struct mptable_floating) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mptable_config) == 44, "MP table header is 44 bytes");
_Static_assert(sizeof(struct mptable_processor) == 20, "MP processor entry is 20 bytes");
_Static_assert(sizeof(struct mptable_bus) == 8 && sizeof(struct mptable_ioapic) == 8 &&
	       sizeof(struct mptable_intsrc) == 8, "MP entries are 8 bytes");

#define MPTABLE_SPEC_REV      4
/* Linux matches a PCI interrupt entry's source bus against the PCI bus
 * number itself, so PCI bus 0 must be MP bus 0; ISA takes the next id. */
#define MPTABLE_ISA_BUS       (BOARD_PCI_MP_BUS + 1)
#define MPTABLE_ISA_IRQS      16
#define MPTABLE_IOAPIC_VER    0x11   /* KVM's in-kernel I/O APIC */
#define MPTABLE_LAPIC_VER     0x14   /* KVM's in-kernel local APIC */
/* A family-6 CPU with an FPU and a local APIC; Linux reads CPUID anyway. */
#define MPTABLE_CPU_SIGNATURE 0x600
#define MPTABLE_CPU_FEATURES  ((1u << 0) | (1u << 9))

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return (uint8_t)(0x100 - sum);
}

/* The entries being written: the header's entry count is the number put. */
struct writer {
	uint8_t *p;
	uint16_t count;
};

static void put(struct writer *w, const void *entry, size_t len)
{
	memcpy(w->p, entry, len);
	w->p += len;
	w->count++;
}

static void put_processors(struct writer *w, unsigned int nr_vcpus)
{
	for (unsigned int i = 0; i < nr_vcpus; i++) {
		struct mptable_processor e = {
			.type = MPTABLE_ENTRY_PROCESSOR, .lapic_id = (uint8_t)i,
			.lapic_version = MPTABLE_LAPIC_VER,
			.flags = MPTABLE_CPU_ENABLED | (i == 0 ? MPTABLE_CPU_BSP : 0),
			.signature = MPTABLE_CPU_SIGNATURE, .features = MPTABLE_CPU_FEATURES,
		};

		put(w, &e, sizeof(e));
	}
}

static void put_intsrc(struct writer *w, uint8_t type, uint8_t irq_type, uint8_t src_irq,
		       uint8_t dst_apic, uint8_t dst_pin)
{
	struct mptable_intsrc e = {
		.type = type, .irq_type = irq_type, .flags = 0, .src_bus = MPTABLE_ISA_BUS,
		.src_irq = src_irq, .dst_apic = dst_apic, .dst_pin = dst_pin,
	};

	put(w, &e, sizeof(e));
}

/* PCI INTA# of every slot on bus 0 (board.h's rule): level, active low.
 * The source IRQ of a PCI bus is its device number << 2 | pin (0: INTA#). */
static void put_pci_intx(struct writer *w, uint8_t ioapic_id)
{
	for (unsigned int slot = 1; slot < BOARD_PCI_SLOTS; slot++) {
		struct mptable_intsrc e = {
			.type = MPTABLE_ENTRY_IOINT, .irq_type = MPTABLE_IRQ_INT,
			.flags = MPTABLE_IRQ_ACTIVE_LOW | MPTABLE_IRQ_LEVEL,
			.src_bus = BOARD_PCI_MP_BUS, .src_irq = (uint8_t)(slot << 2),
			.dst_apic = ioapic_id, .dst_pin = (uint8_t)BOARD_PCI_INTX_GSI(slot),
		};

		put(w, &e, sizeof(e));
	}
}

/* Fills the configuration table (header and entries) at t; returns its length. */
static size_t build_config(uint8_t *t, unsigned int nr_vcpus)
{
	const uint8_t ioapic_id = (uint8_t)nr_vcpus;
	struct mptable_config h = {
		.signature = { 'P', 'C', 'M', 'P' }, .spec_rev = MPTABLE_SPEC_REV,
		.lapic_addr = (uint32_t)BOARD_LAPIC_BASE,
	};
	struct mptable_bus bus = { .type = MPTABLE_ENTRY_BUS, .bus_id = MPTABLE_ISA_BUS };
	struct mptable_bus pci = { .type = MPTABLE_ENTRY_BUS, .bus_id = BOARD_PCI_MP_BUS };
	struct mptable_ioapic io = {
		.type = MPTABLE_ENTRY_IOAPIC, .id = ioapic_id, .version = MPTABLE_IOAPIC_VER,
		.flags = 1, .addr = (uint32_t)BOARD_IOAPIC_BASE,
	};
	struct writer w = { .p = t + sizeof(h) };

	memcpy(h.oem_id, "MINIVMM ", sizeof(h.oem_id));
	memcpy(h.product_id, "PC-LITE     ", sizeof(h.product_id));
	memcpy(bus.bus_type, "ISA   ", sizeof(bus.bus_type));
	memcpy(pci.bus_type, "PCI   ", sizeof(pci.bus_type));

	put_processors(&w, nr_vcpus);
	put(&w, &pci, sizeof(pci));
	put(&w, &bus, sizeof(bus));
	put(&w, &io, sizeof(io));
	for (uint8_t irq = 0; irq < MPTABLE_ISA_IRQS; irq++) {
		/* With IRQ 0 rerouted to pin 2, IRQ 2 (the cascade) gets no entry,
		 * as on PCs: pin 2 must not be claimed twice. */
		if (irq == 2 && BOARD_IRQ0_IOAPIC_PIN == 2)
			continue;
		put_intsrc(&w, MPTABLE_ENTRY_IOINT, MPTABLE_IRQ_INT, irq, ioapic_id,
			   irq == 0 ? BOARD_IRQ0_IOAPIC_PIN : irq);
	}
	put_pci_intx(&w, ioapic_id);
	/* The 8259 reaches the BSP through LINT0 (virtual wire); NMIs on LINT1. */
	put_intsrc(&w, MPTABLE_ENTRY_LOCALINT, MPTABLE_IRQ_EXTINT, 0, 0xff, 0);
	put_intsrc(&w, MPTABLE_ENTRY_LOCALINT, MPTABLE_IRQ_NMI, 0, 0xff, 1);

	h.length = (uint16_t)(w.p - t);
	h.entry_count = w.count;
	memcpy(t, &h, sizeof(h));
	t[offsetof(struct mptable_config, checksum)] = checksum(t, h.length);
	return h.length;
}

/* Room the pointer and table take at most for n vCPUs. */
#define MPTABLE_SIZE(n) (sizeof(struct mptable_floating) + sizeof(struct mptable_config) + \
	(n) * sizeof(struct mptable_processor) + 2 * sizeof(struct mptable_bus) + \
	sizeof(struct mptable_ioapic) + \
	(MPTABLE_ISA_IRQS + 2 + BOARD_PCI_SLOTS - 1) * sizeof(struct mptable_intsrc))
_Static_assert(BOARD_LINUX_MPTABLE + MPTABLE_SIZE(MPTABLE_MAX_CPUS) <= BOARD_LINUX_MPTABLE_END,
	       "the largest MP table fits the BIOS area board.h gives it");

int mptable_write(const struct mem_map *mem, uint64_t gpa, unsigned int nr_vcpus,
		  uint64_t *end)
{
	size_t max = MPTABLE_SIZE(nr_vcpus);
	struct mptable_floating fp = {
		.signature = { '_', 'M', 'P', '_' }, .config_table = (uint32_t)gpa + 16,
		.length = 1, .spec_rev = MPTABLE_SPEC_REV,
	};
	uint8_t *buf;
	size_t len;
	int err;

	if (nr_vcpus == 0 || nr_vcpus > MPTABLE_MAX_CPUS) {
		log_err("MP table: %u vCPUs (it describes 1 to %u)", nr_vcpus, MPTABLE_MAX_CPUS);
		return -EINVAL;
	}
	if (gpa % 16 || gpa > UINT32_MAX - max) {
		log_err("MP table: address 0x%llx is not 16-byte aligned below 4 GiB",
			(unsigned long long)gpa);
		return -EINVAL;
	}
	buf = calloc(1, max);
	if (!buf)
		return -ENOMEM;
	len = sizeof(fp) + build_config(buf + sizeof(fp), nr_vcpus);
	fp.checksum = checksum(&fp, sizeof(fp));
	memcpy(buf, &fp, sizeof(fp));
	err = loader_guest_copy(mem, gpa, buf, len);
	free(buf);
	if (err) {
		log_err("MP table: [0x%llx, +0x%zx) is not guest RAM", (unsigned long long)gpa,
			len);
		return err;
	}
	if (end)
		*end = gpa + len;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The Intel MultiProcessor Specification 1.4 tables, which tell a guest
 * without ACPI where its CPUs and I/O APIC are and how the ISA interrupts
 * reach them: the MP floating pointer structure and the MP configuration
 * table right after it.  Linux finds the pointer by scanning the BIOS area.
 */
#ifndef MINIVMM_MPTABLE_H
#define MINIVMM_MPTABLE_H

#include <stdint.h>

#include "mmu/memory.h"

/* MP floating pointer structure: 16 bytes on a 16-byte boundary. */
struct mptable_floating {
	char signature[4];      /* "_MP_" */
	uint32_t config_table;  /* physical address of the configuration table */
	uint8_t length;         /* in 16-byte units: 1 */
	uint8_t spec_rev;       /* 4: version 1.4 */
	uint8_t checksum;       /* all 16 bytes sum to 0 */
	uint8_t feature[5];     /* [0] = 0: a table is present; [1] bit 7 clear:
				 * virtual wire mode, no IMCR */
} __attribute__((packed));

struct mptable_config {
	char signature[4];      /* "PCMP" */
	uint16_t length;        /* of the base table, header included */
	uint8_t spec_rev;
	uint8_t checksum;       /* the base table sums to 0 */
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

enum mptable_entry_type {
	MPTABLE_ENTRY_PROCESSOR = 0, /* 20 bytes; every other entry is 8 */
	MPTABLE_ENTRY_BUS = 1,
	MPTABLE_ENTRY_IOAPIC = 2,
	MPTABLE_ENTRY_IOINT = 3,
	MPTABLE_ENTRY_LOCALINT = 4,
};

struct mptable_processor {
	uint8_t type;
	uint8_t lapic_id;
	uint8_t lapic_version;
	uint8_t flags;          /* MPTABLE_CPU_ENABLED | MPTABLE_CPU_BSP */
	uint32_t signature;     /* CPUID.1 EAX: stepping, model, family */
	uint32_t features;      /* CPUID.1 EDX */
	uint32_t reserved[2];
} __attribute__((packed));
#define MPTABLE_CPU_ENABLED 0x01
#define MPTABLE_CPU_BSP     0x02

struct mptable_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];       /* "ISA   " */
} __attribute__((packed));

struct mptable_ioapic {
	uint8_t type;
	uint8_t id;
	uint8_t version;
	uint8_t flags;          /* bit 0: enabled */
	uint32_t addr;
} __attribute__((packed));

/* I/O and local interrupt assignment entries share one layout. */
struct mptable_intsrc {
	uint8_t type;
	uint8_t irq_type;       /* enum mptable_irq_type */
	uint16_t flags;         /* polarity/trigger; 0: conforms to the bus */
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_apic;       /* I/O APIC id, or local APIC id (0xff: all) */
	uint8_t dst_pin;        /* INTIN# or LINTIN# */
} __attribute__((packed));

/* mptable_intsrc.flags: polarity (bits 0-1) and trigger mode (bits 2-3). */
#define MPTABLE_IRQ_ACTIVE_LOW 0x0003
#define MPTABLE_IRQ_LEVEL      0x000C

enum mptable_irq_type {
	MPTABLE_IRQ_INT = 0,
	MPTABLE_IRQ_NMI = 1,
	MPTABLE_IRQ_SMI = 2,
	MPTABLE_IRQ_EXTINT = 3,
};

/* Largest vCPU count the table can describe: xAPIC ids are 8 bits, 0xff is
 * the broadcast id, and the I/O APIC takes the id after the last CPU. */
#define MPTABLE_MAX_CPUS 254

/*
 * Writes the floating pointer at gpa (16-byte aligned) and the configuration
 * table right after it: one processor per vCPU (APIC id = index, vCPU 0 the
 * BSP), the ISA bus, PCI bus 0 (as bus BOARD_PCI_MP_BUS), the I/O APIC (id
 * nr_vcpus), ISA IRQs 0-15 (IRQ 0 on pin BOARD_IRQ0_IOAPIC_PIN), INTA# of
 * every PCI slot (BOARD_PCI_INTX_GSI), ExtINT on LINT0 and NMI on LINT1.  *end (may be
 * NULL) receives the address after the table.  -EINVAL for a bad count or
 * alignment, -EFAULT when the range is not RAM.
 */
int mptable_write(const struct mem_map *mem, uint64_t gpa, unsigned int nr_vcpus,
		  uint64_t *end);

#endif

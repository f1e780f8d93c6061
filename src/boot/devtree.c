// SPDX-License-Identifier: MIT
#include "boot/devtree.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include <libfdt.h>

#include "abi/board.h"
#include "abi/mmu_port.h"
#include "base/log.h"

/* libfdt's sequential-write calls all return 0 or a negative FDT_ERR_*. */
#define TRY(expr)                          \
	do {                               \
		int r_ = (expr);           \
		if (r_ < 0)                \
			return r_;         \
	} while (0)

#define DEVTREE_PHANDLE_PIC 1

static int prop_reg32(void *fdt, uint32_t addr, uint32_t size)
{
	fdt32_t reg[2] = { cpu_to_fdt32(addr), cpu_to_fdt32(size) };

	return fdt_property(fdt, "reg", reg, sizeof(reg));
}

static int prop_u64_pair(void *fdt, const char *name, uint64_t a, uint64_t b)
{
	fdt64_t v[2] = { cpu_to_fdt64(a), cpu_to_fdt64(b) };

	return fdt_property(fdt, name, v, sizeof(v));
}

static int add_memory(void *fdt, const struct mem_map *mem)
{
	struct mem_region ranges[8];
	unsigned int n = mem_ram_ranges(mem, ranges, 8);

	for (unsigned int i = 0; i < n; i++) {
		char name[40];

		snprintf(name, sizeof(name), "memory@%" PRIx64, ranges[i].gpa);
		TRY(fdt_begin_node(fdt, name));
		TRY(fdt_property_string(fdt, "device_type", "memory"));
		TRY(prop_u64_pair(fdt, "reg", ranges[i].gpa, ranges[i].size));
		TRY(fdt_end_node(fdt));
	}
	return 0;
}

/* The MMU protocol node (board.h "MMU protocol", docs/shadow-mmu.md). */
static int add_mmu(void *fdt, const struct mmu_plan *mmu)
{
	bool shadow = mmu->kind == MMU_SHADOW;

	TRY(fdt_begin_node(fdt, "minivmm-mmu"));
	TRY(fdt_property_string(fdt, "compatible", "minivmm,mmu"));
	TRY(fdt_property_string(fdt, "mode", shadow ? "shadow" : "tdp"));
	if (shadow)
		TRY(fdt_property_string(fdt, "fill", mmu->lazy ? "lazy" : "eager"));
	TRY(prop_u64_pair(fdt, "mailbox", BOARD_MMU_MAILBOX, PAGE_SIZE_4K));
	TRY(prop_u64_pair(fdt, "pool", mmu->pool_gpa, mmu->pool_size));
	TRY(fdt_property_u64(fdt, "pool-free", mmu->pool_free));
	TRY(fdt_property_u64(fdt, "boot-root", mmu->boot_root));
	TRY(fdt_property_u32(fdt, "io-port", BOARD_MMU_PORT));
	return fdt_end_node(fdt);
}

static int add_cpus(void *fdt, unsigned int nr_vcpus)
{
	TRY(fdt_begin_node(fdt, "cpus"));
	TRY(fdt_property_u32(fdt, "#address-cells", 1));
	TRY(fdt_property_u32(fdt, "#size-cells", 0));
	for (unsigned int i = 0; i < nr_vcpus; i++) {
		char name[16];

		snprintf(name, sizeof(name), "cpu@%x", i);
		TRY(fdt_begin_node(fdt, name));
		TRY(fdt_property_string(fdt, "device_type", "cpu"));
		TRY(fdt_property_u32(fdt, "reg", i));
		TRY(fdt_end_node(fdt));
	}
	return fdt_end_node(fdt);
}

static int add_ioport_device(void *fdt, const char *node, const char *compatible,
			     uint32_t port, uint32_t size)
{
	TRY(fdt_begin_node(fdt, node));
	TRY(fdt_property_string(fdt, "compatible", compatible));
	TRY(prop_reg32(fdt, port, size));
	return 0; /* caller adds properties, then ends the node */
}

static int add_ioports(void *fdt)
{
	/* x86 port I/O is its own address space: no "ranges" into memory. */
	TRY(fdt_begin_node(fdt, "ioports"));
	TRY(fdt_property_string(fdt, "compatible", "minivmm,io-space"));
	TRY(fdt_property_u32(fdt, "#address-cells", 1));
	TRY(fdt_property_u32(fdt, "#size-cells", 1));

	{
		fdt32_t reg[4] = { cpu_to_fdt32(BOARD_PIC1_CMD), cpu_to_fdt32(2),
				   cpu_to_fdt32(BOARD_PIC2_CMD), cpu_to_fdt32(2) };

		TRY(fdt_begin_node(fdt, "interrupt-controller@20"));
		TRY(fdt_property_string(fdt, "compatible", "intel,8259"));
		TRY(fdt_property(fdt, "reg", reg, sizeof(reg)));
		TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
		TRY(fdt_property_u32(fdt, "#address-cells", 0));
		TRY(fdt_property_u32(fdt, "#interrupt-cells", 1));
		TRY(fdt_property_u32(fdt, "phandle", DEVTREE_PHANDLE_PIC));
		TRY(fdt_end_node(fdt));
	}

	TRY(add_ioport_device(fdt, "serial@3f8", "ns16550a", BOARD_COM1_BASE, BOARD_COM1_SIZE));
	TRY(fdt_property_u32(fdt, "interrupts", BOARD_COM1_GSI));
	TRY(fdt_property_u32(fdt, "clock-frequency", BOARD_COM1_CLOCK_HZ));
	TRY(fdt_end_node(fdt));

	TRY(add_ioport_device(fdt, "debug-exit@501", "minivmm,debug-exit",
			      BOARD_DEBUG_EXIT_PORT, 1));
	TRY(fdt_end_node(fdt));

	TRY(add_ioport_device(fdt, "post@80", "minivmm,post-code", BOARD_POST_PORT, 1));
	TRY(fdt_end_node(fdt));

	{
		fdt32_t reg[4] = { cpu_to_fdt32(BOARD_I8042_DATA), cpu_to_fdt32(1),
				   cpu_to_fdt32(BOARD_I8042_CMD), cpu_to_fdt32(1) };

		TRY(fdt_begin_node(fdt, "i8042@60"));
		TRY(fdt_property_string(fdt, "compatible", "intel,8042"));
		TRY(fdt_property(fdt, "reg", reg, sizeof(reg)));
	}
	TRY(fdt_end_node(fdt));
	return fdt_end_node(fdt);
}

static int build(void *buf, size_t size, const struct devtree_params *p)
{
	TRY(fdt_create(buf, (int)size));
	for (unsigned int i = 0; i < p->nr_reserved; i++)
		TRY(fdt_add_reservemap_entry(buf, p->reserved[i].addr, p->reserved[i].size));
	TRY(fdt_finish_reservemap(buf));
	TRY(fdt_begin_node(buf, ""));
	TRY(fdt_property_u32(buf, "#address-cells", 2));
	TRY(fdt_property_u32(buf, "#size-cells", 2));
	TRY(fdt_property_string(buf, "compatible", "minivmm,pc-lite"));
	TRY(fdt_property_string(buf, "model", "minivmm pc-lite"));
	TRY(fdt_property_u32(buf, "interrupt-parent", DEVTREE_PHANDLE_PIC));

	TRY(fdt_begin_node(buf, "chosen"));
	TRY(fdt_property_string(buf, "bootargs", p->bootargs ? p->bootargs : ""));
	TRY(fdt_property_string(buf, "stdout-path", "/ioports/serial@3f8"));
	TRY(fdt_end_node(buf));

	TRY(add_cpus(buf, p->nr_vcpus));
	TRY(add_memory(buf, p->mem));
	TRY(add_ioports(buf));
	if (p->mmu)
		TRY(add_mmu(buf, p->mmu));
	TRY(fdt_end_node(buf));
	return fdt_finish(buf);
}

int devtree_build(void *buf, size_t size, const struct devtree_params *p)
{
	int r = build(buf, size, p);

	if (r < 0) {
		log_err("cannot build the device tree: %s", fdt_strerror(r));
		return r == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
	}
	return 0;
}

size_t devtree_size(const void *buf)
{
	return fdt_totalsize(buf);
}

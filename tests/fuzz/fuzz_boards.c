// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the tables minivmm builds to describe the machine, from
 * any configuration the command line can ask for (and some it cannot):
 * the memory layout (single, split, chunks of any 4 KiB multiple, RAM from
 * 1 MiB to 64 GiB, a slot limit), the --mmu regions, the vCPU count, the
 * command line, reserved ranges, the buffer the device tree must fit in and
 * where the MP table goes.  Invariants besides "no crash, no sanitizer
 * report": the e820 map is sorted and non-overlapping, its RAM entries lie
 * in the layout's RAM and cover all of it but the legacy area below 1 MiB;
 * a device tree that was built passes libfdt's full check and fits its
 * buffer; an MP table that was written sums to zero (floating
 * pointer and configuration table) and lies in RAM.
 *
 * Input: a 36-byte configuration (struct cfg), then the bootargs string.
 */
#include <errno.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "boot/devtree.h"
#include "boot/mptable.h"
#include "mmu/memory.h"
#include "mmu/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct cfg {
	uint8_t layout, backing_and_mmu, nr_reserved, pad;
	uint16_t nr_vcpus, max_slots;
	uint32_t ram_pages;      /* 4 KiB pages */
	uint32_t chunk_pages;
	uint32_t fdt_size;
	uint32_t mp_gpa;
	uint32_t pool_pages;
	uint64_t reserved_seed;
} __attribute__((packed));

static uint8_t fdt[64 << 10];

static void check_e820(const struct mem_map *mem)
{
	struct e820_entry e[E820_MAX];
	int n = mem_e820_build(mem, e, E820_MAX);
	uint64_t ram = 0;

	if (n < 0) {
		if (n != -E2BIG)
			abort();
		return;
	}
	for (int i = 0; i < n; i++) {
		if (!e[i].size || e[i].addr + e[i].size < e[i].addr)
			abort();
		if (i && e[i].addr < e[i - 1].addr + e[i - 1].size)
			abort();
		if (e[i].type != E820_RAM)
			continue;
		ram += e[i].size;
		if (!mem_ram_to_hva(mem, e[i].addr, 1) ||
		    !mem_ram_to_hva(mem, e[i].addr + e[i].size - 1, 1))
			abort();
	}
	/* All of RAM but the legacy area below 1 MiB the map reserves. */
	if (ram > mem->ram_size || ram + (1u << 20) < mem->ram_size)
		abort();
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

/* The byte sum of guest RAM [gpa, gpa+n), which may span slots; -1 when
 * some byte is not RAM. */
static int guest_sum(const struct mem_map *mem, uint64_t gpa, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *b = mem_ram_to_hva(mem, gpa + i, 1);

		if (!b)
			return -1;
		s += *b;
	}
	return s;
}

static void check_mptable(const struct mem_map *mem, uint64_t gpa, unsigned int nr_vcpus)
{
	struct mptable_floating fp;
	struct mptable_config ct;
	uint64_t end;

	if (mptable_write(mem, gpa, nr_vcpus, &end))
		return;
	if (mem_read(mem, gpa, &fp, sizeof(fp)) || memcmp(fp.signature, "_MP_", 4) ||
	    sum((const uint8_t *)&fp, sizeof(fp)) || fp.config_table != gpa + sizeof(fp) ||
	    mem_read(mem, fp.config_table, &ct, sizeof(ct)) || memcmp(ct.signature, "PCMP", 4) ||
	    end != fp.config_table + ct.length)
		abort();
	if (guest_sum(mem, fp.config_table, ct.length))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *quiet;
	struct devtree_reserved res[8];
	struct mem_layout_spec spec = { 0 };
	struct mmu_plan plan;
	struct mem_map mem;
	struct cfg c;
	char *bootargs;
	uint64_t ram;
	int err;

	if (!quiet) {
		quiet = fopen("/dev/null", "w");
		log_set_sink(quiet);
	}
	if (size < sizeof(c))
		return 0;
	memcpy(&c, data, sizeof(c));
	spec.kind = c.layout % 3 == 0 ? MEM_LAYOUT_SINGLE :
		    c.layout % 3 == 1 ? MEM_LAYOUT_SPLIT : MEM_LAYOUT_CHUNKS;
	spec.chunk_size = (uint64_t)(c.chunk_pages % (1u << 20)) << 12;
	ram = (uint64_t)(c.ram_pages % (16u << 20)) << 12;   /* < 64 GiB, reserved only */
	if (mem_map_create(&mem, &spec, MEM_BACKING_ANON, ram, 1 + c.max_slots % 512))
		return 0;
	mmu_plan_make(c.backing_and_mmu & 1 ? MMU_SHADOW : MMU_TDP, c.backing_and_mmu & 2,
		      (uint64_t)(c.pool_pages % 4096) << 12, &mem, &plan);
	/* The MMU regions may not fit the layout: the tables describe what
	 * was added either way. */
	if ((c.backing_and_mmu & 4) && mmu_plan_add_regions(&plan, &mem))
		plan.kind = MMU_TDP;
	check_e820(&mem);

	bootargs = malloc(size - sizeof(c) + 1);
	if (!bootargs)
		abort();
	memcpy(bootargs, data + sizeof(c), size - sizeof(c));
	bootargs[size - sizeof(c)] = 0;
	for (unsigned int i = 0; i < 8; i++) {
		uint64_t x = c.reserved_seed * (2 * i + 1) * 0x9E3779B97F4A7C15ull;

		res[i] = (struct devtree_reserved){ .addr = x >> 20 << 12, .size = (x & 0xFFFFF) << 4 };
	}
	err = devtree_build(fdt, 1 + c.fdt_size % sizeof(fdt), &(struct devtree_params){
		.mem = &mem, .nr_vcpus = c.nr_vcpus % 300, .bootargs = c.pad & 1 ? NULL : bootargs,
		.reserved = res, .nr_reserved = c.nr_reserved % 9,
		.mmu = c.backing_and_mmu & 8 ? &plan : NULL });
	if (!err && (fdt_check_full(fdt, 1 + c.fdt_size % sizeof(fdt)) ||
		     devtree_size(fdt) > 1 + c.fdt_size % sizeof(fdt)))
		abort();
	if (err && err != -ENOSPC && err != -EINVAL)
		abort();
	check_mptable(&mem, c.mp_gpa, c.nr_vcpus % 300);
	free(bootargs);
	mem_map_destroy(&mem);
	return 0;
}

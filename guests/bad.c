/* SPDX-License-Identifier: MIT */
/*
 * Misbehaving guest, one way per run (bootargs `mode=`), to test how minivmm
 * reports guest faults.  Each mode prints a "bad: ..." line first.
 *   triple      ring 0: IDT limit 0, then ud2      -> minivmm exits 3
 *   mmio-read   ring 3: 4-byte read of 0xD0000000  -> exit 0 if ~0, else 13
 *   mmio-write  ring 3: write to 0xD0000000, then read it back (as above)
 *   beyond-ram  ring 3: 4-byte read at the top of RAM (as mmio-read)
 *   loop        ring 3: spin forever               -> killed by the test
 *   exception   ring 3: non-canonical access, #GP  -> runtime exits 12
 *   halt        ring 0: cli; hlt forever           -> killed by the test
 */
#include "guest.h"

#define MMIO_HOLE_PROBE	0xD0000000ULL	/* unbacked, inside the 32-bit hole */

/* A page directory for one GiB the boot identity map does not cover. */
static uint64_t spare_pd[PT_ENTRIES] __attribute__((aligned(PAGE_SIZE_4K)));

/*
 * The boot map covers RAM rounded up to 1 GiB, which may stop short of the
 * probe; extend it with 2 MiB pages from ring 3 (the tables are
 * user-writable).  Filling a non-present PDPT entry needs no TLB flush.
 */
static void map_gib(uint64_t addr)
{
	volatile uint64_t *pml4 = (volatile uint64_t *)BOARD_BOOT_PML4;
	uint64_t gib = addr / PAGE_SIZE_1G;

	if (!(pml4[0] & PTE_P) || gib >= PT_ENTRIES) {
		printf("bad: cannot map 0x%lx\n", addr);
		guest_exit(GUEST_EXIT_CONTRACT);
	}

	volatile uint64_t *pdpt = (volatile uint64_t *)(pml4[0] & PTE_ADDR_MASK);

	if (pdpt[gib] & PTE_P)
		return;
	for (uint64_t i = 0; i < PT_ENTRIES; i++)
		spare_pd[i] = (gib * PAGE_SIZE_1G + i * PAGE_SIZE_2M) | PTE_PS | PTE_P_RW_US;
	pdpt[gib] = (uint64_t)spare_pd | PTE_P_RW_US;
}

static int expect_ones(const char *what, uint64_t addr)
{
	map_gib(addr);

	uint32_t v = *(volatile uint32_t *)addr;

	printf("bad: %s at 0x%lx returned 0x%x\n", what, addr, v);
	return v == 0xFFFFFFFFu ? GUEST_EXIT_OK : GUEST_EXIT_BAD_VALUE;
}

static uint64_t r0_triple(uint64_t unused)
{
	static const struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) empty_idt = { 0, 0 };

	(void)unused;

	__asm__ volatile("lidt %0\n\tud2" : : "m"(empty_idt));
	__builtin_unreachable();
}

static uint64_t r0_halt(uint64_t unused)
{
	(void)unused;
	__asm__ volatile("1: cli\n\thlt\n\tjmp 1b");
	__builtin_unreachable();
}

int main(const void *fdt)
{
	const struct fdt_info *info = fdt_info_or_die("bad", fdt);
	char mode[32];

	if (!bootarg_get(info->bootargs, "mode", mode, sizeof(mode))) {
		putstr("bad: no mode= in bootargs (triple, mmio-read, mmio-write, "
		       "beyond-ram, loop, exception, halt)\n");
		return GUEST_EXIT_CONTRACT;
	}
	if (!strcmp(mode, "triple")) {
		putstr("bad: triple fault from ring 0\n");
		ring0_call(r0_triple, 0);
	} else if (!strcmp(mode, "mmio-read")) {
		return expect_ones("mmio read", MMIO_HOLE_PROBE);
	} else if (!strcmp(mode, "mmio-write")) {
		map_gib(MMIO_HOLE_PROBE);
		*(volatile uint32_t *)MMIO_HOLE_PROBE = 0x12345678;
		printf("bad: mmio write to 0x%llx done\n", MMIO_HOLE_PROBE);
		return expect_ones("mmio read back", MMIO_HOLE_PROBE);
	} else if (!strcmp(mode, "beyond-ram")) {
		return expect_ones("read above RAM", fdt_ram_top(info));
	} else if (!strcmp(mode, "loop")) {
		putstr("bad: looping forever in ring 3\n");
		for (;;)
			__asm__ volatile("" ::: "memory");
	} else if (!strcmp(mode, "exception")) {
		putstr("bad: non-canonical access from ring 3\n");
		(void)*(volatile uint64_t *)0x8000000000000000ULL;
	} else if (!strcmp(mode, "halt")) {
		putstr("bad: cli; hlt forever in ring 0\n");
		ring0_call(r0_halt, 0);
	} else {
		printf("bad: unknown mode '%s'\n", mode);
		return GUEST_EXIT_CONTRACT;
	}
	putstr("bad: still running after the fault\n");
	return GUEST_EXIT_FAIL;
}

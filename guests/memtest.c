/* SPDX-License-Identifier: MIT */
/*
 * Memory test: fill every free word of every RAM range from the FDT with a
 * pattern unique to its address, then verify.  All ranges are written before
 * any is checked, so two guest pages backed by the same host page (a slot
 * aliasing bug) show up as a mismatch.  Free means: not in the memreserve
 * map and not this image; page 0 and the last page of each range are tested.
 *
 * bootargs: passes=N (default 1; odd passes use the complemented pattern).
 */
#include "guest.h"

#define PATTERN_MUL	0x9E3779B97F4A7C15ULL	/* odd: address -> pattern is 1:1 */
#define PATTERN_ADD	0x0123456789ABCDEFULL
#define MAX_EXCL	(FDT_MAX_RSV + 1)

static struct mem_range excl[MAX_EXCL];
static unsigned int n_excl;

static uint64_t align_down(uint64_t v) { return v & ~(PAGE_SIZE_4K - 1); }
static uint64_t align_up(uint64_t v) { return (v + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1); }

static void add_excl(uint64_t base, uint64_t size)
{
	struct mem_range r = {
		.base = align_down(base),
		.size = align_up(base + size) - align_down(base),
	};
	unsigned int i = n_excl++;

	for (; i && excl[i - 1].base > r.base; i--)	/* keep sorted */
		excl[i] = excl[i - 1];
	excl[i] = r;
}

static bool reserved(const struct fdt_info *info, uint64_t base, uint64_t end)
{
	/* [base, end) must be covered by the union of the reserve entries. */
	while (base < end) {
		bool advanced = false;

		for (unsigned int i = 0; i < info->n_rsv; i++) {
			const struct mem_range *r = &info->rsv[i];

			if (r->base <= base && base < r->base + r->size) {
				base = r->base + r->size;
				advanced = true;
			}
		}
		if (!advanced)
			return false;
	}
	return true;
}

/* The boot protocol reserves the boot area and the image; check, since
 * overwriting them would crash us in confusing ways. */
static void check_contract(const struct fdt_info *info, const void *fdt)
{
	uint64_t pds = (fdt_ram_top(info) + PAGE_SIZE_1G - 1) / PAGE_SIZE_1G;
	uint32_t fdt_size = __builtin_bswap32(((const uint32_t *)fdt)[1]);
	const struct {
		const char *what;
		uint64_t base, end;
	} need[] = {
		{ "GDT", BOARD_BOOT_GDT, BOARD_BOOT_GDT + 16 * 3 },
		{ "TSS", BOARD_BOOT_TSS, BOARD_BOOT_TSS + 104 },
		{ "FDT", (uint64_t)fdt, (uint64_t)fdt + fdt_size },
		{ "page tables", BOARD_BOOT_PML4, BOARD_BOOT_PD + pds * PAGE_SIZE_4K },
		{ "image", (uint64_t)__image_start, (uint64_t)__load_end },
	};

	for (unsigned int i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (reserved(info, need[i].base, need[i].end))
			continue;
		printf("memtest: FAIL: the FDT reserve map does not cover the %s "
		       "[0x%lx, 0x%lx)\n", need[i].what, need[i].base, need[i].end);
		guest_exit(GUEST_EXIT_CONTRACT);
	}
}

struct range_stats {
	uint64_t pages;
	bool first, last;	/* first/last page of the range tested */
};

static void fill(uint64_t a, uint64_t b, uint64_t add)
{
	volatile uint64_t *p = (volatile uint64_t *)a;
	uint64_t v = a * PATTERN_MUL + add;

	for (; (uint64_t)p < b; p++, v += 8 * PATTERN_MUL)
		*p = v;
}

/* A found value that is another address's pattern means two guest
 * addresses share storage; say which. */
static void explain(uint64_t got, uint64_t add)
{
	uint64_t inv = PATTERN_MUL;	/* Newton: inverse of MUL mod 2^64 */

	for (int i = 0; i < 6; i++)
		inv *= 2 - PATTERN_MUL * inv;

	uint64_t addr = (got - add) * inv;

	if (!(addr & 7) && addr < 1ULL << 48)
		printf("memtest: that is the pattern written at 0x%lx: "
		       "the two addresses alias\n", addr);
}

static void verify(uint64_t a, uint64_t b, uint64_t add)
{
	volatile uint64_t *p = (volatile uint64_t *)a;
	uint64_t v = a * PATTERN_MUL + add;

	for (; (uint64_t)p < b; p++, v += 8 * PATTERN_MUL) {
		uint64_t got = *p;

		if (got == v)
			continue;
		printf("memtest: FAIL at 0x%lx: expected 0x%016lx, found 0x%016lx\n",
		       (uint64_t)p, v, got);
		explain(got, add);
		guest_exit(GUEST_EXIT_FAIL);
	}
}

/* Apply fn to the free parts of r; returns the stats. */
static struct range_stats for_free(const struct mem_range *r, uint64_t add,
				   void (*fn)(uint64_t, uint64_t, uint64_t))
{
	struct range_stats st = { 0 };
	uint64_t cur = align_up(r->base), end = align_down(r->base + r->size);

	for (unsigned int i = 0; i <= n_excl && cur < end; i++) {
		uint64_t stop = i < n_excl ? excl[i].base : end;

		if (stop > end)
			stop = end;
		if (stop > cur) {
			fn(cur, stop, add);
			st.pages += (stop - cur) / PAGE_SIZE_4K;
			st.first |= cur == r->base;
			st.last |= stop == r->base + r->size;
		}
		if (i < n_excl && excl[i].base + excl[i].size > cur)
			cur = excl[i].base + excl[i].size;
	}
	return st;
}

int main(const void *fdt)
{
	const struct fdt_info *info = fdt_info_or_die("memtest", fdt);
	uint64_t passes = bootarg_u64(info->bootargs, "passes", 1);
	uint64_t ram = fdt_ram_bytes(info), pages = 0;

	if (info->truncated) {
		printf("memtest: FAIL: too many memory/reserve entries for this guest\n");
		return GUEST_EXIT_CONTRACT;
	}
	check_contract(info, fdt);
	for (unsigned int i = 0; i < info->n_rsv; i++)
		add_excl(info->rsv[i].base, info->rsv[i].size);
	add_excl((uint64_t)__image_start, (uint64_t)(__image_end - __image_start));

	printf("memtest: %u RAM range(s), %lu MiB, %u reserved range(s), %lu pass(es)\n",
	       info->n_mem, ram >> 20, info->n_rsv, passes);
	for (uint64_t pass = 0; pass < passes; pass++) {
		uint64_t add = pass & 1 ? ~PATTERN_ADD : PATTERN_ADD;

		for (unsigned int i = 0; i < info->n_mem; i++)
			for_free(&info->mem[i], add, fill);
		pages = 0;
		for (unsigned int i = 0; i < info->n_mem; i++) {
			const struct mem_range *r = &info->mem[i];
			struct range_stats st = for_free(r, add, verify);

			pages += st.pages;
			if (pass + 1 < passes)
				continue;
			printf("memtest: range [0x%lx, 0x%lx) %lu MiB: %lu pages ok, "
			       "first page %s, last page %s\n",
			       r->base, r->base + r->size, r->size >> 20, st.pages,
			       st.first ? "tested" : "reserved",
			       st.last ? "tested" : "reserved");
		}
	}
	printf("memtest: PASS %lu pages checked (%lu bytes of RAM)\n", pages, ram);
	return GUEST_EXIT_OK;
}

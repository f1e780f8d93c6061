// SPDX-License-Identifier: MIT
#include "mmu/idmap.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "abi/board.h"

#define PT_FLAGS 0x7ULL        /* present, writable, user */
#define PT_PS    (1ULL << 7)   /* a 2 MiB leaf in a PD */
#define ENTRIES  512ULL
#define SPAN_PDPT (512 * BOARD_GiB)

static uint64_t div_up(uint64_t x, uint64_t d)
{
	return x / d + (x % d != 0);
}

unsigned int idmap_pages(const struct idmap_spec *spec)
{
	return (unsigned int)(1 + div_up(spec->top, SPAN_PDPT) + div_up(spec->top, BOARD_GiB) +
			      (spec->lone_page ? 1 : 0));
}

int idmap_build(const struct mem_map *mem, const struct idmap_spec *spec)
{
	uint64_t nr_pdpt = div_up(spec->top, SPAN_PDPT), nr_pd = div_up(spec->top, BOARD_GiB);
	uint64_t pdpt_gpa = spec->tables_gpa + BOARD_PAGE_SIZE;
	uint64_t pd_gpa = pdpt_gpa + nr_pdpt * BOARD_PAGE_SIZE;
	uint64_t pt_gpa = pd_gpa + nr_pd * BOARD_PAGE_SIZE;
	uint64_t lone_2m = spec->lone_page & ~(BOARD_HUGE_PAGE_SIZE - 1);
	uint64_t *t = mem_gpa_to_hva(mem, spec->tables_gpa,
				     idmap_pages(spec) * BOARD_PAGE_SIZE);
	uint64_t *pml4 = t, *pdpt = t + ENTRIES, *pd = pdpt + nr_pdpt * ENTRIES;
	uint64_t *pt = pd + nr_pd * ENTRIES;

	if (!t)
		return -EFAULT;
	memset(t, 0, idmap_pages(spec) * BOARD_PAGE_SIZE);
	for (uint64_t i = 0; i < nr_pdpt; i++)
		pml4[i] = htole64((pdpt_gpa + i * BOARD_PAGE_SIZE) | PT_FLAGS);
	for (uint64_t g = 0; g < nr_pd; g++)
		pdpt[g] = htole64((pd_gpa + g * BOARD_PAGE_SIZE) | PT_FLAGS);
	for (uint64_t i = 0; i < nr_pd * ENTRIES; i++) {
		uint64_t gpa = i * BOARD_HUGE_PAGE_SIZE;

		if (gpa - spec->hole_gpa < spec->hole_size)
			continue;
		if (spec->lone_page && gpa == lone_2m) {
			pt[(spec->lone_page - gpa) / BOARD_PAGE_SIZE] =
				htole64(spec->lone_page | PT_FLAGS);
			pd[i] = htole64(pt_gpa | PT_FLAGS);
			continue;
		}
		pd[i] = htole64(gpa | PT_FLAGS | PT_PS);
	}
	return 0;
}

// SPDX-License-Identifier: MIT
#include "mmu/idmap.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "abi/paging.h"

#define SPAN_PDPT ((uint64_t)PT_ENTRIES * PAGE_SIZE_1G)

static uint64_t div_up(uint64_t x, uint64_t d)
{
	return x / d + (x % d != 0);
}

unsigned int idmap_pages(const struct idmap_spec *spec)
{
	return (unsigned int)(1 + div_up(spec->top, SPAN_PDPT) + div_up(spec->top, PAGE_SIZE_1G) +
			      (spec->lone_page ? 1 : 0));
}

int idmap_build(const struct mem_map *mem, const struct idmap_spec *spec)
{
	uint64_t nr_pdpt = div_up(spec->top, SPAN_PDPT), nr_pd = div_up(spec->top, PAGE_SIZE_1G);
	uint64_t pdpt_gpa = spec->tables_gpa + PAGE_SIZE_4K;
	uint64_t pd_gpa = pdpt_gpa + nr_pdpt * PAGE_SIZE_4K;
	uint64_t pt_gpa = pd_gpa + nr_pd * PAGE_SIZE_4K;
	uint64_t lone_2m = spec->lone_page & ~(PAGE_SIZE_2M - 1);
	uint64_t *t = mem_gpa_to_hva(mem, spec->tables_gpa,
				     idmap_pages(spec) * PAGE_SIZE_4K);
	uint64_t *pml4 = t, *pdpt = t + PT_ENTRIES, *pd = pdpt + nr_pdpt * PT_ENTRIES;
	uint64_t *pt = pd + nr_pd * PT_ENTRIES;

	if (!t)
		return -EFAULT;
	memset(t, 0, idmap_pages(spec) * PAGE_SIZE_4K);
	for (uint64_t i = 0; i < nr_pdpt; i++)
		pml4[i] = htole64((pdpt_gpa + i * PAGE_SIZE_4K) | PTE_P_RW_US);
	for (uint64_t g = 0; g < nr_pd; g++)
		pdpt[g] = htole64((pd_gpa + g * PAGE_SIZE_4K) | PTE_P_RW_US);
	for (uint64_t i = 0; i < nr_pd * PT_ENTRIES; i++) {
		uint64_t gpa = i * PAGE_SIZE_2M;

		if (gpa - spec->hole_gpa < spec->hole_size)
			continue;
		if (spec->lone_page && gpa == lone_2m) {
			pt[(spec->lone_page - gpa) / PAGE_SIZE_4K] =
				htole64(spec->lone_page | PTE_P_RW_US);
			pd[i] = htole64(pt_gpa | PTE_P_RW_US);
			continue;
		}
		pd[i] = htole64(gpa | PTE_P_RW_US | PTE_PS);
	}
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Guest memory for unit tests, without KVM.  Two kinds of struct mem_map:
 *
 *  - fake_mem_init(map, "chunks:2M", 16 * MiB): a real map from
 *    mem_map_create, anonymous and MAP_NORESERVE, so even GiBs cost only the
 *    pages a test touches.  The layout is spelt as --mem-layout spells it;
 *    "chunks:SIZE" cuts RAM into slots so that a buffer can span slots.
 *  - fake_mem_init_slots(map, gpa, slot_size, nr, scatter): nr hand-made
 *    slots back to back in guest-physical space from any gpa, carved from
 *    one calloc'd buffer of exactly nr * slot_size bytes, so ASan reports
 *    any access past the end.  With `scatter`, the slots lie in that buffer
 *    in reverse order: a guest buffer that spans two slots is then not
 *    contiguous in host memory, and only code that walks it slot by slot
 *    sees the right bytes.  (mem_ram_ranges still merges the slots by gpa,
 *    so a merged range's ram_offset is meaningless for a scattered map.)
 *
 * Both are freed with fake_mem_destroy (never mem_map_destroy, which would
 * munmap the calloc'd buffer).  fake_mem_new/fake_mem_free do the same
 * for a heap-allocated map, the usual cmocka *state.
 */
#ifndef MINIVMM_TESTS_FAKE_MEM_H
#define MINIVMM_TESTS_FAKE_MEM_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mmu/memory.h"

/* Enough for chunks:4K of a few MiB; mem_map_create's own tests check the
 * real limits. */
#define FAKE_MEM_MAX_SLOTS 4096

static inline int fake_mem_init(struct mem_map *map, const char *layout, uint64_t size)
{
	struct mem_layout_spec spec;
	int err = mem_layout_parse(layout, &spec);

	if (err)
		return err;
	return mem_map_create(map, &spec, MEM_BACKING_ANON, size, FAKE_MEM_MAX_SLOTS);
}

static inline int fake_mem_init_slots(struct mem_map *map, uint64_t gpa, uint64_t slot_size,
				      unsigned int nr, bool scatter)
{
	memset(map, 0, sizeof(*map));
	map->memfd = -1;
	if (!nr || !slot_size || slot_size > SIZE_MAX / nr || gpa + slot_size * nr < gpa)
		return -EINVAL;
	map->slots = calloc(nr, sizeof(*map->slots));
	map->host_base = calloc(1, slot_size * nr);
	if (!map->slots || !map->host_base) {
		free(map->slots);
		free(map->host_base);
		map->slots = NULL;
		map->host_base = NULL;
		return -ENOMEM;
	}
	/* host_size 0 marks the calloc'd buffer (nothing to munmap). */
	map->ram_size = slot_size * nr;
	map->layout.kind = MEM_LAYOUT_CHUNKS;
	map->layout.chunk_size = slot_size;
	for (unsigned int i = 0; i < nr; i++) {
		unsigned int at = scatter ? nr - 1 - i : i;

		map->slots[i] = (struct mem_slot){
			.id = i,
			.gpa = gpa + i * slot_size,
			.size = slot_size,
			.hva = map->host_base + at * slot_size,
		};
	}
	map->nr_slots = nr;
	return 0;
}

static inline void fake_mem_destroy(struct mem_map *map)
{
	if (map->host_base && !map->host_size) {
		free(map->host_base);
		map->host_base = NULL;
	}
	mem_map_destroy(map);
}

/* A heap-allocated map (fake_mem_init), or NULL. */
static inline struct mem_map *fake_mem_new(const char *layout, uint64_t size)
{
	struct mem_map *map = calloc(1, sizeof(*map));

	if (map && fake_mem_init(map, layout, size)) {
		free(map);
		return NULL;
	}
	return map;
}

static inline void fake_mem_free(struct mem_map *map)
{
	if (!map)
		return;
	fake_mem_destroy(map);
	free(map);
}

#endif

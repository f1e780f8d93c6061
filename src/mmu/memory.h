/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM: where it sits in guest-physical space (the layout), which host
 * memory backs it (the backing), and the one checked way to reach it
 * (mem_gpa_to_hva).  Nothing here calls KVM: the VM module registers the
 * slots this module describes.
 */
#ifndef MINIVMM_MEMORY_H
#define MINIVMM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mem_layout_kind {
	MEM_LAYOUT_SINGLE, /* one slot at 0; must fit below the MMIO hole */
	MEM_LAYOUT_SPLIT,  /* below the hole, the rest from 4 GiB (QEMU pc) */
	MEM_LAYOUT_CHUNKS, /* as split, cut into slots of chunk_size */
};

struct mem_layout_spec {
	enum mem_layout_kind kind;
	uint64_t chunk_size; /* MEM_LAYOUT_CHUNKS only */
};

enum mem_backing {
	MEM_BACKING_ANON,    /* private anonymous, MAP_NORESERVE */
	MEM_BACKING_THP,     /* anonymous, 2 MiB aligned, MADV_HUGEPAGE */
	MEM_BACKING_HUGETLB, /* MAP_HUGETLB from the reserved pool */
	MEM_BACKING_MEMFD,   /* shared memfd (sharable with other processes) */
};

/* One guest-physical range of RAM. */
struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t ram_offset; /* offset of this range inside guest RAM */
};

/* What a slot holds.  Only RAM is the guest's memory (e820, FDT, kernel
 * loading); the other kinds are regions of the test guests' MMU protocol
 * (abi/mmu_port.h), in the MMIO hole, each in its own slot. */
enum mem_kind {
	MEM_RAM,
	MEM_MMU_MAILBOX,   /* the MMU commands' arguments and results */
	MEM_PT_POOL,       /* guest page tables (read-only with --mmu=shadow) */
	MEM_SHADOW_STORE,  /* minivmm's shadow page tables */
};

/* One guest-physical range backed by host memory: one KVM memory slot. */
struct mem_slot {
	uint32_t id;
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	enum mem_kind kind;
	bool readonly;  /* guest writes exit (KVM_MEM_READONLY) */
};

struct mem_map {
	struct mem_layout_spec layout;
	enum mem_backing backing;
	uint64_t ram_size;
	struct mem_slot *slots; /* sorted by gpa, non-overlapping */
	unsigned int nr_slots;
	unsigned int max_slots; /* what the host allows */
	uint8_t *host_base;     /* one host mapping holds all of guest RAM */
	size_t host_size;       /* = ram_size; what mem_map_destroy unmaps */
	int memfd;              /* -1 unless MEM_BACKING_MEMFD */
};

/* Parsing helpers shared by the CLI ("single", "split", "chunks:64M"). */
int mem_layout_parse(const char *s, struct mem_layout_spec *out);
int mem_backing_parse(const char *s, enum mem_backing *out);
const char *mem_backing_name(enum mem_backing b);
/* Writes e.g. "chunks:64M" into buf. */
void mem_layout_name(const struct mem_layout_spec *spec, char *buf, size_t len);

/* Parse "512M", "2G", "4096" (MiB when no suffix, as QEMU's -m), "64K". */
int mem_parse_size(const char *s, uint64_t *out, uint64_t default_unit);
/* Human form: "512 MiB", "3 GiB", "64 KiB", "1536 MiB". */
void mem_format_size(uint64_t bytes, char *buf, size_t len);

/*
 * Compute the RAM regions of a layout (pure; no host memory).  max_slots
 * bounds the number of regions.  On success *regions is malloc'd.
 * Errors: -EINVAL (bad size, RAM in the hole, bad chunk) or -E2BIG (too
 * many slots); the reason is logged.
 */
int mem_layout_build(const struct mem_layout_spec *spec, enum mem_backing backing,
		     uint64_t ram_size, unsigned int max_slots,
		     struct mem_region **regions, unsigned int *nr_regions);

/* The same checks without KVM: x86 KVM's most slots (32764) bound the
 * layout, the host's own limit is checked again when the map is built.
 * 0 or -EINVAL / -E2BIG, the reason logged. */
#define MEM_KVM_X86_MAX_SLOTS 32764u
int mem_layout_check(const struct mem_layout_spec *spec, enum mem_backing backing,
		     uint64_t ram_size);

/* Build the layout and allocate its host memory.  Slots get ids 0..n-1. */
int mem_map_create(struct mem_map *map, const struct mem_layout_spec *spec,
		   enum mem_backing backing, uint64_t ram_size,
		   unsigned int max_slots);
void mem_map_destroy(struct mem_map *map);

/* Add a region of another kind (not RAM) with host memory of its own
 * (zeroed, MAP_NORESERVE); its slot id is the next free one.  0, -EINVAL
 * (empty, unaligned, wrapping), -EEXIST (overlaps a slot), -E2BIG (no slot
 * left), -ENOMEM.  Logged with the region's name. */
int mem_map_add(struct mem_map *map, uint64_t gpa, uint64_t size, enum mem_kind kind,
		bool readonly) __attribute__((warn_unused_result));
/* The slot holding the region of that kind, or NULL. */
const struct mem_slot *mem_find_kind(const struct mem_map *map, enum mem_kind kind);
const char *mem_kind_name(enum mem_kind kind);

/* Top of guest RAM (highest RAM address + 1). */
uint64_t mem_map_top(const struct mem_map *map);

/*
 * The one way to touch guest memory: the host address of [gpa, gpa+len),
 * or NULL unless the whole range lies in one slot (len 0 counts as 1).
 */
void *mem_gpa_to_hva(const struct mem_map *map, uint64_t gpa, uint64_t len);
const struct mem_slot *mem_find_slot(const struct mem_map *map, uint64_t gpa);
/* The same, but only for RAM (kernel loading, the guest's memory map). */
void *mem_ram_to_hva(const struct mem_map *map, uint64_t gpa, uint64_t len);

/* Checked copies; -EFAULT when the range is not inside one slot. */
int mem_write(const struct mem_map *map, uint64_t gpa, const void *src, size_t len);
int mem_read(const struct mem_map *map, uint64_t gpa, void *dst, size_t len);

/* Contiguous RAM ranges (adjacent RAM slots merged), as the guest sees RAM.
 * Returns how many were written (at most max), or the total when out is NULL. */
unsigned int mem_ram_ranges(const struct mem_map *map, struct mem_region *out,
			    unsigned int max);

/*
 * Snapshots (mmu/memory_file.c).  mem_slot_save writes the slot's bytes to
 * fd at offset 0 as a sparse file of the slot's size: pages of zeros stay
 * holes (never-touched memory costs no disk).  *data gets the bytes
 * written.  mem_slot_map_file maps fd over the slot, private and
 * copy-on-write: pages load on the guest's first touch and the file is
 * never written.  0 or -errno.
 */
int mem_slot_save(const struct mem_slot *slot, int fd, uint64_t *data);
int mem_slot_map_file(const struct mem_slot *slot, int fd);

/* e820-style map of what the guest sees (Linux's view). */
enum e820_type { E820_RAM = 1, E820_RESERVED = 2 };
struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};
#define E820_MAX 128
/* Returns the number of entries, or -E2BIG. */
int mem_e820_build(const struct mem_map *map, struct e820_entry *out, unsigned int max);
const char *e820_type_name(uint32_t type);

#endif

// SPDX-License-Identifier: MIT
/*
 * Guest RAM layouts and their host backing.  See docs/memory-layouts.md.
 */
#include "mmu/memory.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "abi/board.h"
#include "base/log.h"
#include "base/util.h"

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif

int mem_parse_size(const char *s, uint64_t *out, uint64_t default_unit)
{
	uint64_t value = 0, unit = default_unit;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (value > (UINT64_MAX - d) / 10)
			return -ERANGE;
		value = value * 10 + d;
	}
	switch (toupper((unsigned char)*p)) {
	case '\0': break;
	case 'B': unit = 1; p++; break;
	case 'K': unit = BOARD_KiB; p++; break;
	case 'M': unit = BOARD_MiB; p++; break;
	case 'G': unit = BOARD_GiB; p++; break;
	case 'T': unit = BOARD_GiB * 1024; p++; break;
	default: return -EINVAL;
	}
	/* Accept "M", "MB" and "MiB" alike. */
	if (unit != 1 && (*p == 'i' || *p == 'I'))
		p++;
	if (unit != 1 && (*p == 'b' || *p == 'B'))
		p++;
	if (*p != '\0')
		return -EINVAL;
	if (value > UINT64_MAX / unit)
		return -ERANGE;
	*out = value * unit;
	return 0;
}

void mem_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;

	/* Largest unit that still divides exactly, so "1536 MiB" stays exact. */
	while (u < 4 && bytes && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, "%" PRIu64 " %s", bytes, units[u]);
}

int mem_layout_parse(const char *s, struct mem_layout_spec *out)
{
	if (!strcmp(s, "single")) {
		*out = (struct mem_layout_spec){ .kind = MEM_LAYOUT_SINGLE };
		return 0;
	}
	if (!strcmp(s, "split")) {
		*out = (struct mem_layout_spec){ .kind = MEM_LAYOUT_SPLIT };
		return 0;
	}
	if (!strncmp(s, "chunks:", 7)) {
		uint64_t size;

		if (mem_parse_size(s + 7, &size, BOARD_MiB) || size == 0)
			return -EINVAL;
		*out = (struct mem_layout_spec){ .kind = MEM_LAYOUT_CHUNKS,
						 .chunk_size = size };
		return 0;
	}
	return -EINVAL;
}

/* Compact size that mem_parse_size reads back: 64M, 4K, 3G, 4097B. */
static void format_compact(uint64_t bytes, char *buf, size_t len)
{
	static const char suffix[] = "BKMGT";
	unsigned int u = 0;

	while (u < 4 && bytes && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, "%" PRIu64 "%c", bytes, suffix[u]);
}

void mem_layout_name(const struct mem_layout_spec *spec, char *buf, size_t len)
{
	char size[32];

	switch (spec->kind) {
	case MEM_LAYOUT_SINGLE:
		snprintf(buf, len, "single");
		break;
	case MEM_LAYOUT_SPLIT:
		snprintf(buf, len, "split");
		break;
	case MEM_LAYOUT_CHUNKS:
		format_compact(spec->chunk_size, size, sizeof(size));
		snprintf(buf, len, "chunks:%s", size);
		break;
	}
}

static const char *const backing_names[] = {
	[MEM_BACKING_ANON] = "anon",
	[MEM_BACKING_THP] = "thp",
	[MEM_BACKING_HUGETLB] = "hugetlb",
	[MEM_BACKING_MEMFD] = "memfd",
};

int mem_backing_parse(const char *s, enum mem_backing *out)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(backing_names); i++) {
		if (!strcmp(s, backing_names[i])) {
			*out = (enum mem_backing)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *mem_backing_name(enum mem_backing b)
{
	return backing_names[b];
}

static uint64_t div_round_up(uint64_t x, uint64_t d)
{
	return x / d + (x % d != 0);
}

/* Append [gpa, gpa+size) cut into pieces of at most `piece` bytes. */
static int add_pieces(struct mem_region *r, unsigned int *n, unsigned int max,
		      uint64_t gpa, uint64_t size, uint64_t piece, uint64_t *ram_off)
{
	while (size) {
		uint64_t len = size < piece ? size : piece;

		if (*n >= max)
			return -E2BIG;
		r[*n] = (struct mem_region){ .gpa = gpa, .size = len, .ram_offset = *ram_off };
		(*n)++;
		gpa += len;
		size -= len;
		*ram_off += len;
	}
	return 0;
}

static int check_sizes(const struct mem_layout_spec *spec, enum mem_backing backing,
		       uint64_t ram_size)
{
	char buf[32];
	uint64_t align = (backing == MEM_BACKING_HUGETLB) ? PAGE_SIZE_2M : PAGE_SIZE_4K;

	mem_format_size(ram_size, buf, sizeof(buf));
	if (ram_size < BOARD_MIN_RAM) {
		log_err("memory size %s is too small: minivmm needs at least 4 MiB", buf);
		return -EINVAL;
	}
	if (ram_size % align) {
		log_err("memory size %s is not a multiple of %s (required by the %s backing)",
			buf, align == PAGE_SIZE_4K ? "4 KiB" : "2 MiB",
			mem_backing_name(backing));
		return -EINVAL;
	}
	/* Guest-physical addresses must stay below 2^46 (a common MAXPHYADDR). */
	if (ram_size > (1ULL << 46) - (BOARD_MMIO_HOLE_END - BOARD_MMIO_HOLE_START)) {
		log_err("memory size %s exceeds what minivmm can place (64 TiB)", buf);
		return -EINVAL;
	}
	if (spec->kind == MEM_LAYOUT_SINGLE && ram_size > BOARD_MMIO_HOLE_START) {
		log_err("%s of RAM does not fit below the 32-bit MMIO hole at 3 GiB with "
			"--mem-layout single; use --mem-layout split", buf);
		return -EINVAL;
	}
	if (spec->kind == MEM_LAYOUT_CHUNKS && (spec->chunk_size == 0 || spec->chunk_size % align)) {
		mem_format_size(spec->chunk_size, buf, sizeof(buf));
		log_err("chunk size %s is not a multiple of %s", buf,
			align == PAGE_SIZE_4K ? "4 KiB" : "2 MiB");
		return -EINVAL;
	}
	return 0;
}

int mem_layout_build(const struct mem_layout_spec *spec, enum mem_backing backing,
		     uint64_t ram_size, unsigned int max_slots,
		     struct mem_region **regions, unsigned int *nr_regions)
{
	uint64_t low, high, piece = UINT64_MAX, ram_off = 0, count;
	unsigned int n = 0, need;
	struct mem_region *r;
	int err;

	err = check_sizes(spec, backing, ram_size);
	if (err)
		return err;
	low = ram_size < BOARD_MMIO_HOLE_START ? ram_size : BOARD_MMIO_HOLE_START;
	high = ram_size - low;
	if (spec->kind == MEM_LAYOUT_CHUNKS)
		piece = spec->chunk_size;

	/* Count first, so a huge chunks:4K request fails before allocating. */
	count = div_round_up(low, piece) + div_round_up(high, piece);
	if (count > max_slots) {
		char name[48];

		mem_layout_name(spec, name, sizeof(name));
		log_err("--mem-layout %s needs %" PRIu64 " memory slots, but KVM offers "
			"only %u", name, count, max_slots);
		return -E2BIG;
	}
	need = (unsigned int)count;
	r = calloc(need, sizeof(*r));
	if (!r)
		return -ENOMEM;
	err = add_pieces(r, &n, need, 0, low, piece, &ram_off);
	if (!err)
		err = add_pieces(r, &n, need, BOARD_HIGH_RAM_START, high, piece, &ram_off);
	if (err) {
		free(r);
		return err;
	}
	*regions = r;
	*nr_regions = n;
	return 0;
}

/* Map `size` bytes aligned to `align` (over-allocate, trim both ends). */
static void *map_aligned(size_t size, size_t align, int prot, int flags)
{
	size_t len = size + align;
	uint8_t *p = mmap(NULL, len, prot, flags, -1, 0), *aligned;

	if (p == MAP_FAILED)
		return MAP_FAILED;
	aligned = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (aligned > p)
		munmap(p, (size_t)(aligned - p));
	if (aligned + size < p + len)
		munmap(aligned + size, (size_t)(p + len - (aligned + size)));
	return aligned;
}

static void hugetlb_hint(uint64_t size)
{
	char line[64] = "";
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r");
	uint64_t pages;

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	line[strcspn(line, "\n")] = '\0';
	pages = size / PAGE_SIZE_2M;
	log_err("--mem-backing hugetlb needs %" PRIu64 " free 2 MiB huge pages but "
		"the pool cannot supply them (vm.nr_hugepages = %s); reserve them with "
		"'sysctl vm.nr_hugepages=%" PRIu64 "'", pages, line[0] ? line : "unknown", pages);
}

static int alloc_host(struct mem_map *map)
{
	const int prot = PROT_READ | PROT_WRITE;
	size_t size = map->ram_size;
	void *p;

	map->memfd = -1;
	switch (map->backing) {
	case MEM_BACKING_ANON:
		p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		break;
	case MEM_BACKING_THP:
		p = map_aligned(size, PAGE_SIZE_2M, prot,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
		if (p != MAP_FAILED && madvise(p, size, MADV_HUGEPAGE)) {
			int err = -errno;

			log_err("--mem-backing thp: madvise(MADV_HUGEPAGE) failed: %s "
				"(is transparent hugepage support disabled?)", strerror(errno));
			munmap(p, size);
			return err;
		}
		break;
	case MEM_BACKING_HUGETLB:
		/* No MAP_NORESERVE: fail now, not with SIGBUS at the guest's first touch. */
		p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB,
			 -1, 0);
		if (p == MAP_FAILED) {
			hugetlb_hint(size);
			return -ENOMEM;
		}
		break;
	case MEM_BACKING_MEMFD:
		/* Sealed against resizing: a process we share the fd with
		 * must not be able to make our guest-RAM accesses SIGBUS. */
		map->memfd = memfd_create("minivmm-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (map->memfd < 0 || ftruncate(map->memfd, (off_t)size) ||
		    fcntl(map->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)) {
			int err = -errno;

			log_err("--mem-backing memfd: %s", strerror(errno));
			if (map->memfd >= 0)
				close(map->memfd);
			map->memfd = -1;
			return err;
		}
		p = mmap(NULL, size, prot, MAP_SHARED | MAP_NORESERVE, map->memfd, 0);
		break;
	default:
		return -EINVAL;
	}
	if (p == MAP_FAILED) {
		int err = -errno;
		char buf[32];

		mem_format_size(size, buf, sizeof(buf));
		log_err("cannot map %s of guest RAM: %s", buf, strerror(errno));
		if (map->memfd >= 0)
			close(map->memfd);
		map->memfd = -1;
		return err;
	}
	map->host_base = p;
	map->host_size = size;
	return 0;
}

int mem_layout_check(const struct mem_layout_spec *spec, enum mem_backing backing,
		     uint64_t ram_size)
{
	struct mem_region *regions;
	unsigned int n;
	int err = mem_layout_build(spec, backing, ram_size, MEM_KVM_X86_MAX_SLOTS, &regions, &n);

	if (!err)
		free(regions);
	return err;
}

int mem_map_create(struct mem_map *map, const struct mem_layout_spec *spec,
		   enum mem_backing backing, uint64_t ram_size, unsigned int max_slots)
{
	struct mem_region *regions;
	unsigned int n;
	int err;

	memset(map, 0, sizeof(*map));
	map->memfd = -1;
	err = mem_layout_build(spec, backing, ram_size, max_slots, &regions, &n);
	if (err)
		return err;
	map->layout = *spec;
	map->backing = backing;
	map->ram_size = ram_size;
	map->max_slots = max_slots;
	map->slots = calloc(n, sizeof(*map->slots));
	if (!map->slots) {
		free(regions);
		return -ENOMEM;
	}
	err = alloc_host(map);
	if (err) {
		free(regions);
		free(map->slots);
		map->slots = NULL;
		return err;
	}
	for (unsigned int i = 0; i < n; i++) {
		map->slots[i] = (struct mem_slot){
			.id = i,
			.gpa = regions[i].gpa,
			.size = regions[i].size,
			.hva = map->host_base + regions[i].ram_offset,
			.kind = MEM_RAM,
		};
	}
	map->nr_slots = n;
	free(regions);
	return 0;
}

const char *mem_kind_name(enum mem_kind kind)
{
	static const char *const names[] = {
		[MEM_RAM] = "ram", [MEM_MMU_MAILBOX] = "mmu-mailbox",
		[MEM_PT_POOL] = "pt-pool", [MEM_SHADOW_STORE] = "shadow-store",
	};

	return (unsigned int)kind < ARRAY_SIZE(names) ? names[kind] : "?";
}

int mem_map_add(struct mem_map *map, uint64_t gpa, uint64_t size, enum mem_kind kind,
		bool readonly)
{
	struct mem_slot *slots;
	unsigned int at = 0;
	void *hva;

	if (!size || (gpa | size) & (PAGE_SIZE_4K - 1) || gpa + size < gpa) {
		log_err("%s region [0x%" PRIx64 ", +0x%" PRIx64 "): empty, unaligned or wrapping",
			mem_kind_name(kind), gpa, size);
		return -EINVAL;
	}
	for (; at < map->nr_slots && map->slots[at].gpa < gpa; at++)
		;
	if ((at > 0 && map->slots[at - 1].gpa + map->slots[at - 1].size > gpa) ||
	    (at < map->nr_slots && gpa + size > map->slots[at].gpa)) {
		log_err("%s region [0x%" PRIx64 ", +0x%" PRIx64 ") overlaps guest memory",
			mem_kind_name(kind), gpa, size);
		return -EEXIST;
	}
	if (map->nr_slots >= map->max_slots) {
		log_err("no KVM memory slot left for the %s region (%u in use, %u allowed)",
			mem_kind_name(kind), map->nr_slots, map->max_slots);
		return -E2BIG;
	}
	slots = realloc(map->slots, (map->nr_slots + 1) * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	map->slots = slots;
	hva = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (hva == MAP_FAILED) {
		log_err("cannot map the %s region: %s", mem_kind_name(kind), strerror(errno));
		return -ENOMEM;
	}
	memmove(&slots[at + 1], &slots[at], (map->nr_slots - at) * sizeof(*slots));
	slots[at] = (struct mem_slot){ .id = map->nr_slots, .gpa = gpa, .size = size,
				       .hva = hva, .kind = kind, .readonly = readonly };
	map->nr_slots++;
	return 0;
}

const struct mem_slot *mem_find_kind(const struct mem_map *map, enum mem_kind kind)
{
	for (unsigned int i = 0; i < map->nr_slots; i++)
		if (map->slots[i].kind == kind)
			return &map->slots[i];
	return NULL;
}

void mem_map_destroy(struct mem_map *map)
{
	for (unsigned int i = 0; i < map->nr_slots; i++)	/* regions map their own */
		if (map->slots[i].kind != MEM_RAM)
			munmap(map->slots[i].hva, map->slots[i].size);
	if (map->host_base)	/* set only once the mapping succeeded */
		munmap(map->host_base, map->host_size);
	if (map->memfd >= 0)
		close(map->memfd);
	free(map->slots);
	memset(map, 0, sizeof(*map));
	map->memfd = -1;
}

uint64_t mem_map_top(const struct mem_map *map)
{
	for (unsigned int i = map->nr_slots; i-- > 0;)
		if (map->slots[i].kind == MEM_RAM)
			return map->slots[i].gpa + map->slots[i].size;
	return 0;
}

const struct mem_slot *mem_find_slot(const struct mem_map *map, uint64_t gpa)
{
	unsigned int lo = 0, hi = map->nr_slots;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct mem_slot *s = &map->slots[mid];

		if (gpa < s->gpa)
			hi = mid;
		else if (gpa - s->gpa >= s->size)
			lo = mid + 1;
		else
			return s;
	}
	return NULL;
}

void *mem_gpa_to_hva(const struct mem_map *map, uint64_t gpa, uint64_t len)
{
	const struct mem_slot *s = mem_find_slot(map, gpa);

	if (!s)
		return NULL;
	if (len == 0)
		len = 1;
	/* Written so that no sum can overflow. */
	if (len > s->size || gpa - s->gpa > s->size - len)
		return NULL;
	return s->hva + (gpa - s->gpa);
}

void *mem_ram_to_hva(const struct mem_map *map, uint64_t gpa, uint64_t len)
{
	const struct mem_slot *s = mem_find_slot(map, gpa);

	return s && s->kind == MEM_RAM ? mem_gpa_to_hva(map, gpa, len) : NULL;
}

int mem_write(const struct mem_map *map, uint64_t gpa, const void *src, size_t len)
{
	void *dst = mem_gpa_to_hva(map, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int mem_read(const struct mem_map *map, uint64_t gpa, void *dst, size_t len)
{
	const void *src = mem_gpa_to_hva(map, gpa, len);

	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

unsigned int mem_ram_ranges(const struct mem_map *map, struct mem_region *out,
			    unsigned int max)
{
	uint64_t prev_end = UINT64_MAX;
	unsigned int n = 0;

	for (unsigned int i = 0; i < map->nr_slots; i++) {
		const struct mem_slot *s = &map->slots[i];

		if (s->kind != MEM_RAM)
			continue;
		if (n && s->gpa == prev_end) {
			if (out && n <= max)
				out[n - 1].size += s->size;
		} else {
			if (out && n < max)
				out[n] = (struct mem_region){
					.gpa = s->gpa, .size = s->size,
					.ram_offset = (uint64_t)(s->hva - map->host_base) };
			n++;
		}
		prev_end = s->gpa + s->size;
	}
	return (out && n > max) ? max : n;
}

const char *e820_type_name(uint32_t type)
{
	switch (type) {
	case E820_RAM: return "usable";
	case E820_RESERVED: return "reserved";
	default: return "unknown";
	}
}

static int e820_add(struct e820_entry *out, unsigned int *n, unsigned int max,
		    uint64_t addr, uint64_t size, uint32_t type)
{
	if (!size)
		return 0;
	if (*n >= max)
		return -E2BIG;
	out[(*n)++] = (struct e820_entry){ .addr = addr, .size = size, .type = type };
	return 0;
}

/*
 * Linux's view: the first 640 KiB less the EBDA is usable, the EBDA and the
 * BIOS area (where the MP table lives) are reserved, then RAM from 1 MiB.
 */
#define E820_EBDA_START 0x9FC00ULL
#define E820_BIOS_START 0xF0000ULL
#define E820_LOW_END    0x100000ULL

int mem_e820_build(const struct mem_map *map, struct e820_entry *out, unsigned int max)
{
	struct mem_region ranges[64];
	unsigned int nr = mem_ram_ranges(map, ranges, 64), n = 0;
	int err = 0;

	for (unsigned int i = 0; i < nr && !err; i++) {
		uint64_t start = ranges[i].gpa, end = start + ranges[i].size;

		if (start == 0 && end >= E820_LOW_END) {
			err = e820_add(out, &n, max, 0, E820_EBDA_START, E820_RAM);
			if (!err)
				err = e820_add(out, &n, max, E820_EBDA_START,
					       0xA0000ULL - E820_EBDA_START, E820_RESERVED);
			if (!err)
				err = e820_add(out, &n, max, E820_BIOS_START,
					       E820_LOW_END - E820_BIOS_START, E820_RESERVED);
			start = E820_LOW_END;
		}
		if (!err)
			err = e820_add(out, &n, max, start, end - start, E820_RAM);
	}
	return err ? err : (int)n;
}

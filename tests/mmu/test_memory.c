// SPDX-License-Identifier: MIT
/*
 * Guest RAM: size parsing, layouts (pure), host backings (mmap only, no
 * KVM), the checked gpa -> hva translation and the guest's memory map.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "abi/board.h"
#include "base/util.h"
#include "mmu/memory.h"
#include "fake_mem.h"

#define KiB BOARD_KiB
#define MiB BOARD_MiB
#define GiB BOARD_GiB
#define HOLE_START BOARD_MMIO_HOLE_START
#define HIGH_START BOARD_HIGH_RAM_START

static const struct mem_layout_spec single = { .kind = MEM_LAYOUT_SINGLE };
static const struct mem_layout_spec split = { .kind = MEM_LAYOUT_SPLIT };

static struct mem_layout_spec chunks(uint64_t size)
{
	return (struct mem_layout_spec){ .kind = MEM_LAYOUT_CHUNKS, .chunk_size = size };
}

/* ---- mem_parse_size / mem_format_size ---------------------------------- */

static uint64_t parse_ok(const char *s, uint64_t unit)
{
	uint64_t v = 0xDEAD;

	assert_int_equal(mem_parse_size(s, &v, unit), 0);
	return v;
}

static void assert_parse_fails(const char *s, uint64_t unit, int err)
{
	uint64_t v = 0xDEAD;

	assert_int_equal(mem_parse_size(s, &v, unit), err);
	assert_int_equal(v, 0xDEAD); /* untouched on failure */
}

static void test_parse_size_suffixes(void **state)
{
	assert_int_equal(parse_ok("512M", MiB), 512 * MiB);
	assert_int_equal(parse_ok("512m", MiB), 512 * MiB);
	assert_int_equal(parse_ok("2G", MiB), 2 * GiB);
	assert_int_equal(parse_ok("64K", MiB), 64 * KiB);
	assert_int_equal(parse_ok("1T", MiB), 1024 * GiB);
	assert_int_equal(parse_ok("100B", MiB), 100);
	/* "K", "KB", "KiB" and any case are one unit. */
	assert_int_equal(parse_ok("1KiB", MiB), KiB);
	assert_int_equal(parse_ok("1kib", MiB), KiB);
	assert_int_equal(parse_ok("1KB", MiB), KiB);
	assert_int_equal(parse_ok("2MB", 1), 2 * MiB);
	assert_int_equal(parse_ok("2MiB", 1), 2 * MiB);
	assert_int_equal(parse_ok("3Gi", 1), 3 * GiB);
	assert_int_equal(parse_ok("1TiB", 1), 1024 * GiB);
}

static void test_parse_size_default_unit(void **state)
{
	/* No suffix: the caller's unit (MiB for -m, as QEMU). */
	assert_int_equal(parse_ok("1024", MiB), GiB);
	assert_int_equal(parse_ok("4096", 1), 4096);
	assert_int_equal(parse_ok("4", KiB), 4 * KiB);
	assert_int_equal(parse_ok("0", MiB), 0);
	assert_int_equal(parse_ok("007", MiB), 7 * MiB);
}

static void test_parse_size_garbage(void **state)
{
	uint64_t v = 0;

	assert_int_equal(mem_parse_size(NULL, &v, MiB), -EINVAL);
	assert_parse_fails("", MiB, -EINVAL);
	assert_parse_fails("M", MiB, -EINVAL);
	assert_parse_fails("12X", MiB, -EINVAL);
	assert_parse_fails("1.5G", MiB, -EINVAL);
	assert_parse_fails(" 1G", MiB, -EINVAL);
	assert_parse_fails("1G ", MiB, -EINVAL);
	assert_parse_fails("-1", MiB, -EINVAL);
	assert_parse_fails("+1", MiB, -EINVAL);
	assert_parse_fails("1GB2", MiB, -EINVAL);
	assert_parse_fails("1GiBB", MiB, -EINVAL);
	assert_parse_fails("1BB", MiB, -EINVAL);
	assert_parse_fails("1Bi", MiB, -EINVAL);
	assert_parse_fails("1iB", MiB, -EINVAL);
	assert_parse_fails("0x10", MiB, -EINVAL);
}

static void test_parse_size_overflow(void **state)
{
	assert_int_equal(parse_ok("18446744073709551615", 1), UINT64_MAX);
	assert_parse_fails("18446744073709551616", 1, -ERANGE);
	assert_parse_fails("99999999999999999999999999", 1, -ERANGE);
	/* The digits fit, the unit multiplication does not. */
	assert_parse_fails("18446744073709551615", MiB, -ERANGE);
	assert_int_equal(parse_ok("16777215T", 1), 16777215ULL << 40);
	assert_parse_fails("16777216T", 1, -ERANGE);
	assert_int_equal(parse_ok("17179869183G", 1), 17179869183ULL << 30);
	assert_parse_fails("17179869184G", 1, -ERANGE);
}

static void assert_format(uint64_t bytes, const char *want)
{
	char buf[32];

	memset(buf, 'x', sizeof(buf));
	mem_format_size(bytes, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_format_size(void **state)
{
	char small[4];

	assert_format(0, "0 B");
	assert_format(1, "1 B");
	assert_format(1023, "1023 B");
	assert_format(4097, "4097 B");
	assert_format(KiB, "1 KiB");
	assert_format(64 * KiB, "64 KiB");
	assert_format(512 * MiB, "512 MiB");
	assert_format(1536 * MiB, "1536 MiB"); /* exact, not "1.5 GiB" */
	assert_format(3 * GiB, "3 GiB");
	assert_format(1024 * GiB, "1 TiB");
	assert_format(1024 * 1024 * GiB, "1024 TiB"); /* TiB is the largest unit */
	assert_format(UINT64_MAX, "18446744073709551615 B");
	/* Truncates, always terminated. */
	mem_format_size(512 * MiB, small, sizeof(small));
	assert_string_equal(small, "512");
}

/* ---- layout and backing names ----------------------------------------- */

static void assert_layout_round_trip(const char *in, const char *canonical)
{
	struct mem_layout_spec spec, again;
	char name[48];

	assert_int_equal(mem_layout_parse(in, &spec), 0);
	mem_layout_name(&spec, name, sizeof(name));
	assert_string_equal(name, canonical);
	assert_int_equal(mem_layout_parse(name, &again), 0);
	assert_int_equal(again.kind, spec.kind);
	assert_int_equal(again.chunk_size, spec.chunk_size);
}

static void test_layout_parse_name(void **state)
{
	struct mem_layout_spec spec;

	assert_int_equal(mem_layout_parse("single", &spec), 0);
	assert_int_equal(spec.kind, MEM_LAYOUT_SINGLE);
	assert_int_equal(mem_layout_parse("split", &spec), 0);
	assert_int_equal(spec.kind, MEM_LAYOUT_SPLIT);
	assert_int_equal(mem_layout_parse("chunks:64M", &spec), 0);
	assert_int_equal(spec.kind, MEM_LAYOUT_CHUNKS);
	assert_int_equal(spec.chunk_size, 64 * MiB);
	/* No suffix: MiB. */
	assert_int_equal(mem_layout_parse("chunks:128", &spec), 0);
	assert_int_equal(spec.chunk_size, 128 * MiB);

	assert_layout_round_trip("single", "single");
	assert_layout_round_trip("split", "split");
	assert_layout_round_trip("chunks:64M", "chunks:64M");
	assert_layout_round_trip("chunks:64MiB", "chunks:64M");
	assert_layout_round_trip("chunks:4K", "chunks:4K");
	assert_layout_round_trip("chunks:1536M", "chunks:1536M");
	assert_layout_round_trip("chunks:1024M", "chunks:1G");
	assert_layout_round_trip("chunks:2T", "chunks:2T");
	assert_layout_round_trip("chunks:4097B", "chunks:4097B");
}

static void test_layout_parse_refusals(void **state)
{
	static const char *const bad[] = {
		"", "Split", "SINGLE", "chunks", "chunks:", "chunks:0", "chunks:0M",
		"chunks:x", "chunks:64Q", "chunks:-1", "chunks=64M", "split ",
		"chunks:99999999999999999999",
	};
	struct mem_layout_spec spec = chunks(12345);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(mem_layout_parse(bad[i], &spec), -EINVAL);
		assert_int_equal(spec.chunk_size, 12345);
	}
}

static void test_backing_parse(void **state)
{
	static const struct {
		const char *name;
		enum mem_backing b;
	} ok[] = {
		{ "anon", MEM_BACKING_ANON }, { "thp", MEM_BACKING_THP },
		{ "hugetlb", MEM_BACKING_HUGETLB }, { "memfd", MEM_BACKING_MEMFD },
	};
	static const char *const bad[] = { "", "ANON", "huge", "memfd ", "shm" };
	enum mem_backing b;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		b = (enum mem_backing)99;
		assert_int_equal(mem_backing_parse(ok[i].name, &b), 0);
		assert_int_equal(b, ok[i].b);
		assert_string_equal(mem_backing_name(b), ok[i].name);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		b = MEM_BACKING_THP;
		assert_int_equal(mem_backing_parse(bad[i], &b), -EINVAL);
		assert_int_equal(b, MEM_BACKING_THP);
	}
}

/* ---- mem_layout_build ---------------------------------------------------- */

static unsigned int build_ok(struct mem_layout_spec spec, enum mem_backing backing,
			     uint64_t ram, unsigned int max_slots, struct mem_region **r)
{
	unsigned int n = 0;

	*r = NULL;
	assert_int_equal(mem_layout_build(&spec, backing, ram, max_slots, r, &n), 0);
	assert_non_null(*r);
	assert_true(n >= 1);
	return n;
}

static int build_err(struct mem_layout_spec spec, enum mem_backing backing,
		     uint64_t ram, unsigned int max_slots)
{
	struct mem_region *r = NULL;
	unsigned int n = 0;
	int err = mem_layout_build(&spec, backing, ram, max_slots, &r, &n);

	assert_null(r);
	assert_int_equal(n, 0);
	return err;
}

/* Invariants every layout keeps: sorted, no RAM in the hole, no region
 * straddling it, RAM offsets contiguous from 0 and summing to ram. */
static void check_regions(const struct mem_region *r, unsigned int n, uint64_t ram,
			  uint64_t max_piece)
{
	uint64_t off = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t end = r[i].gpa + r[i].size;

		assert_true(r[i].size > 0);
		assert_true(r[i].size <= max_piece);
		assert_int_equal(r[i].ram_offset, off);
		assert_true(end <= HOLE_START || r[i].gpa >= HIGH_START);
		if (i)
			assert_true(r[i].gpa >= r[i - 1].gpa + r[i - 1].size);
		off += r[i].size;
	}
	assert_int_equal(off, ram);
	assert_int_equal(r[0].gpa, 0);
}

static void test_build_below_hole(void **state)
{
	struct mem_region *r;
	unsigned int n;

	n = build_ok(split, MEM_BACKING_ANON, 256 * MiB, 32, &r);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, 256 * MiB);
	assert_int_equal(r[0].ram_offset, 0);
	free(r);

	n = build_ok(single, MEM_BACKING_ANON, 4 * MiB, 32, &r);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].size, 4 * MiB);
	free(r);

	/* Just below the hole is still one region. */
	n = build_ok(split, MEM_BACKING_ANON, HOLE_START - 4 * KiB, 1, &r);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].size, HOLE_START - 4 * KiB);
	free(r);
}

static void test_build_exactly_3g(void **state)
{
	struct mem_region *r;
	unsigned int n;

	n = build_ok(split, MEM_BACKING_ANON, 3 * GiB, 1, &r);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].gpa + r[0].size, 0xC0000000ULL);
	free(r);

	n = build_ok(single, MEM_BACKING_ANON, 3 * GiB, 1, &r);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].gpa + r[0].size, 0xC0000000ULL);
	free(r);
}

static void test_build_split_both_sides(void **state)
{
	struct mem_region *r;
	unsigned int n;

	n = build_ok(split, MEM_BACKING_ANON, 3200 * MiB, 2, &r);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, 3 * GiB);
	assert_int_equal(r[0].ram_offset, 0);
	assert_int_equal(r[1].gpa, 4 * GiB);
	assert_int_equal(r[1].size, 128 * MiB);
	assert_int_equal(r[1].ram_offset, 3 * GiB);
	free(r);

	/* One page above 3 GiB already needs the high region. */
	n = build_ok(split, MEM_BACKING_ANON, 3 * GiB + 4 * KiB, 2, &r);
	assert_int_equal(n, 2);
	assert_int_equal(r[1].gpa, HIGH_START);
	assert_int_equal(r[1].size, 4 * KiB);
	free(r);
}

static void test_build_single_above_hole_refused(void **state)
{
	assert_int_equal(build_err(single, MEM_BACKING_ANON, 3 * GiB + 4 * KiB, 64), -EINVAL);
	assert_int_equal(build_err(single, MEM_BACKING_ANON, 3200 * MiB, 64), -EINVAL);
	assert_int_equal(build_err(single, MEM_BACKING_ANON, 8 * GiB, 64), -EINVAL);
}

static void test_build_chunks_short_last(void **state)
{
	struct mem_region *r;
	unsigned int n;

	/* 100M in 64M chunks: 64M + 36M. */
	n = build_ok(chunks(64 * MiB), MEM_BACKING_ANON, 100 * MiB, 32, &r);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, 64 * MiB);
	assert_int_equal(r[1].gpa, 64 * MiB);
	assert_int_equal(r[1].size, 36 * MiB);
	assert_int_equal(r[1].ram_offset, 64 * MiB);
	check_regions(r, n, 100 * MiB, 64 * MiB);
	free(r);

	/* Dividing exactly: no empty trailing chunk. */
	n = build_ok(chunks(64 * MiB), MEM_BACKING_ANON, 256 * MiB, 4, &r);
	assert_int_equal(n, 4);
	check_regions(r, n, 256 * MiB, 64 * MiB);
	free(r);

	/* A chunk larger than RAM is one region. */
	n = build_ok(chunks(GiB), MEM_BACKING_ANON, 16 * MiB, 1, &r);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].size, 16 * MiB);
	free(r);
}

static void test_build_chunks_around_hole(void **state)
{
	struct mem_region *r;
	unsigned int n;

	/* 3200M in 1G chunks: 3 below the hole, one short chunk above. */
	n = build_ok(chunks(GiB), MEM_BACKING_ANON, 3200 * MiB, 64, &r);
	assert_int_equal(n, 4);
	assert_int_equal(r[2].gpa, 2 * GiB);
	assert_int_equal(r[2].gpa + r[2].size, HOLE_START);
	assert_int_equal(r[3].gpa, HIGH_START);
	assert_int_equal(r[3].size, 128 * MiB);
	assert_int_equal(r[3].ram_offset, 3 * GiB);
	check_regions(r, n, 3200 * MiB, GiB);
	free(r);

	/* 640M does not divide 3G: the last low chunk is cut at the hole
	 * (512M) instead of straddling it, and the high side restarts. */
	n = build_ok(chunks(640 * MiB), MEM_BACKING_ANON, 4 * GiB, 64, &r);
	assert_int_equal(n, 7);
	assert_int_equal(r[4].gpa, 4 * 640 * MiB);
	assert_int_equal(r[4].size, 512 * MiB);
	assert_int_equal(r[4].gpa + r[4].size, HOLE_START);
	assert_int_equal(r[5].gpa, HIGH_START);
	assert_int_equal(r[5].size, 640 * MiB);
	assert_int_equal(r[5].ram_offset, 3 * GiB);
	assert_int_equal(r[6].gpa, HIGH_START + 640 * MiB);
	assert_int_equal(r[6].size, 384 * MiB);
	check_regions(r, n, 4 * GiB, 640 * MiB);
	free(r);

	/* Many small chunks: the invariants still hold everywhere. */
	n = build_ok(chunks(96 * MiB), MEM_BACKING_HUGETLB, 5 * GiB, 512, &r);
	assert_int_equal(n, 32 + 22);
	check_regions(r, n, 5 * GiB, 96 * MiB);
	free(r);
}

static void test_build_size_refusals(void **state)
{
	/* Too small. */
	assert_int_equal(build_err(split, MEM_BACKING_ANON, 0, 64), -EINVAL);
	assert_int_equal(build_err(split, MEM_BACKING_ANON, 4 * MiB - 4 * KiB, 64), -EINVAL);
	assert_int_equal(build_err(single, MEM_BACKING_ANON, 1 * MiB, 64), -EINVAL);
	/* Not a page multiple. */
	assert_int_equal(build_err(split, MEM_BACKING_ANON, 4 * MiB + 1, 64), -EINVAL);
	assert_int_equal(build_err(split, MEM_BACKING_MEMFD, 64 * MiB + 512, 64), -EINVAL);
	/* hugetlb: 2 MiB multiples only (RAM and chunks). */
	assert_int_equal(build_err(split, MEM_BACKING_HUGETLB, 5 * MiB, 64), -EINVAL);
	assert_int_equal(build_err(split, MEM_BACKING_HUGETLB, 6 * MiB + 4 * KiB, 64), -EINVAL);
	assert_int_equal(build_err(chunks(MiB), MEM_BACKING_HUGETLB, 64 * MiB, 64), -EINVAL);
	/* Chunks: zero or not page-granular. */
	assert_int_equal(build_err(chunks(0), MEM_BACKING_ANON, 64 * MiB, 64), -EINVAL);
	assert_int_equal(build_err(chunks(4097), MEM_BACKING_ANON, 64 * MiB, 64), -EINVAL);
	assert_int_equal(build_err(chunks(2 * KiB), MEM_BACKING_ANON, 64 * MiB, 64), -EINVAL);
	/* Absurd sizes: past what fits below 2^46. */
	assert_int_equal(build_err(split, MEM_BACKING_ANON, UINT64_MAX & ~0xFFFULL, 64), -EINVAL);
	assert_int_equal(build_err(split, MEM_BACKING_ANON, 1ULL << 46, 64), -EINVAL);
	/* RAM above 3 GiB is shifted up by the 1 GiB hole. */
	assert_int_equal(build_err(split, MEM_BACKING_ANON, (1ULL << 46) - GiB + 4 * KiB,
				   64), -EINVAL);
	assert_int_equal(build_err(chunks(GiB), MEM_BACKING_ANON, 1ULL << 63, 1U << 31),
			 -EINVAL);
}

static void test_build_accepted_limits(void **state)
{
	struct mem_region *r;
	unsigned int n;

	/* Exactly the minimum, and the hugetlb granule. */
	n = build_ok(split, MEM_BACKING_ANON, 4 * MiB, 1, &r);
	free(r);
	n = build_ok(split, MEM_BACKING_HUGETLB, 6 * MiB, 1, &r);
	free(r);
	/* The largest accepted RAM still ends below 2^46 (pure: nothing mapped). */
	n = build_ok(split, MEM_BACKING_ANON, (1ULL << 46) - GiB, 2, &r);
	assert_int_equal(n, 2);
	assert_true(r[1].gpa + r[1].size == 1ULL << 46);
	free(r);
}

static void test_build_too_many_slots(void **state)
{
	struct mem_region *r;
	unsigned int n;

	/* Exactly max_slots is fine, one more is -E2BIG. */
	n = build_ok(chunks(64 * MiB), MEM_BACKING_ANON, 256 * MiB, 4, &r);
	assert_int_equal(n, 4);
	free(r);
	assert_int_equal(build_err(chunks(64 * MiB), MEM_BACKING_ANON, 256 * MiB, 3), -E2BIG);
	assert_int_equal(build_err(chunks(64 * MiB), MEM_BACKING_ANON, 100 * MiB, 1), -E2BIG);
	/* The hole alone costs a slot. */
	assert_int_equal(build_err(split, MEM_BACKING_ANON, 3200 * MiB, 1), -E2BIG);
	/* Counted before allocating: 64 TiB in 4K chunks fails at once. */
	assert_int_equal(build_err(chunks(4 * KiB), MEM_BACKING_ANON,
				   (1ULL << 46) - HIGH_START, 32764), -E2BIG);
	assert_int_equal(build_err(chunks(4 * KiB), MEM_BACKING_ANON, 1 * GiB, 262143), -E2BIG);
	assert_int_equal(build_err(split, MEM_BACKING_ANON, 64 * MiB, 0), -E2BIG);
}

/* ---- mem_map_create and the checked accessors --------------------------- */

struct maps {
	struct mem_map small;  /* 16M chunks:4M, anon: 4 slots back to back */
	struct mem_map memfd;  /* 8M split, memfd */
	struct mem_map big;    /* 3200M split, anon NORESERVE: RAM above the hole */
};

static int maps_setup(void **state)
{
	struct maps *m = calloc(1, sizeof(*m));

	if (!m)
		return -1;
	if (mem_map_create(&m->small, &(struct mem_layout_spec){ .kind = MEM_LAYOUT_CHUNKS,
								   .chunk_size = 4 * MiB },
			   MEM_BACKING_ANON, 16 * MiB, 32) ||
	    mem_map_create(&m->memfd, &split, MEM_BACKING_MEMFD, 8 * MiB, 32) ||
	    mem_map_create(&m->big, &split, MEM_BACKING_ANON, 3200 * MiB, 32))
		return -1;
	*state = m;
	return 0;
}

static int maps_teardown(void **state)
{
	struct maps *m = *state;

	mem_map_destroy(&m->small);
	mem_map_destroy(&m->memfd);
	mem_map_destroy(&m->big);
	free(m);
	return 0;
}

static void test_map_create_anon(void **state)
{
	struct maps *m = *state;
	struct mem_map *s = &m->small;

	assert_int_equal(s->nr_slots, 4);
	assert_int_equal(s->ram_size, 16 * MiB);
	assert_int_equal(s->backing, MEM_BACKING_ANON);
	assert_int_equal(s->layout.kind, MEM_LAYOUT_CHUNKS);
	assert_int_equal(s->memfd, -1);
	assert_non_null(s->host_base);
	assert_true(s->host_size >= 16 * MiB);
	for (unsigned int i = 0; i < 4; i++) {
		assert_int_equal(s->slots[i].id, i);
		assert_int_equal(s->slots[i].gpa, i * 4 * MiB);
		assert_int_equal(s->slots[i].size, 4 * MiB);
		assert_ptr_equal(s->slots[i].hva, s->host_base + i * 4 * MiB);
	}
	assert_int_equal(mem_map_top(s), 16 * MiB);
	/* Every byte is writable. */
	s->host_base[0] = 1;
	s->host_base[16 * MiB - 1] = 2;
}

static void test_map_create_memfd(void **state)
{
	struct maps *m = *state;
	struct mem_map *f = &m->memfd;

	assert_int_equal(f->backing, MEM_BACKING_MEMFD);
	assert_true(f->memfd >= 0);
	assert_int_equal(f->nr_slots, 1);
	assert_int_equal(f->slots[0].gpa, 0);
	assert_int_equal(f->slots[0].size, 8 * MiB);
	assert_int_equal(mem_map_top(f), 8 * MiB);
	assert_int_equal(mem_write(f, 8 * MiB - 4, "abcd", 4), 0);
	assert_memory_equal(f->host_base + 8 * MiB - 4, "abcd", 4);
}

static void test_memfd_is_ram(void **state)
{
	struct maps *m = *state;
	struct mem_map *f = &m->memfd;
	struct stat st;
	char c = 0;

	/* The fd is the RAM: same size, and what the guest writes is in it. */
	assert_int_equal(fstat(f->memfd, &st), 0);
	assert_int_equal(st.st_size, 8 * MiB);
	assert_int_equal(mem_write(f, 0x1234, "Z", 1), 0);
	assert_int_equal(pread(f->memfd, &c, 1, 0x1234), 1);
	assert_int_equal(c, 'Z');
	assert_true(fcntl(f->memfd, F_GETFD) & FD_CLOEXEC);
}

static void test_memfd_size_sealed(void **state)
{
	struct maps *m = *state;
	int seals = fcntl(m->memfd.memfd, F_GET_SEALS);

	/* docs/memory-layouts.md: "a sealed-size memfd".  Whoever the fd is
	 * shared with must not be able to shrink it under the guest (SIGBUS
	 * in the VMM) or grow it. */
	assert_true(seals >= 0);
	assert_true(seals & F_SEAL_SHRINK);
	assert_true(seals & F_SEAL_GROW);
	assert_int_equal(ftruncate(m->memfd.memfd, 4 * MiB), -1);
}

static void test_map_create_refused(void **state)
{
	struct mem_map map;

	memset(&map, 0x5A, sizeof(map));
	assert_int_equal(mem_map_create(&map, &single, MEM_BACKING_ANON, 4 * GiB, 32), -EINVAL);
	assert_int_equal(map.nr_slots, 0);
	assert_null(map.slots);
	assert_int_equal(map.memfd, -1);
	mem_map_destroy(&map); /* harmless on a failed map */
	assert_int_equal(mem_map_create(&map, &split, MEM_BACKING_MEMFD, 4 * MiB + 1, 32),
			 -EINVAL);
	assert_int_equal(map.memfd, -1);
	mem_map_destroy(&map);
}

/* --mem-backing thp and hugetlb: 2 MiB-aligned RAM, or a clear refusal
 * when the host cannot back it (no huge pages reserved: the message says
 * how many and the sysctl). */
static void test_map_create_huge_backings(void **state)
{
	struct mem_map map;
	int err = mem_map_create(&map, &split, MEM_BACKING_THP, 8 * MiB, 32);

	if (err == 0) {
		assert_int_equal((uintptr_t)map.host_base % (2 * MiB), 0);
		assert_int_equal(map.backing, MEM_BACKING_THP);
		assert_int_equal(mem_write(&map, 8 * MiB - 1, "x", 1), 0);
		mem_map_destroy(&map);
	} else {
		assert_int_equal(err, -EINVAL);   /* THP switched off on this host */
	}
	err = mem_map_create(&map, &split, MEM_BACKING_HUGETLB, 4 * MiB, 32);
	if (err == 0) {
		assert_int_equal((uintptr_t)map.host_base % (2 * MiB), 0);
		assert_int_equal(mem_write(&map, 0, "y", 1), 0);
		mem_map_destroy(&map);
	} else {
		assert_int_equal(err, -ENOMEM);
		assert_null(map.slots);
	}
	/* More than any pool here holds (the machines have 24 GiB): refused
	 * at once, with the hint, whatever the host has reserved. */
	assert_int_equal(mem_map_create(&map, &split, MEM_BACKING_HUGETLB, 64 * GiB, 32), -ENOMEM);
	/* A size no 2 MiB page can back exactly is the layout's refusal. */
	assert_int_equal(mem_map_create(&map, &split, MEM_BACKING_HUGETLB, 3 * MiB, 32), -EINVAL);
}

static void test_map_big_layout(void **state)
{
	struct maps *m = *state;
	struct mem_map *b = &m->big;

	assert_int_equal(b->nr_slots, 2);
	assert_int_equal(b->slots[0].gpa, 0);
	assert_int_equal(b->slots[0].size, 3 * GiB);
	assert_int_equal(b->slots[1].gpa, HIGH_START);
	assert_int_equal(b->slots[1].size, 128 * MiB);
	assert_ptr_equal(b->slots[1].hva, b->host_base + 3 * GiB);
	assert_int_equal(mem_map_top(b), HIGH_START + 128 * MiB);
}

static void test_gpa_to_hva_slot_edges(void **state)
{
	struct maps *m = *state;
	const struct mem_map *s = &m->small;
	uint8_t *base = s->host_base;

	/* First and last byte of the map and of each slot. */
	assert_ptr_equal(mem_gpa_to_hva(s, 0, 1), base);
	assert_ptr_equal(mem_gpa_to_hva(s, 16 * MiB - 1, 1), base + 16 * MiB - 1);
	assert_ptr_equal(mem_gpa_to_hva(s, 4 * MiB - 1, 1), base + 4 * MiB - 1);
	assert_ptr_equal(mem_gpa_to_hva(s, 4 * MiB, 1), base + 4 * MiB);
	/* Whole slots, and one byte more. */
	assert_ptr_equal(mem_gpa_to_hva(s, 0, 4 * MiB), base);
	assert_ptr_equal(mem_gpa_to_hva(s, 12 * MiB, 4 * MiB), base + 12 * MiB);
	assert_null(mem_gpa_to_hva(s, 0, 4 * MiB + 1));
	/* Crossing from one slot into the next fails although the host
	 * addresses are contiguous. */
	assert_ptr_equal(s->slots[0].hva + s->slots[0].size, s->slots[1].hva);
	assert_null(mem_gpa_to_hva(s, 4 * MiB - 1, 2));
	assert_null(mem_gpa_to_hva(s, 4 * MiB - 4, 8));
	assert_null(mem_gpa_to_hva(s, 0, 16 * MiB));
	/* len 0 counts as one byte. */
	assert_ptr_equal(mem_gpa_to_hva(s, 4 * MiB - 1, 0), base + 4 * MiB - 1);
	assert_ptr_equal(mem_gpa_to_hva(s, 0, 0), base);
	assert_null(mem_gpa_to_hva(s, 16 * MiB, 0));
	/* Beyond the top. */
	assert_null(mem_gpa_to_hva(s, 16 * MiB, 1));
	assert_null(mem_gpa_to_hva(s, 16 * MiB - 1, 2));
	assert_null(mem_gpa_to_hva(s, 1ULL << 40, 1));
	assert_null(mem_gpa_to_hva(s, UINT64_MAX, 1));
	assert_null(mem_gpa_to_hva(s, UINT64_MAX, 0));
}

static void test_gpa_to_hva_overflow(void **state)
{
	struct maps *m = *state;
	const struct mem_map *s = &m->small;

	/* Lengths whose gpa + len would wrap must not pass. */
	assert_null(mem_gpa_to_hva(s, 0, UINT64_MAX));
	assert_null(mem_gpa_to_hva(s, 1, UINT64_MAX));
	assert_null(mem_gpa_to_hva(s, 4 * MiB - 1, UINT64_MAX));
	assert_null(mem_gpa_to_hva(s, 4 * MiB + 16, UINT64_MAX - 15));
	assert_null(mem_gpa_to_hva(s, 16, (uint64_t)0 - 16));
	assert_null(mem_gpa_to_hva(s, 12 * MiB, 1ULL << 63));
	assert_null(mem_gpa_to_hva(&m->big, HIGH_START + 1, UINT64_MAX - HIGH_START));
}

static void test_gpa_to_hva_hole(void **state)
{
	struct maps *m = *state;
	const struct mem_map *b = &m->big;

	assert_ptr_equal(mem_gpa_to_hva(b, HOLE_START - 1, 1), b->host_base + 3 * GiB - 1);
	assert_null(mem_gpa_to_hva(b, HOLE_START, 1));
	assert_null(mem_gpa_to_hva(b, 0xFEE00000ULL, 4));
	assert_null(mem_gpa_to_hva(b, HIGH_START - 1, 1));
	assert_null(mem_gpa_to_hva(b, HOLE_START - 2, 4));
	/* Host memory is contiguous across the hole, guest memory is not. */
	assert_null(mem_gpa_to_hva(b, HOLE_START - 1, 2));
	assert_ptr_equal(mem_gpa_to_hva(b, HIGH_START, 1), b->host_base + 3 * GiB);
	assert_ptr_equal(mem_gpa_to_hva(b, HIGH_START, 128 * MiB), b->host_base + 3 * GiB);
	assert_null(mem_gpa_to_hva(b, HIGH_START, 128 * MiB + 1));
	assert_ptr_equal(mem_gpa_to_hva(b, HIGH_START + 128 * MiB - 1, 1),
			 b->host_base + 3200 * MiB - 1);
	assert_null(mem_gpa_to_hva(b, HIGH_START + 128 * MiB, 1));
}

static void test_find_slot(void **state)
{
	struct maps *m = *state;
	const struct mem_map *s = &m->small, *b = &m->big;

	for (unsigned int i = 0; i < 4; i++) {
		assert_ptr_equal(mem_find_slot(s, i * 4 * MiB), &s->slots[i]);
		assert_ptr_equal(mem_find_slot(s, i * 4 * MiB + 4 * MiB - 1), &s->slots[i]);
		assert_ptr_equal(mem_find_slot(s, i * 4 * MiB + 12345), &s->slots[i]);
	}
	assert_null(mem_find_slot(s, 16 * MiB));
	assert_null(mem_find_slot(s, UINT64_MAX));
	assert_ptr_equal(mem_find_slot(b, HOLE_START - 1), &b->slots[0]);
	assert_null(mem_find_slot(b, HOLE_START));
	assert_null(mem_find_slot(b, HIGH_START - 1));
	assert_ptr_equal(mem_find_slot(b, HIGH_START), &b->slots[1]);
	assert_null(mem_find_slot(b, HIGH_START + 128 * MiB));
}

static void test_read_write(void **state)
{
	struct maps *m = *state;
	const struct mem_map *s = &m->small;
	uint8_t buf[16], pattern[16];

	for (unsigned int i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(0xA0 + i);
	assert_int_equal(mem_write(s, 4 * MiB - 16, pattern, 16), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(mem_read(s, 4 * MiB - 16, buf, 16), 0);
	assert_memory_equal(buf, pattern, 16);

	/* Crossing slots: -EFAULT and nothing written or read. */
	memset(s->host_base + 8 * MiB - 8, 0x11, 16);
	assert_int_equal(mem_write(s, 8 * MiB - 8, pattern, 16), -EFAULT);
	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(s->host_base[8 * MiB - 8 + i], 0x11);
	memset(buf, 0x22, sizeof(buf));
	assert_int_equal(mem_read(s, 8 * MiB - 8, buf, 16), -EFAULT);
	assert_int_equal(buf[0], 0x22);
	/* Beyond the top, and in the hole. */
	assert_int_equal(mem_write(s, 16 * MiB, pattern, 1), -EFAULT);
	assert_int_equal(mem_read(s, 16 * MiB - 15, buf, 16), -EFAULT);
	assert_int_equal(mem_read(&m->big, HOLE_START, buf, 1), -EFAULT);
	assert_int_equal(mem_write(&m->big, HIGH_START - 8, pattern, 16), -EFAULT);
	assert_int_equal(mem_write(&m->big, HIGH_START, pattern, 16), 0);
	/* Zero-length copies at a valid address succeed. */
	assert_int_equal(mem_write(s, 0, pattern, 0), 0);
	assert_int_equal(mem_read(s, 0, buf, 0), 0);
	/* memfd backing behaves the same. */
	assert_int_equal(mem_read(&m->memfd, 8 * MiB - 4, buf, 4), 0);
	assert_int_equal(mem_read(&m->memfd, 8 * MiB - 4, buf, 5), -EFAULT);
}

/* ---- mem_ram_ranges and mem_e820_build --------------------------------- */

static void test_ram_ranges_merge(void **state)
{
	struct maps *m = *state;
	struct mem_region out[8];
	struct mem_map map;

	/* 4 adjacent chunk slots are one range. */
	memset(out, 0xEE, sizeof(out));
	assert_int_equal(mem_ram_ranges(&m->small, out, 8), 1);
	assert_int_equal(out[0].gpa, 0);
	assert_int_equal(out[0].size, 16 * MiB);
	assert_int_equal(out[0].ram_offset, 0);
	assert_int_equal(out[1].gpa, 0xEEEEEEEEEEEEEEEEULL);
	assert_int_equal(mem_ram_ranges(&m->small, NULL, 0), 1);

	/* Split: one range per side of the hole. */
	assert_int_equal(mem_ram_ranges(&m->big, out, 8), 2);
	assert_int_equal(out[1].gpa, HIGH_START);
	assert_int_equal(out[1].size, 128 * MiB);
	assert_int_equal(out[1].ram_offset, 3 * GiB);

	/* Chunks on both sides: 5 slots, still 2 ranges. */
	assert_int_equal(mem_map_create(&map, &(struct mem_layout_spec){
				.kind = MEM_LAYOUT_CHUNKS, .chunk_size = 1280 * MiB },
			 MEM_BACKING_ANON, 5 * GiB, 32), 0);
	assert_int_equal(map.nr_slots, 5);
	memset(out, 0xEE, sizeof(out));
	assert_int_equal(mem_ram_ranges(&map, NULL, 0), 2);
	assert_int_equal(mem_ram_ranges(&map, out, 8), 2);
	assert_int_equal(out[0].gpa, 0);
	assert_int_equal(out[0].size, 3 * GiB);
	assert_int_equal(out[0].ram_offset, 0);
	assert_int_equal(out[1].gpa, HIGH_START);
	assert_int_equal(out[1].size, 2 * GiB);
	assert_int_equal(out[1].ram_offset, 3 * GiB);
	assert_int_equal(out[2].gpa, 0xEEEEEEEEEEEEEEEEULL);

	/* max bounds what is written; the first range is still whole. */
	memset(out, 0xEE, sizeof(out));
	assert_int_equal(mem_ram_ranges(&map, out, 1), 1);
	assert_int_equal(out[0].size, 3 * GiB);
	assert_int_equal(out[1].gpa, 0xEEEEEEEEEEEEEEEEULL);
	assert_int_equal(out[1].size, 0xEEEEEEEEEEEEEEEEULL);
	assert_int_equal(mem_ram_ranges(&map, out, 0), 0);
	assert_int_equal(out[0].size, 3 * GiB);
	mem_map_destroy(&map);
}

#define E820_LOW_RESERVED (0x100000ULL - 0x9FC00ULL)

/* Sorted, non-overlapping; returns the usable total. */
static uint64_t check_e820(const struct e820_entry *e, int n)
{
	uint64_t ram = 0;

	for (int i = 0; i < n; i++) {
		assert_true(e[i].size > 0);
		assert_true(e[i].type == E820_RAM || e[i].type == E820_RESERVED);
		if (i)
			assert_true(e[i].addr >= e[i - 1].addr + e[i - 1].size);
		if (e[i].type == E820_RAM)
			ram += e[i].size;
	}
	return ram;
}

static void assert_e820(const struct e820_entry *e, uint64_t addr, uint64_t size, uint32_t type)
{
	assert_int_equal(e->addr, addr);
	assert_int_equal(e->size, size);
	assert_int_equal(e->type, type);
}

static void test_e820_low(void **state)
{
	struct maps *m = *state;
	struct e820_entry e[E820_MAX];
	int n = mem_e820_build(&m->small, e, E820_MAX);

	assert_int_equal(n, 4);
	assert_e820(&e[0], 0, 0x9FC00, E820_RAM);
	assert_e820(&e[1], 0x9FC00, 0x400, E820_RESERVED);
	assert_e820(&e[2], 0xF0000, 0x10000, E820_RESERVED);
	/* Chunk slots are merged into one usable entry. */
	assert_e820(&e[3], 0x100000, 15 * MiB, E820_RAM);
	assert_int_equal(check_e820(e, n), 16 * MiB - E820_LOW_RESERVED);
	assert_string_equal(e820_type_name(E820_RAM), "usable");
	assert_string_equal(e820_type_name(E820_RESERVED), "reserved");
	assert_string_equal(e820_type_name(77), "unknown");
}

static void test_e820_high(void **state)
{
	struct maps *m = *state;
	struct e820_entry e[E820_MAX];
	int n = mem_e820_build(&m->big, e, E820_MAX);

	assert_int_equal(n, 5);
	assert_e820(&e[0], 0, 0x9FC00, E820_RAM);
	assert_e820(&e[1], 0x9FC00, 0x400, E820_RESERVED);
	assert_e820(&e[2], 0xF0000, 0x10000, E820_RESERVED);
	assert_e820(&e[3], 0x100000, 3 * GiB - MiB, E820_RAM);
	assert_e820(&e[4], HIGH_START, 128 * MiB, E820_RAM);
	assert_int_equal(check_e820(e, n), 3200 * MiB - E820_LOW_RESERVED);
	/* Nothing usable in the hole. */
	for (int i = 0; i < n; i++)
		assert_true(e[i].addr + e[i].size <= HOLE_START || e[i].addr >= HIGH_START);
}

static void test_e820_too_small(void **state)
{
	struct maps *m = *state;
	struct e820_entry e[8];

	memset(e, 0, sizeof(e));
	assert_int_equal(mem_e820_build(&m->big, e, 4), -E2BIG);
	assert_int_equal(mem_e820_build(&m->big, e, 0), -E2BIG);
	assert_int_equal(mem_e820_build(&m->big, e, 5), 5);
	assert_int_equal(mem_e820_build(&m->small, e, 4), 4);
}

/* ---- tests/fake_mem.h, the fixture other tests build on ----------------- */

static void test_fake_mem_layouts(void **state)
{
	struct mem_map m;

	assert_int_equal(fake_mem_init(&m, "chunks:1M", 4 * MiB), 0);
	assert_int_equal(m.nr_slots, 4);
	assert_int_equal(mem_map_top(&m), 4 * MiB);
	assert_non_null(mem_gpa_to_hva(&m, 4 * MiB - 1, 1));
	assert_null(mem_gpa_to_hva(&m, 1 * MiB - 1, 2));
	fake_mem_destroy(&m);
	assert_int_equal(fake_mem_init(&m, "sideways", 4 * MiB), -EINVAL);
	assert_int_equal(fake_mem_init(&m, "single", 4 * GiB), -EINVAL);
}

static void test_fake_mem_slots_scattered(void **state)
{
	struct mem_map m;
	uint8_t *lo, *hi;

	assert_int_equal(fake_mem_init_slots(&m, 0x10000, 0x1000, 3, true), 0);
	assert_int_equal(m.nr_slots, 3);
	assert_int_equal(m.ram_size, 0x3000);
	assert_int_equal(mem_map_top(&m), 0x13000);
	assert_null(mem_gpa_to_hva(&m, 0xFFFF, 1));
	assert_null(mem_gpa_to_hva(&m, 0x13000, 1));
	/* Adjacent in guest-physical space, not in host memory. */
	lo = mem_gpa_to_hva(&m, 0x10FF0, 0x10);
	hi = mem_gpa_to_hva(&m, 0x11000, 0x10);
	assert_non_null(lo);
	assert_non_null(hi);
	assert_ptr_not_equal(lo + 0x10, hi);
	assert_null(mem_gpa_to_hva(&m, 0x10FF8, 0x10));
	/* Every byte is writable (ASan checks the buffer's exact bounds). */
	for (unsigned int i = 0; i < 3; i++)
		memset(m.slots[i].hva, 0xC0 + i, m.slots[i].size);
	assert_int_equal(*(uint8_t *)mem_gpa_to_hva(&m, 0x12FFF, 1), 0xC2);
	fake_mem_destroy(&m);

	assert_int_equal(fake_mem_init_slots(&m, 0, 0x1000, 2, false), 0);
	assert_ptr_equal((uint8_t *)mem_gpa_to_hva(&m, 0, 1) + 0x1000,
			 mem_gpa_to_hva(&m, 0x1000, 1));
	fake_mem_destroy(&m);
	assert_int_equal(fake_mem_init_slots(&m, 0, 0, 1, false), -EINVAL);
	assert_int_equal(fake_mem_init_slots(&m, 0, 0x1000, 0, false), -EINVAL);
	assert_int_equal(fake_mem_init_slots(&m, UINT64_MAX - 0xFFF, 0x1000, 2, false), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_parse_size_suffixes),
		cmocka_unit_test(test_parse_size_default_unit),
		cmocka_unit_test(test_parse_size_garbage),
		cmocka_unit_test(test_parse_size_overflow),
		cmocka_unit_test(test_format_size),
		cmocka_unit_test(test_layout_parse_name),
		cmocka_unit_test(test_layout_parse_refusals),
		cmocka_unit_test(test_backing_parse),
		cmocka_unit_test(test_build_below_hole),
		cmocka_unit_test(test_build_exactly_3g),
		cmocka_unit_test(test_build_split_both_sides),
		cmocka_unit_test(test_build_single_above_hole_refused),
		cmocka_unit_test(test_build_chunks_short_last),
		cmocka_unit_test(test_build_chunks_around_hole),
		cmocka_unit_test(test_build_size_refusals),
		cmocka_unit_test(test_build_accepted_limits),
		cmocka_unit_test(test_build_too_many_slots),
		cmocka_unit_test(test_fake_mem_layouts),
		cmocka_unit_test(test_fake_mem_slots_scattered),
	};
	const struct CMUnitTest mapped[] = {
		cmocka_unit_test(test_map_create_anon),
		cmocka_unit_test(test_map_create_memfd),
		cmocka_unit_test(test_memfd_is_ram),
		cmocka_unit_test(test_memfd_size_sealed),
		cmocka_unit_test(test_map_create_refused),
		cmocka_unit_test(test_map_create_huge_backings),
		cmocka_unit_test(test_map_big_layout),
		cmocka_unit_test(test_gpa_to_hva_slot_edges),
		cmocka_unit_test(test_gpa_to_hva_overflow),
		cmocka_unit_test(test_gpa_to_hva_hole),
		cmocka_unit_test(test_find_slot),
		cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_ram_ranges_merge),
		cmocka_unit_test(test_e820_low),
		cmocka_unit_test(test_e820_high),
		cmocka_unit_test(test_e820_too_small),
	};
	int failed = cmocka_run_group_tests_name("memory_pure", pure, NULL, NULL);

	failed += cmocka_run_group_tests_name("memory_mapped", mapped, maps_setup, maps_teardown);
	return failed;
}

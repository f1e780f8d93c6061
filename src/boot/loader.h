/* SPDX-License-Identifier: MIT */
/*
 * Kernel images: reading the file, recognising its format, and loading a
 * minivmm test guest (ELF64 with the "minivmm" note, docs/guest-boot.md).
 * Every offset and size read from an image is checked against the file.
 */
#ifndef MINIVMM_LOADER_H
#define MINIVMM_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mmu/memory.h"

#define MINIVMM_NOTE_NAME "minivmm"
#define MINIVMM_NOTE_TEST_GUEST 1
/* Largest kernel file minivmm reads (a distro bzImage is ~10 MiB). */
#define LOADER_MAX_FILE (512ULL << 20)

enum image_kind {
	IMAGE_UNKNOWN,
	IMAGE_TEST_GUEST,   /* ELF64 with the minivmm note */
	IMAGE_ELF_OTHER,    /* ELF64 without it (e.g. a Linux vmlinux) */
	IMAGE_BZIMAGE,      /* Linux boot protocol ("HdrS") */
	IMAGE_ELF_BAD,      /* ELF magic, but truncated or not x86-64 ET_EXEC */
};

/* Where a PT_LOAD segment's virtual addresses landed in guest RAM: a
 * debugger translates kernel addresses with it before the guest's own page
 * tables map them (docs/debugging.md). */
struct loader_segment {
	uint64_t vaddr, paddr, size;
};

#define LOADER_MAX_SEGMENTS 8

struct loaded_image {
	uint64_t entry;
	uint64_t start; /* lowest loaded address */
	uint64_t end;   /* one past the highest (including bss) */
	struct loader_segment segs[LOADER_MAX_SEGMENTS]; /* the first PT_LOADs */
	unsigned int nr_segs;
};

/* Reads a whole file (at most LOADER_MAX_FILE); caller frees *buf. */
int loader_read_file(const char *path, uint8_t **buf, size_t *len);

enum image_kind loader_probe(const uint8_t *buf, size_t len);
/* A Linux boot-protocol image: its setup header has "HdrS" at 0x202. */
bool loader_is_bzimage(const uint8_t *buf, size_t len);

/* The ELF note (name, type) of an ELF64 x86-64 executable (buf 8-byte
 * aligned): *desc points into buf, *desc_len bytes.  -ENOENT when there is
 * none, -EINVAL when buf is no such ELF file. */
int loader_elf_note(const uint8_t *buf, size_t len, const char *name, uint32_t type,
		    const uint8_t **desc, uint32_t *desc_len);

/* Copies the PT_LOAD segments into guest RAM; -EINVAL for a malformed or
 * misplaced image (the reason is logged, naming `what`). */
int loader_load_test_guest(const struct mem_map *mem, const uint8_t *buf, size_t len,
			   const char *what, struct loaded_image *out);

/*
 * The ELF loader both test guests and Linux vmlinux images use: copies every
 * PT_LOAD of an ELF64 x86-64 executable to its p_paddr (at or above
 * BOARD_GUEST_LOAD_MIN), zeroes its bss, and checks that e_entry lies in an
 * executable segment.  A segment must lie in one slot unless span_slots,
 * which accepts any run of contiguous RAM (Linux under chunks:SIZE layouts).
 * buf must be 8-byte aligned.  -EINVAL with the reason logged.
 */
int loader_load_elf(const struct mem_map *mem, const uint8_t *buf, size_t len,
		    const char *what, bool span_slots, struct loaded_image *out);

/*
 * Guest-RAM ranges that may cross slot boundaries: true when every byte of
 * [gpa, gpa + len) is RAM.  loader_guest_copy copies src there (zeroes it
 * when src is NULL), slot by slot through mem_write; -EFAULT, with nothing
 * written, unless the whole range is RAM.
 */
bool loader_guest_range_ok(const struct mem_map *mem, uint64_t gpa, uint64_t len);
int loader_guest_copy(const struct mem_map *mem, uint64_t gpa, const void *src,
		      uint64_t len);

#endif

// SPDX-License-Identifier: MIT
/*
 * Kernel images: format probing and test-guest loading on ELF images built
 * in memory, plus reading files.  Images under test are copied into heap
 * buffers of their exact length, so ASan reports any read past the end.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "abi/board.h"
#include "base/util.h"
#include "boot/loader.h"
#include "mmu/memory.h"
#include "fake_mem.h"

#define MiB BOARD_MiB
#define IMG_MAX   4096
#define PH_OFF    64
#define NOTE_OFF  0x200
#define CODE_OFF  0x400
#define CODE_LEN  16
#define LOAD_ADDR 0x100000ULL
#define BSS_END   0x1000ULL /* memsz of the code segment */
#define NOTE_LEN  (sizeof(Elf64_Nhdr) + sizeof(MINIVMM_NOTE_NAME))

/* An image under construction: header, phdrs, one note, some code. */
struct img {
	union {
		uint8_t b[IMG_MAX];
		Elf64_Ehdr eh;
	} u;
	size_t len;
};

static Elf64_Phdr *ph(struct img *im, unsigned int i)
{
	return (Elf64_Phdr *)(im->u.b + PH_OFF) + i;
}

static Elf64_Nhdr *note_at(struct img *im, size_t off)
{
	return (Elf64_Nhdr *)(im->u.b + off);
}

static void put_note(struct img *im, size_t off, const char *name, uint32_t namesz,
		     uint32_t type)
{
	*note_at(im, off) = (Elf64_Nhdr){ .n_namesz = namesz, .n_descsz = 0, .n_type = type };
	memcpy(im->u.b + off + sizeof(Elf64_Nhdr), name, strlen(name) + 1);
}

/* A valid test guest: PT_NOTE + one R|X PT_LOAD at 1 MiB with bss. */
static void img_init(struct img *im)
{
	memset(im, 0, sizeof(*im));
	memcpy(im->u.eh.e_ident, ELFMAG, SELFMAG);
	im->u.eh.e_ident[EI_CLASS] = ELFCLASS64;
	im->u.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	im->u.eh.e_ident[EI_VERSION] = EV_CURRENT;
	im->u.eh.e_type = ET_EXEC;
	im->u.eh.e_machine = EM_X86_64;
	im->u.eh.e_version = EV_CURRENT;
	im->u.eh.e_entry = LOAD_ADDR;
	im->u.eh.e_phoff = PH_OFF;
	im->u.eh.e_ehsize = sizeof(Elf64_Ehdr);
	im->u.eh.e_phentsize = sizeof(Elf64_Phdr);
	im->u.eh.e_phnum = 2;
	*ph(im, 0) = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = NOTE_OFF,
				   .p_filesz = NOTE_LEN, .p_align = 4 };
	*ph(im, 1) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
				   .p_offset = CODE_OFF, .p_vaddr = LOAD_ADDR,
				   .p_paddr = LOAD_ADDR, .p_filesz = CODE_LEN,
				   .p_memsz = BSS_END, .p_align = 0x1000 };
	put_note(im, NOTE_OFF, MINIVMM_NOTE_NAME, sizeof(MINIVMM_NOTE_NAME),
		 MINIVMM_NOTE_TEST_GUEST);
	for (unsigned int i = 0; i < CODE_LEN; i++)
		im->u.b[CODE_OFF + i] = (uint8_t)(0xC0 + i);
	im->len = CODE_OFF + CODE_LEN;
}

/* Exact-length heap copy of the first len bytes (at least 1 byte allocated). */
static uint8_t *exact_copy(const void *src, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, src, len);
	return p;
}

static enum image_kind probe_len(const struct img *im, size_t len)
{
	uint8_t *p = exact_copy(im->u.b, len);
	enum image_kind k = loader_probe(p, len);

	free(p);
	return k;
}

static enum image_kind probe(const struct img *im)
{
	return probe_len(im, im->len);
}

static int load(const struct mem_map *mem, const struct img *im, struct loaded_image *out)
{
	uint8_t *p = exact_copy(im->u.b, im->len);
	int err = loader_load_test_guest(mem, p, im->len, "test image", out);

	free(p);
	return err;
}

static int load_err(const struct mem_map *mem, const struct img *im)
{
	struct loaded_image out;

	return load(mem, im, &out);
}

struct fixture {
	struct mem_map ram;     /* 16M split: one slot */
	struct mem_map chunked; /* 16M in 2M chunks: slot boundary at 2M */
	struct img im;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || fake_mem_init(&f->ram, "split", 16 * MiB) ||
	    fake_mem_init(&f->chunked, "chunks:2M", 16 * MiB))
		return -1;
	memset(f->ram.host_base, 0xAA, 16 * MiB);
	img_init(&f->im);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fake_mem_destroy(&f->ram);
	fake_mem_destroy(&f->chunked);
	free(f);
	return 0;
}

/* ---- probing ------------------------------------------------------------ */

static void test_probe_test_guest(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(probe(&f->im), IMAGE_TEST_GUEST);
}

static void test_probe_elf_other(void **state)
{
	struct fixture *f = *state;
	struct img im;

	/* No PT_NOTE at all. */
	im = f->im;
	ph(&im, 0)->p_type = PT_NULL;
	assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
	/* A note, but not ours: other owner, other type, unterminated name. */
	im = f->im;
	memcpy(im.u.b + NOTE_OFF + sizeof(Elf64_Nhdr), "minivmx", 8);
	assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
	im = f->im;
	note_at(&im, NOTE_OFF)->n_type = 2;
	assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
	im = f->im;
	note_at(&im, NOTE_OFF)->n_namesz = 7;
	assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
	/* Our note outside any PT_NOTE does not count. */
	im = f->im;
	ph(&im, 0)->p_type = PT_LOAD;
	ph(&im, 0)->p_memsz = 0;
	assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
}

static void test_probe_note_not_first(void **state)
{
	struct fixture *f = *state;
	struct img im = f->im;

	/* A GNU note with a 4-byte descriptor, then ours. */
	*note_at(&im, NOTE_OFF) = (Elf64_Nhdr){ .n_namesz = 4, .n_descsz = 3, .n_type = 1 };
	memcpy(im.u.b + NOTE_OFF + 12, "GNU\0\1\2\3\0", 8);
	put_note(&im, NOTE_OFF + 20, MINIVMM_NOTE_NAME, sizeof(MINIVMM_NOTE_NAME),
		 MINIVMM_NOTE_TEST_GUEST);
	ph(&im, 0)->p_filesz = 20 + NOTE_LEN;
	assert_int_equal(probe(&im), IMAGE_TEST_GUEST);

	/* Empty notes before ours are walked over. */
	im = f->im;
	memset(im.u.b + NOTE_OFF, 0, 5 * sizeof(Elf64_Nhdr));
	put_note(&im, NOTE_OFF + 5 * sizeof(Elf64_Nhdr), MINIVMM_NOTE_NAME,
		 sizeof(MINIVMM_NOTE_NAME), MINIVMM_NOTE_TEST_GUEST);
	ph(&im, 0)->p_filesz = 5 * sizeof(Elf64_Nhdr) + NOTE_LEN;
	assert_int_equal(probe(&im), IMAGE_TEST_GUEST);

	/* Our note in a second PT_NOTE segment. */
	im = f->im;
	im.u.eh.e_phnum = 3;
	*ph(&im, 2) = *ph(&im, 0);
	ph(&im, 0)->p_filesz = 0;
	assert_int_equal(probe(&im), IMAGE_TEST_GUEST);
}

static void test_probe_bzimage_unknown(void **state)
{
	uint8_t *buf = calloc(1, 0x1000);
	struct img im;

	assert_non_null(buf);
	memcpy(buf + 0x202, "HdrS", 4);
	assert_int_equal(loader_probe(buf, 0x1000), IMAGE_BZIMAGE);
	free(buf);

	memset(&im, 0, sizeof(im));
	memcpy(im.u.b + 0x202, "HdrS", 4);
	assert_int_equal(probe_len(&im, 0x206), IMAGE_BZIMAGE);
	assert_int_equal(probe_len(&im, 0x205), IMAGE_UNKNOWN); /* magic cut short */
	memcpy(im.u.b + 0x202, "HdrX", 4);
	assert_int_equal(probe_len(&im, 0x400), IMAGE_UNKNOWN);
	memcpy(im.u.b, "#!/bin/sh\n", 10);
	assert_int_equal(probe_len(&im, 10), IMAGE_UNKNOWN);
	assert_int_equal(probe_len(&im, 1), IMAGE_UNKNOWN);
	assert_int_equal(probe_len(&im, 0), IMAGE_UNKNOWN);
}

static void test_probe_bad_elf_headers(void **state)
{
	struct fixture *f = *state;
	struct img im;

	/* ELF magic, but a header cut short. */
	assert_int_equal(probe_len(&f->im, sizeof(Elf64_Ehdr) - 1), IMAGE_ELF_BAD);
	assert_int_equal(probe_len(&f->im, SELFMAG), IMAGE_ELF_BAD);
	assert_int_equal(probe_len(&f->im, SELFMAG - 1), IMAGE_UNKNOWN);
	/* Not ELF64 x86-64 ET_EXEC. */
	im = f->im;
	im.u.eh.e_ident[EI_CLASS] = ELFCLASS32;
	assert_int_equal(probe(&im), IMAGE_ELF_BAD);
	im = f->im;
	im.u.eh.e_machine = EM_386;
	assert_int_equal(probe(&im), IMAGE_ELF_BAD);
	im = f->im;
	im.u.eh.e_type = ET_REL;
	assert_int_equal(probe(&im), IMAGE_ELF_BAD);
	/* Program headers past the end of the file. */
	im = f->im;
	im.u.eh.e_phoff = im.len - sizeof(Elf64_Phdr) + 8;
	assert_int_equal(probe(&im), IMAGE_ELF_BAD);
	im = f->im;
	im.u.eh.e_phnum = 0xFFFF;
	assert_int_equal(probe(&im), IMAGE_ELF_BAD);
	im = f->im;
	im.u.eh.e_phoff = UINT64_MAX - 8;
	assert_int_equal(probe(&im), IMAGE_ELF_BAD);
	/* Without the magic it is just unknown. */
	im = f->im;
	im.u.eh.e_ident[EI_MAG1] = 'e';
	assert_int_equal(probe(&im), IMAGE_UNKNOWN);
}

/* ---- hostile notes: every case runs on an exact-size buffer ------------- */

static void test_probe_hostile_note_sizes(void **state)
{
	struct fixture *f = *state;
	static const uint32_t sizes[][2] = {
		{ 0xFFFFFFFF, 0 }, { 0, 0xFFFFFFFF }, { 0xFFFFFFFD, 0xFFFFFFFD },
		{ 0xFFFFFFFC, 0 }, { 8, 0xFFFFFFF8 }, { 9, 0 }, { 8, 1 }, { 21, 0 },
	};
	struct img im;

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		im = f->im;
		note_at(&im, NOTE_OFF)->n_namesz = sizes[i][0];
		note_at(&im, NOTE_OFF)->n_descsz = sizes[i][1];
		/* The note segment reaches exactly to the end of the file. */
		ph(&im, 0)->p_filesz = im.len - NOTE_OFF;
		if (sizes[i][0] == 8 && sizes[i][1] == 1)
			assert_int_equal(probe(&im), IMAGE_TEST_GUEST); /* desc fits */
		else
			assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
	}
}

static void test_probe_hostile_note_segment(void **state)
{
	struct fixture *f = *state;
	struct img im;

	/* Note segment past the end of the file, or wrapping. */
	im = f->im;
	ph(&im, 0)->p_filesz = im.len - NOTE_OFF + 1;
	assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
	im = f->im;
	ph(&im, 0)->p_offset = im.len + 1;
	assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
	im = f->im;
	ph(&im, 0)->p_offset = UINT64_MAX;
	ph(&im, 0)->p_filesz = 2;
	assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
	im = f->im;
	ph(&im, 0)->p_filesz = UINT64_MAX;
	assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
	/* Too short for a note header, at the very end of the file. */
	im = f->im;
	ph(&im, 0)->p_offset = im.len - 8;
	ph(&im, 0)->p_filesz = 8;
	assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
	/* Segment ends inside the name. */
	im = f->im;
	ph(&im, 0)->p_filesz = NOTE_LEN - 1;
	assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
}

static void test_probe_note_at_end_of_file(void **state)
{
	struct fixture *f = *state;
	struct img im = f->im;
	size_t off = im.len + (4 - im.len % 4) % 4;

	/* Move the note to the last bytes of the file. */
	put_note(&im, off, MINIVMM_NOTE_NAME, sizeof(MINIVMM_NOTE_NAME),
		 MINIVMM_NOTE_TEST_GUEST);
	ph(&im, 0)->p_offset = off;
	im.len = off + NOTE_LEN;
	assert_int_equal(probe(&im), IMAGE_TEST_GUEST);
	/* One byte less: the note no longer fits, and nothing reads past. */
	im.len--;
	assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
	ph(&im, 0)->p_filesz--;
	assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
	/* A padded name size that would end past the file. */
	im.len++;
	ph(&im, 0)->p_filesz++;
	note_at(&im, off)->n_namesz = 9;
	assert_int_equal(probe(&im), IMAGE_ELF_OTHER);
}

static void test_probe_misaligned(void **state)
{
	struct fixture *f = *state;
	struct img im;

	/* Offsets that are not naturally aligned: accepted or refused, but
	 * read without undefined behaviour (UBSan, halt_on_error). */
	im = f->im;
	memmove(im.u.b + NOTE_OFF + 1, im.u.b + NOTE_OFF, NOTE_LEN);
	ph(&im, 0)->p_offset = NOTE_OFF + 1;
	(void)probe(&im);
	im = f->im;
	memmove(im.u.b + PH_OFF + 4, im.u.b + PH_OFF, 2 * sizeof(Elf64_Phdr));
	im.u.eh.e_phoff = PH_OFF + 4;
	(void)probe(&im);
	(void)load_err(&f->ram, &im);
}

/* ---- loading ------------------------------------------------------------ */

static void test_load_ok(void **state)
{
	struct fixture *f = *state;
	struct loaded_image out;
	const uint8_t *ram = f->ram.host_base;

	assert_int_equal(load(&f->ram, &f->im, &out), 0);
	assert_int_equal(out.entry, LOAD_ADDR);
	assert_int_equal(out.start, LOAD_ADDR);
	assert_int_equal(out.end, LOAD_ADDR + BSS_END);
	/* File bytes at p_paddr, the rest of p_memsz zeroed, nothing beyond. */
	for (unsigned int i = 0; i < CODE_LEN; i++)
		assert_int_equal(ram[LOAD_ADDR + i], 0xC0 + i);
	for (uint64_t a = LOAD_ADDR + CODE_LEN; a < LOAD_ADDR + BSS_END; a++)
		if (ram[a] != 0)
			fail_msg("bss byte 0x%llx is 0x%x", (unsigned long long)a, ram[a]);
	assert_int_equal(ram[LOAD_ADDR + BSS_END], 0xAA);
	assert_int_equal(ram[LOAD_ADDR - 1], 0xAA);
}

static void test_load_two_segments(void **state)
{
	struct fixture *f = *state;
	struct img im = f->im;
	struct loaded_image out;
	const uint8_t *ram = f->ram.host_base;

	im.u.eh.e_phnum = 3;
	*ph(&im, 2) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W,
				    .p_offset = CODE_OFF + 8, .p_vaddr = 0xffffffff80400000ULL,
				    .p_paddr = 4 * MiB, .p_filesz = 8, .p_memsz = 0x3000 };
	/* Entry in the middle of the first segment's bss: still executable. */
	im.u.eh.e_entry = LOAD_ADDR + BSS_END - 1;
	assert_int_equal(load(&f->ram, &im, &out), 0);
	assert_int_equal(out.start, LOAD_ADDR);
	assert_int_equal(out.end, 4 * MiB + 0x3000);
	assert_int_equal(out.entry, LOAD_ADDR + BSS_END - 1);
	assert_int_equal(ram[4 * MiB], 0xC8);
	assert_int_equal(ram[4 * MiB + 7], 0xCF);
	assert_int_equal(ram[4 * MiB + 8], 0);
	assert_int_equal(ram[4 * MiB + 0x2FFF], 0);
	assert_int_equal(ram[4 * MiB + 0x3000], 0xAA);
	/* Where each segment's virtual addresses landed (for the gdb stub). */
	assert_int_equal(out.nr_segs, 2);
	assert_int_equal(out.segs[0].vaddr, LOAD_ADDR);
	assert_int_equal(out.segs[0].paddr, LOAD_ADDR);
	assert_int_equal(out.segs[0].size, BSS_END);
	assert_true(out.segs[1].vaddr == 0xffffffff80400000ULL);
	assert_int_equal(out.segs[1].paddr, 4 * MiB);
	assert_int_equal(out.segs[1].size, 0x3000);

	/* Entry in the data segment is refused. */
	im.u.eh.e_entry = 4 * MiB;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
}

static void test_load_entry_refusals(void **state)
{
	struct fixture *f = *state;
	struct img im;

	im = f->im;
	im.u.eh.e_entry = LOAD_ADDR + BSS_END; /* one past the segment */
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	im.u.eh.e_entry = LOAD_ADDR - 1;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	im.u.eh.e_entry = 0;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	/* Inside, but the segment is not executable. */
	im = f->im;
	ph(&im, 1)->p_flags = PF_R | PF_W;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
}

static void test_load_truncated(void **state)
{
	struct fixture *f = *state;
	struct img im;

	/* Segment data past the end of the file. */
	im = f->im;
	ph(&im, 1)->p_filesz = CODE_LEN + 1;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	im = f->im;
	im.len -= 1;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	im = f->im;
	ph(&im, 1)->p_offset = im.len + 0x1000;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	im = f->im;
	ph(&im, 1)->p_offset = UINT64_MAX - 7;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	im = f->im;
	ph(&im, 1)->p_filesz = UINT64_MAX;
	ph(&im, 1)->p_memsz = UINT64_MAX;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	/* Program headers past the end. */
	im = f->im;
	im.u.eh.e_phnum = 20;
	im.len = PH_OFF + 19 * sizeof(Elf64_Phdr);
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	im = f->im;
	im.u.eh.e_phoff = im.len;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	/* The header itself cut short. */
	im = f->im;
	im.len = sizeof(Elf64_Ehdr) - 1;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
}

static void test_load_filesz_over_memsz(void **state)
{
	struct fixture *f = *state;
	struct img im = f->im;

	ph(&im, 1)->p_memsz = CODE_LEN - 1;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	/* Equal is fine (no bss). */
	ph(&im, 1)->p_memsz = CODE_LEN;
	assert_int_equal(load_err(&f->ram, &im), 0);
}

static void test_load_placement_refusals(void **state)
{
	struct fixture *f = *state;
	struct img im;
	const uint64_t bad[] = {
		0, BOARD_BOOT_GDT, LOAD_ADDR - 0x1000, LOAD_ADDR - 1, /* below 1 MiB */
		16 * MiB, 16 * MiB - BSS_END + 1,                     /* past RAM */
		BOARD_MMIO_HOLE_START, UINT64_MAX - BSS_END + 2, UINT64_MAX,
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		im = f->im;
		ph(&im, 1)->p_paddr = bad[i];
		im.u.eh.e_entry = bad[i];
		if (load_err(&f->ram, &im) != -EINVAL)
			fail_msg("segment at 0x%llx was accepted", (unsigned long long)bad[i]);
	}
	/* Memory sizes that overflow or exceed RAM. */
	im = f->im;
	ph(&im, 1)->p_memsz = UINT64_MAX;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	ph(&im, 1)->p_memsz = 16 * MiB;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	/* The last page of RAM is fine. */
	im = f->im;
	ph(&im, 1)->p_paddr = 16 * MiB - BSS_END;
	im.u.eh.e_entry = 16 * MiB - BSS_END;
	assert_int_equal(load_err(&f->ram, &im), 0);
}

static void test_load_slot_boundary(void **state)
{
	struct fixture *f = *state;
	struct img im = f->im;

	/* Straddling the 2 MiB slot boundary: refused in chunks:2M ... */
	ph(&im, 1)->p_paddr = 2 * MiB - 0x800;
	im.u.eh.e_entry = 2 * MiB - 0x800;
	assert_int_equal(load_err(&f->chunked, &im), -EINVAL);
	/* ... though the same addresses are fine with one slot. */
	assert_int_equal(load_err(&f->ram, &im), 0);
	/* Ending exactly at the boundary is fine. */
	ph(&im, 1)->p_paddr = 2 * MiB - BSS_END;
	im.u.eh.e_entry = 2 * MiB - BSS_END;
	assert_int_equal(load_err(&f->chunked, &im), 0);
}

static void test_load_bad_headers(void **state)
{
	struct fixture *f = *state;
	struct img im;

	im = f->im;
	im.u.eh.e_machine = EM_386;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	im = f->im;
	im.u.eh.e_machine = EM_AARCH64;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	im = f->im;
	im.u.eh.e_ident[EI_CLASS] = ELFCLASS32;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	im = f->im;
	im.u.eh.e_ident[EI_DATA] = ELFDATA2MSB;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	im = f->im;
	im.u.eh.e_type = ET_DYN;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	im = f->im;
	im.u.eh.e_phentsize = sizeof(Elf64_Phdr) - 8;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	im = f->im;
	im.u.eh.e_phnum = 0;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	im = f->im;
	im.u.eh.e_ident[EI_MAG3] = 'G';
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
}

static void test_load_no_pt_load(void **state)
{
	struct fixture *f = *state;
	struct img im;

	im = f->im;
	ph(&im, 1)->p_type = PT_NULL;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
	/* An empty PT_LOAD loads nothing. */
	im = f->im;
	ph(&im, 1)->p_filesz = 0;
	ph(&im, 1)->p_memsz = 0;
	assert_int_equal(load_err(&f->ram, &im), -EINVAL);
}

/* ---- loader_read_file -------------------------------------------------- */

struct tmp {
	char dir[64];
	char path[96];
};

static void tmp_init(struct tmp *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/minivmm-test-loader-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/file", t->dir);
}

static void tmp_write(struct tmp *t, const void *data, size_t len)
{
	int fd = open(t->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void tmp_cleanup(struct tmp *t)
{
	unlink(t->path);
	rmdir(t->dir);
}

static void test_read_file(void **state)
{
	struct fixture *f = *state;
	struct tmp t;
	uint8_t *buf = NULL;
	size_t len = 0;

	tmp_init(&t);
	tmp_write(&t, f->im.u.b, f->im.len);
	assert_int_equal(loader_read_file(t.path, &buf, &len), 0);
	assert_int_equal(len, f->im.len);
	assert_memory_equal(buf, f->im.u.b, len);
	assert_int_equal(loader_probe(buf, len), IMAGE_TEST_GUEST);
	free(buf);
	tmp_cleanup(&t);
}

static void test_read_file_refusals(void **state)
{
	struct tmp t;
	uint8_t *buf = (uint8_t *)0x1;
	size_t len = 77;

	tmp_init(&t);
	/* Missing. */
	assert_int_equal(loader_read_file(t.path, &buf, &len), -ENOENT);
	/* A directory. */
	assert_int_equal(loader_read_file(t.dir, &buf, &len), -EINVAL);
	/* Not a regular file. */
	assert_int_equal(loader_read_file("/dev/null", &buf, &len), -EINVAL);
	/* Empty. */
	tmp_write(&t, "", 0);
	assert_int_equal(loader_read_file(t.path, &buf, &len), -EINVAL);
	/* Outputs untouched on failure. */
	assert_ptr_equal(buf, (uint8_t *)0x1);
	assert_int_equal(len, 77);
	tmp_cleanup(&t);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_probe_test_guest),
		T(test_probe_elf_other),
		T(test_probe_note_not_first),
		cmocka_unit_test(test_probe_bzimage_unknown),
		T(test_probe_bad_elf_headers),
		T(test_probe_hostile_note_sizes),
		T(test_probe_hostile_note_segment),
		T(test_probe_note_at_end_of_file),
		T(test_load_ok),
		T(test_load_two_segments),
		T(test_load_entry_refusals),
		T(test_load_truncated),
		T(test_load_filesz_over_memsz),
		T(test_load_placement_refusals),
		T(test_load_slot_boundary),
		T(test_load_bad_headers),
		T(test_load_no_pt_load),
		T(test_read_file),
		cmocka_unit_test(test_read_file_refusals),
		/* Last: under UBSan with halt_on_error a failure here ends the run. */
		T(test_probe_misaligned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

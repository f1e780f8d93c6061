// SPDX-License-Identifier: MIT
/*
 * Linux boot without KVM: synthetic bzImages (setup header, a protected-mode
 * part, a compressed payload holding a tiny vmlinux ELF) and raw ELF
 * vmlinux images loaded into real anonymous guest-RAM maps, then the zero
 * page, command line, initrd and e820 map checked in guest memory.  Images
 * are heap copies of their exact length, so ASan sees any overread.
 */
#include <elf.h>
#include <errno.h>
#include <lzma.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "abi/board.h"
#include "base/util.h"
#include "boot/linux_boot.h"
#include "base/log.h"
#include "mmu/memory.h"

#define MiB          BOARD_MiB
#define RAM          (64 * MiB)
#define SETUP_SECTS  4
#define SETUP_SIZE   ((SETUP_SECTS + 1) * 512)
#define PM_CODE      0x400            /* fake startup code before the payload */
#define INIT_SIZE    (4 * MiB)
#define PREF_ADDR    (16 * MiB)
#define K_TEXT       (16 * MiB)       /* the tiny vmlinux */
#define K_TEXT_FILE  0x100
#define K_TEXT_MEM   (3 * MiB)        /* crosses 2 MiB slot boundaries */
#define K_DATA       (20 * MiB)
#define K_DATA_LEN   16
#define K_ENTRY      (K_TEXT + 0x40)
#define ELF_LEN      0x400
#define VERSION      "6.1.0-minivmm (test@host) #1 SMP"

enum payload_kind { PAYLOAD_GZIP, PAYLOAD_XZ };

/* A bzImage under construction: tweak hdr, then serialise. */
struct bzimg {
	struct linux_boot_setup_header hdr;
	uint8_t setup[SETUP_SIZE];
	uint8_t pm[PM_CODE + 8192];
	size_t pm_len;
};

struct fixture {
	struct mem_map ram;
	FILE *log;
	char *log_buf;
	size_t log_len;
	struct bzimg bz;
	uint8_t elf[ELF_LEN];
};

static void make_elf(uint8_t *buf)
{
	Elf64_Ehdr eh = {
		.e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB,
			     EV_CURRENT },
		.e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
		.e_entry = K_ENTRY, .e_phoff = 64, .e_ehsize = sizeof(Elf64_Ehdr),
		.e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 2,
	};
	Elf64_Phdr ph[2] = {
		{ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0x200,
		  .p_vaddr = 0xffffffff81000000ULL, .p_paddr = K_TEXT,
		  .p_filesz = K_TEXT_FILE, .p_memsz = K_TEXT_MEM },
		{ .p_type = PT_LOAD, .p_flags = PF_R | PF_W, .p_offset = 0x300,
		  .p_vaddr = 0xffffffff81400000ULL, .p_paddr = K_DATA,
		  .p_filesz = K_DATA_LEN, .p_memsz = K_DATA_LEN },
	};

	memset(buf, 0, ELF_LEN);
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + 64, ph, sizeof(ph));
	for (unsigned int i = 0; i < K_TEXT_FILE; i++)
		buf[0x200 + i] = (uint8_t)(0x40 + i);
	for (unsigned int i = 0; i < K_DATA_LEN; i++)
		buf[0x300 + i] = (uint8_t)(0xD0 + i);
}

static size_t gzip_into(uint8_t *out, size_t cap, const uint8_t *in, size_t len)
{
	z_stream zs = { 0 };
	size_t n;

	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	n = zs.total_out;
	deflateEnd(&zs);
	return n;
}

/* xz, then the decompressed size appended as the kernel build does. */
static size_t xz_into(uint8_t *out, size_t cap, const uint8_t *in, size_t len)
{
	size_t pos = 0;

	assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, len, out, &pos,
						 cap - 4), LZMA_OK);
	for (int i = 0; i < 4; i++)
		out[pos + i] = (uint8_t)(len >> (8 * i));
	return pos + 4;
}

static void bz_init(struct bzimg *b, const uint8_t *elf, enum payload_kind kind)
{
	size_t cap = sizeof(b->pm) - PM_CODE, n;

	memset(b, 0, sizeof(*b));
	for (unsigned int i = 0; i < PM_CODE; i++)
		b->pm[i] = (uint8_t)(0xC0 + (i & 0x3f));
	n = kind == PAYLOAD_GZIP ? gzip_into(b->pm + PM_CODE, cap, elf, ELF_LEN)
				 : xz_into(b->pm + PM_CODE, cap, elf, ELF_LEN);
	b->pm_len = PM_CODE + n;
	memcpy(b->setup + 0x400, VERSION, sizeof(VERSION));
	b->hdr = (struct linux_boot_setup_header){
		.setup_sects = SETUP_SECTS, .syssize = (uint32_t)(b->pm_len / 16),
		.boot_flag = LINUX_BOOT_FLAG, .jump = 0x6aeb, .header = LINUX_BOOT_HDR_MAGIC,
		.version = 0x020f, .kernel_version = 0x200, .loadflags = LINUX_BOOT_LOADED_HIGH,
		.code32_start = 0x100000, .initrd_addr_max = 0x7fffffff,
		.kernel_alignment = 0x200000, .relocatable_kernel = 1,
		.xloadflags = LINUX_BOOT_XLF_KERNEL_64 | 2, .cmdline_size = 2047,
		.payload_offset = PM_CODE, .payload_length = (uint32_t)n,
		.pref_address = PREF_ADDR, .init_size = INIT_SIZE,
	};
}

/* The file: setup sectors with the header, then the protected-mode part. */
static uint8_t *bz_file(const struct bzimg *b, size_t *len)
{
	uint8_t *p = malloc(SETUP_SIZE + b->pm_len);

	assert_non_null(p);
	memcpy(p, b->setup, SETUP_SIZE);
	memcpy(p + LINUX_BOOT_HDR_OFFSET, &b->hdr, sizeof(b->hdr));
	memcpy(p + SETUP_SIZE, b->pm, b->pm_len);
	*len = SETUP_SIZE + b->pm_len;
	return p;
}

static const struct linux_boot_in default_in = {
	.cmdline = "console=ttyS0 panic=-1", .host_decompress = true, .nr_vcpus = 2,
	.what = "test bzImage",
};

/* Loads the first len bytes of img, copied to an exact-size buffer. */
static int boot_buf(const struct mem_map *m, const uint8_t *img, size_t len,
		    const struct linux_boot_in *tmpl, struct linux_boot_out *out)
{
	struct linux_boot_in in = *tmpl;
	uint8_t *copy = malloc(len ? len : 1);
	int err;

	assert_non_null(copy);
	memcpy(copy, img, len);
	in.kernel = copy;
	in.kernel_len = len;
	err = linux_boot_load(m, &in, out);
	free(copy);
	return err;
}

static int boot_bz(const struct mem_map *m, const struct bzimg *b,
		   const struct linux_boot_in *tmpl, struct linux_boot_out *out)
{
	size_t len;
	uint8_t *img = bz_file(b, &len);
	int err = boot_buf(m, img, len, tmpl, out);

	free(img);
	return err;
}

static const struct linux_boot_params *zero_page(const struct mem_map *m)
{
	return mem_gpa_to_hva(m, BOARD_LINUX_BOOT_PARAMS, sizeof(struct linux_boot_params));
}

/* The log so far, then a fresh one. */
static const char *log_take(struct fixture *f)
{
	fflush(f->log);
	return f->log_buf;
}

static void assert_logged(struct fixture *f, const char *needle)
{
	const char *text = log_take(f);

	if (!text || !strstr(text, needle))
		fail_msg("expected \"%s\" in the log: %s", needle, text ? text : "(empty)");
}

static int setup_with(void **state, const struct mem_layout_spec *spec, uint64_t ram)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || mem_map_create(&f->ram, spec, MEM_BACKING_ANON, ram, 1024))
		return -1;
	f->log = open_memstream(&f->log_buf, &f->log_len);
	if (!f->log)
		return -1;
	log_set_sink(f->log);
	make_elf(f->elf);
	bz_init(&f->bz, f->elf, PAYLOAD_GZIP);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, &(struct mem_layout_spec){ .kind = MEM_LAYOUT_SPLIT }, RAM);
}

static int setup_chunks(void **state)
{
	return setup_with(state, &(struct mem_layout_spec){ .kind = MEM_LAYOUT_CHUNKS,
							    .chunk_size = 2 * MiB }, RAM);
}

static int setup_split(void **state)
{
	return setup_with(state, &(struct mem_layout_spec){ .kind = MEM_LAYOUT_SPLIT },
			  3200 * MiB);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	log_set_sink(NULL);
	fclose(f->log);
	free(f->log_buf);
	mem_map_destroy(&f->ram);
	free(f);
	return 0;
}

static const uint8_t *guest(const struct fixture *f, uint64_t gpa)
{
	/* RAM below the hole is at its own offset in the host mapping. */
	return f->ram.host_base + gpa;
}

static void assert_e820_matches(const struct mem_map *m, const struct linux_boot_params *bp)
{
	struct e820_entry e[E820_MAX];
	int n = mem_e820_build(m, e, E820_MAX);

	assert_true(n > 0);
	assert_int_equal(bp->e820_entries, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(bp->e820_table[i].addr, e[i].addr);
		assert_int_equal(bp->e820_table[i].size, e[i].size);
		assert_int_equal(bp->e820_table[i].type, e[i].type);
	}
}

/* ---- the host-decompression path (the default) ---------------------- */

static void check_loaded_elf(const struct fixture *f, const struct linux_boot_out *out)
{
	assert_int_equal(out->entry, K_ENTRY);
	assert_int_equal(out->kernel_start, K_TEXT);
	assert_int_equal(out->kernel_end, K_DATA + K_DATA_LEN);
	assert_memory_equal(guest(f, K_TEXT), f->elf + 0x200, K_TEXT_FILE);
	assert_memory_equal(guest(f, K_DATA), f->elf + 0x300, K_DATA_LEN);
	for (uint64_t a = K_TEXT + K_TEXT_FILE; a < K_TEXT + K_TEXT_MEM; a++)
		if (*guest(f, a))
			fail_msg("bss byte at 0x%llx is not zero", (unsigned long long)a);
}

static void test_host_gzip(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_out out;
	const struct linux_boot_params *bp;
	const uint8_t *raw;

	memset(f->ram.host_base + K_TEXT, 0xAA, K_TEXT_MEM);
	assert_int_equal(boot_bz(&f->ram, &f->bz, &default_in, &out), 0);
	check_loaded_elf(f, &out);
	assert_int_equal(out.boot_params, BOARD_LINUX_BOOT_PARAMS);
	assert_string_equal(out.format,
			    "bzImage 6.1.0-minivmm, gzip payload decompressed on the host (0.0 MiB)");
	assert_int_equal(out.initrd_size, 0);

	bp = zero_page(&f->ram);
	raw = (const uint8_t *)bp;
	assert_int_equal(bp->hdr.boot_flag, LINUX_BOOT_FLAG);
	assert_int_equal(bp->hdr.header, LINUX_BOOT_HDR_MAGIC);
	assert_int_equal(bp->hdr.version, 0x020f);
	assert_int_equal(bp->hdr.setup_sects, SETUP_SECTS);
	assert_int_equal(bp->hdr.payload_length, f->bz.hdr.payload_length);
	assert_int_equal(bp->hdr.init_size, INIT_SIZE);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.loadflags, LINUX_BOOT_LOADED_HIGH | LINUX_BOOT_CAN_USE_HEAP);
	assert_int_equal(bp->hdr.heap_end_ptr, 0xfe00);
	assert_int_equal(bp->hdr.cmd_line_ptr, BOARD_LINUX_CMDLINE);
	assert_int_equal(bp->ext_cmd_line_ptr, 0);
	assert_int_equal(bp->hdr.ramdisk_image, 0);
	assert_int_equal(bp->hdr.ramdisk_size, 0);
	assert_int_equal(bp->hdr.hardware_subarch, 0);
	assert_int_equal(raw[0x1ef], 0); /* sentinel: a clean zero page */
	assert_int_equal(raw[0x0], 0);
	assert_string_equal((const char *)guest(f, BOARD_LINUX_CMDLINE), default_in.cmdline);
	assert_e820_matches(&f->ram, bp);
	assert_memory_equal(guest(f, BOARD_LINUX_MPTABLE), "_MP_", 4);
}

static void test_host_xz(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_out out;

	bz_init(&f->bz, f->elf, PAYLOAD_XZ);
	assert_int_equal(boot_bz(&f->ram, &f->bz, &default_in, &out), 0);
	check_loaded_elf(f, &out);
	assert_non_null(strstr(out.format, "xz payload decompressed on the host"));
}

/* chunks:2M: the kernel's bss, the zero page and the initrd cross slots. */
static void test_host_chunks(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_in in = default_in;
	struct linux_boot_out out;
	static uint8_t initrd[3 * 1024 * 1024];

	memset(initrd, 0x5A, sizeof(initrd));
	in.initrd = initrd;
	in.initrd_len = sizeof(initrd);
	assert_int_equal(boot_bz(&f->ram, &f->bz, &in, &out), 0);
	check_loaded_elf(f, &out);
	assert_int_equal(out.initrd_start, RAM - 3 * MiB);
	assert_memory_equal(guest(f, out.initrd_start), initrd, sizeof(initrd));
}

static void test_payload_errors(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_out out;
	struct bzimg b;
	uint8_t elf[ELF_LEN];

	/* Damaged gzip stream. */
	b = f->bz;
	b.pm[PM_CODE + 20] ^= 0xff;
	b.pm[PM_CODE + 21] ^= 0xff;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	assert_logged(f, "gzip payload is corrupt");
	/* Not a known format. */
	b = f->bz;
	memset(b.pm + PM_CODE, 0x33, 4);
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	/* The payload runs past the file. */
	b = f->bz;
	b.hdr.payload_length += 1;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	assert_logged(f, "truncated bzImage: payload");
	b.hdr.payload_offset = 0xfffffff0;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	b.hdr.payload_length = 0;
	b.hdr.payload_offset = PM_CODE;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	/* The vmlinux inside wants RAM the guest does not have. */
	memcpy(elf, f->elf, ELF_LEN);
	((Elf64_Phdr *)(elf + 64))[1].p_paddr = RAM;
	bz_init(&b, elf, PAYLOAD_GZIP);
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	assert_logged(f, "does not fit in RAM");
	/* A huge init_size does not let a payload decompress without bound. */
	b = f->bz;
	b.hdr.init_size = 0xffffffff;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), 0);
}

/* ---- the in-guest decompression path -------------------------------- */

static void test_in_guest(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_in in = default_in;
	struct linux_boot_out out;

	in.host_decompress = false;
	assert_int_equal(boot_bz(&f->ram, &f->bz, &in, &out), 0);
	assert_int_equal(out.entry, PREF_ADDR + 0x200);
	assert_int_equal(out.kernel_start, PREF_ADDR);
	assert_int_equal(out.kernel_end, PREF_ADDR + INIT_SIZE);
	assert_memory_equal(guest(f, PREF_ADDR), f->bz.pm, f->bz.pm_len);
	assert_int_equal(zero_page(&f->ram)->hdr.code32_start, PREF_ADDR);
	assert_string_equal(out.format, "bzImage 6.1.0-minivmm, gzip payload decompressed "
			    "by the guest (init_size 4.0 MiB)");
}

static void test_in_guest_placement(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_in in = default_in;
	struct linux_boot_out out;
	struct bzimg b;

	in.host_decompress = false;
	/* An unaligned preference moves up to kernel_alignment. */
	b = f->bz;
	b.hdr.pref_address = PREF_ADDR + 0x1000;
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), 0);
	assert_int_equal(out.kernel_start, PREF_ADDR + 0x200000);
	/* init_size past the end of RAM. */
	b = f->bz;
	b.hdr.init_size = RAM - PREF_ADDR + 1;
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), -ENOSPC);
	assert_logged(f, "use a larger -m");
	/* Not relocatable and its address is not RAM. */
	b = f->bz;
	b.hdr.relocatable_kernel = 0;
	b.hdr.pref_address = RAM;
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), -ENOSPC);
	assert_logged(f, "not relocatable");
	/* A bad alignment. */
	b = f->bz;
	b.hdr.kernel_alignment = 0x300000;
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), -EINVAL);
}

/* setup_sects 0 means 4: the protected-mode part starts at 5 * 512. */
static void test_setup_sects_zero(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_in in = default_in;
	struct linux_boot_out out;
	struct bzimg b = f->bz;

	b.hdr.setup_sects = 0;
	in.host_decompress = false;
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), 0);
	assert_memory_equal(guest(f, PREF_ADDR), b.pm, b.pm_len);
	in.host_decompress = true;
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), 0);
	assert_int_equal(out.entry, K_ENTRY);
	/* With 5 setup sectors the code would be read from the wrong place. */
	b.hdr.setup_sects = 5;
	assert_int_not_equal(boot_bz(&f->ram, &b, &in, &out), 0);
}

/* ---- header refusals ------------------------------------------------- */

static void test_refusals(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_in in = default_in;
	struct linux_boot_out out;
	struct bzimg b;

	b = f->bz;
	b.hdr.version = 0x0205;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	assert_logged(f, "boot protocol 2.05 is too old");
	b.hdr.version = 0x0201;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	assert_logged(f, "2.01");
	/* No 64-bit entry: flag clear, or a protocol before xloadflags. */
	b = f->bz;
	b.hdr.xloadflags = 0;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	assert_logged(f, "XLF_KERNEL_64");
	b = f->bz;
	b.hdr.version = 0x020b;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	/* Host decompression needs the 2.08 payload fields. */
	b = f->bz;
	b.hdr.version = 0x0207;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	assert_logged(f, "--no-host-decompress");
	in.host_decompress = false;
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), -EINVAL);
	/* zImage, bad boot flag, no vCPUs. */
	b = f->bz;
	b.hdr.loadflags = 0;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	b = f->bz;
	b.hdr.boot_flag = 0x55AA;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	in = default_in;
	in.nr_vcpus = 0;
	assert_int_equal(boot_bz(&f->ram, &f->bz, &in, &out), -EINVAL);
	/* Neither bzImage nor ELF. */
	assert_int_equal(boot_buf(&f->ram, (const uint8_t *)"MZ\0\0", 4, &default_in, &out),
			 -EINVAL);
}

static void test_truncated(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_out out;
	struct bzimg b;
	size_t len;
	uint8_t *img = bz_file(&f->bz, &len);
	const size_t cuts[] = {
		0, 0x100, 0x205, 0x206, 0x210, 0x26b, SETUP_SIZE - 1, SETUP_SIZE,
		SETUP_SIZE + 1, SETUP_SIZE + PM_CODE, len - 17, len - 1,
	};

	for (size_t i = 0; i < ARRAY_SIZE(cuts); i++)
		if (boot_buf(&f->ram, img, cuts[i], &default_in, &out) != -EINVAL)
			fail_msg("cut at %zu not refused", cuts[i]);
	assert_logged(f, "truncated bzImage");
	free(img);
	/* A header claiming to end past the setup sectors or before "version". */
	b = f->bz;
	b.hdr.jump = 0xffeb;
	b.hdr.setup_sects = 0;
	b.hdr.syssize = 0;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), 0);
	b.hdr.jump = 0x04eb;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	/* setup_sects far past the file. */
	b = f->bz;
	b.hdr.setup_sects = 0xff;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
	/* syssize claiming more than the file holds. */
	b = f->bz;
	b.hdr.syssize = 0xffffffff;
	assert_int_equal(boot_bz(&f->ram, &b, &default_in, &out), -EINVAL);
}

/* ---- command line, initrd, e820 ------------------------------------- */

static void test_cmdline(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_in in = default_in;
	struct linux_boot_out out;
	struct bzimg b = f->bz;
	char *long_line = malloc(BOARD_LINUX_CMDLINE_MAX + 1);

	b.hdr.cmdline_size = 16;
	in.cmdline = "0123456789abcdef";
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), 0);
	assert_string_equal((const char *)guest(f, BOARD_LINUX_CMDLINE), in.cmdline);
	in.cmdline = "0123456789abcdefg";
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), -EINVAL);
	assert_logged(f, "command line is 17 bytes; at most 16 fit");
	/* Our 4 KiB page bounds a kernel that would take more. */
	b.hdr.cmdline_size = 0xffffffff;
	memset(long_line, 'x', BOARD_LINUX_CMDLINE_MAX);
	long_line[BOARD_LINUX_CMDLINE_MAX] = '\0';
	in.cmdline = long_line;
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), -EINVAL);
	long_line[BOARD_LINUX_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), 0);
	free(long_line);
	/* No command line: an empty one. */
	in.cmdline = NULL;
	assert_int_equal(boot_bz(&f->ram, &f->bz, &in, &out), 0);
	assert_string_equal((const char *)guest(f, BOARD_LINUX_CMDLINE), "");
}

static void check_initrd(const struct fixture *f, const struct linux_boot_out *out,
			 const uint8_t *initrd, size_t len, uint64_t below)
{
	const struct linux_boot_params *bp = zero_page(&f->ram);

	assert_int_equal(out->initrd_size, len);
	assert_int_equal(out->initrd_start % PAGE_SIZE_4K, 0);
	assert_true(out->initrd_start + len <= below);
	/* As high as possible: less than a page left above it. */
	assert_true(below - (out->initrd_start + len) < PAGE_SIZE_4K);
	assert_int_equal(bp->hdr.ramdisk_image, (uint32_t)out->initrd_start);
	assert_int_equal(bp->ext_ramdisk_image, out->initrd_start >> 32);
	assert_int_equal(bp->hdr.ramdisk_size, len);
	assert_int_equal(bp->ext_ramdisk_size, 0);
	assert_memory_equal(guest(f, out->initrd_start), initrd, len);
}

static void test_initrd(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_in in = default_in;
	struct linux_boot_out out;
	struct bzimg b = f->bz;
	const size_t len = MiB + 123;
	uint8_t *initrd = malloc(len);

	for (size_t i = 0; i < len; i++)
		initrd[i] = (uint8_t)(i * 7);
	in.initrd = initrd;
	in.initrd_len = len;
	/* Top of RAM. */
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), 0);
	check_initrd(f, &out, initrd, len, RAM);
	/* Below initrd_addr_max. */
	b.hdr.initrd_addr_max = 32 * MiB - 1;
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), 0);
	check_initrd(f, &out, initrd, len, 32 * MiB);
	/* initrd_addr_max inside the kernel: below the kernel instead. */
	b.hdr.initrd_addr_max = 18 * MiB - 1;
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), 0);
	check_initrd(f, &out, initrd, len, K_TEXT);
	/* In-guest decompression: clear of load address + init_size too. */
	in.host_decompress = false;
	b.hdr.initrd_addr_max = PREF_ADDR + INIT_SIZE + MiB;
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), 0);
	check_initrd(f, &out, initrd, len, PREF_ADDR);
	free(initrd);
	/* Too large for the RAM there is. */
	in.host_decompress = true;
	in.initrd_len = RAM - 2 * MiB;
	in.initrd = calloc(1, in.initrd_len);
	assert_int_equal(boot_bz(&f->ram, &f->bz, &in, &out), -ENOSPC);
	assert_logged(f, "initrd");
	free((void *)in.initrd);
}

/* 3200M split: RAM on both sides of the hole, all of it in the e820 map;
 * the initrd stays below initrd_addr_max (2 GiB) though RAM goes higher. */
static void test_e820_split(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_in in = default_in;
	struct linux_boot_out out;
	const struct linux_boot_params *bp;
	static const uint8_t initrd[5000] = { 1, 2, 3 };

	in.initrd = initrd;
	in.initrd_len = sizeof(initrd);
	assert_int_equal(boot_bz(&f->ram, &f->bz, &in, &out), 0);
	bp = zero_page(&f->ram);
	assert_e820_matches(&f->ram, bp);
	assert_int_equal(bp->e820_entries, 5);
	assert_int_equal(bp->e820_table[0].addr, 0);
	assert_int_equal(bp->e820_table[0].type, E820_RAM);
	assert_int_equal(bp->e820_table[3].addr, MiB);
	assert_int_equal(bp->e820_table[3].size, BOARD_MMIO_HOLE_START - MiB);
	assert_int_equal(bp->e820_table[4].addr, BOARD_HIGH_RAM_START);
	assert_int_equal(bp->e820_table[4].size, 3200 * MiB - BOARD_MMIO_HOLE_START);
	assert_int_equal(bp->e820_table[4].type, E820_RAM);
	check_initrd(f, &out, initrd, sizeof(initrd), 0x80000000ULL);
}

/* A relocatable kernel whose preferred address is in the hole moves up. */
static void test_in_guest_above_hole(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_in in = default_in;
	struct linux_boot_out out;
	struct bzimg b = f->bz;

	in.host_decompress = false;
	b.hdr.pref_address = BOARD_MMIO_HOLE_START;
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), 0);
	assert_int_equal(out.kernel_start, BOARD_HIGH_RAM_START);
	assert_int_equal(out.entry, BOARD_HIGH_RAM_START + 0x200);
	/* ... unless it cannot run above 4 GiB. */
	b.hdr.xloadflags &= (uint16_t)~LINUX_BOOT_XLF_ABOVE_4G;
	assert_int_equal(boot_bz(&f->ram, &b, &in, &out), -ENOSPC);
}

/* ---- raw ELF vmlinux --------------------------------------------------- */

static void test_vmlinux(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_in in = default_in;
	struct linux_boot_out out;
	const struct linux_boot_params *bp;
	uint8_t *odd = malloc(ELF_LEN + 1);

	assert_int_equal(boot_buf(&f->ram, f->elf, ELF_LEN, &in, &out), 0);
	check_loaded_elf(f, &out);
	assert_string_equal(out.format, "ELF vmlinux (4.0 MiB loaded)");
	bp = zero_page(&f->ram);
	assert_int_equal(bp->hdr.boot_flag, LINUX_BOOT_FLAG);
	assert_int_equal(bp->hdr.header, LINUX_BOOT_HDR_MAGIC);
	assert_int_equal(bp->hdr.version, 0x020f);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.loadflags, LINUX_BOOT_LOADED_HIGH | LINUX_BOOT_CAN_USE_HEAP);
	assert_int_equal(bp->hdr.cmdline_size, 2048);
	assert_int_equal(bp->hdr.cmd_line_ptr, BOARD_LINUX_CMDLINE);
	assert_e820_matches(&f->ram, bp);
	/* A misaligned buffer works the same. */
	memcpy(odd + 1, f->elf, ELF_LEN);
	in.kernel = odd + 1;
	in.kernel_len = ELF_LEN;
	assert_int_equal(linux_boot_load(&f->ram, &in, &out), 0);
	assert_int_equal(out.entry, K_ENTRY);
	free(odd);
	/* Truncated ELF. */
	assert_int_equal(boot_buf(&f->ram, f->elf, 0x280, &in, &out), -EINVAL);
}

/* ---- PVH entry --------------------------------------------------------- */

/* The test vmlinux with a third program header: a PT_NOTE holding Xen's
 * PHYS32_ENTRY note (8-byte descriptor, as Linux emits it). */
static void add_pvh_note(uint8_t *elf, uint64_t entry)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
	Elf64_Phdr note = { .p_type = PT_NOTE, .p_offset = 0x380, .p_filesz = 24, .p_align = 4 };
	Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 8, .n_type = XEN_ELFNOTE_PHYS32_ENTRY };

	eh->e_phnum = 3;
	memcpy(elf + 64 + 2 * sizeof(Elf64_Phdr), &note, sizeof(note));
	memcpy(elf + 0x380, &nh, sizeof(nh));
	memcpy(elf + 0x380 + sizeof(nh), "Xen", 4);
	memcpy(elf + 0x380 + sizeof(nh) + 4, &entry, 8);
}

struct pvh_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

static void test_pvh(void **state)
{
	struct fixture *f = *state;
	struct linux_boot_in in = default_in;
	struct linux_boot_out out;
	struct pvh_start_info si;
	struct e820_entry e[E820_MAX];
	uint64_t mod[4], map[3];
	static const uint8_t initrd[3000] = { 9, 8, 7 };
	uint8_t elf[ELF_LEN];
	int n;

	in.pvh = true;
	/* No note: refused, with the kernel option that adds it. */
	assert_int_equal(boot_buf(&f->ram, f->elf, ELF_LEN, &in, &out), -EINVAL);
	assert_logged(f, "CONFIG_PVH=y");
	/* The note's entry, the start info where the zero page would be. */
	memcpy(elf, f->elf, ELF_LEN);
	add_pvh_note(elf, K_TEXT + 0x80);
	in.initrd = initrd;
	in.initrd_len = sizeof(initrd);
	assert_int_equal(boot_buf(&f->ram, elf, ELF_LEN, &in, &out), 0);
	assert_true(out.pvh);
	assert_int_equal(out.entry, K_TEXT + 0x80);
	assert_int_equal(out.boot_params, BOARD_LINUX_BOOT_PARAMS);
	assert_non_null(strstr(out.format, "PVH entry"));
	assert_int_equal(mem_read(&f->ram, BOARD_LINUX_BOOT_PARAMS, &si, sizeof(si)), 0);
	assert_int_equal(si.magic, 0x336ec578);
	assert_int_equal(si.version, 1);
	assert_int_equal(si.cmdline_paddr, BOARD_LINUX_CMDLINE);
	assert_string_equal((const char *)guest(f, BOARD_LINUX_CMDLINE), default_in.cmdline);
	assert_int_equal(si.nr_modules, 1);
	assert_int_equal(mem_read(&f->ram, si.modlist_paddr, mod, sizeof(mod)), 0);
	assert_int_equal(mod[0], out.initrd_start);
	assert_int_equal(mod[1], sizeof(initrd));
	n = mem_e820_build(&f->ram, e, E820_MAX);
	assert_int_equal(si.memmap_entries, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(mem_read(&f->ram, si.memmap_paddr + 24 * (uint64_t)i, map, 24), 0);
		assert_int_equal(map[0], e[i].addr);
		assert_int_equal(map[1], e[i].size);
		assert_int_equal((uint32_t)map[2], e[i].type);
	}
	/* Without an initrd: no module list. */
	in.initrd = NULL;
	in.initrd_len = 0;
	assert_int_equal(boot_buf(&f->ram, elf, ELF_LEN, &in, &out), 0);
	assert_int_equal(mem_read(&f->ram, BOARD_LINUX_BOOT_PARAMS, &si, sizeof(si)), 0);
	assert_int_equal(si.nr_modules, 0);
	/* An entry outside the image, or above 4 GiB. */
	add_pvh_note(elf, K_DATA + MiB);
	assert_int_equal(boot_buf(&f->ram, elf, ELF_LEN, &in, &out), -EINVAL);
	add_pvh_note(elf, 1ULL << 32 | K_TEXT);
	assert_int_equal(boot_buf(&f->ram, elf, ELF_LEN, &in, &out), -EINVAL);
	assert_logged(f, "not inside the loaded kernel");
	/* A bzImage the guest decompresses has no ELF to enter. */
	in.host_decompress = false;
	assert_int_equal(boot_bz(&f->ram, &f->bz, &in, &out), -EINVAL);
	assert_logged(f, "--boot-protocol=pvh enters the kernel's ELF image");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_host_gzip),
		T(test_pvh),
		T(test_host_xz),
		cmocka_unit_test_setup_teardown(test_host_chunks, setup_chunks, teardown),
		T(test_payload_errors),
		T(test_in_guest),
		T(test_in_guest_placement),
		T(test_setup_sects_zero),
		T(test_refusals),
		T(test_truncated),
		T(test_cmdline),
		T(test_initrd),
		cmocka_unit_test_setup_teardown(test_e820_split, setup_split, teardown),
		cmocka_unit_test_setup_teardown(test_in_guest_above_hole, setup_split, teardown),
		T(test_vmlinux),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

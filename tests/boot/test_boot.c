// SPDX-License-Identifier: MIT
/*
 * boot_prepare without KVM: which boot protocol a kernel file gets (minivmm
 * test guest or Linux), the refusals that depend on it (-initrd for a test
 * guest, --mmu=shadow for Linux), what PVM hosts add to Linux's command
 * line, and vCPU 0's entry registers.  The kernel files are small images
 * written into a temporary directory; builtin:NAME uses the guests linked
 * into this test as into minivmm.
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libfdt.h>

#include "abi/board.h"
#include "base/log.h"
#include "base/util.h"
#include "boot/boot.h"
#include "boot/linux_boot.h"
#include "boot/loader.h"
#include "vmm/cli.h"
#include "fake_mem.h"

#define MiB        BOARD_MiB
#define RAM        (64 * MiB)
#define LOAD_ADDR  0x100000ULL   /* the test guest */
#define K_ADDR     (16 * MiB)    /* the vmlinux and the bzImage */
#define K_ENTRY    (K_ADDR + 0x40)
#define CODE_OFF   0x400
#define CODE_LEN   64
#define ELF_LEN    (CODE_OFF + CODE_LEN)
#define NOTE_OFF   0x200
#define NOTE_LEN   (sizeof(Elf64_Nhdr) + sizeof(MINIVMM_NOTE_NAME))
#define SETUP_SECTS 4
#define SETUP_SIZE ((SETUP_SECTS + 1) * 512)
#define PM_LEN     0x1000
#define BZ_VERSION "6.1.0-boot-test"

struct fixture {
	struct mem_map *mem;
	char dir[64];
	char paths[4][128];  /* files of the current test, reused round-robin */
	unsigned int nr_paths;
	char path[128];
	FILE *log;
	char *log_buf;
	size_t log_len;
	struct vm_config cfg;
	struct boot_info info;
	struct mmu_plan mmu;
};

/* ---- kernel files ------------------------------------------------------ */

/* An ELF64 x86-64 executable with one R|X segment at paddr; with the
 * minivmm note it is a test guest, without it a vmlinux. */
static void make_elf(uint8_t *buf, uint64_t paddr, uint64_t entry, bool note)
{
	Elf64_Ehdr eh = {
		.e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB,
			     EV_CURRENT },
		.e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
		.e_entry = entry, .e_phoff = sizeof(Elf64_Ehdr),
		.e_ehsize = sizeof(Elf64_Ehdr), .e_phentsize = sizeof(Elf64_Phdr),
		.e_phnum = note ? 2 : 1,
	};
	Elf64_Phdr ph[2] = {
		{ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = CODE_OFF,
		  .p_vaddr = paddr, .p_paddr = paddr, .p_filesz = CODE_LEN,
		  .p_memsz = 0x1000, .p_align = 0x1000 },
		{ .p_type = PT_NOTE, .p_offset = NOTE_OFF, .p_filesz = NOTE_LEN, .p_align = 4 },
	};
	Elf64_Nhdr nh = { .n_namesz = sizeof(MINIVMM_NOTE_NAME), .n_descsz = 0,
			  .n_type = MINIVMM_NOTE_TEST_GUEST };

	memset(buf, 0, ELF_LEN);
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + sizeof(eh), ph, sizeof(ph));
	memcpy(buf + NOTE_OFF, &nh, sizeof(nh));
	memcpy(buf + NOTE_OFF + sizeof(nh), MINIVMM_NOTE_NAME, sizeof(MINIVMM_NOTE_NAME));
	for (unsigned int i = 0; i < CODE_LEN; i++)
		buf[CODE_OFF + i] = (uint8_t)(0x90 + i);
}

/* A bzImage with protocol 2.15 and no payload: only the kernel's own
 * decompressor (--no-host-decompress) can boot it. */
static uint8_t *make_bzimage(size_t *len)
{
	struct linux_boot_setup_header hdr = {
		.setup_sects = SETUP_SECTS, .syssize = PM_LEN / 16,
		.boot_flag = LINUX_BOOT_FLAG, .jump = 0x6aeb, .header = LINUX_BOOT_HDR_MAGIC,
		.version = 0x020f, .kernel_version = 0x200, .loadflags = LINUX_BOOT_LOADED_HIGH,
		.code32_start = 0x100000, .initrd_addr_max = 0x7fffffff,
		.kernel_alignment = 0x200000, .relocatable_kernel = 1,
		.xloadflags = LINUX_BOOT_XLF_KERNEL_64, .cmdline_size = 2047,
		.pref_address = K_ADDR, .init_size = 4 * MiB,
	};
	uint8_t *p = calloc(1, SETUP_SIZE + PM_LEN);

	assert_non_null(p);
	memcpy(p + LINUX_BOOT_HDR_OFFSET, &hdr, sizeof(hdr));
	memcpy(p + 0x400, BZ_VERSION, sizeof(BZ_VERSION));
	memset(p + SETUP_SIZE, 0xCC, PM_LEN);
	*len = SETUP_SIZE + PM_LEN;
	return p;
}

/* Writes a file into the fixture's directory; returns its path. */
static const char *put_file(struct fixture *f, const char *name, const void *buf, size_t len)
{
	char *path = f->paths[f->nr_paths++ % 4];
	FILE *out;

	snprintf(path, sizeof(f->paths[0]), "%s/%s", f->dir, name);
	out = fopen(path, "wb");
	assert_non_null(out);
	assert_int_equal(fwrite(buf, 1, len, out), len);
	assert_int_equal(fclose(out), 0);
	return path;
}

static const char *put_elf(struct fixture *f, const char *name, bool note)
{
	uint8_t elf[ELF_LEN];

	if (note)
		make_elf(elf, LOAD_ADDR, LOAD_ADDR, true);
	else
		make_elf(elf, K_ADDR, K_ENTRY, false);
	return put_file(f, name, elf, sizeof(elf));
}

static const char *put_bzimage(struct fixture *f)
{
	size_t len;
	uint8_t *bz = make_bzimage(&len);
	const char *path = put_file(f, "bzImage", bz, len);

	free(bz);
	return path;
}

/* ---- fixture ----------------------------------------------------------- */

static int group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/minivmm-test-boot.XXXXXX");
	f->mem = fake_mem_new("split", RAM);
	if (!f->mem || !mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const files[] = { "guest.elf", "vmlinux", "bzImage", "junk",
					     "trunc.elf", "initrd" };

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, files[i]);
		unlink(f->path);
	}
	rmdir(f->dir);
	fake_mem_free(f->mem);
	free(f);
	return 0;
}

/* Before each test: default configuration, a fresh log. */
static int setup(void **state)
{
	struct fixture *f = *state;

	cli_defaults(&f->cfg);
	f->cfg.ram_size = RAM;
	memset(&f->info, 0, sizeof(f->info));
	f->log = open_memstream(&f->log_buf, &f->log_len);
	if (!f->log)
		return -1;
	log_set_sink(f->log);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	log_set_sink(NULL);
	fclose(f->log);
	free(f->log_buf);
	f->log_buf = NULL;
	boot_info_free(&f->info);
	return 0;
}

static int prepare(struct fixture *f, bool host_is_pvm)
{
	/* As vm_build does: the plan from the configuration, then the boot. */
	mmu_plan_make(f->cfg.mmu, f->cfg.shadow_lazy, f->cfg.pt_pool_size, f->mem, &f->mmu);
	return boot_prepare(&f->cfg, f->mem, host_is_pvm, &f->mmu, &f->info);
}

static void assert_logged(struct fixture *f, const char *needle)
{
	fflush(f->log);
	if (!f->log_buf || !strstr(f->log_buf, needle))
		fail_msg("expected \"%s\" in the log: %s", needle,
			 f->log_buf ? f->log_buf : "(empty)");
}

/* The NUL-terminated command line the zero page points at. */
static const char *linux_cmdline(const struct fixture *f)
{
	const struct linux_boot_params *bp =
		mem_gpa_to_hva(f->mem, BOARD_LINUX_BOOT_PARAMS, sizeof(*bp));
	const char *s;

	assert_non_null(bp);
	s = mem_gpa_to_hva(f->mem, bp->hdr.cmd_line_ptr, BOARD_LINUX_CMDLINE_MAX);
	assert_non_null(s);
	assert_non_null(memchr(s, '\0', BOARD_LINUX_CMDLINE_MAX));
	return s;
}

/* ---- test guests -------------------------------------------------------- */

static void test_test_guest_file(void **state)
{
	struct fixture *f = *state;
	const uint8_t *code, *fdt;
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	f->cfg.kernel = put_elf(f, "guest.elf", true);
	f->cfg.append = "mode=hello";
	assert_int_equal(prepare(f, false), 0);
	assert_int_equal(f->info.protocol, BOOT_TEST_GUEST);
	assert_int_equal(f->info.entry, LOAD_ADDR);
	assert_int_equal(f->info.arg, BOARD_BOOT_FDT);
	assert_true(f->info.boot_end > BOARD_BOOT_GDT);
	assert_non_null(strstr(f->info.description, "test guest "));
	assert_non_null(strstr(f->info.description, "guest.elf"));
	/* The segment is in RAM, and so is the device tree, with bootargs. */
	code = mem_gpa_to_hva(f->mem, LOAD_ADDR, CODE_LEN);
	assert_non_null(code);
	assert_int_equal(code[0], 0x90);
	assert_int_equal(code[CODE_LEN - 1], 0x90 + CODE_LEN - 1);
	assert_non_null(f->info.fdt);
	fdt = mem_gpa_to_hva(f->mem, BOARD_BOOT_FDT, f->info.fdt_size);
	assert_non_null(fdt);
	assert_int_equal(fdt_check_header(fdt), 0);
	assert_memory_equal(fdt, f->info.fdt, f->info.fdt_size);
	assert_string_equal(fdt_getprop(fdt, fdt_path_offset(fdt, "/chosen"), "bootargs", NULL),
			    "mode=hello");
	/* The test-guest protocol: RDI = the device tree. */
	memset(&sregs, 0, sizeof(sregs));
	boot_entry_state(&f->info, 1, &sregs, &regs);
	assert_int_equal(regs.rip, LOAD_ADDR);
	assert_int_equal(regs.rdi, BOARD_BOOT_FDT);
	assert_int_equal(regs.rsi, 0);
}

static void test_test_guest_refuses_initrd(void **state)
{
	struct fixture *f = *state;
	static const uint8_t initrd[16];

	f->cfg.kernel = put_elf(f, "guest.elf", true);
	f->cfg.initrd = put_file(f, "initrd", initrd, sizeof(initrd));
	assert_int_equal(prepare(f, false), -EINVAL);
	assert_logged(f, "-initrd: minivmm test guests take no initrd");
}

static void test_test_guest_shadow(void **state)
{
	struct fixture *f = *state;

	f->cfg.kernel = put_elf(f, "guest.elf", true);
	f->cfg.mmu = MMU_SHADOW;
	assert_int_equal(prepare(f, false), 0);
	assert_int_equal(f->info.protocol, BOOT_TEST_GUEST);
	/* The boot identity map in RAM reaches the page-table pool above RAM:
	 * the PD of the pool's GiB is there. */
	assert_true(f->info.boot_end > BOARD_BOOT_PD + 3 * PAGE_SIZE_4K);
}

static void test_builtin_guests(void **state)
{
	struct fixture *f = *state;

	/* No -kernel: the embedded demo guest. */
	f->cfg.kernel = NULL;
	assert_int_equal(prepare(f, false), 0);
	assert_int_equal(f->info.protocol, BOOT_TEST_GUEST);
	assert_non_null(strstr(f->info.description, "embedded demo guest"));
	boot_info_free(&f->info);

	f->cfg.kernel = "builtin:mmu";
	assert_int_equal(prepare(f, false), 0);
	assert_int_equal(f->info.protocol, BOOT_TEST_GUEST);
	assert_non_null(strstr(f->info.description, "builtin:mmu"));
}

static void test_builtin_unknown(void **state)
{
	struct fixture *f = *state;

	f->cfg.kernel = "builtin:nope";
	assert_int_equal(prepare(f, false), -ENOENT);
	assert_logged(f, "no such built-in guest (there are: hello, mmu)");
}

/* ---- Linux -------------------------------------------------------------- */

static void test_vmlinux_is_linux(void **state)
{
	struct fixture *f = *state;
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	f->cfg.kernel = put_elf(f, "vmlinux", false);
	f->cfg.append = "console=ttyS0";
	assert_int_equal(prepare(f, false), 0);
	assert_int_equal(f->info.protocol, BOOT_LINUX);
	assert_int_equal(f->info.entry, K_ENTRY);
	assert_int_equal(f->info.arg, BOARD_LINUX_BOOT_PARAMS);
	assert_non_null(strstr(f->info.description, "ELF vmlinux"));
	assert_string_equal(linux_cmdline(f), "console=ttyS0");
	/* The 64-bit Linux protocol: RSI = the zero page. */
	memset(&sregs, 0, sizeof(sregs));
	boot_entry_state(&f->info, 1, &sregs, &regs);
	assert_int_equal(regs.rip, K_ENTRY);
	assert_int_equal(regs.rsi, BOARD_LINUX_BOOT_PARAMS);
}

static void test_bzimage_guest_decompress(void **state)
{
	struct fixture *f = *state;

	f->cfg.kernel = put_bzimage(f);
	f->cfg.no_host_decompress = true;
	assert_int_equal(prepare(f, false), 0);
	assert_int_equal(f->info.protocol, BOOT_LINUX);
	assert_int_equal(f->info.entry, K_ADDR + LINUX_BOOT_ENTRY64_OFFSET);
	assert_int_equal(f->info.arg, BOARD_LINUX_BOOT_PARAMS);
	assert_non_null(strstr(f->info.description, "bzImage " BZ_VERSION));
	assert_non_null(strstr(f->info.description, "decompressed by the guest"));
}

static void test_bzimage_needs_payload_for_host(void **state)
{
	struct fixture *f = *state;

	/* Host decompression (the default) needs the payload this one lacks. */
	f->cfg.kernel = put_bzimage(f);
	assert_int_equal(prepare(f, false), -EINVAL);
	assert_logged(f, "payload");
}

static void test_linux_refuses_shadow(void **state)
{
	struct fixture *f = *state;

	f->cfg.kernel = put_elf(f, "vmlinux", false);
	f->cfg.mmu = MMU_SHADOW;
	assert_int_equal(prepare(f, false), -EOPNOTSUPP);
	assert_logged(f, "does not speak minivmm's MMU protocol");

	boot_info_free(&f->info);
	f->cfg.kernel = put_bzimage(f);
	f->cfg.no_host_decompress = true;
	assert_int_equal(prepare(f, false), -EOPNOTSUPP);
}

/* The compacted XSAVE forms (xsavec 321, xsaves 323) are hidden even
 * with --keep-cpu-features: minivmm completes only the standard form.  A
 * user's own noxsave (FXSAVE only) makes them moot. */
static void test_pvm_host_hides_compacted_xsave(void **state)
{
	struct fixture *f = *state;

	f->cfg.kernel = put_elf(f, "vmlinux", false);
	f->cfg.keep_cpu_features = true;
	f->cfg.append = "console=ttyS0";
	assert_int_equal(prepare(f, true), 0);
	assert_string_equal(linux_cmdline(f), "console=ttyS0 clearcpuid=321,323");
	assert_logged(f, "pvm host: adding clearcpuid=321,323");
	assert_logged(f, "xsavec, xsaves");
	boot_info_free(&f->info);

	/* The user's noxsave: nothing to add. */
	f->cfg.append = "noxsave console=ttyS0";
	assert_int_equal(prepare(f, true), 0);
	assert_string_equal(linux_cmdline(f), "noxsave console=ttyS0");
	boot_info_free(&f->info);

	/* A longer word is not it. */
	f->cfg.append = "noxsaves";
	assert_int_equal(prepare(f, true), 0);
	assert_string_equal(linux_cmdline(f), "noxsaves clearcpuid=321,323");
	boot_info_free(&f->info);

	/* No -append at all. */
	f->cfg.append = NULL;
	assert_int_equal(prepare(f, true), 0);
	assert_string_equal(linux_cmdline(f), "clearcpuid=321,323");
}

/* SMAP (308) and POPCNT (151) hidden unless --keep-cpu-features; a
 * clearcpuid= of the user's own gets the missing bits in its list. */
static void test_pvm_host_clears_features(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *append, *want;
	} cases[] = {
		{ "console=ttyS0", "console=ttyS0 clearcpuid=321,323,308,151" },
		{ NULL, "clearcpuid=321,323,308,151" },
		{ "clearcpuid=297 quiet", "clearcpuid=297,321,323,308,151 quiet" },
		{ "quiet clearcpuid=151", "quiet clearcpuid=151,321,323,308" },
		{ "clearcpuid=1510,3080", "clearcpuid=1510,3080,321,323,308,151" },
		{ "clearcpuid=321,323,308,151", "clearcpuid=321,323,308,151" },
		{ "noxsave clearcpuid=308,151", "noxsave clearcpuid=308,151" },
		{ "noxsave", "noxsave clearcpuid=308,151" },
		{ "xclearcpuid=308", "xclearcpuid=308 clearcpuid=321,323,308,151" },
	};

	f->cfg.kernel = put_elf(f, "vmlinux", false);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		f->cfg.append = cases[i].append;
		assert_int_equal(prepare(f, true), 0);
		assert_string_equal(linux_cmdline(f), cases[i].want);
		boot_info_free(&f->info);
	}
	assert_logged(f, "--keep-cpu-features");
	/* Not on other hosts. */
	f->cfg.append = "console=ttyS0";
	assert_int_equal(prepare(f, false), 0);
	assert_string_equal(linux_cmdline(f), "console=ttyS0");
}

static void test_pvm_host_leaves_test_guests(void **state)
{
	struct fixture *f = *state;
	const void *fdt;

	f->cfg.kernel = put_elf(f, "guest.elf", true);
	f->cfg.append = "mode=hello";
	assert_int_equal(prepare(f, true), 0);
	fdt = f->info.fdt;
	assert_string_equal(fdt_getprop(fdt, fdt_path_offset(fdt, "/chosen"), "bootargs", NULL),
			    "mode=hello");
}

/* ---- files that are no kernel ------------------------------------------- */

static void test_unrecognised_files(void **state)
{
	struct fixture *f = *state;
	static const char junk[] = "not a kernel\nnot a kernel\nnot a kernel\n";
	uint8_t elf[ELF_LEN];

	f->cfg.kernel = put_file(f, "junk", junk, sizeof(junk));
	assert_int_equal(prepare(f, false), -EINVAL);
	assert_logged(f, "unrecognised kernel format");

	make_elf(elf, LOAD_ADDR, LOAD_ADDR, true);
	f->cfg.kernel = put_file(f, "trunc.elf", elf, 100);
	assert_int_equal(prepare(f, false), -EINVAL);
	assert_logged(f, "truncated or malformed ELF");

	snprintf(f->path, sizeof(f->path), "%s/missing", f->dir);
	f->cfg.kernel = f->path;
	assert_int_equal(prepare(f, false), -ENOENT);
	assert_logged(f, "cannot open");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_test_guest_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_test_guest_refuses_initrd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_test_guest_shadow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_builtin_guests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_builtin_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmlinux_is_linux, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bzimage_guest_decompress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bzimage_needs_payload_for_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linux_refuses_shadow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvm_host_hides_compacted_xsave, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvm_host_clears_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pvm_host_leaves_test_guests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unrecognised_files, setup, teardown),
	};

	return cmocka_run_group_tests_name("boot", tests, group_setup, group_teardown);
}

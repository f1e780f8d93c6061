// SPDX-License-Identifier: MIT
#include "boot/boot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi/board.h"
#include "base/util.h"
#include "boot/cache.h"
#include "boot/devtree.h"
#include "boot/linux_boot.h"
#include "boot/loader.h"
#include "base/log.h"
#include "cpu/x86.h"

/* Guests linked into the executable (src/embed.py): the demo, and the MMU
 * workloads `minivmm compare` runs (-kernel builtin:NAME). */
extern const uint8_t minivmm_demo_guest_start[];
extern const uint8_t minivmm_demo_guest_end[];
extern const uint8_t minivmm_mmu_guest_start[];
extern const uint8_t minivmm_mmu_guest_end[];

static const struct {
	const char *name;
	const uint8_t *start, *end;
} builtin_guests[] = {
	{ "hello", minivmm_demo_guest_start, minivmm_demo_guest_end },
	{ "mmu", minivmm_mmu_guest_start, minivmm_mmu_guest_end },
};
#define NR_BUILTINS ARRAY_SIZE(builtin_guests)

#define BUILTIN_PREFIX "builtin:"

static int find_builtin(const char *name, const uint8_t **buf, size_t *len)
{
	for (size_t i = 0; i < NR_BUILTINS; i++) {
		if (strcmp(builtin_guests[i].name, name))
			continue;
		*buf = builtin_guests[i].start;
		*len = (size_t)(builtin_guests[i].end - builtin_guests[i].start);
		return 0;
	}
	{
		char names[64] = "";

		for (size_t i = 0; i < NR_BUILTINS; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", builtin_guests[i].name);
		log_err("-kernel " BUILTIN_PREFIX "%s: no such built-in guest (there are: %s)",
			name, names);
	}
	return -ENOENT;
}

/* Where the loaded software lies, for the device tree's reserved map. */
struct loaded_range {
	uint64_t start, end;
};

static int load_test_guest(const struct mem_map *mem, const uint8_t *buf, size_t len,
			   const char *what, const struct vm_config *cfg,
			   struct boot_info *out, struct loaded_range *img)
{
	struct loaded_image li;
	int err;

	if (cfg->initrd) {
		log_err("-initrd: minivmm test guests take no initrd");
		return -EINVAL;
	}
	if (cfg->boot_protocol == BOOT_PROTOCOL_PVH) {
		log_err("--boot-protocol=pvh: %s is a minivmm test guest, not a Linux kernel", what);
		return -EINVAL;
	}
	err = loader_load_test_guest(mem, buf, len, what, &li);
	if (err)
		return err;
	out->protocol = BOOT_TEST_GUEST;
	out->entry = li.entry;
	out->arg = BOARD_BOOT_FDT;
	memcpy(out->segs, li.segs, sizeof(out->segs));
	out->nr_segs = li.nr_segs;
	img->start = li.start;
	img->end = li.end;
	snprintf(out->description, sizeof(out->description), "test guest %s", what);
	return 0;
}

/*
 * Kernel parameters that keep Linux away from what this host's KVM cannot
 * run in guest ring 0 (docs/booting-linux.md).  On PVM hosts the guest's
 * CPUID is the host's (PVM overrides KVM_SET_CPUID2 so that ring 0 agrees
 * with ring 3, where CPUID runs natively), so the VMM cannot hide features;
 * the kernel can be told not to use them:
 *  - clearcpuid= bits for the compacted XSAVE forms (always): minivmm
 *    completes XSAVE, XSAVEOPT and XRSTOR after an exit (vcpu_emulate.c),
 *    not XSAVEC/XSAVES/XRSTORS; Linux then context-switches the full
 *    vector state with the standard form.  (`noxsave` would avoid the
 *    exits but is unsafe here: guest user space runs natively with the
 *    host's XCR0 and uses AVX/AVX-512 whatever the guest kernel chose,
 *    and a kernel with FXSAVE only would let those registers leak between
 *    processes.  A user's own `noxsave` is respected.)
 *  - clearcpuid= bits (unless --keep-cpu-features) for features whose
 *    instructions minivmm completes after an exit each time the guest runs
 *    them: SMAP (clac/stac around every user access) and POPCNT (hweight).
 * Bit numbers (X86_FEATURE_*), which every 64-bit kernel's clearcpuid= takes.
 */
static const struct {
	unsigned int bit;
	const char *name;
	bool always; /* minivmm cannot complete the instruction at all */
} pvm_clear_features[] = {
	{ 10 * 32 + 1, "xsavec", true },
	{ 10 * 32 + 3, "xsaves", true },
	{ 9 * 32 + 20, "smap", false },
	{ 4 * 32 + 23, "popcnt", false },
};

/* Whether cmdline has the word (a whole parameter) w. */
static const char *find_param(const char *cmdline, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = strstr(cmdline, w); p; p = strstr(p + 1, w))
		if ((p == cmdline || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || w[n - 1] == '='))
			return p;
	return NULL;
}

/* Whether the comma list at v (up to a space) holds the number bit. */
static bool list_has(const char *v, unsigned int bit)
{
	while (*v && *v != ' ') {
		char *end;
		unsigned long x = strtoul(v, &end, 10);

		if (end != v && x == bit && (*end == ',' || *end == ' ' || !*end))
			return true;
		v = strpbrk(v, ", ");
		if (!v || *v == ' ')
			break;
		v++;
	}
	return false;
}

/* s with text inserted at offset at (s freed), or NULL. */
static char *insert(char *s, size_t at, const char *text)
{
	char *t;

	if (!s || asprintf(&t, "%.*s%s%s", (int)at, s, text, s + at) < 0)
		t = NULL;
	free(s);
	return t;
}

/*
 * PVM hosts, when the VM may be snapshotted (--snapshot-on, --api-sock):
 * guest code reads the host's TSC, which a restore cannot rewind, so a
 * guest keeping time with the TSC would see the whole time the snapshot sat
 * on disk pass at once (and spend ~0.25 ms of emulated ring 0 per second of
 * it catching up).  The KVM clock is restored where it stopped: keep time
 * with it, unless the user chose a clocksource (docs/snapshots.md).
 */
static char *snapshot_clocksource(char *s)
{
	if (!s || find_param(s, "clocksource="))
		return s;
	log_info("pvm host: adding clocksource=kvm-clock to the kernel command line, so that "
		 "a restored guest's time goes on from its snapshot (docs/snapshots.md)");
	return insert(s, strlen(s), *s ? " clocksource=kvm-clock" : "clocksource=kvm-clock");
}

static char *linux_cmdline(const char *append, bool host_is_pvm, bool keep_features,
			   bool snapshots)
{
	char *s = strdup(append ? append : "");
	char bits[64] = "", names[64] = "";
	const char *cc;

	if (!host_is_pvm || !s)
		return s;
	if (snapshots)
		s = snapshot_clocksource(s);
	if (!s)
		return NULL;
	cc = find_param(s, "clearcpuid=");
	for (size_t i = 0; i < ARRAY_SIZE(pvm_clear_features); i++) {
		size_t l = strlen(bits), m = strlen(names);

		if (cc && list_has(cc + strlen("clearcpuid="), pvm_clear_features[i].bit))
			continue;
		if (keep_features && !pvm_clear_features[i].always)
			continue;
		if (pvm_clear_features[i].always && find_param(s, "noxsave"))
			continue;
		snprintf(bits + l, sizeof(bits) - l, "%s%u", l ? "," : "",
			 pvm_clear_features[i].bit);
		snprintf(names + m, sizeof(names) - m, "%s%s", m ? ", " : "",
			 pvm_clear_features[i].name);
	}
	if (!*bits)
		return s;
	if (cc) {
		/* Into the user's own list: the kernel reads one clearcpuid=. */
		size_t at = (size_t)(strchrnul(cc, ' ') - s);
		char tail[80];

		snprintf(tail, sizeof(tail), ",%s", bits);
		s = insert(s, at, tail);
	} else {
		char param[80];

		snprintf(param, sizeof(param), "%sclearcpuid=%s", *s ? " " : "", bits);
		s = insert(s, strlen(s), param);
	}
	log_info("pvm host: adding clearcpuid=%s to the kernel command line (%s: "
		 "see docs/booting-linux.md; --keep-cpu-features keeps smap and popcnt)",
		 bits, names);
	return s;
}

static int load_linux(const struct mem_map *mem, const uint8_t *buf, size_t len,
		      const char *what, const struct vm_config *cfg, bool host_is_pvm,
		      struct boot_info *out, struct loaded_range *img)
{
	char *cmdline = linux_cmdline(cfg->append, host_is_pvm, cfg->keep_cpu_features,
				      cfg->snapshot_marker || cfg->api_sock);
	struct linux_boot_in in = {
		.kernel = buf, .kernel_len = len, .cmdline = cmdline,
		.host_decompress = !cfg->no_host_decompress, .nr_vcpus = cfg->nr_vcpus,
		.what = what, .initrd_what = cfg->initrd,
		.pvh = cfg->boot_protocol == BOOT_PROTOCOL_PVH,
	};
	struct linux_boot_out lb;
	struct boot_cache cache;
	uint8_t *initrd = NULL;
	int err = 0;

	if (!cmdline)
		return -ENOMEM;
	boot_cache_open(&cache, !cfg->no_cache && !cfg->no_host_decompress,
			cfg->cache_size ? cfg->cache_size : BOOT_CACHE_DEFAULT_MAX);
	if (cache.dir[0])
		in.cache = &cache;
	if (cfg->initrd)
		err = loader_read_file(cfg->initrd, &initrd, &in.initrd_len);
	in.initrd = initrd;
	if (!err)
		err = linux_boot_load(mem, &in, &lb);
	free(initrd);
	free(cmdline);
	if (err)
		return err;
	out->protocol = BOOT_LINUX;
	out->pvh = lb.pvh;
	out->entry = lb.entry;
	out->arg = lb.boot_params;
	memcpy(out->segs, lb.segs, sizeof(out->segs));
	out->nr_segs = lb.nr_segs;
	img->start = lb.kernel_start;
	img->end = lb.kernel_end;
	snprintf(out->description, sizeof(out->description), "%s", lb.format);
	return 0;
}

static int load_kernel(const struct vm_config *cfg, const struct mem_map *mem,
		       bool host_is_pvm, struct boot_info *out, struct loaded_range *img)
{
	const char *what = cfg->kernel ? cfg->kernel : "embedded demo guest";
	const uint8_t *buf;
	size_t len;
	uint8_t *file = NULL;
	int err;

	if (!cfg->kernel || !strncmp(cfg->kernel, BUILTIN_PREFIX, strlen(BUILTIN_PREFIX))) {
		err = find_builtin(cfg->kernel ? cfg->kernel + strlen(BUILTIN_PREFIX) : "hello",
				   &buf, &len);
		if (err)
			return err;
	} else {
		err = loader_read_file(cfg->kernel, &file, &len);
		if (err)
			return err;
		buf = file;
	}
	switch (loader_probe(buf, len)) {
	case IMAGE_TEST_GUEST:
		err = load_test_guest(mem, buf, len, what, cfg, out, img);
		break;
	case IMAGE_BZIMAGE:
	case IMAGE_ELF_OTHER:
		err = load_linux(mem, buf, len, what, cfg, host_is_pvm, out, img);
		break;
	case IMAGE_ELF_BAD:
		log_err("%s: truncated or malformed ELF image (minivmm needs a 64-bit "
			"x86-64 executable)", what);
		err = -EINVAL;
		break;
	default:
		log_err("%s: unrecognised kernel format (expected a Linux bzImage or "
			"vmlinux, or a minivmm test guest)", what);
		err = -EINVAL;
		break;
	}
	free(file);
	return err;
}

static int build_devtree(const struct vm_config *cfg, const struct mem_map *mem,
			 const struct loaded_range *img, const struct mmu_plan *mmu,
			 struct boot_info *out)
{
	struct devtree_reserved reserved[2] = {
		{ BOARD_BOOT_GDT, out->boot_end - BOARD_BOOT_GDT },
		{ img->start, img->end - img->start },
	};
	struct devtree_params dt = {
		.mem = mem, .nr_vcpus = cfg->nr_vcpus, .bootargs = cfg->append,
		.reserved = reserved, .nr_reserved = 2,
		.mmu = out->protocol == BOOT_TEST_GUEST ? mmu : NULL,
	};
	int err;

	out->fdt = malloc(BOARD_BOOT_FDT_MAX);
	if (!out->fdt)
		return -ENOMEM;
	err = devtree_build(out->fdt, BOARD_BOOT_FDT_MAX, &dt);
	if (err)
		return err;
	out->fdt_size = devtree_size(out->fdt);
	/* Linux on x86 takes its machine description from the zero page and
	 * the MP table; only test guests get the tree in RAM. */
	if (out->protocol == BOOT_TEST_GUEST)
		return mem_write(mem, BOARD_BOOT_FDT, out->fdt, out->fdt_size);
	return 0;
}

int boot_prepare(const struct vm_config *cfg, const struct mem_map *mem, bool host_is_pvm,
		 const struct mmu_plan *mmu, struct boot_info *out)
{
	struct loaded_range img;
	uint64_t map_top = mem_map_top(mem);
	int err;

	memset(out, 0, sizeof(*out));
	err = load_kernel(cfg, mem, host_is_pvm, out, &img);
	if (!err && out->protocol == BOOT_LINUX && cfg->mmu == MMU_SHADOW) {
		log_err("--mmu=shadow: %s does not speak minivmm's MMU protocol (only "
			"minivmm test guests do, see docs/shadow-mmu.md); use --mmu=tdp",
			out->description);
		err = -EOPNOTSUPP;
	}
	/* Test guests also reach the mailbox and the page-table pool through
	 * the boot identity map, to build their first page tables. */
	if (out->protocol == BOOT_TEST_GUEST)
		map_top = mmu->map_top;
	if (!err)
		err = x86_write_boot_tables(mem, map_top, &out->boot_end);
	if (!err && out->protocol == BOOT_LINUX)
		err = x86_write_linux_gdt(mem);
	if (!err)
		err = build_devtree(cfg, mem, &img, mmu, out);
	return err;
}

void boot_info_free(struct boot_info *info)
{
	free(info->fdt);
	info->fdt = NULL;
}

void boot_entry_state(const struct boot_info *info, int nx, struct kvm_sregs *sregs,
		      struct kvm_regs *regs)
{
	if (info->protocol == BOOT_LINUX && info->pvh) {
		x86_pvh_sregs(sregs);
		x86_boot_regs(regs, info->entry, 0);
		regs->rbx = info->arg;
	} else if (info->protocol == BOOT_LINUX) {
		x86_linux_sregs(sregs, nx);
		x86_boot_regs(regs, info->entry, 0);
		regs->rsi = info->arg;
	} else {
		x86_boot_sregs(sregs, nx);
		x86_boot_regs(regs, info->entry, info->arg);
	}
}

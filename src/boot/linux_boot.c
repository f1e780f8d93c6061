// SPDX-License-Identifier: MIT
#include "boot/linux_boot.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi/board.h"
#include "boot/cache.h"
#include "boot/decompress.h"
#include "boot/initrd.h"
#include "boot/loader.h"
#include "base/log.h"
#include "boot/mptable.h"

#define HDR_FIELD_AT(f, off)                                          \
	_Static_assert(LINUX_BOOT_HDR_OFFSET +                        \
		       offsetof(struct linux_boot_setup_header, f) == (off), #f)
HDR_FIELD_AT(boot_flag, 0x1fe);
HDR_FIELD_AT(header, 0x202);
HDR_FIELD_AT(kernel_version, 0x20e);
HDR_FIELD_AT(code32_start, 0x214);
HDR_FIELD_AT(heap_end_ptr, 0x224);
HDR_FIELD_AT(cmd_line_ptr, 0x228);
HDR_FIELD_AT(xloadflags, 0x236);
HDR_FIELD_AT(payload_offset, 0x248);
HDR_FIELD_AT(pref_address, 0x258);
HDR_FIELD_AT(init_size, 0x260);
_Static_assert(sizeof(struct linux_boot_setup_header) == 0x26c - LINUX_BOOT_HDR_OFFSET,
	       "setup header");
_Static_assert(offsetof(struct linux_boot_params, ext_cmd_line_ptr) == 0xc8, "ext_cmd_line_ptr");
_Static_assert(offsetof(struct linux_boot_params, e820_entries) == 0x1e8, "e820_entries");
_Static_assert(offsetof(struct linux_boot_params, hdr) == LINUX_BOOT_HDR_OFFSET, "hdr");
_Static_assert(offsetof(struct linux_boot_params, e820_table) == 0x2d0, "e820_table");
_Static_assert(sizeof(struct linux_boot_params) == 0x1000, "the zero page is 4 KiB");
_Static_assert(LINUX_BOOT_E820_MAX == E820_MAX, "one e820 bound");

/* Copied from the image up to the header's own end, but never past here. */
#define HDR_COPY_MAX      0x290
#define INITRD_MAX_OLD    0x37FFFFFFu
/* CAN_USE_HEAP wants a heap end; as QEMU: the command line's page, less 0x200. */
#define HEAP_END_PTR      0xfe00
#define VMLINUX_CMDLINE   2048
/* Bounds on a host-decompressed vmlinux (see load_host). */
#define MAX_DECOMPRESSED  (512ULL << 20)
#define MiB               1048576.0

/* A bzImage, its header checked against the file. */
struct bzimage {
	/* The zero page's header: the image's, then our changes; fields past
	 * the header's end read as 0. */
	struct linux_boot_setup_header *hdr;
	size_t hdr_end;             /* file offset one past the header */
	const uint8_t *pm;          /* the protected-mode kernel */
	size_t pm_len;
	char version[40];           /* first word of the kernel version, or "" */
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static void read_version(const uint8_t *buf, size_t setup_size, struct bzimage *bz)
{
	size_t off = (size_t)bz->hdr->kernel_version + 0x200, n = 0;

	if (!bz->hdr->kernel_version || off >= setup_size)
		return;
	while (off + n < setup_size && n + 1 < sizeof(bz->version) &&
	       buf[off + n] > ' ' && buf[off + n] < 0x7f) {
		bz->version[n] = (char)buf[off + n];
		n++;
	}
	bz->version[n] = '\0';
}

/* Checks the image's setup header and copies it, once, into the zero page. */
static int parse_bzimage(const struct linux_boot_in *in, struct linux_boot_params *bp,
			 struct bzimage *bz)
{
	const uint8_t *buf = in->kernel;
	size_t len = in->kernel_len, setup_size, copy_end;
	unsigned int ver;

	memset(bz, 0, sizeof(*bz));
	/* linux_boot_load saw "HdrS" at 0x202 (loader_is_bzimage). */
	bz->hdr_end = 0x202 + (size_t)buf[0x201];
	if (bz->hdr_end > len) {
		log_err("%s: truncated bzImage: the setup header ends at 0x%zx, the file at 0x%zx",
			in->what, bz->hdr_end, len);
		return -EINVAL;
	}
	if (bz->hdr_end < 0x208) {
		log_err("%s: malformed bzImage: the setup header ends at 0x%zx", in->what,
			bz->hdr_end);
		return -EINVAL;
	}
	bz->hdr = &bp->hdr;
	copy_end = bz->hdr_end < HDR_COPY_MAX ? bz->hdr_end : HDR_COPY_MAX;
	memcpy((uint8_t *)bp + LINUX_BOOT_HDR_OFFSET, buf + LINUX_BOOT_HDR_OFFSET,
	       copy_end - LINUX_BOOT_HDR_OFFSET);
	ver = bz->hdr->version;
	if (bz->hdr->boot_flag != LINUX_BOOT_FLAG) {
		log_err("%s: malformed bzImage: boot flag 0x%04x, not 0xAA55", in->what,
			bz->hdr->boot_flag);
		return -EINVAL;
	}
	if (ver < 0x206) {
		log_err("%s: Linux boot protocol %u.%02u is too old: minivmm needs 2.06 or "
			"later (Linux 2.6.22+)", in->what, ver >> 8, ver & 0xff);
		return -EINVAL;
	}
	if (!(bz->hdr->loadflags & LINUX_BOOT_LOADED_HIGH)) {
		log_err("%s: a zImage (loaded low) is not supported, only bzImage", in->what);
		return -EINVAL;
	}
	setup_size = ((size_t)(bz->hdr->setup_sects ? bz->hdr->setup_sects : 4) + 1) * 512;
	if (setup_size >= len || bz->hdr_end > setup_size) {
		log_err("%s: truncated bzImage: %zu bytes of real-mode setup, %zu in the file",
			in->what, setup_size, len);
		return -EINVAL;
	}
	bz->pm = buf + setup_size;
	bz->pm_len = len - setup_size;
	if ((uint64_t)bz->hdr->syssize * 16 > bz->pm_len) {
		log_err("%s: truncated bzImage: the protected-mode kernel has %zu of its %llu "
			"bytes", in->what, bz->pm_len, (unsigned long long)bz->hdr->syssize * 16);
		return -EINVAL;
	}
	if (in->host_decompress && ver < 0x208) {
		log_err("%s: boot protocol %u.%02u has no payload fields, so the kernel cannot "
			"be decompressed on the host: use --no-host-decompress", in->what,
			ver >> 8, ver & 0xff);
		return -EINVAL;
	}
	if (ver < 0x20c || !(bz->hdr->xloadflags & LINUX_BOOT_XLF_KERNEL_64)) {
		log_err("%s: the bzImage has no 64-bit entry point (XLF_KERNEL_64 clear, "
			"protocol %u.%02u): minivmm boots 64-bit kernels only", in->what,
			ver >> 8, ver & 0xff);
		return -EINVAL;
	}
	read_version(buf, setup_size, bz);
	return 0;
}

/* The payload (2.08+) inside the protected-mode kernel, or NULL. */
static const uint8_t *payload(const struct bzimage *bz, size_t *len)
{
	uint64_t off = bz->hdr->payload_offset, n = bz->hdr->payload_length;

	if (bz->hdr->version < 0x208 || n == 0 || off > bz->pm_len || n > bz->pm_len - off)
		return NULL;
	*len = (size_t)n;
	return bz->pm + off;
}

/* One line for messages; truncated to fit (the kernel version is free text). */
__attribute__((format(printf, 2, 3)))
static void set_format(struct linux_boot_out *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->format, sizeof(out->format), fmt, ap);
	va_end(ap);
}

static const char *space_before(const char *s)
{
	return *s ? " " : "";
}

/* The kernel decompresses itself: copy the protected-mode code where it
 * wants to run, with init_size bytes of RAM from there, and enter it at +0x200. */
static int load_in_guest(const struct mem_map *mem, const struct linux_boot_in *in,
			 const struct bzimage *bz, struct linux_boot_out *out)
{
	uint64_t size = bz->hdr->init_size > bz->pm_len ? bz->hdr->init_size : bz->pm_len;
	uint64_t addr = bz->hdr->version >= 0x20a ? bz->hdr->pref_address : bz->hdr->code32_start;
	uint64_t align = bz->hdr->kernel_alignment;
	/* Without XLF_CAN_BE_LOADED_ABOVE_4G the kernel must stay below 4 GiB. */
	uint64_t top = (bz->hdr->xloadflags & LINUX_BOOT_XLF_ABOVE_4G) ? UINT64_MAX : 1ULL << 32;
	bool reloc = bz->hdr->relocatable_kernel;
	const uint8_t *pl;
	size_t pl_len = 0;

	if (reloc && (align < PAGE_SIZE_4K || (align & (align - 1)))) {
		log_err("%s: kernel_alignment 0x%llx is not a power of two of 4 KiB or more",
			in->what, (unsigned long long)align);
		return -EINVAL;
	}
	if (reloc)
		addr = align_up(addr, align);
	if (reloc && !loader_guest_range_ok(mem, addr, size)) {
		/* Move up to the first aligned place in RAM with room. */
		struct mem_region r[8];
		unsigned int n = mem_ram_ranges(mem, r, 8);

		for (unsigned int i = 0; i < n; i++) {
			uint64_t a = align_up(r[i].gpa > addr ? r[i].gpa : addr, align);

			if (a < r[i].gpa + r[i].size && r[i].gpa + r[i].size - a >= size &&
			    a <= top - size) {
				addr = a;
				break;
			}
		}
	}
	if (addr < BOARD_GUEST_LOAD_MIN || !loader_guest_range_ok(mem, addr, size)) {
		log_err("%s: the kernel needs %.1f MiB of RAM (init_size) at 0x%llx%s: use a "
			"larger -m", in->what, size / MiB, (unsigned long long)addr,
			reloc ? " or above" : " (not relocatable)");
		return -ENOSPC;
	}
	if (loader_guest_copy(mem, addr, bz->pm, bz->pm_len))
		return -EFAULT;
	bz->hdr->code32_start = (uint32_t)addr;
	out->entry = addr + LINUX_BOOT_ENTRY64_OFFSET;
	out->kernel_start = addr;
	out->kernel_end = addr + size;
	pl = payload(bz, &pl_len);
	set_format(out, "bzImage%s%s, %s%sdecompressed by the guest (init_size %.1f MiB)",
		   space_before(bz->version), bz->version,
		   pl ? decompress_format_name(decompress_detect(pl, pl_len)) : "",
		   pl ? " payload " : "", size / MiB);
	return 0;
}

/* An ELF vmlinux, from the file or from a host-decompressed payload: its
 * segments may span slots (chunks:SIZE layouts). */
/* The kernel's PVH entry: XEN_ELFNOTE_PHYS32_ENTRY, a 32-bit physical
 * address (4 or 8 bytes of descriptor) inside the loaded image. */
static int pvh_entry(const uint8_t *elf, size_t len, const char *what,
		     const struct loaded_image *li, uint64_t *entry)
{
	const uint8_t *d;
	uint32_t dl;
	uint64_t e = 0;

	if (loader_elf_note(elf, len, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &d, &dl)) {
		log_err("%s: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): build the kernel with "
			"CONFIG_PVH=y, or use --boot-protocol=linux64", what);
		return -EINVAL;
	}
	if (dl != 4 && dl != 8) {
		log_err("%s: malformed PVH entry note (%u bytes)", what, dl);
		return -EINVAL;
	}
	memcpy(&e, d, dl);
	if (e >= (1ULL << 32) || e < li->start || e >= li->end) {
		log_err("%s: PVH entry 0x%llx is not inside the loaded kernel [0x%llx, 0x%llx)",
			what, (unsigned long long)e, (unsigned long long)li->start,
			(unsigned long long)li->end);
		return -EINVAL;
	}
	*entry = e;
	return 0;
}

static int load_elf(const struct mem_map *mem, const struct linux_boot_in *in,
		    const uint8_t *buf, size_t len, struct linux_boot_out *out)
{
	uint8_t *copy = NULL;
	struct loaded_image li;
	int err;

	/* The ELF parser reads headers in place: give it an aligned buffer. */
	if ((uintptr_t)buf % 8) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, buf, len);
		buf = copy;
	}
	err = loader_load_elf(mem, buf, len, in->what, true, &li);
	if (!err && in->pvh)
		err = pvh_entry(buf, len, in->what, &li, &li.entry);
	free(copy);
	if (err)
		return err;
	out->entry = li.entry;
	out->kernel_start = li.start;
	out->kernel_end = li.end;
	memcpy(out->segs, li.segs, sizeof(out->segs));
	out->nr_segs = li.nr_segs;
	return 0;
}

/* Decompress the payload here and load the vmlinux ELF inside it. */
static int load_host(const struct mem_map *mem, const struct linux_boot_in *in,
		     const struct bzimage *bz, struct linux_boot_out *out)
{
	/* The ELF file is about the kernel's memory image (init_size) plus its
	 * relocations; anything far larger is not a kernel. */
	uint64_t max = 2ULL * bz->hdr->init_size + (16ULL << 20);
	struct boot_cache_key key;
	bool cached = false;
	char fmt[16];
	uint8_t *elf;
	size_t pl_len = 0, elf_len;
	const uint8_t *pl = payload(bz, &pl_len);
	int err;

	if (!pl) {
		log_err("%s: truncated bzImage: payload [0x%x, +0x%x) is not inside the "
			"protected-mode kernel (%zu bytes)", in->what, bz->hdr->payload_offset,
			bz->hdr->payload_length, bz->pm_len);
		return -EINVAL;
	}
	if (max > MAX_DECOMPRESSED)
		max = MAX_DECOMPRESSED;
	if (in->cache) {
		boot_cache_key(in->cache, "kernel", pl, pl_len, &key);
		cached = boot_cache_get(in->cache, &key, (size_t)max, &elf, &elf_len, fmt,
					sizeof(fmt)) == 1;
	}
	if (!cached) {
		err = decompress(pl, pl_len, &elf, &elf_len, (size_t)max, fmt, sizeof(fmt));
		if (err) {
			log_err("%s: cannot decompress the kernel on the host "
				"(--no-host-decompress lets the kernel do it)", in->what);
			return err;
		}
		if (in->cache)
			(void)boot_cache_put(in->cache, &key, elf, elf_len, fmt);
	}
	err = load_elf(mem, in, elf, elf_len, out);
	free(elf);
	if (err)
		return err;
	set_format(out, "bzImage%s%s, %s payload decompressed on the host%s (%.1f MiB)",
		   space_before(bz->version), bz->version, fmt, cached ? ", from the cache" : "",
		   elf_len / MiB);
	return 0;
}

static int load_vmlinux(const struct mem_map *mem, const struct linux_boot_in *in,
			struct linux_boot_out *out)
{
	int err;

	if (in->kernel_len < 4 || memcmp(in->kernel, "\x7f" "ELF", 4)) {
		log_err("%s: not a Linux kernel (neither a bzImage nor an ELF vmlinux)",
			in->what);
		return -EINVAL;
	}
	err = load_elf(mem, in, in->kernel, in->kernel_len, out);
	if (err)
		return err;
	set_format(out, "ELF vmlinux (%.1f MiB loaded)",
		   (out->kernel_end - out->kernel_start) / MiB);
	return 0;
}

static int load_bzimage(const struct mem_map *mem, const struct linux_boot_in *in,
			struct linux_boot_params *bp, struct linux_boot_out *out)
{
	struct bzimage bz;
	int err = parse_bzimage(in, bp, &bz);

	if (err)
		return err;
	return in->host_decompress ? load_host(mem, in, &bz, out)
				   : load_in_guest(mem, in, &bz, out);
}

/* Highest page-aligned place below max_end, in RAM above 1 MiB, clear of
 * the kernel. */
static int place_initrd(const struct mem_map *mem, uint64_t size, uint64_t max_end,
			const struct linux_boot_out *k, uint64_t *at)
{
	struct mem_region r[8];
	unsigned int n = mem_ram_ranges(mem, r, 8);
	bool found = false;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t lo = r[i].gpa > BOARD_GUEST_LOAD_MIN ? r[i].gpa : BOARD_GUEST_LOAD_MIN;
		uint64_t hi = r[i].gpa + r[i].size < max_end ? r[i].gpa + r[i].size : max_end;
		uint64_t a;

		if (hi <= lo || hi - lo < size)
			continue;
		a = (hi - size) & ~(PAGE_SIZE_4K - 1);
		if (a < k->kernel_end && a + size > k->kernel_start) {
			if (k->kernel_start < lo + size)
				continue;
			a = (k->kernel_start - size) & ~(PAGE_SIZE_4K - 1);
		}
		if (a < lo)
			continue;
		if (!found || a > *at)
			*at = a;
		found = true;
	}
	return found ? 0 : -ENOSPC;
}

/* RAM below max_end: a bound for what an unpacked initrd may grow to. */
static uint64_t ram_below(const struct mem_map *mem, uint64_t max_end)
{
	struct mem_region r[8];
	unsigned int n = mem_ram_ranges(mem, r, 8);
	uint64_t sum = 0;

	for (unsigned int i = 0; i < n; i++)
		if (r[i].gpa < max_end)
			sum += (r[i].gpa + r[i].size < max_end ? r[i].gpa + r[i].size : max_end) -
			       r[i].gpa;
	return sum;
}

/* The initrd as the guest gets it: unpacked on the host when it has
 * compressed members (initrd.h), else the file itself. */
static int prepare_initrd(const struct mem_map *mem, const struct linux_boot_in *in,
			  uint64_t max_end, struct initrd_unpacked *u)
{
	const char *what = in->initrd_what ? in->initrd_what : "initrd";
	uint64_t cap = ram_below(mem, max_end);
	struct boot_cache_key key;
	bool cached = false;
	int err;

	memset(u, 0, sizeof(*u));
	if (!in->host_decompress)
		return 0;
	if (cap > SIZE_MAX)
		cap = SIZE_MAX;
	if (in->cache) {
		boot_cache_key(in->cache, "initrd", in->initrd, in->initrd_len, &key);
		cached = boot_cache_get(in->cache, &key, (size_t)cap, &u->data, &u->len,
					u->formats, sizeof(u->formats)) == 1;
	}
	if (!cached) {
		err = initrd_unpack(in->initrd, in->initrd_len, (size_t)cap, what, u);
		if (err) {
			log_err("%s: cannot unpack the initrd on the host "
				"(--no-host-decompress hands it to the kernel as it is)", what);
			return err;
		}
		/* Only what was unpacked: untouched files cost nothing to redo. */
		if (u->data && in->cache)
			(void)boot_cache_put(in->cache, &key, u->data, u->len, u->formats);
	}
	if (u->data)
		log_info("%s: %s, %.1f MiB unpacked on the host to %.1f MiB of cpio%s", what,
			 u->formats, in->initrd_len / MiB, u->len / MiB,
			 cached ? " (from the cache)" : "");
	else if (strcmp(u->why_untouched, "uncompressed already"))
		log_info("%s: handed to the kernel as it is: %s", what, u->why_untouched);
	return 0;
}

static int load_initrd(const struct mem_map *mem, const struct linux_boot_in *in,
		       uint32_t addr_max, struct linux_boot_params *bp,
		       struct linux_boot_out *out)
{
	uint64_t max_end = (uint64_t)(addr_max ? addr_max : INITRD_MAX_OLD) + 1, at = 0;
	struct initrd_unpacked u;
	const uint8_t *data;
	size_t len;
	int err;

	if (!in->initrd || !in->initrd_len)
		return 0;
	err = prepare_initrd(mem, in, max_end, &u);
	if (err)
		return err;
	data = u.data ? u.data : in->initrd;
	len = u.data ? u.len : in->initrd_len;
	if (len >= max_end || place_initrd(mem, len, max_end, out, &at)) {
		log_err("%s: the initrd (%.1f MiB%s) does not fit in RAM below 0x%llx beside the "
			"kernel: use a larger -m", in->what, len / MiB,
			u.data ? " unpacked" : "", (unsigned long long)max_end);
		free(u.data);
		return -ENOSPC;
	}
	err = loader_guest_copy(mem, at, data, len) ? -EFAULT : 0;
	free(u.data);
	if (err)
		return err;
	bp->hdr.ramdisk_image = (uint32_t)at;
	bp->ext_ramdisk_image = (uint32_t)(at >> 32);
	bp->hdr.ramdisk_size = (uint32_t)len;
	bp->ext_ramdisk_size = (uint32_t)((uint64_t)len >> 32);
	out->initrd_start = at;
	out->initrd_size = len;
	out->initrd_unpacked = u.data != NULL;
	return 0;
}

static int write_cmdline(const struct mem_map *mem, const struct linux_boot_in *in,
			 struct linux_boot_params *bp)
{
	const char *cmdline = in->cmdline ? in->cmdline : "";
	size_t len = strlen(cmdline);
	uint64_t max = bp->hdr.cmdline_size;

	if (max > BOARD_LINUX_CMDLINE_MAX - 1)
		max = BOARD_LINUX_CMDLINE_MAX - 1;
	if (len > max) {
		log_err("%s: the kernel command line is %zu bytes; at most %llu fit", in->what,
			len, (unsigned long long)max);
		return -EINVAL;
	}
	if (mem_write(mem, BOARD_LINUX_CMDLINE, cmdline, len + 1))
		return -EFAULT;
	bp->hdr.cmd_line_ptr = (uint32_t)BOARD_LINUX_CMDLINE;
	bp->ext_cmd_line_ptr = (uint32_t)(BOARD_LINUX_CMDLINE >> 32);
	return 0;
}

static int fill_e820(const struct mem_map *mem, struct linux_boot_params *bp)
{
	struct e820_entry e[LINUX_BOOT_E820_MAX];
	int n = mem_e820_build(mem, e, LINUX_BOOT_E820_MAX);

	if (n < 0) {
		log_err("the e820 map has more than %d entries", LINUX_BOOT_E820_MAX);
		return n;
	}
	for (int i = 0; i < n; i++)
		bp->e820_table[i] =
			(struct linux_boot_e820_entry){ e[i].addr, e[i].size, e[i].type };
	bp->e820_entries = (uint8_t)n;
	return 0;
}

static void vmlinux_header(struct linux_boot_setup_header *h)
{
	h->boot_flag = LINUX_BOOT_FLAG;
	h->header = LINUX_BOOT_HDR_MAGIC;
	h->version = 0x020f;
	h->loadflags = LINUX_BOOT_LOADED_HIGH;
	h->cmdline_size = VMLINUX_CMDLINE;
	h->initrd_addr_max = INITRD_MAX_OLD;
}

/*
 * The PVH boot ABI's start of day (xen/include/public/arch-x86/hvm/
 * start_info.h, version 1): hvm_start_info at BOARD_LINUX_BOOT_PARAMS, the
 * initrd as module 0 and the memory map after it, all taken from the zero
 * page already filled for the 64-bit protocol (the kernel rebuilds its own
 * boot_params from these).
 */
#define PVH_START_MAGIC 0x336ec578u

struct pvh_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

struct pvh_module {
	uint64_t paddr, size, cmdline_paddr, reserved;
};

struct pvh_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

#define PVH_MODLIST (BOARD_LINUX_BOOT_PARAMS + 0x40)
#define PVH_MEMMAP  (BOARD_LINUX_BOOT_PARAMS + 0x80)

static int write_pvh_start_info(const struct mem_map *mem, const struct linux_boot_params *bp)
{
	struct pvh_memmap_entry map[LINUX_BOOT_E820_MAX];
	struct pvh_start_info si = {
		.magic = PVH_START_MAGIC, .version = 1,
		.cmdline_paddr = bp->hdr.cmd_line_ptr, .memmap_paddr = PVH_MEMMAP,
		.memmap_entries = bp->e820_entries,
	};
	struct pvh_module mod = {
		.paddr = bp->hdr.ramdisk_image | (uint64_t)bp->ext_ramdisk_image << 32,
		.size = bp->hdr.ramdisk_size | (uint64_t)bp->ext_ramdisk_size << 32,
	};

	_Static_assert(sizeof(si) == 56, "hvm_start_info v1 is 56 bytes");
	_Static_assert(PVH_MEMMAP + sizeof(map) <= BOARD_LINUX_CMDLINE, "PVH data overlaps");
	for (unsigned int i = 0; i < bp->e820_entries; i++)
		map[i] = (struct pvh_memmap_entry){ bp->e820_table[i].addr, bp->e820_table[i].size,
						    bp->e820_table[i].type, 0 };
	if (mod.size) {
		si.nr_modules = 1;
		si.modlist_paddr = PVH_MODLIST;
	}
	if (mem_write(mem, BOARD_LINUX_BOOT_PARAMS, &si, sizeof(si)) ||
	    (mod.size && mem_write(mem, PVH_MODLIST, &mod, sizeof(mod))) ||
	    mem_write(mem, PVH_MEMMAP, map, bp->e820_entries * sizeof(map[0]))) {
		log_err("the PVH start info at 0x%llx is not guest RAM",
			(unsigned long long)BOARD_LINUX_BOOT_PARAMS);
		return -EFAULT;
	}
	return 0;
}

/* Everything after the kernel: zero page (or PVH start info), command
 * line, initrd, MP table. */
static int write_boot_data(const struct mem_map *mem, const struct linux_boot_in *in,
			   struct linux_boot_params *bp, struct linux_boot_out *out)
{
	int err;

	bp->hdr.type_of_loader = 0xff;
	bp->hdr.loadflags |= LINUX_BOOT_CAN_USE_HEAP;
	bp->hdr.heap_end_ptr = HEAP_END_PTR;
	bp->hdr.hardware_subarch = 0; /* X86_SUBARCH_PC */
	bp->hdr.hardware_subarch_data = 0;
	bp->hdr.setup_data = 0;
	err = write_cmdline(mem, in, bp);
	if (!err)
		err = load_initrd(mem, in, bp->hdr.initrd_addr_max, bp, out);
	if (!err)
		err = fill_e820(mem, bp);
	if (!err)
		err = mptable_write(mem, BOARD_LINUX_MPTABLE, in->nr_vcpus, NULL);
	if (!err && in->pvh)
		return write_pvh_start_info(mem, bp);
	if (!err && mem_write(mem, BOARD_LINUX_BOOT_PARAMS, bp, sizeof(*bp))) {
		log_err("the zero page at 0x%llx is not guest RAM",
			(unsigned long long)BOARD_LINUX_BOOT_PARAMS);
		err = -EFAULT;
	}
	return err;
}

int linux_boot_load(const struct mem_map *mem, const struct linux_boot_in *in,
		    struct linux_boot_out *out)
{
	struct linux_boot_params *bp;
	int err;

	memset(out, 0, sizeof(*out));
	if (in->nr_vcpus == 0 || in->nr_vcpus > MPTABLE_MAX_CPUS) {
		log_err("%s: Linux boot supports 1 to %u vCPUs, not %u", in->what,
			MPTABLE_MAX_CPUS, in->nr_vcpus);
		return -EINVAL;
	}
	bp = calloc(1, sizeof(*bp));
	if (!bp)
		return -ENOMEM;
	if (in->pvh && !in->host_decompress && loader_is_bzimage(in->kernel, in->kernel_len)) {
		log_err("%s: --boot-protocol=pvh enters the kernel's ELF image: give a vmlinux, or "
			"let minivmm decompress the bzImage (no --no-host-decompress)", in->what);
		free(bp);
		return -EINVAL;
	}
	if (loader_is_bzimage(in->kernel, in->kernel_len)) {
		err = load_bzimage(mem, in, bp, out);
	} else {
		err = load_vmlinux(mem, in, out);
		vmlinux_header(&bp->hdr);
	}
	if (!err)
		err = write_boot_data(mem, in, bp, out);
	free(bp);
	if (err)
		return err;
	out->boot_params = BOARD_LINUX_BOOT_PARAMS;
	out->pvh = in->pvh;
	if (in->pvh)
		snprintf(out->format + strlen(out->format), sizeof(out->format) - strlen(out->format),
			 ", PVH entry");
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Loading Linux for the 64-bit boot protocol (the kernel's
 * Documentation/arch/x86/boot.rst), without KVM: the kernel (a bzImage,
 * decompressed on the host or by itself, or an ELF vmlinux), the zero page
 * with the e820 map, the command line, the initrd and the MP table.  The
 * caller then enters `entry` in long mode with RSI = `boot_params`, the
 * kernel, zero page and command line identity-mapped.
 */
#ifndef MINIVMM_LINUX_BOOT_H
#define MINIVMM_LINUX_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/loader.h"
#include "mmu/memory.h"

/* The real-mode kernel header, at offset 0x1f1 of both the image and the
 * zero page (boot.rst, "THE REAL-MODE KERNEL HEADER"). */
struct linux_boot_setup_header {
	uint8_t setup_sects;            /* 0x1f1: 0 means 4 */
	uint16_t root_flags;
	uint32_t syssize;               /* 0x1f4: protected-mode size / 16 */
	uint16_t ram_size;
	uint16_t vid_mode;
	uint16_t root_dev;
	uint16_t boot_flag;             /* 0x1fe: 0xAA55 */
	uint16_t jump;                  /* 0x200: its 2nd byte ends the header */
	uint32_t header;                /* 0x202: "HdrS" */
	uint16_t version;               /* 0x206: protocol, e.g. 0x020f */
	uint32_t realmode_swtch;
	uint16_t start_sys_seg;
	uint16_t kernel_version;        /* 0x20e: version string - 0x200 */
	uint8_t type_of_loader;         /* 0x210 */
	uint8_t loadflags;              /* 0x211: LINUX_BOOT_LOADED_HIGH, ... */
	uint16_t setup_move_size;
	uint32_t code32_start;          /* 0x214 */
	uint32_t ramdisk_image;         /* 0x218 */
	uint32_t ramdisk_size;          /* 0x21c */
	uint32_t bootsect_kludge;
	uint16_t heap_end_ptr;          /* 0x224 */
	uint8_t ext_loader_ver;
	uint8_t ext_loader_type;
	uint32_t cmd_line_ptr;          /* 0x228 */
	uint32_t initrd_addr_max;       /* 0x22c: 2.03+ */
	uint32_t kernel_alignment;      /* 0x230: 2.05+ */
	uint8_t relocatable_kernel;     /* 0x234: 2.05+ */
	uint8_t min_alignment;          /* 0x235: 2.10+ */
	uint16_t xloadflags;            /* 0x236: 2.12+ */
	uint32_t cmdline_size;          /* 0x238: 2.06+ */
	uint32_t hardware_subarch;      /* 0x23c: 2.07+ */
	uint64_t hardware_subarch_data;
	uint32_t payload_offset;        /* 0x248: 2.08+ */
	uint32_t payload_length;        /* 0x24c: 2.08+ */
	uint64_t setup_data;            /* 0x250: 2.09+ */
	uint64_t pref_address;          /* 0x258: 2.10+ */
	uint32_t init_size;             /* 0x260: 2.10+ */
	uint32_t handover_offset;
	uint32_t kernel_info_offset;    /* 0x268: 2.15+ */
} __attribute__((packed));

struct linux_boot_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* struct boot_params, "the zero page": only the fields minivmm fills. */
struct linux_boot_params {
	uint8_t _pad0[0xc0];
	uint32_t ext_ramdisk_image;     /* 0x0c0 */
	uint32_t ext_ramdisk_size;      /* 0x0c4 */
	uint32_t ext_cmd_line_ptr;      /* 0x0c8 */
	uint8_t _pad1[0x1e8 - 0xcc];
	uint8_t e820_entries;           /* 0x1e8 */
	uint8_t _pad2[0x1f1 - 0x1e9];
	struct linux_boot_setup_header hdr;           /* 0x1f1 */
	uint8_t _pad3[0x2d0 - 0x26c];
	struct linux_boot_e820_entry e820_table[128]; /* 0x2d0 */
	uint8_t _pad4[0x1000 - 0xcd0];
} __attribute__((packed));

#define LINUX_BOOT_HDR_OFFSET      0x1f1
#define LINUX_BOOT_HDR_MAGIC       0x53726448u  /* "HdrS" */
#define LINUX_BOOT_FLAG            0xAA55
#define LINUX_BOOT_LOADED_HIGH     0x01
#define LINUX_BOOT_CAN_USE_HEAP    0x80
#define LINUX_BOOT_XLF_KERNEL_64   0x0001
#define LINUX_BOOT_XLF_ABOVE_4G    0x0002      /* XLF_CAN_BE_LOADED_ABOVE_4G */
#define LINUX_BOOT_E820_MAX        128
/* The PVH entry note (Xen's public elfnote.h; Linux emits it with CONFIG_PVH). */
#define XEN_ELFNOTE_PHYS32_ENTRY   18
/* Where the 64-bit entry sits in the protected-mode code (boot.rst). */
#define LINUX_BOOT_ENTRY64_OFFSET  0x200

struct boot_cache;

struct linux_boot_in {
	const uint8_t *kernel;          /* bzImage or ELF vmlinux file */
	size_t kernel_len;
	const uint8_t *initrd;          /* may be NULL/0 */
	size_t initrd_len;
	const char *cmdline;            /* may be NULL */
	bool host_decompress;           /* bzImage and initrd: decompress in the VMM */
	unsigned int nr_vcpus;
	const char *what;               /* file name for messages */
	const char *initrd_what;        /* the initrd's name (NULL: "initrd") */
	bool pvh;                       /* enter through the PVH note, not startup_64 */
	const struct boot_cache *cache; /* decompressed files kept (NULL: none) */
};

struct linux_boot_out {
	uint64_t entry;                 /* GPA of the 64-bit entry (startup_64) */
	uint64_t boot_params;           /* GPA of the zero page (RSI) */
	uint64_t kernel_start, kernel_end; /* in-guest decompression: + init_size */
	uint64_t initrd_start, initrd_size;
	bool initrd_unpacked;           /* decompressed on the host */
	bool pvh;                       /* entry is the 32-bit PVH entry, boot_params
					 * the hvm_start_info */
	char format[96];                /* "bzImage 6.1.0, gzip payload ..." */
	/* The vmlinux ELF's segments (none when the guest decompresses). */
	struct loader_segment segs[LOADER_MAX_SEGMENTS];
	unsigned int nr_segs;
};

/*
 * Loads everything into guest RAM.  Errors (one line logged, naming
 * in->what): -EINVAL (malformed, truncated or unsupported image, command
 * line too long), -ENOSPC (kernel or initrd does not fit in RAM), -ENOTSUP,
 * -EFBIG, -ENOMEM (host decompression).
 */
int linux_boot_load(const struct mem_map *mem, const struct linux_boot_in *in,
		    struct linux_boot_out *out);

#endif

/* SPDX-License-Identifier: MIT */
/* The plain description of a VM that the CLI produces and vm_run consumes. */
#ifndef MINIVMM_CONFIG_H
#define MINIVMM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/block/drive.h"
#include "backends/net/netdev.h"
#include "base/sandbox.h"
#include "mmu/memory.h"
#include "mmu/plan.h"

enum vm_command {
	CMD_RUN,
	CMD_HELP,
	CMD_VERSION,
	CMD_COMPARE_LAYOUTS,
};

enum stats_format { STATS_OFF, STATS_TEXT, STATS_JSON };

/* Which device the host's stdin/stdout console is attached to. */
enum console_kind {
	CONSOLE_SERIAL,   /* COM1 (ttyS0) */
	CONSOLE_VIRTIO,   /* virtio-console port 0 (hvc0); COM1 output still shown */
};

enum show_layout {
	SHOW_LAYOUT_NONE,
	SHOW_LAYOUT_TEXT,
	SHOW_LAYOUT_JSON,
};

#define CONFIG_MAX_COMPARE 8
#define CONFIG_MAX_TRANSLATE 8
#define CONFIG_MAX_VCPUS 255 /* 8-bit APIC IDs */
#define CONFIG_MAX_DRIVES 8   /* -drive: one PCI slot each, vda..vdh */
#define CONFIG_MAX_NICS 4     /* -netdev / -nic: one virtio-net function each */
#define CONFIG_MARKER_MAX 128 /* --snapshot-on MARKER */

struct vm_config {
	enum vm_command command;
	uint64_t ram_size;
	unsigned int nr_vcpus;
	const char *kernel;       /* NULL: the embedded demo guest */
	const char *initrd;
	const char *append;
	struct mem_layout_spec layout;
	enum mem_backing backing;
	enum show_layout show_layout;
	const char *dump_dtb;
	enum stats_format stats;
	const char *stats_file;   /* NULL: stderr */
	enum mmu_kind mmu;
	bool shadow_lazy;         /* --shadow-fill=lazy (default eager) */
	bool shadow_fill_given;
	uint64_t pt_pool_size;    /* --pt-pool: test guests' page-table pool */
	uint64_t translate[CONFIG_MAX_TRANSLATE]; /* --translate GVA, at the stop */
	unsigned int nr_translate;
	bool no_host_decompress;  /* bzImage, initrd: the kernel decompresses them */
	bool keep_cpu_features;   /* PVM hosts: no automatic clearcpuid= */
	enum sandbox_mode seccomp; /* --seccomp (base/sandbox.h) */
	bool no_cache;            /* --no-cache: no boot cache (boot/cache.h) */
	unsigned int profile_hz;  /* --profile[=HZ]; 0: off */
	const char *profile_symbols; /* --profile-symbols: ELF or System.map */
	const char *profile_out;  /* --profile-out: folded samples */
	const char *timeline;     /* --timeline: JSON here, SVG beside it */
	uint64_t cache_size;      /* --cache-size; 0: BOOT_CACHE_DEFAULT_MAX */
	enum boot_protocol_choice {
		BOOT_PROTOCOL_AUTO,   /* the 64-bit boot protocol */
		BOOT_PROTOCOL_LINUX64,
		BOOT_PROTOCOL_PVH,    /* the ELF's XEN_ELFNOTE_PHYS32_ENTRY */
	} boot_protocol;
	bool json;                /* compare-layouts --json */
	const char *gdb;          /* -gdb / -s: where the gdb stub listens */
	bool gdb_wait;            /* -S: vCPUs wait for gdb's first continue */
	const char *kvm_device;
	struct mem_layout_spec compare[CONFIG_MAX_COMPARE];
	unsigned int nr_compare;
	struct drive_config drives[CONFIG_MAX_DRIVES]; /* -drive, in order */
	unsigned int nr_drives;
	struct netdev_config netdevs[CONFIG_MAX_NICS]; /* -netdev, -nic */
	unsigned int nr_netdevs;
	struct nic_config nics[CONFIG_MAX_NICS];       /* -device virtio-net-pci, -nic */
	unsigned int nr_nics;
	enum console_kind console;  /* --console, -device virtconsole */
	bool virtio_rng;            /* -device virtio-rng-pci */
	uint64_t rng_max_bytes;     /* per rng_period_ms; 0: the device default */
	uint32_t rng_period_ms;
	/* Snapshots and control (docs/snapshots.md). */
	const char *api_sock;       /* --api-sock PATH */
	const char *snapshot_marker; /* --snapshot-on MARKER DIR */
	const char *snapshot_dir;
	bool snapshot_exit;         /* --snapshot-and-exit */
	const char *restore_dir;    /* --restore DIR */
	const char *machine_opt;    /* the first option that shapes the machine */
};

#endif

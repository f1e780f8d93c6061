// SPDX-License-Identifier: MIT
/*
 * Command line -> struct vm_config.  QEMU's spellings where QEMU has them
 * (-m, -smp, -kernel, -initrd, -append; one or two leading dashes alike).
 * Also the lookup in main.c's subcommand table, and the --help text.
 */
#include "vmm/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "abi/board.h"
#include "abi/mmu_port.h"
#include "base/log.h"
#include "base/options.h"
#include "base/util.h"
#include "debug/gdb_listen.h"

void cli_defaults(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->command = CMD_RUN;
	cfg->ram_size = BOARD_DEFAULT_RAM;
	cfg->nr_vcpus = 1;
	cfg->layout.kind = MEM_LAYOUT_SPLIT;
	cfg->backing = MEM_BACKING_ANON;
	cfg->kvm_device = "/dev/kvm";
	cfg->mmu = MMU_TDP;
	cfg->pt_pool_size = BOARD_MMU_POOL_DEFAULT;
	cfg->seccomp = sandbox_default_mode();
}

static const struct cli_command *last_row(const struct cli_command *cmds)
{
	while (cmds->name)
		cmds++;
	return cmds;
}

const struct cli_command *cli_command_find(const struct cli_command *cmds, int argc,
					   char **argv)
{
	if (argc > 1)
		for (const struct cli_command *c = cmds; c->name; c++)
			if (!strcmp(argv[1], c->name))
				return c;
	return last_row(cmds);
}

int cli_dispatch(const struct cli_command *cmds, int argc, char **argv)
{
	const struct cli_command *cmd = cli_command_find(cmds, argc, argv);

	if (!cmd->name)
		return cmd->main(argc, argv);
	return cmd->main(argc - 1, argv + 1);
}

void cli_usage(FILE *out, const struct cli_command *cmds)
{
	const struct cli_command *c, *run = last_row(cmds);

	fprintf(out, "usage: minivmm %s\n", run->synopsis);
	for (c = cmds; c->name; c++)
		fprintf(out, "       minivmm %s %s\n", c->name, c->synopsis);
	fputs("\nCommands:\n", out);
	for (c = cmds; c->name; c++)
		fprintf(out, "  %-20s %s\n", c->name, c->summary);
	fprintf(out, "  %-20s %s\n", "(none)", run->summary);
	fputs(
"\n"
"Machine:\n"
"  -m SIZE              guest RAM, with K/M/G suffix (no suffix: MiB); default 256M\n"
"  -smp N               number of vCPUs (also -smp cpus=N); default 1\n"
"  -kernel FILE         Linux bzImage or vmlinux, or a minivmm test guest ELF;\n"
"                       default: the embedded demo guest\n"
"  -initrd FILE         initial ramdisk (Linux guests)\n"
"  -append STRING       kernel command line / test-guest parameters\n"
"  -drive SPEC          a virtio-blk disk on PCI (repeatable: vda, vdb, ...):\n"
"                       file=IMG,if=virtio[,format=raw][,readonly=on]\n"
"                       [,cache=writeback|none|unsafe][,aio=io_uring|threads]\n"
"                       [,serial=STR]  (raw images only; docs/devices.md)\n"
"  -netdev user,id=ID[,hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:PORT]...\n"
"                       user-mode network (libslirp, no privileges): the guest\n"
"                       is 10.0.2.15 by DHCP, 10.0.2.2 is the host's loopback;\n"
"                       forwards listen on 127.0.0.1 unless HOSTADDR is given;\n"
"                       [,mtu=N]: the link's MTU (default 65520; QEMU's 1500)\n"
"  -netdev tap,id=ID,ifname=NAME[,script=no]  a tap interface (CAP_NET_ADMIN)\n"
"  -device virtio-net-pci,netdev=ID[,mac=MAC]  the NIC on that netdev\n"
"  -nic user|tap[,NETDEV OPTIONS][,mac=MAC]  both at once (docs/devices.md)\n"
"  -device NAME[,OPTS]  virtio-rng-pci[,max-bytes=N][,period=MS]: entropy from\n"
"                       getrandom(2), at most N bytes per MS milliseconds;\n"
"                       virtconsole (or virtio-serial-pci): see --console=virtio\n"
"  --console C          serial (default: COM1, ttyS0) | virtio (virtio-console,\n"
"                       hvc0: many bytes per exit; boot with console=hvc0)\n"
"  --no-host-decompress let a bzImage and a compressed initrd decompress in the\n"
"                       guest (default: minivmm decompresses both on the host)\n"
"  --profile[=HZ]       sample every vCPU's RIP HZ times a second (default\n"
"                       1000) and print the guest's top functions at exit\n"
"  --profile-symbols F  their names: an ELF (vmlinux) or a System.map (default:\n"
"                       the -kernel file when it is an ELF)\n"
"  --profile-out FILE   the samples as folded stacks (flamegraph.pl, speedscope)\n"
"  --timeline FILE      each console line's time, the exits (and with --profile\n"
"                       the top functions) before it: JSON in FILE, SVG in\n"
"                       FILE.svg\n"
"  --no-cache           do not keep or reuse host-decompressed kernels and\n"
"                       initrds in $XDG_CACHE_HOME/minivmm (~/.cache/minivmm)\n"
"  --cache-size SIZE    that cache's limit (default 1G; least recently used\n"
"                       entries go first)\n"
"  --boot-protocol P    Linux entry: auto (= linux64) | linux64 (64-bit boot\n"
"                       protocol) | pvh (the ELF's PVH note, 32-bit entry)\n"
"  --keep-cpu-features  PVM hosts: do not add clearcpuid= for SMAP and POPCNT\n"
"                       (their instructions then cost an exit each)\n"
"Memory:\n"
"  --mem-layout L       single | split (default) | chunks:SIZE\n"
"  --mem-backing B      anon (default) | thp | hugetlb | memfd\n"
"  --show-layout[=json] print memory slots and the guest's memory map, then exit\n"
"  --dump-dtb FILE      write the device tree the guest would get, then exit\n"
"MMU (docs/shadow-mmu.md):\n"
"  --mmu M              tdp (default: the guest's page tables, walked by the\n"
"                       host's EPT/NPT or KVM's shadow MMU) | shadow (minivmm's\n"
"                       shadow page tables; minivmm test guests, one vCPU)\n"
"  --shadow-fill F      eager (default: build a root's whole shadow on load) |\n"
"                       lazy (fill on the guest's page faults)\n"
"  --pt-pool SIZE       test guests' page-table pool (default 16M, 2M..128M)\n"
"Diagnostics:\n"
"  --stats[=json]       print exit counters, KVM statistics, shadow-MMU counters\n"
"                       and guest-reported phases when the VM stops\n"
"  --stats-file FILE    write them to FILE instead of stderr\n"
"  --translate GVA      when the VM stops, walk vCPU 0's page tables for GVA\n"
"                       (the guest's own, also in shadow mode) and print each\n"
"                       level, beside KVM's translation (repeatable)\n"
"  --kvm-device PATH    KVM device node (default /dev/kvm)\n"
"  --seccomp M          on (default): each thread keeps to its system-call\n"
"                       allow-list once the VM is built, a call outside it\n"
"                       stops minivmm (status 159) | log (the kernel logs it,\n"
"                       the call goes through) | off\n"
"Snapshots and control (docs/snapshots.md):\n"
"  --api-sock PATH      control socket: one JSON command per line (status, pause,\n"
"                       resume, stats, snapshot, send-console, inject-nmi,\n"
"                       quit); see `minivmm ctl`\n"
"  --snapshot-on MARKER DIR  snapshot into DIR once the first console line\n"
"                       containing MARKER is complete\n"
"  --snapshot-and-exit  ... and then stop (exit status 0)\n"
"  --restore DIR        start from the snapshot in DIR (copy-on-write; the\n"
"                       machine options come from the snapshot)\n"
"Debugging (docs/debugging.md):\n"
"  -gdb tcp:HOST:PORT   gdb remote stub on TCP (PORT 0: any free port; the\n"
"                       address is printed) or -gdb unix:PATH on a Unix socket\n"
"  -s                   -gdb tcp:127.0.0.1:1234\n"
"  -S                   vCPUs wait for gdb to continue them (with -s or -gdb)\n"
"  -h, --help           this text\n"
"  -V, --version        version\n"
"\n"
"Console: guest serial (COM1) on stdin/stdout; on a terminal, Ctrl-A x quits.\n"
"Exit status: the guest's debug-exit status, 0 on power-off/reset, 1 VM setup\n"
"failed, 2 bad usage, 3 guest crashed, 128+N stopped by signal N.\n", out);
}

enum opt_id {
	OPT_M, OPT_SMP, OPT_KERNEL, OPT_INITRD, OPT_APPEND, OPT_LAYOUT, OPT_BACKING,
	OPT_SHOW_LAYOUT, OPT_DUMP_DTB, OPT_STATS, OPT_KVM_DEVICE, OPT_HELP,
	OPT_VERSION, OPT_JSON, OPT_NO_HOST_DECOMPRESS, OPT_KEEP_CPU_FEATURES, OPT_NO_CACHE, OPT_CACHE_SIZE, OPT_PROFILE, OPT_PROFILE_SYMBOLS, OPT_PROFILE_OUT, OPT_TIMELINE, OPT_BOOT_PROTOCOL, OPT_MMU, OPT_SHADOW_FILL,
	OPT_PT_POOL, OPT_STATS_FILE, OPT_TRANSLATE, OPT_DRIVE, OPT_DEVICE, OPT_CONSOLE,
	OPT_GDB, OPT_GDB_DEFAULT, OPT_GDB_WAIT,
	OPT_API_SOCK, OPT_SNAPSHOT_ON, OPT_SNAPSHOT_AND_EXIT, OPT_RESTORE,
	OPT_NETDEV, OPT_NIC, OPT_SECCOMP,
};

/* Every option; compare-layouts reads the same ones. */
static const struct opt_def options[] = {
	{ "m", OPT_M, OPT_ARG_REQUIRED },
	{ "smp", OPT_SMP, OPT_ARG_REQUIRED },
	{ "kernel", OPT_KERNEL, OPT_ARG_REQUIRED },
	{ "initrd", OPT_INITRD, OPT_ARG_REQUIRED },
	{ "append", OPT_APPEND, OPT_ARG_REQUIRED },
	{ "drive", OPT_DRIVE, OPT_ARG_REQUIRED },
	{ "device", OPT_DEVICE, OPT_ARG_REQUIRED },
	{ "netdev", OPT_NETDEV, OPT_ARG_REQUIRED },
	{ "nic", OPT_NIC, OPT_ARG_REQUIRED },
	{ "console", OPT_CONSOLE, OPT_ARG_REQUIRED },
	{ "mem-layout", OPT_LAYOUT, OPT_ARG_REQUIRED },
	{ "mem-backing", OPT_BACKING, OPT_ARG_REQUIRED },
	{ "show-layout", OPT_SHOW_LAYOUT, OPT_ARG_OPTIONAL },
	{ "dump-dtb", OPT_DUMP_DTB, OPT_ARG_REQUIRED },
	{ "stats", OPT_STATS, OPT_ARG_OPTIONAL },
	{ "stats-file", OPT_STATS_FILE, OPT_ARG_REQUIRED },
	{ "mmu", OPT_MMU, OPT_ARG_REQUIRED },
	{ "shadow-fill", OPT_SHADOW_FILL, OPT_ARG_REQUIRED },
	{ "pt-pool", OPT_PT_POOL, OPT_ARG_REQUIRED },
	{ "translate", OPT_TRANSLATE, OPT_ARG_REQUIRED },
	{ "kvm-device", OPT_KVM_DEVICE, OPT_ARG_REQUIRED },
	{ "help", OPT_HELP, OPT_ARG_NONE },
	{ "h", OPT_HELP, OPT_ARG_NONE },
	{ "version", OPT_VERSION, OPT_ARG_NONE },
	{ "V", OPT_VERSION, OPT_ARG_NONE },
	{ "json", OPT_JSON, OPT_ARG_NONE },
	{ "no-host-decompress", OPT_NO_HOST_DECOMPRESS, OPT_ARG_NONE },
	{ "keep-cpu-features", OPT_KEEP_CPU_FEATURES, OPT_ARG_NONE },
	{ "no-cache", OPT_NO_CACHE, OPT_ARG_NONE },
	{ "profile", OPT_PROFILE, OPT_ARG_OPTIONAL },
	{ "profile-symbols", OPT_PROFILE_SYMBOLS, OPT_ARG_REQUIRED },
	{ "profile-out", OPT_PROFILE_OUT, OPT_ARG_REQUIRED },
	{ "timeline", OPT_TIMELINE, OPT_ARG_REQUIRED },
	{ "cache-size", OPT_CACHE_SIZE, OPT_ARG_REQUIRED },
	{ "boot-protocol", OPT_BOOT_PROTOCOL, OPT_ARG_REQUIRED },
	{ "gdb", OPT_GDB, OPT_ARG_REQUIRED },
	{ "s", OPT_GDB_DEFAULT, OPT_ARG_NONE },
	{ "S", OPT_GDB_WAIT, OPT_ARG_NONE },
	{ "api-sock", OPT_API_SOCK, OPT_ARG_REQUIRED },
	{ "snapshot-on", OPT_SNAPSHOT_ON, OPT_ARG_REQUIRED },
	{ "snapshot-and-exit", OPT_SNAPSHOT_AND_EXIT, OPT_ARG_NONE },
	{ "restore", OPT_RESTORE, OPT_ARG_REQUIRED },
	{ "seccomp", OPT_SECCOMP, OPT_ARG_REQUIRED },
};

static const struct opt_table option_table = {
	.defs = options, .nr_defs = ARRAY_SIZE(options),
	.prefix = "", .help = "--help",
};

static int parse_smp(const char *v, unsigned int *out)
{
	char *end;
	unsigned long n;

	if (!strncmp(v, "cpus=", 5))
		v += 5;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || n < 1 || n > CONFIG_MAX_VCPUS) {
		log_err("-smp: '%s' is not a vCPU count between 1 and %d", v, CONFIG_MAX_VCPUS);
		return -EINVAL;
	}
	*out = (unsigned int)n;
	return 0;
}

static int parse_ram(const char *v, uint64_t *out)
{
	if (!strncmp(v, "size=", 5))
		v += 5;
	if (mem_parse_size(v, out, BOARD_MiB) || *out == 0) {
		log_err("-m: '%s' is not a memory size (examples: 512M, 2G, 1024)", v);
		return -EINVAL;
	}
	return 0;
}

/* "key=NUMBER" from a -device option list; 0 or -EINVAL (logged). */
static int parse_device_num(const char *dev, const char *opt, uint64_t max, uint64_t *out)
{
	const char *eq = strchr(opt, '=');
	char *end;

	if (!eq || eq[1] == '\0') {
		log_err("-device %s: '%s' has no value", dev, opt);
		return -EINVAL;
	}
	errno = 0;
	*out = strtoull(eq + 1, &end, 0);
	if (errno || *end || eq[1] == '-' || *out == 0 || *out > max) {
		log_err("-device %s: '%s' is not a number between 1 and %llu", dev, opt,
			(unsigned long long)max);
		return -EINVAL;
	}
	return 0;
}

static int parse_rng(struct vm_config *cfg, char *opts)
{
	for (char *save = NULL, *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (!strncmp(o, "max-bytes=", 10)) {
			if (parse_device_num("virtio-rng-pci", o, UINT32_MAX, &cfg->rng_max_bytes))
				return -EINVAL;
		} else if (!strncmp(o, "period=", 7)) {
			if (parse_device_num("virtio-rng-pci", o, 3600 * 1000, &v))
				return -EINVAL;
			cfg->rng_period_ms = (uint32_t)v;
		} else {
			log_err("-device virtio-rng-pci: unknown option '%s' (known: max-bytes, "
				"period)", o);
			return -EINVAL;
		}
	}
	cfg->virtio_rng = true;
	return 0;
}

/* -device NAME[,OPTS]: the devices a user may add besides -drive. */
static int parse_device(struct vm_config *cfg, const char *v)
{
	char buf[256], *opts;
	size_t n = strcspn(v, ",");

	if (strlen(v) >= sizeof(buf)) {
		log_err("-device: description too long");
		return -EINVAL;
	}
	strcpy(buf, v);
	buf[n] = '\0';
	opts = v[n] ? buf + n + 1 : buf + n;
	if (!strcmp(buf, "virtio-rng-pci") || !strcmp(buf, "virtio-rng"))
		return parse_rng(cfg, opts);
	if (!strcmp(buf, "virtio-net-pci") || !strcmp(buf, "virtio-net")) {
		if (cfg->nr_nics == CONFIG_MAX_NICS) {
			log_err("-device %s: at most %d network devices", buf, CONFIG_MAX_NICS);
			return -EINVAL;
		}
		return nic_device_parse(v + n + (v[n] ? 1 : 0), &cfg->nics[cfg->nr_nics++],
					NULL, 0);
	}
	if (!strcmp(buf, "virtconsole") || !strcmp(buf, "virtio-serial-pci") ||
	    !strcmp(buf, "virtio-serial")) {
		if (*opts) {
			log_err("-device %s: takes no options (the console is stdin/stdout)", buf);
			return -EINVAL;
		}
		cfg->console = CONSOLE_VIRTIO;
		return 0;
	}
	log_err("-device: unknown device '%s' (known: virtio-net-pci, virtio-rng-pci, "
		"virtconsole; disks are -drive)", buf);
	return -EINVAL;
}

/* One of a few spellings, each with its value. */
struct choice {
	const char *name;
	int value;
};

/* *out = the value of v among the n choices, or -EINVAL with one line:
 * "OPT: 'v' is not a, b or c". */
static int pick(const char *opt, const char *v, const struct choice *c, unsigned int n,
		int *out)
{
	char names[96] = "";
	size_t len = 0;

	for (unsigned int i = 0; i < n; i++) {
		if (!strcmp(v, c[i].name)) {
			*out = c[i].value;
			return 0;
		}
		len += (size_t)snprintf(names + len, len < sizeof(names) ? sizeof(names) - len : 0,
					"%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", c[i].name);
	}
	log_err("%s: '%s' is not %s", opt, v, names);
	return -EINVAL;
}

#define PICK(opt, v, choices, out) pick(opt, v, choices, ARRAY_SIZE(choices), out)

static const struct choice console_choices[] = {
	{ "serial", CONSOLE_SERIAL }, { "virtio", CONSOLE_VIRTIO },
};
static const struct choice seccomp_choices[] = {
	{ "on", SANDBOX_ON }, { "log", SANDBOX_LOG }, { "off", SANDBOX_OFF },
};
static const struct choice mmu_choices[] = { { "tdp", MMU_TDP }, { "shadow", MMU_SHADOW } };
static const struct choice fill_choices[] = { { "eager", false }, { "lazy", true } };
static const struct choice boot_choices[] = {
	{ "auto", BOOT_PROTOCOL_AUTO }, { "linux64", BOOT_PROTOCOL_LINUX64 },
	{ "pvh", BOOT_PROTOCOL_PVH },
};

/* An optional "=json" / "=text" (absent: text). */
static int parse_format(const char *opt, const char *v, bool *json)
{
	if (v && strcmp(v, "json") && strcmp(v, "text")) {
		log_err("%s: '%s' is not json or text", opt, v);
		return -EINVAL;
	}
	*json = v && !strcmp(v, "json");
	return 0;
}

static int apply(struct vm_config *cfg, enum opt_id id, const char *v)
{
	bool json;
	int choice;

	switch (id) {
	case OPT_M:
		return parse_ram(v, &cfg->ram_size);
	case OPT_SMP:
		return parse_smp(v, &cfg->nr_vcpus);
	case OPT_KERNEL:
		cfg->kernel = v;
		return 0;
	case OPT_INITRD:
		cfg->initrd = v;
		return 0;
	case OPT_APPEND:
		cfg->append = v;
		return 0;
	case OPT_DEVICE:
		return parse_device(cfg, v);
	case OPT_CONSOLE:
		if (PICK("--console", v, console_choices, &choice))
			return -EINVAL;
		cfg->console = (enum console_kind)choice;
		return 0;
	case OPT_DRIVE:
		if (cfg->nr_drives == CONFIG_MAX_DRIVES) {
			log_err("-drive: at most %d drives", CONFIG_MAX_DRIVES);
			return -EINVAL;
		}
		if (drive_parse(v, &cfg->drives[cfg->nr_drives], NULL, 0))
			return -EINVAL;
		cfg->nr_drives++;
		return 0;
	case OPT_LAYOUT:
		if (mem_layout_parse(v, &cfg->layout)) {
			log_err("--mem-layout: '%s' is not single, split or chunks:SIZE", v);
			return -EINVAL;
		}
		return 0;
	case OPT_BACKING:
		if (mem_backing_parse(v, &cfg->backing)) {
			log_err("--mem-backing: '%s' is not anon, thp, hugetlb or memfd", v);
			return -EINVAL;
		}
		return 0;
	case OPT_SHOW_LAYOUT:
		if (parse_format("--show-layout", v, &json))
			return -EINVAL;
		cfg->show_layout = json ? SHOW_LAYOUT_JSON : SHOW_LAYOUT_TEXT;
		return 0;
	case OPT_DUMP_DTB:
		cfg->dump_dtb = v;
		return 0;
	case OPT_STATS:
		if (parse_format("--stats", v, &json))
			return -EINVAL;
		cfg->stats = json ? STATS_JSON : STATS_TEXT;
		return 0;
	case OPT_STATS_FILE:
		cfg->stats_file = v;
		return 0;
	case OPT_SECCOMP:
		if (PICK("--seccomp", v, seccomp_choices, &choice))
			return -EINVAL;
		cfg->seccomp = (enum sandbox_mode)choice;
		return 0;
	case OPT_MMU:
		if (PICK("--mmu", v, mmu_choices, &choice))
			return -EINVAL;
		cfg->mmu = (enum mmu_kind)choice;
		return 0;
	case OPT_SHADOW_FILL:
		if (PICK("--shadow-fill", v, fill_choices, &choice))
			return -EINVAL;
		cfg->shadow_lazy = choice;
		cfg->shadow_fill_given = true;
		return 0;
	case OPT_TRANSLATE: {
		char *end;

		errno = 0;
		if (cfg->nr_translate == CONFIG_MAX_TRANSLATE) {
			log_err("--translate: at most %d addresses", CONFIG_MAX_TRANSLATE);
			return -EINVAL;
		}
		cfg->translate[cfg->nr_translate] = strtoull(v, &end, 0);
		if (errno || end == v || *end) {
			log_err("--translate: '%s' is not an address (e.g. 0x8000000000)", v);
			return -EINVAL;
		}
		cfg->nr_translate++;
		return 0;
	}
	case OPT_PT_POOL:
		if (mem_parse_size(v, &cfg->pt_pool_size, BOARD_MiB) ||
		    cfg->pt_pool_size < BOARD_MMU_POOL_MIN || cfg->pt_pool_size > BOARD_MMU_POOL_MAX ||
		    cfg->pt_pool_size % PAGE_SIZE_2M) {
			log_err("--pt-pool: '%s' is not a multiple of 2M between 2M and 128M", v);
			return -EINVAL;
		}
		return 0;
	case OPT_KVM_DEVICE:
		cfg->kvm_device = v;
		return 0;
	case OPT_HELP:
		cfg->command = CMD_HELP;
		return 0;
	case OPT_VERSION:
		cfg->command = CMD_VERSION;
		return 0;
	case OPT_JSON:
		cfg->json = true;
		return 0;
	case OPT_NO_HOST_DECOMPRESS:
		cfg->no_host_decompress = true;
		return 0;
	case OPT_KEEP_CPU_FEATURES:
		cfg->keep_cpu_features = true;
		return 0;
	case OPT_NO_CACHE:
		cfg->no_cache = true;
		return 0;
	case OPT_PROFILE: {
		char *end;
		unsigned long hz = v ? strtoul(v, &end, 10) : 1000;

		if (v && (end == v || *end || hz < 1 || hz > 10000)) {
			log_err("--profile: '%s' is not a rate in Hz (1 to 10000)", v);
			return -EINVAL;
		}
		cfg->profile_hz = (unsigned int)hz;
		return 0;
	}
	case OPT_PROFILE_SYMBOLS:
		cfg->profile_symbols = v;
		return 0;
	case OPT_PROFILE_OUT:
		cfg->profile_out = v;
		return 0;
	case OPT_TIMELINE:
		cfg->timeline = v;
		return 0;
	case OPT_CACHE_SIZE:
		if (mem_parse_size(v, &cfg->cache_size, BOARD_MiB) || !cfg->cache_size) {
			log_err("--cache-size: '%s' is not a size (examples: 256M, 2G)", v);
			return -EINVAL;
		}
		return 0;
	case OPT_BOOT_PROTOCOL:
		if (PICK("--boot-protocol", v, boot_choices, &choice))
			return -EINVAL;
		cfg->boot_protocol = (enum boot_protocol_choice)choice;
		return 0;
	case OPT_GDB:
	case OPT_GDB_DEFAULT: {
		struct gdb_listen l;
		char why[160];

		cfg->gdb = id == OPT_GDB ? v : GDB_DEFAULT_LISTEN;
		if (gdb_listen_parse(cfg->gdb, &l, why, sizeof(why))) {
			log_err("-gdb: %s", why);
			return -EINVAL;
		}
		return 0;
	}
	case OPT_GDB_WAIT:
		cfg->gdb_wait = true;
		return 0;
	case OPT_API_SOCK:
		cfg->api_sock = v;
		return 0;
	case OPT_SNAPSHOT_ON:
		if (!v[0] || strlen(v) >= CONFIG_MARKER_MAX || strpbrk(v, "\r\n")) {
			log_err("--snapshot-on: the marker must be 1 to %d characters of one line",
				CONFIG_MARKER_MAX - 1);
			return -EINVAL;
		}
		cfg->snapshot_marker = v;
		return 0;
	case OPT_SNAPSHOT_AND_EXIT:
		cfg->snapshot_exit = true;
		return 0;
	case OPT_RESTORE:
		cfg->restore_dir = v;
		return 0;
	case OPT_NETDEV:
	case OPT_NIC: {
		char nic_id[16];

		if (cfg->nr_netdevs == CONFIG_MAX_NICS ||
		    (id == OPT_NIC && cfg->nr_nics == CONFIG_MAX_NICS)) {
			log_err("-%s: at most %d network devices", id == OPT_NIC ? "nic" : "netdev",
				CONFIG_MAX_NICS);
			return -EINVAL;
		}
		if (id == OPT_NETDEV)
			return netdev_parse(v, &cfg->netdevs[cfg->nr_netdevs++], NULL, 0);
		snprintf(nic_id, sizeof(nic_id), "__nic%u", cfg->nr_nics);
		return nic_parse(v, nic_id, &cfg->netdevs[cfg->nr_netdevs++],
				 &cfg->nics[cfg->nr_nics++], NULL, 0);
	}
	}
	return -EINVAL;
}

static int parse_positional(struct vm_config *cfg, const char *arg)
{
	if (cfg->command != CMD_COMPARE_LAYOUTS)
		return opt_unexpected(&option_table, arg);
	if (cfg->nr_compare >= CONFIG_MAX_COMPARE) {
		log_err("compare-layouts: at most %d layouts", CONFIG_MAX_COMPARE);
		return -EINVAL;
	}
	if (mem_layout_parse(arg, &cfg->compare[cfg->nr_compare])) {
		log_err("compare-layouts: '%s' is not single, split or chunks:SIZE", arg);
		return -EINVAL;
	}
	cfg->nr_compare++;
	return 0;
}

/* Options that decide what machine is built: a restore takes all of that
 * from its snapshot. */
static bool shapes_machine(enum opt_id id)
{
	switch (id) {
	case OPT_M: case OPT_SMP: case OPT_KERNEL: case OPT_INITRD: case OPT_APPEND:
	case OPT_DRIVE: case OPT_DEVICE: case OPT_CONSOLE: case OPT_NIC: case OPT_LAYOUT: case OPT_BACKING:
	case OPT_MMU: case OPT_SHADOW_FILL: case OPT_PT_POOL: case OPT_BOOT_PROTOCOL:
	case OPT_NO_HOST_DECOMPRESS: case OPT_KEEP_CPU_FEATURES:
		return true;
	default:
		return false;
	}
}

/* Every NIC names an existing netdev, every netdev is used by exactly one
 * NIC; NICs without mac= get QEMU's defaults. */
static int check_network(struct vm_config *cfg)
{
	for (unsigned int i = 0; i < cfg->nr_netdevs; i++) {
		unsigned int users = 0;

		for (unsigned int j = 0; j < i; j++)
			if (!strcmp(cfg->netdevs[i].id, cfg->netdevs[j].id)) {
				log_err("-netdev: id %s is used twice", cfg->netdevs[i].id);
				return -EINVAL;
			}
		for (unsigned int j = 0; j < cfg->nr_nics; j++)
			users += !strcmp(cfg->nics[j].netdev, cfg->netdevs[i].id);
		if (users == 0) {
			log_err("-netdev %s: no device uses it (add -device virtio-net-pci,netdev=%s)",
				cfg->netdevs[i].id, cfg->netdevs[i].id);
			return -EINVAL;
		}
		if (users > 1) {
			log_err("-netdev %s: %u devices use it; a netdev serves one",
				cfg->netdevs[i].id, users);
			return -EINVAL;
		}
	}
	for (unsigned int j = 0; j < cfg->nr_nics; j++) {
		bool found = false;

		for (unsigned int i = 0; i < cfg->nr_netdevs && !found; i++)
			found = !strcmp(cfg->nics[j].netdev, cfg->netdevs[i].id);
		if (!found) {
			log_err("-device virtio-net-pci: there is no -netdev with id=%s",
				cfg->nics[j].netdev);
			return -EINVAL;
		}
		if (!cfg->nics[j].mac_given)
			nic_default_mac(j, cfg->nics[j].mac);
	}
	return 0;
}

/* The VM run's options (cmd CMD_RUN), or compare-layouts' (CMD_COMPARE_LAYOUTS). */
static int parse(enum vm_command cmd, int argc, char **argv, struct vm_config *cfg)
{
	cli_defaults(cfg);
	cfg->command = cmd;
	for (int i = 1; i < argc; i++) {
		const struct opt_def *def;
		const char *value;
		int err = opt_next(&option_table, argc, argv, &i, &def, &value);

		if (err == 0)
			err = parse_positional(cfg, argv[i]);
		else if (err > 0)
			err = apply(cfg, (enum opt_id)def->id, value);
		if (err)
			return err;
		if (def && def->id == OPT_SNAPSHOT_ON) {
			/* --snapshot-on MARKER DIR: the directory follows. */
			if (i + 1 >= argc) {
				log_err("--snapshot-on MARKER DIR: the directory is missing");
				return -EINVAL;
			}
			cfg->snapshot_dir = argv[++i];
		}
		if (def && shapes_machine((enum opt_id)def->id) && !cfg->machine_opt)
			cfg->machine_opt = def->name;
	}
	if (cfg->snapshot_exit && !cfg->snapshot_marker) {
		log_err("--snapshot-and-exit goes with --snapshot-on MARKER DIR");
		return -EINVAL;
	}
	if (cfg->shadow_fill_given && cfg->mmu != MMU_SHADOW) {
		log_err("--shadow-fill only applies with --mmu=shadow");
		return -EINVAL;
	}
	if (cfg->mmu == MMU_SHADOW && cfg->nr_vcpus != 1) {
		log_err("--mmu=shadow runs one vCPU (the shadow MMU is per vCPU); drop -smp %u",
			cfg->nr_vcpus);
		return -EINVAL;
	}
	if (cfg->gdb_wait && !cfg->gdb) {
		log_err("-S waits for gdb: give -s or -gdb too");
		return -EINVAL;
	}
	if (cfg->stats_file && cfg->stats == STATS_OFF)
		cfg->stats = STATS_TEXT;
	/* With --restore the NICs come from the snapshot, and a -netdev given
	 * replaces the backend of the snapshot's NIC with its id. */
	if (!cfg->restore_dir && check_network(cfg))
		return -EINVAL;
	if (cfg->command == CMD_COMPARE_LAYOUTS && cfg->nr_compare < 2) {
		log_err("compare-layouts needs at least two layouts, e.g. split chunks:64M");
		return -EINVAL;
	}
	return 0;
}

int cli_parse(int argc, char **argv, struct vm_config *cfg)
{
	return parse(CMD_RUN, argc, argv, cfg);
}

int cli_parse_compare_layouts(int argc, char **argv, struct vm_config *cfg)
{
	return parse(CMD_COMPARE_LAYOUTS, argc, argv, cfg);
}

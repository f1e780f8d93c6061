// SPDX-License-Identifier: MIT
/* Command line -> struct vm_config: accepted spellings and refusals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "abi/board.h"
#include "abi/mmu_port.h"
#include "base/log.h"
#include "vmm/cli.h"

#define MiB BOARD_MiB
#define GiB BOARD_GiB

/* parse(&cfg, "-m", "512M") runs cli_parse on { "minivmm", "-m", "512M", NULL }. */
#define ARGV(...) ((char *[]){ "minivmm", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "minivmm", __VA_ARGS__ }) / sizeof(char *)))
#define parse(cfg, ...) cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (cfg))
/* The same for `minivmm compare-layouts ...`, from the subcommand's name on. */
#define LARGV(...) ((char *[]){ "compare-layouts", __VA_ARGS__, NULL })
#define parse_layouts(cfg, ...) \
	cli_parse_compare_layouts(ARGC(__VA_ARGS__), LARGV(__VA_ARGS__), (cfg))

typedef int parse_fn(int argc, char **argv, struct vm_config *cfg);

static void assert_refused_argv(parse_fn *parse_args, int argc, char **argv)
{
	struct vm_config cfg;

	if (parse_args(argc, argv, &cfg) != -EINVAL)
		fail_msg("argument %d ('%s'...) was not refused", argc - 1,
			 argc > 1 ? argv[1] : "");
}

#define assert_refused(...) assert_refused_argv(cli_parse, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))
#define assert_refused_layouts(...) \
	assert_refused_argv(cli_parse_compare_layouts, ARGC(__VA_ARGS__), LARGV(__VA_ARGS__))

static void test_defaults(void **state)
{
	char *argv[] = { "minivmm", NULL };
	struct vm_config cfg, def;

	memset(&cfg, 0x5A, sizeof(cfg));
	assert_int_equal(cli_parse(1, argv, &cfg), 0);
	assert_int_equal(cfg.command, CMD_RUN);
	assert_int_equal(cfg.ram_size, 256 * MiB);
	assert_int_equal(cfg.nr_vcpus, 1);
	assert_null(cfg.kernel);
	assert_null(cfg.initrd);
	assert_null(cfg.append);
	assert_null(cfg.dump_dtb);
	assert_int_equal(cfg.layout.kind, MEM_LAYOUT_SPLIT);
	assert_int_equal(cfg.backing, MEM_BACKING_ANON);
	assert_int_equal(cfg.show_layout, SHOW_LAYOUT_NONE);
	assert_false(cfg.stats);
	assert_false(cfg.json);
	assert_string_equal(cfg.kvm_device, "/dev/kvm");
	assert_int_equal(cfg.nr_compare, 0);

	cli_defaults(&def);
	assert_int_equal(def.ram_size, cfg.ram_size);
	assert_int_equal(def.nr_vcpus, cfg.nr_vcpus);
	assert_int_equal(def.layout.kind, cfg.layout.kind);
}

static void test_memory_sizes(void **state)
{
	struct vm_config cfg;

	assert_int_equal(parse(&cfg, "-m", "512M"), 0);
	assert_int_equal(cfg.ram_size, 512 * MiB);
	assert_int_equal(parse(&cfg, "-m", "2G"), 0);
	assert_int_equal(cfg.ram_size, 2 * GiB);
	assert_int_equal(parse(&cfg, "-m", "1024"), 0); /* MiB, as QEMU */
	assert_int_equal(cfg.ram_size, GiB);
	assert_int_equal(parse(&cfg, "-m", "size=1G"), 0);
	assert_int_equal(cfg.ram_size, GiB);
	assert_int_equal(parse(&cfg, "-m", "size=768"), 0);
	assert_int_equal(cfg.ram_size, 768 * MiB);
	/* The last one wins. */
	assert_int_equal(parse(&cfg, "-m", "1G", "-m", "3G"), 0);
	assert_int_equal(cfg.ram_size, 3 * GiB);
}

static void test_memory_refusals(void **state)
{
	assert_refused("-m", "0");
	assert_refused("-m", "size=0");
	assert_refused("-m", "");
	assert_refused("-m", "size=");
	assert_refused("-m", "1.5G");
	assert_refused("-m", "lots");
	assert_refused("-m", "99999999999999999999");
	assert_refused("-m", "18446744073709551615"); /* in MiB: overflows */
}

/* The boot cache: on by default, --no-cache, --cache-size. */
static void test_cache_options(void **state)
{
	struct vm_config cfg;

	assert_int_equal(parse(&cfg, "-m", "64M"), 0);
	assert_false(cfg.no_cache);
	assert_int_equal(cfg.cache_size, 0);
	assert_int_equal(parse(&cfg, "--no-cache", "--cache-size", "256M"), 0);
	assert_true(cfg.no_cache);
	assert_int_equal(cfg.cache_size, 256 * MiB);
	assert_int_equal(parse(&cfg, "--cache-size=2G"), 0);
	assert_int_equal(cfg.cache_size, 2 * GiB);
	assert_refused("--cache-size", "0");
	assert_refused("--cache-size", "big");
	assert_refused("--cache-size");
}

static void test_dash_spellings(void **state)
{
	struct vm_config cfg;

	assert_int_equal(parse(&cfg, "--m=2G"), 0);
	assert_int_equal(cfg.ram_size, 2 * GiB);
	assert_int_equal(parse(&cfg, "-m=3G"), 0);
	assert_int_equal(cfg.ram_size, 3 * GiB);
	assert_int_equal(parse(&cfg, "--m", "64M"), 0);
	assert_int_equal(cfg.ram_size, 64 * MiB);

	assert_int_equal(parse(&cfg, "-kernel", "guest.elf"), 0);
	assert_string_equal(cfg.kernel, "guest.elf");
	assert_int_equal(parse(&cfg, "--kernel", "other.elf"), 0);
	assert_string_equal(cfg.kernel, "other.elf");
	assert_int_equal(parse(&cfg, "--kernel=third.elf"), 0);
	assert_string_equal(cfg.kernel, "third.elf");
	/* "=" inside the value belongs to the value. */
	assert_int_equal(parse(&cfg, "--append=a=b c=d"), 0);
	assert_string_equal(cfg.append, "a=b c=d");
	/* A value may itself start with a dash. */
	assert_int_equal(parse(&cfg, "-append", "-x"), 0);
	assert_string_equal(cfg.append, "-x");
	assert_int_equal(parse(&cfg, "-append", ""), 0);
	assert_string_equal(cfg.append, "");
}

static void test_other_values(void **state)
{
	struct vm_config cfg;

	assert_int_equal(parse(&cfg, "-initrd", "rd.img", "-append", "console=ttyS0 quiet",
			       "--dump-dtb", "out.dtb", "--kvm-device", "/dev/null", "--stats"), 0);
	assert_string_equal(cfg.initrd, "rd.img");
	assert_string_equal(cfg.append, "console=ttyS0 quiet");
	assert_string_equal(cfg.dump_dtb, "out.dtb");
	assert_string_equal(cfg.kvm_device, "/dev/null");
	assert_true(cfg.stats);
	assert_int_equal(cfg.command, CMD_RUN);
}

static void test_smp(void **state)
{
	struct vm_config cfg;

	assert_int_equal(parse(&cfg, "-smp", "2"), 0);
	assert_int_equal(cfg.nr_vcpus, 2);
	assert_int_equal(parse(&cfg, "-smp", "cpus=4"), 0);
	assert_int_equal(cfg.nr_vcpus, 4);
	assert_int_equal(parse(&cfg, "--smp=8"), 0);
	assert_int_equal(cfg.nr_vcpus, 8);
	assert_int_equal(parse(&cfg, "-smp", "1"), 0);
	assert_int_equal(cfg.nr_vcpus, 1);
	assert_int_equal(parse(&cfg, "-smp", "255"), 0);
	assert_int_equal(cfg.nr_vcpus, 255);
}

static void test_smp_refusals(void **state)
{
	assert_refused("-smp", "0");
	assert_refused("-smp", "256");
	assert_refused("-smp", "x");
	assert_refused("-smp", "");
	assert_refused("-smp", "2x");
	assert_refused("-smp", "cpus=");
	assert_refused("-smp", "cpus=0");
	assert_refused("-smp", "-1");
	assert_refused("-smp", "99999999999999999999999");
	assert_refused("-smp", "4294967297"); /* 2^32 + 1 must not wrap to 1 */
}

static void test_mem_layout_backing(void **state)
{
	struct vm_config cfg;

	assert_int_equal(parse(&cfg, "--mem-layout", "chunks:64M"), 0);
	assert_int_equal(cfg.layout.kind, MEM_LAYOUT_CHUNKS);
	assert_int_equal(cfg.layout.chunk_size, 64 * MiB);
	assert_int_equal(parse(&cfg, "--mem-layout=single"), 0);
	assert_int_equal(cfg.layout.kind, MEM_LAYOUT_SINGLE);
	assert_int_equal(parse(&cfg, "--mem-backing", "memfd"), 0);
	assert_int_equal(cfg.backing, MEM_BACKING_MEMFD);
	assert_int_equal(parse(&cfg, "--mem-backing=hugetlb"), 0);
	assert_int_equal(cfg.backing, MEM_BACKING_HUGETLB);

	assert_refused("--mem-layout", "chunks:0");
	assert_refused("--mem-layout", "chunks:");
	assert_refused("--mem-layout", "banana");
	assert_refused("--mem-layout=");
	assert_refused("--mem-backing", "tmpfs");
	assert_refused("--mem-backing=");
}

static void test_show_layout(void **state)
{
	struct vm_config cfg;

	assert_int_equal(parse(&cfg, "--show-layout"), 0);
	assert_int_equal(cfg.show_layout, SHOW_LAYOUT_TEXT);
	assert_int_equal(parse(&cfg, "--show-layout=json"), 0);
	assert_int_equal(cfg.show_layout, SHOW_LAYOUT_JSON);
	assert_int_equal(parse(&cfg, "--show-layout=text"), 0);
	assert_int_equal(cfg.show_layout, SHOW_LAYOUT_TEXT);
	assert_refused("--show-layout=xml");
	assert_refused("--show-layout=");
	/* The value is optional, so only "=" attaches one: "json" is stray. */
	assert_refused("--show-layout", "json");
}

static void test_flag_with_value_refused(void **state)
{
	assert_refused("--stats=1");
	assert_refused("--stats=");
	assert_refused("--help=me");
	assert_refused("-V=1");
	assert_refused("--json=yes");
}

static void test_missing_value(void **state)
{
	assert_refused("-m");
	assert_refused("-smp");
	assert_refused("--kernel");
	assert_refused("-append");
	assert_refused("--mem-layout");
	assert_refused("--dump-dtb");
	assert_refused("-m", "1G", "--kvm-device");
}

static void test_unknown_and_stray(void **state)
{
	assert_refused("--frobnicate");
	assert_refused("-x");
	assert_refused("--");
	assert_refused("-");
	assert_refused("---m", "1G");
	assert_refused("--M", "1G"); /* names are case-sensitive */
	assert_refused("--mem", "1G"); /* no prefix matching */
	assert_refused("--kernelx=a");
	assert_refused("guest.elf");
	assert_refused("-m", "1G", "extra");
	/* compare-layouts is a subcommand, found by the table before cli_parse. */
	assert_refused("-m", "1G", "compare-layouts", "split", "single");
	assert_refused("compare-layouts", "split", "single");
}

/* The one line a refused command line logs, as users see it. */
static void assert_refused_with(const char *line, parse_fn *parse_args, int argc, char **argv)
{
	struct vm_config cfg;
	char *text = NULL, want[256];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	log_set_sink(f);
	assert_int_equal(parse_args(argc, argv, &cfg), -EINVAL);
	log_set_sink(NULL);
	fclose(f);
	snprintf(want, sizeof(want), "minivmm: %s\n", line);
	assert_string_equal(text, want);
	free(text);
}

#define assert_message(line, ...) \
	assert_refused_with((line), cli_parse, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))
#define assert_layouts_message(line, ...) \
	assert_refused_with((line), cli_parse_compare_layouts, ARGC(__VA_ARGS__), LARGV(__VA_ARGS__))

static void test_messages(void **state)
{
	(void)state;
	assert_message("unknown option '--frobnicate' (see --help)", "--frobnicate");
	assert_message("unknown option '--' (see --help)", "--");
	assert_message("unknown option '--=x' (see --help)", "--=x");
	assert_message("unexpected argument 'guest.elf' (see --help)", "guest.elf");
	assert_message("unexpected argument '' (see --help)", "-m", "1G", "");
	assert_message("option '--help' takes no value", "--help=me");
	assert_message("option '-V' takes no value", "-V=1");
	assert_message("option '-kernel' needs a value", "-kernel");
	assert_message("option '--kvm-device' needs a value", "-m", "1G", "--kvm-device");
	assert_message("unexpected argument 'json' (see --help)", "--show-layout", "json");
	assert_message("unexpected argument 'compare-layouts' (see --help)",
		       "compare-layouts", "split", "single");
	assert_layouts_message("compare-layouts: 'weird' is not single, split or chunks:SIZE",
			       "split", "weird");
	assert_layouts_message("compare-layouts needs at least two layouts, e.g. split chunks:64M",
			       "split");
	assert_layouts_message("unknown option '--frobnicate' (see --help)", "--frobnicate");
}

static void test_drives(void **state)
{
	struct vm_config cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "-m", "1G"), 0);
	assert_int_equal(cfg.nr_drives, 0);
	assert_int_equal(parse(&cfg, "-drive", "file=a.img,if=virtio",
			       "--drive", "file=b,,c.img,if=virtio,readonly=on,cache=none,"
			       "aio=threads,serial=S1"), 0);
	assert_int_equal(cfg.nr_drives, 2);
	assert_string_equal(cfg.drives[0].file, "a.img");
	assert_false(cfg.drives[0].readonly);
	assert_int_equal(cfg.drives[0].cache, DRIVE_CACHE_WRITEBACK);
	assert_string_equal(cfg.drives[1].file, "b,c.img");
	assert_true(cfg.drives[1].readonly);
	assert_int_equal(cfg.drives[1].cache, DRIVE_CACHE_NONE);
	assert_int_equal(cfg.drives[1].aio, DRIVE_AIO_THREADS);
	assert_string_equal(cfg.drives[1].serial, "S1");
	/* The parser's own refusals reach the user as one -drive: line. */
	assert_message("-drive: missing if=virtio (QEMU's default, if=ide, is not emulated)",
		       "-drive", "file=a.img");
	assert_refused("-drive", "file=a.img,if=virtio,format=qcow2");
	assert_refused("-drive", "");
	assert_message("-drive: at most 8 drives",
		       "-drive", "file=1,if=virtio", "-drive", "file=2,if=virtio",
		       "-drive", "file=3,if=virtio", "-drive", "file=4,if=virtio",
		       "-drive", "file=5,if=virtio", "-drive", "file=6,if=virtio",
		       "-drive", "file=7,if=virtio", "-drive", "file=8,if=virtio",
		       "-drive", "file=9,if=virtio");
}

static void test_devices(void **state)
{
	struct vm_config cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "-m", "1G"), 0);
	assert_false(cfg.virtio_rng);
	assert_int_equal(cfg.console, CONSOLE_SERIAL);
	assert_int_equal(parse(&cfg, "-device", "virtio-rng-pci"), 0);
	assert_true(cfg.virtio_rng);
	assert_int_equal(cfg.rng_max_bytes, 0);
	assert_int_equal(parse(&cfg, "-device", "virtio-rng-pci,max-bytes=4096,period=500"), 0);
	assert_int_equal(cfg.rng_max_bytes, 4096);
	assert_int_equal(cfg.rng_period_ms, 500);
	assert_int_equal(parse(&cfg, "-device", "virtconsole"), 0);
	assert_int_equal(cfg.console, CONSOLE_VIRTIO);
	assert_int_equal(parse(&cfg, "--console=virtio", "--console", "serial"), 0);
	assert_int_equal(cfg.console, CONSOLE_SERIAL);
	assert_message("-device: unknown device 'e1000' (known: virtio-net-pci, virtio-rng-pci, "
		       "virtconsole; disks are -drive)", "-device", "e1000,netdev=n0");
	assert_message("-device virtio-rng-pci: unknown option 'rng=r0' (known: max-bytes, "
		       "period)", "-device", "virtio-rng-pci,rng=r0");
	assert_message("-device virtio-rng-pci: 'max-bytes=0' is not a number between 1 and "
		       "4294967295", "-device", "virtio-rng-pci,max-bytes=0");
	assert_refused("-device", "virtio-rng-pci,period=");
	assert_refused("-device", "virtio-rng-pci,period=-5");
	assert_refused("-device", "virtconsole,chardev=c0");
	assert_refused("--console", "hvc0");
}

static void test_network(void **state)
{
	struct vm_config cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "-netdev", "user,id=n0,hostfwd=tcp::2222-:22", "-device",
			       "virtio-net-pci,netdev=n0"), 0);
	assert_int_equal(cfg.nr_netdevs, 1);
	assert_int_equal(cfg.nr_nics, 1);
	assert_int_equal(cfg.nics[0].mac[5], 0x56);          /* QEMU's default */
	assert_int_equal(cfg.netdevs[0].fwd[0].host_port, 2222);
	assert_int_equal(parse(&cfg, "-nic", "user", "-nic", "user,mac=52:54:00:00:00:99"), 0);
	assert_int_equal(cfg.nr_nics, 2);
	assert_string_equal(cfg.nics[1].netdev, cfg.netdevs[1].id);
	assert_int_equal(cfg.nics[0].mac[5], 0x56);
	assert_int_equal(cfg.nics[1].mac[5], 0x99);
	assert_message("-netdev n0: no device uses it (add -device virtio-net-pci,netdev=n0)",
		       "-netdev", "user,id=n0");
	assert_message("-device virtio-net-pci: there is no -netdev with id=n1", "-netdev",
		       "user,id=n0", "-device", "virtio-net-pci,netdev=n0", "-device",
		       "virtio-net-pci,netdev=n1");
	assert_message("-netdev: id n0 is used twice", "-netdev", "user,id=n0", "-netdev",
		       "tap,id=n0,ifname=t0", "-device", "virtio-net-pci,netdev=n0");
	assert_message("-netdev n0: 2 devices use it; a netdev serves one", "-netdev",
		       "user,id=n0", "-device", "virtio-net-pci,netdev=n0", "-device",
		       "virtio-net-pci,netdev=n0");
	assert_message("-nic: at most 4 network devices", "-nic", "user", "-nic", "user", "-nic",
		       "user", "-nic", "user", "-nic", "user");
	/* A restore takes its NICs from the snapshot: -netdev alone is a new
	 * backend for one of them, -nic would be a new NIC. */
	assert_int_equal(parse(&cfg, "--restore", "d", "-netdev", "user,id=n0"), 0);
	assert_int_equal(cfg.nr_nics, 0);
	assert_null(cfg.machine_opt);
	assert_int_equal(parse(&cfg, "--restore", "d", "-nic", "user"), 0);
	assert_string_equal(cfg.machine_opt, "nic");
}

static void test_compare_layouts(void **state)
{
	struct vm_config cfg;

	assert_int_equal(parse_layouts(&cfg, "split", "chunks:64M", "-m", "4G", "--json"), 0);
	assert_int_equal(cfg.command, CMD_COMPARE_LAYOUTS);
	assert_int_equal(cfg.nr_compare, 2);
	assert_int_equal(cfg.compare[0].kind, MEM_LAYOUT_SPLIT);
	assert_int_equal(cfg.compare[1].kind, MEM_LAYOUT_CHUNKS);
	assert_int_equal(cfg.compare[1].chunk_size, 64 * MiB);
	assert_int_equal(cfg.ram_size, 4 * GiB);
	assert_true(cfg.json);

	/* Options may come first; at most CONFIG_MAX_COMPARE layouts. */
	assert_int_equal(parse_layouts(&cfg, "--mem-backing", "memfd", "single", "split",
				       "chunks:1G", "chunks:2M", "chunks:4K", "split", "single",
				       "chunks:8M"), 0);
	assert_int_equal(cfg.nr_compare, CONFIG_MAX_COMPARE);
	assert_int_equal(cfg.backing, MEM_BACKING_MEMFD);
	assert_int_equal(cfg.compare[3].chunk_size, 2 * MiB);
	assert_false(cfg.json);
}

static void test_compare_layouts_refusals(void **state)
{
	char *alone[] = { "compare-layouts", NULL };

	assert_refused_argv(cli_parse_compare_layouts, 1, alone);
	assert_refused_layouts("split");
	assert_refused_layouts("split", "-m", "4G");
	assert_refused_layouts("split", "weird");
	assert_refused_layouts("split", "chunks:0");
	assert_refused_layouts("single", "split", "chunks:1G", "chunks:2M", "chunks:4K", "split",
			       "single", "chunks:8M", "split");
}

static void test_help_version(void **state)
{
	struct vm_config cfg;

	assert_int_equal(parse(&cfg, "--help"), 0);
	assert_int_equal(cfg.command, CMD_HELP);
	assert_int_equal(parse(&cfg, "-h"), 0);
	assert_int_equal(cfg.command, CMD_HELP);
	assert_int_equal(parse(&cfg, "-help"), 0);
	assert_int_equal(cfg.command, CMD_HELP);
	assert_int_equal(parse(&cfg, "-V"), 0);
	assert_int_equal(cfg.command, CMD_VERSION);
	assert_int_equal(parse(&cfg, "--version"), 0);
	assert_int_equal(cfg.command, CMD_VERSION);
	assert_int_equal(parse(&cfg, "-m", "1G", "--help"), 0);
	assert_int_equal(cfg.command, CMD_HELP);
}

static void test_parse_resets_config(void **state)
{
	struct vm_config cfg;

	/* Each parse starts from the defaults, not from the last result. */
	assert_int_equal(parse(&cfg, "-m", "2G", "--stats", "-kernel", "k"), 0);
	assert_int_equal(parse(&cfg, "-smp", "2"), 0);
	assert_int_equal(cfg.ram_size, 256 * MiB);
	assert_false(cfg.stats);
	assert_null(cfg.kernel);
}

static void test_gdb_options(void **state)
{
	struct vm_config cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "-m", "1G"), 0);
	assert_null(cfg.gdb);
	assert_false(cfg.gdb_wait);
	assert_int_equal(parse(&cfg, "-s"), 0);
	assert_string_equal(cfg.gdb, "tcp:127.0.0.1:1234");
	assert_int_equal(parse(&cfg, "-s", "-S"), 0);
	assert_true(cfg.gdb_wait);
	assert_int_equal(parse(&cfg, "-S", "-gdb", "unix:/tmp/g.sock"), 0);
	assert_string_equal(cfg.gdb, "unix:/tmp/g.sock");
	assert_true(cfg.gdb_wait);
	assert_int_equal(parse(&cfg, "--gdb=tcp::0"), 0);
	assert_string_equal(cfg.gdb, "tcp::0");
	/* The last -gdb / -s wins, as with every other option. */
	assert_int_equal(parse(&cfg, "-gdb", "tcp::0", "-s"), 0);
	assert_string_equal(cfg.gdb, "tcp:127.0.0.1:1234");
	assert_refused("-S");
	assert_refused("-gdb", "1234");
	assert_refused("-gdb", "tcp:host:99999");
	assert_refused("-gdb", "unix:");
	assert_refused("-s=1");
	assert_message("-S waits for gdb: give -s or -gdb too", "-S");
	assert_message("-gdb: '1234' is not tcp:HOST:PORT or unix:PATH", "-gdb", "1234");
}

static void test_mmu_options(void **state)
{
	struct vm_config cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "-kernel", "g.elf"), 0);
	assert_int_equal(cfg.mmu, MMU_TDP);
	assert_false(cfg.shadow_lazy);
	assert_int_equal(cfg.pt_pool_size, BOARD_MMU_POOL_DEFAULT);
	assert_int_equal(parse(&cfg, "--mmu=shadow", "--shadow-fill", "lazy", "--pt-pool=4M"), 0);
	assert_int_equal(cfg.mmu, MMU_SHADOW);
	assert_true(cfg.shadow_lazy);
	assert_int_equal(cfg.pt_pool_size, 4 * BOARD_MiB);
	assert_int_equal(parse(&cfg, "--stats-file", "s.json", "--translate", "0x8000000000",
			       "--translate=4096"), 0);
	assert_int_equal(cfg.stats, STATS_TEXT); /* --stats-file alone implies --stats */
	assert_int_equal(cfg.nr_translate, 2);
	assert_int_equal(cfg.translate[0], 0x8000000000ULL);
	assert_int_equal(cfg.translate[1], 4096);
	assert_int_equal(parse(&cfg, "--stats=json"), 0);
	assert_int_equal(cfg.stats, STATS_JSON);

	assert_refused("--mmu=ept");
	assert_refused("--shadow-fill=lazy");                  /* needs --mmu=shadow */
	assert_refused("--mmu=shadow", "-smp", "2");           /* one vCPU */
	assert_refused("--mmu=shadow", "--shadow-fill=often");
	assert_refused("--pt-pool=3M");                        /* not 2 MiB granular */
	assert_refused("--pt-pool=256M");                      /* above the maximum */
	assert_refused("--pt-pool=0");
	assert_refused("--translate", "nowhere");
	assert_refused("--stats=xml");
}

/* The diagnostics, boot, control and sandbox options: each spelling sets
 * its field, each bad value is refused. */
static void test_run_options(void **state)
{
	struct vm_config cfg;
	char longdev[300];

	assert_int_equal(parse(&cfg, "--no-host-decompress", "--keep-cpu-features", "--no-cache",
			       "--profile", "--profile-symbols", "vmlinux", "--profile-out", "p.folded",
			       "--timeline", "t.json", "--boot-protocol", "pvh", "--json",
			       "--api-sock", "/tmp/s", "--seccomp", "log"), 0);
	assert_true(cfg.no_host_decompress && cfg.keep_cpu_features && cfg.no_cache && cfg.json);
	assert_int_equal(cfg.profile_hz, 1000);
	assert_string_equal(cfg.profile_symbols, "vmlinux");
	assert_string_equal(cfg.profile_out, "p.folded");
	assert_string_equal(cfg.timeline, "t.json");
	assert_int_equal(cfg.boot_protocol, BOOT_PROTOCOL_PVH);
	assert_string_equal(cfg.api_sock, "/tmp/s");
	assert_int_equal(cfg.seccomp, SANDBOX_LOG);
	assert_int_equal(parse(&cfg, "--profile=250", "--boot-protocol", "linux64",
			       "--seccomp", "off"), 0);
	assert_int_equal(cfg.profile_hz, 250);
	assert_int_equal(cfg.boot_protocol, BOOT_PROTOCOL_LINUX64);
	assert_int_equal(cfg.seccomp, SANDBOX_OFF);
	assert_int_equal(parse(&cfg, "--boot-protocol", "auto", "--seccomp", "on"), 0);
	assert_int_equal(cfg.boot_protocol, BOOT_PROTOCOL_AUTO);
	assert_int_equal(cfg.seccomp, SANDBOX_ON);
	assert_int_equal(cli_parse(1, (char *[]){ "minivmm", NULL }, &cfg), 0);
	assert_int_equal(cfg.seccomp, sandbox_default_mode());

	assert_int_equal(parse(&cfg, "--snapshot-on", "READY", "/tmp/snap", "--snapshot-and-exit"), 0);
	assert_string_equal(cfg.snapshot_marker, "READY");
	assert_string_equal(cfg.snapshot_dir, "/tmp/snap");
	assert_true(cfg.snapshot_exit);
	assert_int_equal(parse(&cfg, "--restore", "/tmp/snap"), 0);
	assert_string_equal(cfg.restore_dir, "/tmp/snap");

	assert_refused("--profile=0");
	assert_refused("--profile=20000");
	assert_refused("--profile=fast");
	assert_refused("--boot-protocol", "multiboot");
	assert_refused("--seccomp", "strict");
	assert_refused("--snapshot-on", "", "/tmp/snap");
	assert_refused("--snapshot-on", "two\nlines", "/tmp/snap");
	assert_refused("--snapshot-on", "READY");
	assert_refused("--snapshot-and-exit");
	assert_refused("--cache-size", "0");
	/* A -device description longer than the parser's 256-byte buffer. */
	memset(longdev, 'x', sizeof(longdev) - 1);
	memcpy(longdev, "virtio-rng-pci,", 15);
	longdev[sizeof(longdev) - 1] = '\0';
	assert_refused("-device", longdev);
}

/* ---- the subcommand table ---------------------------------------------- */

/* What the last entry called saw. */
static struct {
	const char *which, *argv0, *argv1;
	int argc;
} called;

static int record(const char *which, int argc, char **argv)
{
	called.which = which;
	called.argc = argc;
	called.argv0 = argv[0];
	called.argv1 = argc > 1 ? argv[1] : NULL;
	return 40 + argc; /* an exit status the test can recognise */
}

static int fake_alpha(int argc, char **argv) { return record("alpha", argc, argv); }
static int fake_alpha_beta(int argc, char **argv) { return record("alpha-beta", argc, argv); }
static int fake_run(int argc, char **argv) { return record("run", argc, argv); }

static const struct cli_command fake_cmds[] = {
	{ "alpha", "[options]", "the first subcommand", fake_alpha },
	{ "alpha-beta", "X Y...", "a name that extends another", fake_alpha_beta },
	{ NULL, "[options]", "run a VM", fake_run },
};

#define dispatch(...) cli_dispatch(fake_cmds, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static void assert_called(const char *which, int argc, const char *argv0, const char *argv1)
{
	assert_string_equal(called.which, which);
	assert_int_equal(called.argc, argc);
	assert_string_equal(called.argv0, argv0);
	if (argv1)
		assert_string_equal(called.argv1, argv1);
	else
		assert_null(called.argv1);
}

static void test_command_find(void **state)
{
	char *alone[] = { "minivmm", NULL };

	(void)state;
	assert_ptr_equal(cli_command_find(fake_cmds, 1, alone), &fake_cmds[2]);
	assert_ptr_equal(cli_command_find(fake_cmds, ARGC("alpha"), ARGV("alpha")), &fake_cmds[0]);
	assert_ptr_equal(cli_command_find(fake_cmds, ARGC("alpha-beta", "x"),
					  ARGV("alpha-beta", "x")), &fake_cmds[1]);
	/* Exact names in first place only; anything else is the VM run's. */
	assert_ptr_equal(cli_command_find(fake_cmds, ARGC("alph"), ARGV("alph")), &fake_cmds[2]);
	assert_ptr_equal(cli_command_find(fake_cmds, ARGC("ALPHA"), ARGV("ALPHA")), &fake_cmds[2]);
	assert_ptr_equal(cli_command_find(fake_cmds, ARGC("--alpha"), ARGV("--alpha")), &fake_cmds[2]);
	assert_ptr_equal(cli_command_find(fake_cmds, ARGC(""), ARGV("")), &fake_cmds[2]);
	assert_ptr_equal(cli_command_find(fake_cmds, ARGC("-m", "alpha"), ARGV("-m", "alpha")),
			 &fake_cmds[2]);
	/* A table of the default row alone. */
	assert_ptr_equal(cli_command_find(&fake_cmds[2], ARGC("alpha"), ARGV("alpha")),
			 &fake_cmds[2]);
}

static void test_dispatch(void **state)
{
	char *alone[] = { "minivmm", NULL };

	(void)state;
	/* A subcommand sees argv from its own name on, as `minivmm compare` always did. */
	assert_int_equal(dispatch("alpha", "--reps=1"), 42);
	assert_called("alpha", 2, "alpha", "--reps=1");
	assert_int_equal(dispatch("alpha-beta", "split", "single"), 43);
	assert_called("alpha-beta", 3, "alpha-beta", "split");
	assert_int_equal(dispatch("alpha"), 41);
	assert_called("alpha", 1, "alpha", NULL);
	/* The VM run sees the whole command line. */
	assert_int_equal(cli_dispatch(fake_cmds, 1, alone), 41);
	assert_called("run", 1, "minivmm", NULL);
	assert_int_equal(dispatch("-m", "1G", "alpha"), 44);
	assert_called("run", 4, "minivmm", "-m");
	assert_int_equal(dispatch("alphabet"), 42);
	assert_called("run", 2, "minivmm", "alphabet");
}

static void test_usage(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	cli_usage(f, fake_cmds);
	fclose(f);
	/* Usage lines and the list of subcommands come from the table... */
	assert_non_null(strstr(text, "usage: minivmm [options]\n"
				     "       minivmm alpha [options]\n"
				     "       minivmm alpha-beta X Y...\n"));
	assert_non_null(strstr(text, "\n  alpha                the first subcommand\n"));
	assert_non_null(strstr(text, "\n  alpha-beta           a name that extends another\n"));
	assert_non_null(strstr(text, "\n  (none)               run a VM\n"));
	/* ...then the VM's options. */
	assert_non_null(strstr(text, "-smp"));
	assert_non_null(strstr(text, "--mem-layout"));
	assert_non_null(strstr(text, "Ctrl-A x"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_memory_sizes),
		cmocka_unit_test(test_memory_refusals),
		cmocka_unit_test(test_cache_options),
		cmocka_unit_test(test_dash_spellings),
		cmocka_unit_test(test_other_values),
		cmocka_unit_test(test_smp),
		cmocka_unit_test(test_smp_refusals),
		cmocka_unit_test(test_mem_layout_backing),
		cmocka_unit_test(test_show_layout),
		cmocka_unit_test(test_flag_with_value_refused),
		cmocka_unit_test(test_missing_value),
		cmocka_unit_test(test_unknown_and_stray),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_drives),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_network),
		cmocka_unit_test(test_compare_layouts),
		cmocka_unit_test(test_mmu_options),
		cmocka_unit_test(test_run_options),
		cmocka_unit_test(test_gdb_options),
		cmocka_unit_test(test_compare_layouts_refusals),
		cmocka_unit_test(test_help_version),
		cmocka_unit_test(test_parse_resets_config),
		cmocka_unit_test(test_command_find),
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

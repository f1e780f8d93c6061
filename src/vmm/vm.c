// SPDX-License-Identifier: MIT
/*
 * Building, running and tearing down one VM.  The build order is explicit
 * and lives in vm_build(); vm_destroy() undoes whatever part was built.
 */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "abi/board.h"
#include "base/clock.h"
#include "devices/debug_exit.h"
#include "boot/boot.h"
#include "vmm/guest_watch.h"
#include "devices/i8042.h"
#include "report/layout_report.h"
#include "base/log.h"
#include "devices/post.h"
#include "mmu/ptw.h"
#include "report/stats.h"
#include "devices/uart.h"
#include "cpu/x86.h"

static void vm_request_stop(struct vm *vm, enum vm_stop_kind kind, int status,
			    const char *why)
{
	uint64_t one = 1;
	ssize_t r;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stop_kind == VM_STOP_NONE) {
		vm->stop_kind = kind;
		vm->stop_status = status;
		snprintf(vm->stop_why, sizeof(vm->stop_why), "%s", why ? why : "");
	}
	pthread_mutex_unlock(&vm->stop_lock);
	/* A vCPU that caused the stop (debug-exit, reset) must not run on:
	 * it checks this flag before re-entering KVM_RUN.  The main thread
	 * kicks the others. */
	atomic_store(&vm->stopping, true);
	r = write(vm->stop_fd, &one, sizeof(one));
	(void)r;
}

/* ---- Callbacks handed to devices and vCPUs ---------------------------- */

static void power_request(void *ctx, enum power_event ev, int status)
{
	struct vm *vm = ctx;

	switch (ev) {
	case POWER_EXIT_STATUS:
		vm_request_stop(vm, VM_STOP_GUEST_STATUS, status, "guest wrote its exit status");
		break;
	case POWER_RESET:
		vm_request_stop(vm, VM_STOP_RESET, 0, "guest requested a reset");
		break;
	case POWER_OFF:
		vm_request_stop(vm, VM_STOP_POWEROFF, 0, "guest powered off");
		break;
	}
}

static void irq_set(void *ctx, uint32_t gsi, bool level)
{
	struct vm *vm = ctx;
	int err = kvm_irq_line(&vm->kvm, gsi, level);

	if (err)
		log_warn("KVM_IRQ_LINE gsi %u: %s", gsi, strerror(-err));
}

/* Guest console output: to the terminal, and past the watcher. */
static void console_out(void *ctx, const uint8_t *buf, size_t len)
{
	struct vm *vm = ctx;
	struct byte_sink term = console_sink(&vm->console);

	byte_sink_write(&term, buf, len);
	guest_watch_feed(&vm->watch, buf, len);
}

static void console_quit(void *ctx)
{
	vm_request_stop(ctx, VM_STOP_USER_QUIT, 0, "quit from the console (Ctrl-A x)");
}

static void vcpu_stopped(void *ctx, struct vcpu *vcpu)
{
	struct vm *vm = ctx;
	char why[240];

	snprintf(why, sizeof(why), "vCPU %u: %s", vcpu->id, vcpu->exit.why);
	switch (vcpu->result) {
	case VCPU_POWEROFF:
		vm_request_stop(vm, VM_STOP_POWEROFF, 0, why);
		break;
	case VCPU_RESET:
		vm_request_stop(vm, VM_STOP_RESET, 0, why);
		break;
	case VCPU_SHUTDOWN:
	case VCPU_FAILED:
	case VCPU_UNEMULATED:
		/* Dump now, from the thread that owns the vCPU and while it is
		 * out of KVM_RUN, before anyone else touches it. */
		vcpu_dump_state(vcpu, stderr);
		vm_request_stop(vm, VM_STOP_CRASH, VM_EXIT_GUEST_CRASH, why);
		break;
	case VCPU_CONTINUE:
		break;
	}
}

/* ---- Build steps ------------------------------------------------------- */

static int vm_register_memory(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->mem.nr_slots; i++) {
		struct mem_slot *s = &vm->mem.slots[i];
		int err = kvm_set_memory_region(&vm->kvm, s->id, s->flags, s->gpa, s->size, s->hva);

		if (err)
			return err;
	}
	return 0;
}

/* The VM owns every device it creates (destroyed in reverse at teardown). */
static struct device *vm_own(struct vm *vm, struct device *dev)
{
	if (dev && vm->nr_devices < sizeof(vm->devices) / sizeof(vm->devices[0]))
		vm->devices[vm->nr_devices++] = dev;
	return dev;
}

static int vm_place(struct vm *vm, struct bus *bus, uint64_t base, uint64_t len,
		    struct device *dev)
{
	int err;

	if (!dev)
		return -ENOMEM;
	err = bus_insert(bus, base, len, dev);
	if (err)
		log_err("cannot place %s at %s 0x%llx: %s", dev->name, bus->name,
			(unsigned long long)base, strerror(-err));
	return err;
}

/* Placement of every device lives here, with the addresses from board.h. */
static int vm_create_devices(struct vm *vm)
{
	struct irq_line com1_irq = { .set = irq_set, .ctx = vm, .gsi = BOARD_COM1_GSI };
	struct power_ctl power = { .request = power_request, .ctx = vm };
	struct byte_sink out = { .write = console_out, .ctx = vm };
	struct device *kbd_data = NULL, *kbd_cmd = NULL, *post_dev = NULL;
	struct i8042 *kbc;
	int err;

	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm->com1 = uart_create("com1", &com1_irq, &out);
	if (!vm->com1)
		return -ENOMEM;
	uart_hold_input(vm->com1, CONSOLE_SETTLE_NS);
	err = vm_place(vm, &vm->pio, BOARD_COM1_BASE, BOARD_COM1_SIZE,
		       vm_own(vm, uart_device(vm->com1)));
	kbc = i8042_create(&power);
	if (kbc) {
		kbd_data = vm_own(vm, i8042_data_device(kbc));
		kbd_cmd = vm_own(vm, i8042_cmd_device(kbc));
	}
	if (!err)
		err = vm_place(vm, &vm->pio, BOARD_I8042_DATA, 1, kbd_data);
	if (!err)
		err = vm_place(vm, &vm->pio, BOARD_I8042_CMD, 1, kbd_cmd);
	if (!err)
		err = vm_place(vm, &vm->pio, BOARD_DEBUG_EXIT_PORT, 1,
			       vm_own(vm, debug_exit_create(&power)));
	vm->post = post_create();
	if (vm->post)
		post_dev = vm_own(vm, post_device(vm->post));
	if (!err)
		err = vm_place(vm, &vm->pio, BOARD_POST_PORT, 1, post_dev);
	return err;
}

static enum vcpu_action vm_after_exit(void *ctx, struct vcpu *vcpu)
{
	struct vm *vm = ctx;

	return mmu_mode_after_exit(vm->mmu, vcpu);
}

static int vm_create_vcpus(struct vm *vm)
{
	int nx = x86_cpuid_has_nx(vm->cpuid);
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int err;

	vm->vcpu_host = (struct vcpu_host){
		.pio = &vm->pio, .mmio = &vm->mmio, .mem = &vm->mem,
		.stopping = &vm->stopping, .stopped = vcpu_stopped, .ctx = vm,
		.after_exit = vm->mmu ? vm_after_exit : NULL,
	};
	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		err = vcpu_create(v, &vm->kvm, i, &vm->vcpu_host);
		if (err)
			return err;
		x86_cpuid_set_vcpu(vm->cpuid, i, vm->nr_vcpus);
		err = vcpu_set_cpuid(v, vm->cpuid);
		if (err)
			return err;
	}
	/* Only the boot vCPU starts running; the others wait for INIT/SIPI. */
	err = vcpu_get_sregs(&vm->vcpus[0], &sregs);
	if (err)
		return err;
	boot_entry_state(&vm->boot, nx, &sregs, &regs);
	if (vm->mmu)
		sregs.cr3 = mmu_mode_entry_cr3(vm->mmu);
	return vcpu_set_state(&vm->vcpus[0], &sregs, &regs);
}

/* Test guests: the MMU regions, port and (--mmu=shadow) the shadow MMU. */
static int vm_create_mmu(struct vm *vm)
{
	struct mmu_mode_params p = {
		.plan = &vm->mmu_plan, .kvm = &vm->kvm, .mem = &vm->mem,
		.pio = &vm->pio, .mmio = &vm->mmio, .first_slot = vm->mem.nr_slots,
		.maxphyaddr = x86_cpuid_maxphyaddr(vm->cpuid),
		.nxe = x86_cpuid_has_nx(vm->cpuid), .wp = true, /* x86_boot_sregs */
	};
	int err = mmu_mode_create(&p, &vm->mmu);

	if (err == -EOPNOTSUPP)
		vm->config_error = true;
	if (!err && vm->cfg->mmu == MMU_SHADOW)
		log_info("mmu: shadow (minivmm, %s fill) over host MMU %s",
			 vm->mmu_plan.lazy ? "lazy" : "eager", host_mmu_mode_name(vm->kvm.mmu_mode));
	return err;
}

static int vm_build(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	bool pvm;
	int err;

	err = kvm_open(&vm->kvm, cfg->kvm_device);
	pvm = vm->kvm.mmu_mode == HOST_MMU_PVM;
	vm->watch.host_is_pvm = pvm;
	if (!err)
		err = kvm_create_vm(&vm->kvm);
	if (!err) {
		err = mem_map_create(&vm->mem, &cfg->layout, cfg->backing, cfg->ram_size,
				     vm->kvm.max_memslots);
		/* A layout this host cannot hold is a usage error, not a crash. */
		vm->config_error = err == -EINVAL || err == -E2BIG;
	}
	if (!err)
		err = vm_register_memory(vm);
	if (err || cfg->show_layout != SHOW_LAYOUT_NONE)
		return err;
	err = kvm_setup_platform(&vm->kvm, BOARD_KVM_TSS, BOARD_KVM_IDENTITY_MAP);
	if (!err)
		err = console_init(&vm->console, STDIN_FILENO, STDOUT_FILENO, console_quit, vm);
	if (!err)
		err = vm_create_devices(vm);
	if (!err) {
		err = boot_prepare(cfg, &vm->mem, pvm, &vm->boot, &vm->mmu_plan);
		vm->config_error = err == -EOPNOTSUPP;
	}
	if (!err)
		err = kvm_get_supported_cpuid(&vm->kvm, &vm->cpuid);
	if (!err && pvm)
		x86_cpuid_hide_pv_hypercalls(vm->cpuid);
	if (err || cfg->dump_dtb)
		return err;
	if (vm->boot.protocol == BOOT_TEST_GUEST)
		err = vm_create_mmu(vm);
	if (!err)
		err = vm_create_vcpus(vm);
	return err;
}

static void vm_destroy(struct vm *vm)
{
	for (unsigned int i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	free(vm->cpuid);
	boot_info_free(&vm->boot);
	console_destroy(&vm->console);
	for (unsigned int i = vm->nr_devices; i-- > 0;)
		device_destroy(vm->devices[i]);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	mmu_mode_destroy(vm->mmu);
	mem_map_destroy(&vm->mem);
	kvm_close(&vm->kvm);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	pthread_mutex_destroy(&vm->stop_lock);
	free(vm);
}

static struct vm *vm_alloc(const struct vm_config *cfg)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return NULL;
	vm->cfg = cfg;
	vm->nr_vcpus = cfg->nr_vcpus;
	vm->kvm.sys_fd = vm->kvm.vm_fd = -1;
	vm->mem.memfd = -1;
	vm->console.wake_fd = -1;
	pthread_mutex_init(&vm->stop_lock, NULL);
	vm->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (vm->stop_fd < 0) {
		free(vm);
		return NULL;
	}
	return vm;
}

/* ---- Running ----------------------------------------------------------- */

/* Wait until a device, a vCPU, the console or a signal stops the VM. */
static void vm_wait(struct vm *vm, int sig_fd)
{
	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = vm->stop_fd, .events = POLLIN },
			{ .fd = sig_fd, .events = POLLIN },
		};
		struct signalfd_siginfo si;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			vm_request_stop(vm, VM_STOP_ERROR, VM_EXIT_SETUP_FAILED, "poll failed");
			return;
		}
		if (fds[0].revents & POLLIN)
			return;
		if ((fds[1].revents & POLLIN) && read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
			const char *name = sigabbrev_np((int)si.ssi_signo);
			char why[64];

			if (name)
				snprintf(why, sizeof(why), "stopped by SIG%s", name);
			else
				snprintf(why, sizeof(why), "stopped by signal %u", si.ssi_signo);
			vm_request_stop(vm, VM_STOP_SIGNAL, 128 + (int)si.ssi_signo, why);
			return;
		}
	}
}

static void vm_print_stats(struct vm *vm, FILE *out)
{
	uint64_t vmm_kib, guest_kib;

	fprintf(out, "minivmm: run statistics (host MMU: %s)\n",
		host_mmu_mode_name(vm->kvm.mmu_mode));

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		char label[32];
		struct kvm_regs regs;

		snprintf(label, sizeof(label), "vCPU %u", i);
		stats_print_exits(out, label, &vm->vcpus[i].exit.stats);
		if (!vcpu_get_regs(&vm->vcpus[i], &regs))
			fprintf(out, "    %-32s %llx\n", "stopped at RIP", regs.rip);
	}
	fprintf(out, "  unclaimed accesses: pio %lu, mmio %lu\n",
		(unsigned long)atomic_load(&vm->pio.unclaimed),
		(unsigned long)atomic_load(&vm->mmio.unclaimed));
	if (vm->post && post_last_code(vm->post) >= 0)
		fprintf(out, "  last POST code: 0x%02x\n", post_last_code(vm->post));
	if (vm->mmu)
		mmu_mode_print_stats(vm->mmu, out);
	stats_print_kvm(out, &vm->kvm, -1, "VM");
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		char label[32];

		snprintf(label, sizeof(label), "vCPU %u", i);
		stats_print_kvm(out, &vm->kvm, vm->vcpus[i].fd, label);
	}
	if (!stats_rss_kib(&vm->mem, &vmm_kib, &guest_kib))
		fprintf(out, "  VMM resident memory excluding guest RAM: %llu KiB "
			"(guest RAM resident: %llu KiB)\n",
			(unsigned long long)vmm_kib, (unsigned long long)guest_kib);
}

/* The same, as one JSON object (docs/shadow-mmu.md lists the fields). */
static json_t *vm_stats_json(struct vm *vm, int status)
{
	json_t *root = json_object(), *exits;
	struct exit_stats all = { 0 };
	struct kvm_stat_values vcpu_sum = { 0 };
	char layout[48];
	int khz = -1;

	mem_layout_name(&vm->cfg->layout, layout, sizeof(layout));
	json_object_set_new(root, "minivmm_stats", json_integer(1));
	json_object_set_new(root, "host_mmu", json_string(host_mmu_mode_name(vm->kvm.mmu_mode)));
	json_object_set_new(root, "mmu", json_string(vm->cfg->mmu == MMU_SHADOW ? "shadow" : "tdp"));
	json_object_set_new(root, "shadow_fill", json_null());
	json_object_set_new(root, "layout", json_string(layout));
	json_object_set_new(root, "backing", json_string(mem_backing_name(vm->cfg->backing)));
	json_object_set_new(root, "ram_bytes", json_integer((json_int_t)vm->cfg->ram_size));
	json_object_set_new(root, "vcpus", json_integer(vm->nr_vcpus));
	if (vm->nr_vcpus)
		khz = vcpu_tsc_khz(&vm->vcpus[0]);
	json_object_set_new(root, "tsc_khz", json_integer(khz > 0 ? khz : 0));
	json_object_set_new(root, "exit_status", json_integer(status));
	json_object_set_new(root, "stop", json_string(vm->stop_why));
	json_object_set_new(root, "run_ns", json_integer((json_int_t)vm->run_ns));
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct kvm_stat_values v;

		for (unsigned int r = 0; r < EXIT_REASON_MAX; r++)
			all.by_reason[r] += vm->vcpus[i].exit.stats.by_reason[r];
		if (!stats_kvm_snapshot(&vm->kvm, vm->vcpus[i].fd, &v)) {
			stats_kvm_accumulate(&vcpu_sum, &v);
			stats_kvm_values_free(&v);
		}
	}
	exits = stats_exits_json(&all, NULL);
	json_object_set_new(root, "exits", exits);
	{
		struct kvm_stat_values v;

		if (!stats_kvm_snapshot(&vm->kvm, -1, &v)) {
			json_object_set_new(root, "kvm_vm", stats_kvm_json(&v, NULL));
			stats_kvm_values_free(&v);
		}
	}
	json_object_set_new(root, "kvm_vcpu", stats_kvm_json(&vcpu_sum, NULL));
	stats_kvm_values_free(&vcpu_sum);
	if (vm->mmu)
		mmu_mode_stats_json(vm->mmu, root);
	else
		json_object_set_new(root, "phases", json_array());
	return root;
}

static void vm_report_stats(struct vm *vm, int status)
{
	const char *path = vm->cfg->stats_file;
	FILE *out = path ? fopen(path, "w") : stderr;

	if (!out) {
		log_err("--stats-file: cannot write '%s': %s", path, strerror(errno));
		return;
	}
	if (vm->cfg->stats == STATS_JSON) {
		json_t *root = vm_stats_json(vm, status);

		if (!root || json_dumpf(root, out, JSON_INDENT(1) | JSON_SORT_KEYS))
			log_err("cannot write the statistics as JSON");
		fputc('\n', out);
		json_decref(root);
	} else {
		vm_print_stats(vm, out);
	}
	if (path && fclose(out))
		log_err("--stats-file: cannot write '%s': %s", path, strerror(errno));
}

static const void *guest_table_map(void *ctx, uint64_t gpa, uint64_t len)
{
	struct vm *vm = ctx;
	const void *p = mem_gpa_to_hva(&vm->mem, gpa, len);

	return p || !vm->mmu ? p : mmu_mode_map_pool(vm->mmu, gpa, len);
}

/* --translate: the guest's own tables through the software walker, and
 * what KVM's translation (the hardware's view: the shadow in shadow mode)
 * says, so the two can be compared. */
static void vm_translate_report(struct vm *vm)
{
	struct ptw_mem mem = { .map = guest_table_map, .ctx = vm };
	struct ptw_regs regs;
	struct kvm_sregs s;
	uint64_t root;

	if (!vm->nr_vcpus || vcpu_get_sregs(&vm->vcpus[0], &s))
		return;
	root = mmu_mode_guest_root(vm->mmu) ? mmu_mode_guest_root(vm->mmu) : s.cr3;
	regs = (struct ptw_regs){ .cr0 = s.cr0, .cr3 = root, .cr4 = s.cr4, .efer = s.efer,
				  .maxphyaddr = x86_cpuid_maxphyaddr(vm->cpuid) };
	for (unsigned int i = 0; i < vm->cfg->nr_translate; i++) {
		uint64_t gva = vm->cfg->translate[i], kvm_gpa;
		struct ptw_result r;
		char line[320];

		ptw_walk(&mem, &regs, gva, PTW_READ, &r);
		ptw_format(&r, line, sizeof(line));
		fprintf(stderr, "minivmm: translate 0x%llx (guest root 0x%llx): %s\n",
			(unsigned long long)gva, (unsigned long long)root, line);
		if (!vcpu_translate(&vm->vcpus[0], gva, &kvm_gpa))
			fprintf(stderr, "minivmm: translate 0x%llx: KVM (CR3 0x%llx) says gpa 0x%llx\n",
				(unsigned long long)gva, (unsigned long long)s.cr3,
				(unsigned long long)kvm_gpa);
		else
			fprintf(stderr, "minivmm: translate 0x%llx: KVM (CR3 0x%llx) says not mapped\n",
				(unsigned long long)gva, (unsigned long long)s.cr3);
	}
}

static int vm_exit_status(struct vm *vm)
{
	switch (vm->stop_kind) {
	case VM_STOP_GUEST_STATUS:
	case VM_STOP_SIGNAL:
	case VM_STOP_CRASH:
	case VM_STOP_ERROR:
		return vm->stop_status;
	default:
		return 0;
	}
}

static int vm_run(struct vm *vm)
{
	sigset_t stop_signals, old;
	int sig_fd, err = 0, status;
	uint64_t start_ns = 0;

	/* The main thread takes SIGINT/SIGTERM/SIGHUP through a signalfd; the
	 * threads created below inherit the blocked mask and never see them. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_signals, &old);
	sig_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
	if (sig_fd < 0 || vcpu_signals_init()) {
		log_err("cannot set up signal handling: %s", strerror(errno));
		err = -errno;
	}
	if (!err)
		err = console_start(&vm->console, vm->com1);
	start_ns = now_ns();
	for (unsigned int i = 0; !err && i < vm->nr_vcpus; i++)
		err = vcpu_start(&vm->vcpus[i]);
	if (err)
		vm_request_stop(vm, VM_STOP_ERROR, VM_EXIT_SETUP_FAILED, "start-up failed");
	else
		vm_wait(vm, sig_fd);

	atomic_store(&vm->stopping, true);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
	vm->run_ns = now_ns() - start_ns;
	console_stop(&vm->console);
	if (sig_fd >= 0)
		close(sig_fd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	if (vm->stop_kind == VM_STOP_SIGNAL)
		log_info("%s", vm->stop_why);
	else if (vm->stop_kind == VM_STOP_CRASH)
		log_err("guest crashed: %s", vm->stop_why);
	if (vm->cfg->nr_translate)
		vm_translate_report(vm);
	status = vm_exit_status(vm);
	if (vm->cfg->stats != STATS_OFF)
		vm_report_stats(vm, status);
	return status;
}

static int vm_dump_dtb(struct vm *vm, const char *path)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(vm->boot.fdt, 1, vm->boot.fdt_size, f) != vm->boot.fdt_size) {
		log_err("cannot write the device tree to '%s': %s", path, strerror(errno));
		if (f)
			fclose(f);
		return VM_EXIT_SETUP_FAILED;
	}
	if (fclose(f)) {
		log_err("cannot write the device tree to '%s': %s", path, strerror(errno));
		return VM_EXIT_SETUP_FAILED;
	}
	return 0;
}

int vm_main(const struct vm_config *cfg)
{
	struct vm *vm = vm_alloc(cfg);
	int status;

	if (!vm) {
		log_err("out of memory");
		return VM_EXIT_SETUP_FAILED;
	}
	if (vm_build(vm))
		status = vm->config_error ? VM_EXIT_USAGE : VM_EXIT_SETUP_FAILED;
	else if (cfg->show_layout != SHOW_LAYOUT_NONE)
		status = layout_report_show(stdout, &vm->mem, &vm->kvm,
					    cfg->show_layout == SHOW_LAYOUT_JSON) ?
			 VM_EXIT_SETUP_FAILED : 0;
	else if (cfg->dump_dtb)
		status = vm_dump_dtb(vm, cfg->dump_dtb);
	else
		status = vm_run(vm);
	vm_destroy(vm);
	return status;
}

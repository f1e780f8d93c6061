// SPDX-License-Identifier: MIT
/*
 * Building, running and tearing down one VM.  The build order is explicit
 * and lives in vm_build(); vm_destroy() undoes whatever part was built.
 */
#include "vmm/vm_priv.h"

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
#include "abi/mmu_port.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/util.h"
#include "cpu/x86.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/post.h"
#include "devices/uart.h"
#include "devices/virtio/console.h"
#include "profile/profile.h"
#include "profile/timeline.h"
#include "report/layout_report.h"
#include "control/api.h"
#include "control/snapdir.h"
#include "vmm/vm_control.h"
#include "vmm/vm_snapshot.h"

void vm_request_stop(struct vm *vm, enum vm_stop_kind kind, int status, const char *why)
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

/* Every vCPU's exit counters now.  Other vCPUs may be counting while
 * this reads: each 64-bit counter is read whole, the set not atomically
 * (phase boundaries are console lines, a few exits of slack is fine). */
void vm_exit_totals(const struct vm *vm, struct exit_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		const struct exit_stats *st = &vm->vcpus[i].exit.stats;

		for (unsigned int r = 0; r < EXIT_REASON_MAX; r++)
			sum->by_reason[r] += __atomic_load_n(&st->by_reason[r], __ATOMIC_RELAXED);
		sum->pio_accesses += __atomic_load_n(&st->pio_accesses, __ATOMIC_RELAXED);
		sum->mmio_accesses += __atomic_load_n(&st->mmio_accesses, __ATOMIC_RELAXED);
		for (unsigned int k = 0; k < UNEMULATED_KINDS; k++)
			sum->unemulated[k] += __atomic_load_n(&st->unemulated[k], __ATOMIC_RELAXED);
	}
}

static void timeline_totals(void *ctx, struct exit_stats *out)
{
	vm_exit_totals(ctx, out);
}

/* Guest console output: to the terminal, and past the watcher, which
 * also notices the lines that open a Linux boot's phases. */
static void console_out(void *ctx, const uint8_t *buf, size_t len)
{
	struct vm *vm = ctx;
	struct byte_sink term = console_sink(&vm->console);
	enum boot_phase before = vm->watch.phase;

	byte_sink_write(&term, buf, len);
	if (vm->timeline)
		timeline_feed(vm->timeline, buf, len, now_ns(), timeline_totals, vm);
	guest_watch_feed(&vm->watch, buf, len);
	vm_control_console(vm, buf, len);
	if (vm->watch.phase != before) {
		struct boot_phase_mark *m = &vm->phase_marks[vm->watch.phase];

		m->ns = now_ns();
		vm_exit_totals(vm, &m->exits);
		m->seen = true;
	}
}

static size_t com1_receive(void *ctx, const uint8_t *buf, size_t len)
{
	return uart_receive(ctx, buf, len);
}

static size_t vcon_receive(void *ctx, const uint8_t *buf, size_t len)
{
	return virtio_console_input(ctx, buf, len);
}

static void console_quit(void *ctx)
{
	vm_request_stop(ctx, VM_STOP_USER_QUIT, 0, "quit from the console (Ctrl-A x)");
}

static void gdb_kill(void *ctx)
{
	vm_request_stop(ctx, VM_STOP_USER_QUIT, 0, "killed by gdb");
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
	case VCPU_DEBUG:
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

/* The VM owns every device it creates (destroyed in reverse at teardown). */
static struct device *vm_own(struct vm *vm, struct device *dev)
{
	if (dev && vm->nr_devices < ARRAY_SIZE(vm->devices))
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

/* Test guests: the MMU glue (--mmu), before its devices are placed. */
static int vm_create_mmu(struct vm *vm)
{
	struct mmu_kvm_params p = {
		.plan = &vm->mmu_plan, .kvm = &vm->kvm, .mem = &vm->mem,
		.maxphyaddr = x86_cpuid_maxphyaddr(vm->cpuid),
		.nxe = x86_cpuid_has_nx(vm->cpuid), .wp = true, /* x86_boot_sregs */
	};
	int err = mmu_kvm_create(&p, &vm->mmu);

	if (err == -EOPNOTSUPP)
		vm->config_error = true;
	if (!err && vm->cfg->mmu == MMU_SHADOW)
		log_info("mmu: shadow (minivmm, %s fill) over host paging %s",
			 vm->mmu_plan.lazy ? "lazy" : "eager", host_paging_name(vm->kvm.paging));
	return err;
}

/* Placement of every device lives here, with the addresses from board.h
 * and abi/mmu_port.h. */
static int vm_create_devices(struct vm *vm)
{
	struct irq_line com1_irq = { .set = irq_set, .ctx = vm, .gsi = BOARD_COM1_GSI };
	struct power_ctl power = { .request = power_request, .ctx = vm };
	struct byte_sink out = { .write = console_out, .ctx = vm };
	struct device *kbd_data = NULL, *kbd_cmd = NULL, *post_dev = NULL, *pool_trap;
	struct i8042 *kbc;
	int err;

	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm->com1 = uart_create("com1", &com1_irq, &out);
	if (!vm->com1)
		return -ENOMEM;
	uart_hold_input(vm->com1, CONSOLE_SETTLE_NS);
	if (vm->cfg->console == CONSOLE_SERIAL) {
		vm->console_target = (struct console_target){ .receive = com1_receive, .ctx = vm->com1 };
		uart_set_rx_space_notify(vm->com1, console_rx_space, &vm->console);
	}
	err = vm_place(vm, &vm->pio, BOARD_COM1_BASE, BOARD_COM1_SIZE,
		       vm_own(vm, uart_device(vm->com1)));
	kbc = i8042_create(&power);
	vm->kbc = kbc;
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
	if (err || vm->boot.protocol != BOOT_TEST_GUEST)
		return err;
	/* The mmu_kvm owns its two devices. */
	err = vm_create_mmu(vm);
	if (!err)
		err = vm_place(vm, &vm->pio, BOARD_MMU_PORT, 4, mmu_kvm_port_device(vm->mmu));
	pool_trap = err ? NULL : mmu_kvm_pool_device(vm->mmu);	/* shadow mode only */
	if (pool_trap)
		err = vm_place(vm, &vm->mmio, vm->mmu_plan.pool_gpa, vm->mmu_plan.pool_size,
			       pool_trap);
	return err;
}

/* The PCI platform: the host bridge (always, as on a PC) and a virtio-blk
 * function per -drive, in command-line order (vda, vdb, ...). */
static int vm_create_pci(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct vm_pci_params p = {
		.kvm = &vm->kvm, .mem = &vm->mem, .pio = &vm->pio, .mmio = &vm->mmio,
		.nr_vcpus = vm->nr_vcpus,
	};
	int err = evloop_create(&vm->io);

	p.loop = vm->io;
	if (!err)
		err = vm_pci_create(&p, &vm->pci);
	for (unsigned int i = 0; !err && i < cfg->nr_drives; i++) {
		err = vm_pci_add_drive(vm->pci, &cfg->drives[i]);
		vm->config_error = err == -EINVAL;
	}
	for (unsigned int i = 0; !err && i < cfg->nr_nics; i++) {
		const struct netdev_config *nd = NULL;

		for (unsigned int j = 0; j < cfg->nr_netdevs; j++)
			if (!strcmp(cfg->netdevs[j].id, cfg->nics[i].netdev))
				nd = &cfg->netdevs[j];
		/* cli checked that it exists; a backend that cannot open (a
		 * port in use, no right to a tap) is the user's to fix. */
		err = nd ? vm_pci_add_net(vm->pci, nd, &cfg->nics[i]) : -EINVAL;
		vm->config_error = err && err != -ENOMEM;
	}
	if (!err && cfg->console == CONSOLE_VIRTIO) {
		struct byte_sink out = { .write = console_out, .ctx = vm };

		err = vm_pci_add_console(vm->pci, &out, console_rx_space, &vm->console,
					 &vm->vcon);
		vm->console_target = (struct console_target){ .receive = vcon_receive,
							      .ctx = vm->vcon };
	}
	if (!err && cfg->virtio_rng)
		err = vm_pci_add_rng(vm->pci, cfg->rng_max_bytes,
				     cfg->rng_period_ms * 1000000ull);
	return err;
}

static enum vcpu_action vm_after_exit(void *ctx, struct vcpu *vcpu)
{
	struct vm *vm = ctx;

	return mmu_kvm_after_exit(vm->mmu, vcpu);
}

static int vm_create_vcpus(struct vm *vm)
{
	int nx = x86_cpuid_has_nx(vm->cpuid);
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int err;

	vm->vcpu_env = (struct vcpu_env){
		.pio = &vm->pio, .mmio = &vm->mmio, .mem = &vm->mem,
		.stopping = &vm->stopping, .stopped = vcpu_stopped, .ctx = vm,
		.after_exit = vm->mmu ? vm_after_exit : NULL, .pause = &vm->pause,
	};
	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		err = vcpu_create(v, &vm->kvm, i, &vm->vcpu_env);
		if (err)
			return err;
		x86_cpuid_set_vcpu(vm->cpuid, i, vm->nr_vcpus);
		err = vcpu_set_cpuid(v, vm->cpuid);
		if (err)
			return err;
	}
	if (vm->restore_doc)
		return 0;	/* vm_restore_state puts every vCPU back */
	/* Only the boot vCPU starts running; the others wait for INIT/SIPI. */
	err = vcpu_get_sregs(&vm->vcpus[0], &sregs);
	if (err)
		return err;
	boot_entry_state(&vm->boot, nx, &sregs, &regs);
	if (vm->mmu)
		sregs.cr3 = mmu_kvm_entry_cr3(vm->mmu);
	return vcpu_set_state(&vm->vcpus[0], &sregs, &regs);
}

/* -gdb / -s: the stub, and the vCPUs' trap hook into it. */
static int vm_create_gdb(struct vm *vm)
{
	struct gdbstub_params p = {
		.listen = vm->cfg->gdb, .kvm = &vm->kvm, .vcpus = vm->vcpus,
		.nr_vcpus = vm->nr_vcpus, .pause = &vm->pause, .mem = &vm->mem,
		.segs = vm->boot.segs, .nr_segs = vm->boot.nr_segs,
		.kill = gdb_kill, .ctx = vm,
	};
	int err = gdbstub_create(&p, &vm->gdb);

	vm->vcpu_env.debug_trap = gdbstub_trap;
	vm->vcpu_env.debug_ctx = vm->gdb;
	return err;
}

static void profile_hook(void *ctx, unsigned int vcpu, uint64_t rip, unsigned int cpl)
{
	profile_sample(ctx, vcpu, rip, cpl);
}

/* --profile: the sampler, fed by the vCPU threads. */
static int vm_create_profile(struct vm *vm)
{
	int err;

	vm->profile = calloc(1, sizeof(*vm->profile));
	if (!vm->profile)
		return -ENOMEM;
	err = profile_init(vm->profile, vm->cfg->profile_hz, vm->vcpus, vm->nr_vcpus);
	if (err) {
		free(vm->profile);
		vm->profile = NULL;
		log_err("--profile: cannot set up the sampler: %s", strerror(-err));
		return err;
	}
	vm->vcpu_env.sample = profile_hook;
	vm->vcpu_env.sample_ctx = vm->profile;
	return 0;
}

/* At exit: the profile on stderr, the folded file, the timeline; one
 * symbol table for all three. */
static void vm_profile_report(struct vm *vm)
{
	const char *path = vm->cfg->profile_symbols;
	struct symbols syms;
	bool have = false;
	int err;

	if (!path && vm->cfg->kernel && strncmp(vm->cfg->kernel, "builtin:", 8))
		path = vm->cfg->kernel;
	if (path && vm->profile) {
		err = symbols_load(path, &syms);
		have = !err;
		if (err && vm->cfg->profile_symbols)
			log_err("--profile-symbols %s: no symbols: %s", path,
				err == -EINVAL ? "not an ELF with a symbol table, nor a System.map"
					       : strerror(-err));
	}
	if (vm->profile) {
		profile_report(vm->profile, have ? &syms : NULL, 20, stderr);
		if (vm->cfg->profile_out) {
			err = profile_write_folded(vm->profile, have ? &syms : NULL,
						   vm->cfg->profile_out);
			if (err)
				log_err("--profile-out %s: %s", vm->cfg->profile_out, strerror(-err));
		}
	}
	if (vm->timeline) {
		struct exit_stats end;

		vm_exit_totals(vm, &end);
		(void)timeline_write(vm->timeline, vm->cfg->timeline, vm->stop_ns, &end, vm->profile,
				     have ? &syms : NULL);
	}
	if (have)
		symbols_free(&syms);
}

/* A restore step: its one-line error, and a damaged or mismatched
 * snapshot counts as the user's (exit status 2), never a half-restored
 * guest. */
static int vm_restore_step(struct vm *vm, int (*step)(struct vm *, char *, size_t))
{
	char why[512];
	int err = step(vm, why, sizeof(why));

	if (err) {
		log_err("--restore %s: %s", vm->cfg->restore_dir, why);
		vm->config_error = err != -ENOMEM;
	}
	return err;
}

/* What widens the threads' allow-lists (base/sandbox.h). */
static unsigned int vm_sandbox_features(const struct vm_config *cfg)
{
	unsigned int f = 0;

	for (unsigned int i = 0; i < cfg->nr_netdevs; i++)
		f |= cfg->netdevs[i].kind == NETDEV_USER ? SANDBOX_NET_USER : SANDBOX_NET_TAP;
	return f;
}

/*
 * The build order.  The kernel is loaded before KVM hears of any memory, so
 * that a test guest's MMU regions join the memory map first and one loop
 * registers every slot (and --show-layout lists them all).
 */
static int vm_build(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	bool pvm;
	int err;

	/* A layout that cannot exist is the user's error: say so before
	 * touching KVM (only the memory-slot limit needs KVM's answer). */
	err = mem_layout_check(&cfg->layout, cfg->backing, cfg->ram_size);
	if (err) {
		vm->config_error = true;
		return err;
	}
	err = kvm_open(&vm->kvm, cfg->kvm_device);
	pvm = vm->kvm.paging == HOST_PAGING_PVM;
	vm->watch.host_is_pvm = pvm;
	if (!err)
		err = kvm_create_vm(&vm->kvm);
	if (!err)
		err = kvm_get_supported_cpuid(&vm->kvm, &vm->cpuid);
	if (!err && pvm)
		x86_cpuid_hide_pv_hypercalls(vm->cpuid);
	if (!err) {
		err = mem_map_create(&vm->mem, &cfg->layout, cfg->backing, cfg->ram_size,
				     vm->kvm.max_memslots);
		/* A layout this host cannot hold is a usage error, not a crash. */
		vm->config_error = err == -EINVAL || err == -E2BIG;
	}
	if (err)
		return err;
	mmu_plan_make(cfg->mmu, cfg->shadow_lazy, cfg->pt_pool_size, &vm->mem, &vm->mmu_plan);
	if (!vm->restore_doc) {
		err = boot_prepare(cfg, &vm->mem, pvm, &vm->mmu_plan, &vm->boot);
		vm->watch.linux_phases = !err && vm->boot.protocol == BOOT_LINUX;
		vm->config_error = err == -EOPNOTSUPP;
	}
	if (!err && vm->boot.protocol == BOOT_TEST_GUEST) {
		err = mmu_plan_add_regions(&vm->mmu_plan, &vm->mem);
		vm->config_error = err == -E2BIG;
	}
	if (!err && vm->restore_doc)
		err = vm_restore_step(vm, vm_restore_memory);
	if (!err)
		err = kvm_register_memory(&vm->kvm, &vm->mem);
	if (err || cfg->show_layout != SHOW_LAYOUT_NONE || cfg->dump_dtb)
		return err;
	err = kvm_setup_platform(&vm->kvm, BOARD_KVM_TSS, BOARD_KVM_IDENTITY_MAP);
	/* Before any thread that confines itself starts (the disks' start
	 * with the PCI platform). */
	if (!err)
		err = sandbox_prepare(cfg->seccomp, vm_sandbox_features(cfg),
				      console_restore_terminal);
	if (!err)
		err = console_init(&vm->console, STDIN_FILENO, STDOUT_FILENO, console_quit, vm);
	if (!err)
		err = vm_create_devices(vm);
	if (!err)
		err = vm_create_pci(vm);
	if (!err)
		err = vm_create_vcpus(vm);
	if (!err && cfg->gdb)
		err = vm_create_gdb(vm);
	if (!err && cfg->profile_hz)
		err = vm_create_profile(vm);
	if (!err && cfg->timeline) {
		vm->timeline = calloc(1, sizeof(*vm->timeline));
		if (!vm->timeline)
			err = -ENOMEM;
		else
			timeline_init(vm->timeline, now_ns());
	}
	if (!err && vm->restore_doc)
		err = vm_restore_step(vm, vm_restore_state);
	if (!err)
		err = vm_control_create(vm);
	return err;
}

static void vm_destroy(struct vm *vm)
{
	vm_control_destroy(vm);
	json_decref(vm->restore_doc);
	if (vm->snap_fd >= 0)
		close(vm->snap_fd);
	gdbstub_destroy(vm->gdb);
	if (vm->profile) {
		profile_destroy(vm->profile);
		free(vm->profile);
	}
	if (vm->timeline) {
		timeline_destroy(vm->timeline);
		free(vm->timeline);
	}
	for (unsigned int i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	free(vm->cpuid);
	boot_info_free(&vm->boot);
	console_destroy(&vm->console);
	vm_pci_destroy(vm->pci);
	evloop_destroy(vm->io);
	for (unsigned int i = vm->nr_devices; i-- > 0;)
		device_destroy(vm->devices[i]);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	mmu_kvm_destroy(vm->mmu);
	mem_map_destroy(&vm->mem);
	kvm_close(&vm->kvm);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	pthread_mutex_destroy(&vm->stop_lock);
	vcpu_pause_destroy(&vm->pause);
	free(vm);
	sandbox_release();
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
	vm->console.inject_rd = vm->console.inject_wr = -1;
	pthread_mutex_init(&vm->stop_lock, NULL);
	vm->stop_fd = eventfd(0, EFD_CLOEXEC);
	vm->snap_fd = eventfd(0, EFD_CLOEXEC);
	if (vm->stop_fd < 0 || vm->snap_fd < 0) {
		if (vm->stop_fd >= 0)
			close(vm->stop_fd);
		if (vm->snap_fd >= 0)
			close(vm->snap_fd);
		free(vm);
		return NULL;
	}
	/* -S: the vCPU threads park before their first KVM_RUN. */
	if (vcpu_pause_init(&vm->pause, cfg->gdb_wait)) {
		close(vm->stop_fd);
		close(vm->snap_fd);
		free(vm);
		return NULL;
	}
	return vm;
}

/* ---- Running ----------------------------------------------------------- */

void vm_pause(struct vm *vm)
{
	vcpu_pause_all(&vm->pause, vm->vcpus, vm->nr_vcpus);
}

void vm_resume(struct vm *vm)
{
	vcpu_resume_all(&vm->pause);
}

/* Wait until a device, a vCPU, the console, a signal or the control
 * socket stops the VM; serve the control socket and --snapshot-on
 * meanwhile (this thread is the one that may pause the vCPUs). */
static void vm_wait(struct vm *vm, int sig_fd)
{
	for (;;) {
		struct pollfd fds[4] = {
			{ .fd = vm->stop_fd, .events = POLLIN },
			{ .fd = sig_fd, .events = POLLIN },
			{ .fd = vm->snap_fd, .events = POLLIN },
			{ .fd = vm->api ? api_server_fd(vm->api) : -1, .events = POLLIN },
		};
		struct signalfd_siginfo si;
		uint64_t v;

		if (poll(fds, 4, -1) < 0) {
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
		if ((fds[2].revents & POLLIN) && read(vm->snap_fd, &v, sizeof(v)) == sizeof(v))
			vm_control_snapshot_on(vm);
		if (fds[3].revents & POLLIN)
			api_server_dispatch(vm->api);
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
		err = console_start(&vm->console, &vm->console_target);
	if (!err)
		err = evloop_start(vm->io, "minivmm-io");
	start_ns = now_ns();
	vm->start_ns = start_ns;
	vm->phase_marks[BOOT_PHASE_EARLY] = (struct boot_phase_mark){ .seen = true, .ns = start_ns };
	if (vm->timeline)
		vm->timeline->start_ns = start_ns;
	for (unsigned int i = 0; !err && i < vm->nr_vcpus; i++)
		err = vcpu_start(&vm->vcpus[i]);
	if (!err && vm->gdb)
		err = gdbstub_start(vm->gdb);
	if (!err && vm->profile)
		err = profile_start(vm->profile);
	/* Every thread is running: the main thread confines itself last. */
	if (!err)
		err = sandbox_enter(SANDBOX_MAIN);
	if (err)
		vm_request_stop(vm, VM_STOP_ERROR, VM_EXIT_SETUP_FAILED, "start-up failed");
	else
		vm_wait(vm, sig_fd);

	if (vm->profile)
		profile_stop(vm->profile);
	atomic_store(&vm->stopping, true);
	vcpu_pause_wake(&vm->pause);	/* parked vCPUs see `stopping` */
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
	vm->run_ns = now_ns() - start_ns;
	vm->stop_ns = start_ns + vm->run_ns;
	/* Nothing lost: the I/O thread stops taking kicks, then every request
	 * in flight completes and the images are flushed. */
	evloop_stop(vm->io);
	if (vm_pci_quiesce(vm->pci) && vm->stop_kind != VM_STOP_CRASH) {
		/* Whatever stopped the VM, data the guest wrote may be lost:
		 * that decides the exit status. */
		vm->stop_kind = VM_STOP_ERROR;
		vm->stop_status = VM_EXIT_SETUP_FAILED;
	}
	gdbstub_stop(vm->gdb, vm_exit_status(vm),
		     vm->stop_kind == VM_STOP_SIGNAL ? vm->stop_status - 128 : 0);
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
	if (vm->profile || vm->timeline)
		vm_profile_report(vm);
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

/* --restore: the machine comes from the snapshot (into *machine, a copy
 * of cfg), its state is kept for vm_build.  An exit status, or -1. */
static int vm_open_snapshot(struct vm *vm, const struct vm_config *cfg,
			    struct vm_config *machine)
{
	char why[512];
	int err;

	if (cfg->machine_opt) {
		log_err("--restore takes the machine from the snapshot: drop -%s", cfg->machine_opt);
		return VM_EXIT_USAGE;
	}
	err = snapdir_read_state(cfg->restore_dir, &vm->restore_doc, why, sizeof(why));
	*machine = *cfg;
	if (!err)
		err = vm_snapshot_machine(vm->restore_doc, machine, &vm->boot.protocol, why,
					  sizeof(why));
	if (err) {
		log_err("--restore: %s", why);
		return VM_EXIT_USAGE;
	}
	vm->cfg = machine;
	vm->nr_vcpus = machine->nr_vcpus;
	vm->watch.linux_phases = false;
	return -1;
}

int vm_main(const struct vm_config *cfg)
{
	struct vm *vm = vm_alloc(cfg);
	struct vm_config machine;
	uint64_t t0 = now_ns();
	int status;

	if (!vm) {
		log_err("out of memory");
		return VM_EXIT_SETUP_FAILED;
	}
	if (cfg->restore_dir) {
		status = vm_open_snapshot(vm, cfg, &machine);
		if (status >= 0) {
			vm_destroy(vm);
			return status;
		}
		cfg = vm->cfg;
	}
	if (vm_build(vm)) {
		status = vm->config_error ? VM_EXIT_USAGE : VM_EXIT_SETUP_FAILED;
	} else if (cfg->show_layout != SHOW_LAYOUT_NONE) {
		status = layout_report_show(stdout, &vm->mem, &vm->kvm,
					    cfg->show_layout == SHOW_LAYOUT_JSON) ?
			 VM_EXIT_SETUP_FAILED : 0;
	} else if (cfg->dump_dtb) {
		status = vm_dump_dtb(vm, cfg->dump_dtb);
	} else {
		if (vm->restore_doc)
			log_info("restored %s: machine built and state loaded in %.1f ms",
				 cfg->restore_dir, (double)(now_ns() - t0) / 1e6);
		status = vm_run(vm);
	}
	vm_destroy(vm);
	return status;
}

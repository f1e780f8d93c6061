// SPDX-License-Identifier: MIT
/*
 * What the VM reports when it stops: --stats (text or JSON) and --translate.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/log.h"
#include "devices/post.h"
#include "mmu/ptw.h"
#include "report/stats.h"
#include "cpu/x86.h"
#include "vmm/vm_priv.h"

/* Phase p of a Linux boot: its length and exits (end - start).  False
 * when the boot never reached it. */
static bool phase_delta(const struct vm *vm, enum boot_phase p, uint64_t *ns,
			struct exit_stats *d)
{
	const struct boot_phase_mark *m = &vm->phase_marks[p];
	struct exit_stats end;
	uint64_t end_ns = vm->stop_ns;
	unsigned int q = p + 1;

	if (!m->seen)
		return false;
	while (q < BOOT_PHASES && !vm->phase_marks[q].seen)
		q++;
	if (q < BOOT_PHASES) {
		end = vm->phase_marks[q].exits;
		end_ns = vm->phase_marks[q].ns;
	} else {
		vm_exit_totals(vm, &end);
	}
	*ns = end_ns > m->ns ? end_ns - m->ns : 0;
	for (unsigned int r = 0; r < EXIT_REASON_MAX; r++)
		d->by_reason[r] = end.by_reason[r] - m->exits.by_reason[r];
	d->pio_accesses = end.pio_accesses - m->exits.pio_accesses;
	d->mmio_accesses = end.mmio_accesses - m->exits.mmio_accesses;
	for (unsigned int k = 0; k < UNEMULATED_KINDS; k++)
		d->unemulated[k] = end.unemulated[k] - m->exits.unemulated[k];
	return true;
}

static const char *const phase_titles[BOOT_PHASES] = {
	"before \"Linux version\"", "kernel, to \"Run /init\"", "init and user space",
};

static void print_phases(const struct vm *vm, FILE *out)
{
	if (!vm->watch.linux_phases)
		return;
	fprintf(out, "  Linux boot phases (opened by console lines; all vCPUs):\n");
	for (unsigned int p = 0; p < BOOT_PHASES; p++) {
		struct exit_stats d;
		uint64_t ns;
		char label[80];

		if (!phase_delta(vm, p, &ns, &d))
			continue;
		snprintf(label, sizeof(label), "%s, %.2f s:", phase_titles[p], ns / 1e9);
		stats_print_exits(out, label, &d);
	}
}

static json_t *phases_json(const struct vm *vm)
{
	json_t *a = json_array();

	for (unsigned int p = 0; vm->watch.linux_phases && p < BOOT_PHASES; p++) {
		struct exit_stats d;
		uint64_t ns;
		json_t *o;

		if (!phase_delta(vm, p, &ns, &d))
			continue;
		o = json_object();
		json_object_set_new(o, "name", json_string(boot_phase_name(p)));
		json_object_set_new(o, "ns", json_integer((json_int_t)ns));
		json_object_set_new(o, "exits", stats_exits_json(&d, NULL));
		json_object_set_new(o, "port_io_accesses", json_integer((json_int_t)d.pio_accesses));
		json_object_set_new(o, "mmio_accesses", json_integer((json_int_t)d.mmio_accesses));
		{
			json_t *c = json_object();

			for (unsigned int k = UNEMULATED_INT3; k < UNEMULATED_KINDS; k++)
				if (d.unemulated[k])
					json_object_set_new(c, unemulated_kind_name(k),
							    json_integer((json_int_t)d.unemulated[k]));
			json_object_set_new(o, "completed_by_minivmm", c);
		}
		json_array_append_new(a, o);
	}
	return a;
}

static void vm_print_stats(struct vm *vm, FILE *out)
{
	uint64_t vmm_kib, guest_kib;

	fprintf(out, "minivmm: run statistics (host MMU: %s)\n",
		host_paging_name(vm->kvm.paging));

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		char label[32];
		struct kvm_regs regs;

		snprintf(label, sizeof(label), "vCPU %u", i);
		stats_print_exits(out, label, &vm->vcpus[i].exit.stats);
		if (!vcpu_get_regs(&vm->vcpus[i], &regs))
			fprintf(out, "    %-32s %llx\n", "stopped at RIP", regs.rip);
	}
	print_phases(vm, out);
	fprintf(out, "  unclaimed accesses: pio %lu, mmio %lu\n",
		(unsigned long)atomic_load(&vm->pio.unclaimed),
		(unsigned long)atomic_load(&vm->mmio.unclaimed));
	if (vm->pci) {
		struct vm_pci_stats ps;

		vm_pci_get_stats(vm->pci, &ps);
		if (ps.nr_functions)
			fprintf(out, "  PCI: %u virtio function(s), %u ioeventfd(s); "
				"I/O thread: %" PRIu64 " kicks, %" PRIu64 " MSI-X messages, "
				"%" PRIu64 " events\n", ps.nr_functions, ps.nr_ioeventfds,
				ps.kicks, ps.msis, evloop_dispatched(vm->io));
		for (unsigned int i = 0;; i++) {
			struct vm_net_stats ns;

			if (!vm_pci_get_net_stats(vm->pci, i, &ns))
				break;
			fprintf(out, "  net %s (%s): to the guest %" PRIu64 " frames, %" PRIu64
				" bytes (%" PRIu64 " waits for buffers, %" PRIu64 " dropped); "
				"from it %" PRIu64 " frames, %" PRIu64 " bytes (%" PRIu64
				" dropped)\n", ns.id, ns.kind, ns.dev.rx_frames, ns.dev.rx_bytes,
				ns.dev.rx_no_buffers, ns.dev.rx_dropped + ns.backend_rx_dropped,
				ns.dev.tx_frames, ns.dev.tx_bytes,
				ns.dev.tx_dropped + ns.backend_tx_dropped);
		}
	}
	if (vm->post && post_last_code(vm->post) >= 0)
		fprintf(out, "  last POST code: 0x%02x\n", post_last_code(vm->post));
	if (vm->mmu)
		mmu_kvm_print_stats(vm->mmu, out);
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
json_t *vm_stats_json(struct vm *vm, int status)
{
	json_t *root = json_object(), *exits;
	struct exit_stats all = { 0 };
	struct kvm_stat_values vcpu_sum = { 0 };
	char layout[48];
	int khz = -1;

	mem_layout_name(&vm->cfg->layout, layout, sizeof(layout));
	json_object_set_new(root, "minivmm_stats", json_integer(1));
	json_object_set_new(root, "host_mmu", json_string(host_paging_name(vm->kvm.paging)));
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
	json_object_set_new(root, "boot_phases", phases_json(vm));
	{
		struct kvm_stat_values v;

		if (!stats_kvm_snapshot(&vm->kvm, -1, &v)) {
			json_object_set_new(root, "kvm_vm", stats_kvm_json(&v, NULL));
			stats_kvm_values_free(&v);
		}
	}
	json_object_set_new(root, "kvm_vcpu", stats_kvm_json(&vcpu_sum, NULL));
	{
		struct vm_pci_stats ps;
		json_t *pci = json_object();

		vm_pci_get_stats(vm->pci, &ps);
		json_object_set_new(pci, "functions", json_integer(ps.nr_functions));
		json_object_set_new(pci, "ioeventfds", json_integer(ps.nr_ioeventfds));
		json_object_set_new(pci, "kicks", json_integer((json_int_t)ps.kicks));
		json_object_set_new(pci, "msix_messages", json_integer((json_int_t)ps.msis));
		json_object_set_new(pci, "io_thread_events",
				    json_integer((json_int_t)evloop_dispatched(vm->io)));
		json_object_set_new(root, "pci", pci);
	}
	{
		json_t *nets = json_array();
		struct vm_net_stats ns;

		for (unsigned int i = 0; vm_pci_get_net_stats(vm->pci, i, &ns); i++)
			json_array_append_new(nets, json_pack(
				"{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				"id", ns.id, "backend", ns.kind,
				"rx_frames", (json_int_t)ns.dev.rx_frames,
				"rx_bytes", (json_int_t)ns.dev.rx_bytes,
				"rx_waits", (json_int_t)ns.dev.rx_no_buffers,
				"rx_dropped", (json_int_t)(ns.dev.rx_dropped + ns.backend_rx_dropped),
				"tx_frames", (json_int_t)ns.dev.tx_frames,
				"tx_bytes", (json_int_t)ns.dev.tx_bytes,
				"tx_dropped", (json_int_t)(ns.dev.tx_dropped + ns.backend_tx_dropped)));
		json_object_set_new(root, "net", nets);
	}
	stats_kvm_values_free(&vcpu_sum);
	if (vm->mmu)
		mmu_kvm_stats_json(vm->mmu, root);
	else
		json_object_set_new(root, "phases", json_array());
	return root;
}

void vm_report_stats(struct vm *vm, int status)
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
	const struct vm *vm = ctx;

	return mem_gpa_to_hva(&vm->mem, gpa, len);
}

/* --translate: the guest's own tables through the software walker, and
 * what KVM's translation (the hardware's view: the shadow in shadow mode)
 * says, so the two can be compared. */
void vm_translate_report(struct vm *vm)
{
	struct ptw_mem mem = { .map = guest_table_map, .ctx = vm };
	struct ptw_regs regs;
	struct kvm_sregs s;
	uint64_t root;

	if (!vm->nr_vcpus || vcpu_get_sregs(&vm->vcpus[0], &s))
		return;
	root = mmu_kvm_guest_root(vm->mmu) ? mmu_kvm_guest_root(vm->mmu) : s.cr3;
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


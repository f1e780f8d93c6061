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
static json_t *vm_stats_json(struct vm *vm, int status)
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


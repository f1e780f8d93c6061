// SPDX-License-Identifier: MIT
#include "cpu/cpu_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "base/log.h"

#define MSR_IA32_TSC          0x10
#define MSR_IA32_TSC_DEADLINE 0x6E0

/* One ioctl in the direction the snapshot goes: GET before the field is
 * visited (saving), SET after (loading).  name is the field's. */
static void kvm_io(struct snap *s, int fd, unsigned long get, unsigned long set,
		   const char *name, void *buf, size_t len)
{
	if (snap_saving(s) && ioctl(fd, get, buf) < 0) {
		snap_fail(s, name, -errno, "cannot read it from KVM: %s", strerror(errno));
		return;
	}
	snap_bytes(s, name, buf, len);
	if (!snap_saving(s) && !snap_failed(s) && ioctl(fd, set, buf) < 0)
		snap_fail(s, name, -errno, "KVM refused it: %s", strerror(errno));
}

int kvm_vm_state_snap(struct kvm *kvm, struct snap *s)
{
	static const char *const chips[] = { "pic-master", "pic-slave", "ioapic" };
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;

	for (unsigned int i = 0; i < 3; i++) {
		struct kvm_irqchip chip = { .chip_id = i };

		kvm_io(s, kvm->vm_fd, KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, chips[i], &chip,
		       sizeof(chip));
		if (!snap_saving(s) && chip.chip_id != i)
			snap_fail(s, chips[i], -EINVAL, "holds chip %u", chip.chip_id);
	}
	memset(&pit, 0, sizeof(pit));
	kvm_io(s, kvm->vm_fd, KVM_GET_PIT2, KVM_SET_PIT2, "pit", &pit, sizeof(pit));
	/* The guest's clock goes on from where it stopped: time stands still
	 * while the snapshot sits on disk, and never goes backwards.  (On PVM
	 * the guest also reads the host's TSC, which cannot stand still: a
	 * guest whose clocksource is the TSC sees the gap; with kvm-clock it
	 * does not: docs/snapshots.md.)  The realtime is kept for the record:
	 * when the snapshot was taken. */
	memset(&clock, 0, sizeof(clock));
	if (snap_saving(s) && ioctl(kvm->vm_fd, KVM_GET_CLOCK, &clock) < 0)
		snap_fail(s, "kvmclock", -errno, "KVM_GET_CLOCK: %s", strerror(errno));
	if (snap_saving(s) && !(clock.flags & KVM_CLOCK_REALTIME))
		clock.realtime = 0;
	snap_u64(s, "kvmclock", (uint64_t *)&clock.clock);
	snap_u64(s, "kvmclock-realtime", (uint64_t *)&clock.realtime);
	if (!snap_saving(s) && !snap_failed(s)) {
		clock.flags = 0;
		if (ioctl(kvm->vm_fd, KVM_SET_CLOCK, &clock) < 0)
			snap_fail(s, "kvmclock", -errno, "KVM_SET_CLOCK: %s", strerror(errno));
	}
	return s->st->err;
}

/*
 * The MSRs to carry: KVM_GET_MSR_INDEX_LIST names what KVM can save and
 * emulate, but a host may list some it cannot read for this vCPU (features
 * absent from its CPUID): KVM_GET_MSRS stops at the first one, which is
 * left out.  Fills entries (malloc'd) with their values.
 */
static int read_msrs(struct kvm *kvm, struct vcpu *vcpu, struct kvm_msrs **out)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *list;
	struct kvm_msrs *msrs;
	unsigned int n = 0;
	int err = 0;

	if (ioctl(kvm->sys_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return -errno;
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	msrs = calloc(1, sizeof(*msrs) + probe.nmsrs * sizeof(struct kvm_msr_entry));
	if (!list || !msrs) {
		err = -ENOMEM;
		goto out;
	}
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm->sys_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		err = -errno;
		goto out;
	}
	for (unsigned int i = 0; i < list->nmsrs; i++) {
		struct { struct kvm_msrs h; struct kvm_msr_entry e; } one = {
			.h.nmsrs = 1, .e.index = list->indices[i],
		};

		/* One at a time: which one failed is then plain. */
		if (ioctl(vcpu->fd, KVM_GET_MSRS, &one) == 1)
			msrs->entries[n++] = one.e;
	}
	msrs->nmsrs = n;
out:
	free(list);
	if (err)
		free(msrs);
	else
		*out = msrs;
	return err;
}

/* Loading: *deadline gets the saved MSR_IA32_TSC_DEADLINE (0 if none). */
static void snap_msrs(struct snap *s, struct kvm *kvm, struct vcpu *vcpu, uint64_t *deadline)
{
	struct kvm_msrs *msrs = NULL;
	uint32_t n = 0;
	size_t bytes;
	int err, done;

	if (snap_saving(s)) {
		err = read_msrs(kvm, vcpu, &msrs);
		if (err) {
			snap_fail(s, "msrs", err, "cannot read the MSRs: %s", strerror(-err));
			return;
		}
		n = msrs->nmsrs;
	}
	snap_u32(s, "nr-msrs", &n);
	bytes = (size_t)n * sizeof(struct kvm_msr_entry);
	if (!snap_saving(s) && !snap_failed(s)) {
		if (n > 4096) {
			snap_fail(s, "nr-msrs", -EINVAL, "%u MSRs is not plausible", n);
			return;
		}
		msrs = calloc(1, sizeof(*msrs) + bytes);
		if (!msrs) {
			snap_fail(s, "msrs", -ENOMEM, "out of memory");
			return;
		}
		msrs->nmsrs = n;
	}
	if (msrs)
		snap_bytes(s, "msrs", msrs->entries, bytes);
	if (!snap_saving(s) && !snap_failed(s)) {
		/* PVM: the guest reads the host's TSC directly, and KVM's view
		 * of it must stay the host's (offset 0), or the deadlines the
		 * guest programs would fire late by the time since the
		 * snapshot. */
		if (kvm->paging == HOST_PAGING_PVM)
			for (uint32_t i = 0; i < msrs->nmsrs; i++)
				if (msrs->entries[i].index == MSR_IA32_TSC)
					msrs->entries[i--] = msrs->entries[--msrs->nmsrs];
		for (uint32_t i = 0; i < msrs->nmsrs; i++)
			if (msrs->entries[i].index == MSR_IA32_TSC_DEADLINE)
				*deadline = msrs->entries[i].data;
		n = msrs->nmsrs;
		done = ioctl(vcpu->fd, KVM_SET_MSRS, msrs);
		if (done < 0 || (uint32_t)done != n)
			snap_fail(s, "msrs", -EINVAL, "KVM refused MSR 0x%x",
				  done >= 0 ? msrs->entries[done].index : 0);
	}
	free(msrs);
}

/* CPUID: saved as given; on load it must be what this host gives now. */
static void snap_cpuid(struct snap *s, const struct kvm_cpuid2 *cpuid)
{
	size_t len = cpuid->nent * sizeof(cpuid->entries[0]);
	struct kvm_cpuid_entry2 *saved;

	if (snap_saving(s)) {
		snap_bytes(s, "cpuid", (void *)cpuid->entries, len);
		return;
	}
	if (snap_bytes_len(s, "cpuid") != len) {
		snap_fail(s, "cpuid", -EXDEV, "the snapshot was taken on another CPU model or KVM");
		return;
	}
	saved = malloc(len ? len : 1);
	if (!saved) {
		snap_fail(s, "cpuid", -ENOMEM, "out of memory");
		return;
	}
	snap_bytes(s, "cpuid", saved, len);
	if (!snap_failed(s) && memcmp(saved, cpuid->entries, len))
		snap_fail(s, "cpuid", -EXDEV, "the snapshot was taken on another CPU model or KVM");
	free(saved);
}

static void snap_tsc(struct snap *s, struct vcpu *vcpu)
{
	uint32_t khz = 0;
	int now = (int)ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);

	if (snap_saving(s))
		khz = now > 0 ? (uint32_t)now : 0;
	snap_u32(s, "tsc-khz", &khz);
	if (snap_saving(s) || snap_failed(s) || !khz || now == (int)khz)
		return;
	/* Another TSC frequency: the guest calibrated against the old one. */
	if (ioctl(vcpu->fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0)
		snap_fail(s, "tsc-khz", -EXDEV, "the guest's TSC ran at %u kHz, this host's at %d kHz "
			  "and KVM cannot scale it", khz, now);
}

static void snap_fpu(struct snap *s, struct kvm *kvm, struct vcpu *vcpu)
{
	if (kvm_check_extension(kvm, KVM_CAP_XCRS)) {
		struct kvm_xcrs xcrs;

		memset(&xcrs, 0, sizeof(xcrs));
		kvm_io(s, vcpu->fd, KVM_GET_XCRS, KVM_SET_XCRS, "xcrs", &xcrs, sizeof(xcrs));
	}
	if (kvm_check_extension(kvm, KVM_CAP_XSAVE)) {
		/* Hosts with state beyond 4 KiB (AMX) need KVM_GET_XSAVE2. */
		int size = kvm_check_extension(kvm, KVM_CAP_XSAVE2);
		struct kvm_xsave *x;

		if (size > (int)sizeof(*x)) {
			snap_fail(s, "xsave", -ENOTSUP, "%d bytes of XSAVE state (AMX) are not "
				  "supported yet", size);
			return;
		}
		x = calloc(1, sizeof(*x));
		if (!x) {
			snap_fail(s, "xsave", -ENOMEM, "out of memory");
			return;
		}
		kvm_io(s, vcpu->fd, KVM_GET_XSAVE, KVM_SET_XSAVE, "xsave", x, sizeof(*x));
		free(x);
	} else {
		struct kvm_fpu fpu;

		memset(&fpu, 0, sizeof(fpu));
		kvm_io(s, vcpu->fd, KVM_GET_FPU, KVM_SET_FPU, "fpu", &fpu, sizeof(fpu));
	}
}

int vcpu_state_snap(struct vcpu *vcpu, struct kvm *kvm, const struct kvm_cpuid2 *cpuid,
		    struct snap *s)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_debugregs dregs;
	struct kvm_mp_state mp;
	uint64_t deadline = 0;

	memset(&regs, 0, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	memset(&lapic, 0, sizeof(lapic));
	memset(&events, 0, sizeof(events));
	memset(&dregs, 0, sizeof(dregs));
	memset(&mp, 0, sizeof(mp));
	snap_cpuid(s, cpuid);
	snap_tsc(s, vcpu);
	/* QEMU's order for a full put: registers, extended state, system
	 * registers, MSRs (the TSC among them), then the run state, the local
	 * APIC and pending events, which refer to all the rest. */
	kvm_io(s, vcpu->fd, KVM_GET_REGS, KVM_SET_REGS, "regs", &regs, sizeof(regs));
	snap_fpu(s, kvm, vcpu);
	kvm_io(s, vcpu->fd, KVM_GET_SREGS, KVM_SET_SREGS, "sregs", &sregs, sizeof(sregs));
	snap_msrs(s, kvm, vcpu, &deadline);
	kvm_io(s, vcpu->fd, KVM_GET_MP_STATE, KVM_SET_MP_STATE, "mp-state", &mp, sizeof(mp));
	kvm_io(s, vcpu->fd, KVM_GET_LAPIC, KVM_SET_LAPIC, "lapic", &lapic, sizeof(lapic));
	/* KVM_SET_LAPIC disarms the local APIC timer: arm the TSC deadline
	 * again, or the guest's next timer never fires (QEMU does the same
	 * in kvm_put_tscdeadline_msr). */
	if (!snap_saving(s) && !snap_failed(s) && deadline) {
		struct { struct kvm_msrs h; struct kvm_msr_entry e; } one = {
			.h.nmsrs = 1, .e = { .index = MSR_IA32_TSC_DEADLINE, .data = deadline },
		};

		if (ioctl(vcpu->fd, KVM_SET_MSRS, &one) != 1)
			snap_fail(s, "msrs", -EINVAL, "KVM refused the TSC deadline after the LAPIC");
	}
	if (snap_saving(s) && ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &events) < 0)
		snap_fail(s, "events", -errno, "KVM_GET_VCPU_EVENTS: %s", strerror(errno));
	snap_bytes(s, "events", &events, sizeof(events));
	if (!snap_saving(s) && !snap_failed(s)) {
		events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
		if (ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &events) < 0)
			snap_fail(s, "events", -errno, "KVM refused it: %s", strerror(errno));
	}
	kvm_io(s, vcpu->fd, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, "debugregs", &dregs,
	       sizeof(dregs));
	return s->st->err;
}

// SPDX-License-Identifier: MIT
#include "cpu/exit.h"
#include "base/util.h"

#include <stdio.h>
#include <string.h>

static const char *const reason_names[] = {
	[KVM_EXIT_UNKNOWN] = "unknown",
	[KVM_EXIT_EXCEPTION] = "exception",
	[KVM_EXIT_IO] = "io",
	[KVM_EXIT_HYPERCALL] = "hypercall",
	[KVM_EXIT_DEBUG] = "debug",
	[KVM_EXIT_HLT] = "hlt",
	[KVM_EXIT_MMIO] = "mmio",
	[KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
	[KVM_EXIT_SHUTDOWN] = "shutdown",
	[KVM_EXIT_FAIL_ENTRY] = "fail_entry",
	[KVM_EXIT_INTR] = "intr",
	[KVM_EXIT_SET_TPR] = "set_tpr",
	[KVM_EXIT_TPR_ACCESS] = "tpr_access",
	[KVM_EXIT_NMI] = "nmi",
	[KVM_EXIT_INTERNAL_ERROR] = "internal_error",
	[KVM_EXIT_SYSTEM_EVENT] = "system_event",
	[KVM_EXIT_IOAPIC_EOI] = "ioapic_eoi",
	[KVM_EXIT_HYPERV] = "hyperv",
	[KVM_EXIT_X86_RDMSR] = "rdmsr",
	[KVM_EXIT_X86_WRMSR] = "wrmsr",
	[KVM_EXIT_DIRTY_RING_FULL] = "dirty_ring_full",
};

const char *exit_reason_name(uint32_t reason)
{
	if (reason < ARRAY_SIZE(reason_names) && reason_names[reason])
		return reason_names[reason];
	return "other";
}

static enum vcpu_action handle_io(struct kvm_run *run, size_t run_size, struct exit_ctx *ctx)
{
	/* Read the exit's fields once: the data area is written by devices
	 * below, and must not be able to change the loop that writes it. */
	const uint8_t size = run->io.size;
	const uint16_t port = run->io.port;
	const uint32_t count = run->io.count;
	const uint64_t offset = run->io.data_offset;
	const uint64_t bytes = (uint64_t)size * count;
	const bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	uint8_t *data;

	/* The data area lies after struct kvm_run (KVM puts it on the next
	 * page) and inside the mapping. */
	if ((size != 1 && size != 2 && size != 4) || offset < sizeof(*run) ||
	    offset > run_size || bytes > run_size - offset) {
		snprintf(ctx->why, sizeof(ctx->why),
			 "malformed I/O exit (port 0x%x size %u count %u)",
			 port, size, count);
		return VCPU_FAILED;
	}
	data = (uint8_t *)run + offset;
	/* A rep ins/outs exits once for up to a page of items. */
	for (uint32_t i = 0; i < count; i++)
		bus_access(ctx->pio, port, data + (size_t)i * size, size, is_write);
	ctx->stats.pio_accesses += count;
	return VCPU_CONTINUE;
}

static enum vcpu_action handle_system_event(struct kvm_run *run, struct exit_ctx *ctx)
{
	switch (run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		snprintf(ctx->why, sizeof(ctx->why), "guest powered off");
		return VCPU_POWEROFF;
	case KVM_SYSTEM_EVENT_RESET:
		snprintf(ctx->why, sizeof(ctx->why), "guest requested a reset");
		return VCPU_RESET;
	case KVM_SYSTEM_EVENT_CRASH:
		snprintf(ctx->why, sizeof(ctx->why), "guest reported a crash");
		return VCPU_FAILED;
	default:
		snprintf(ctx->why, sizeof(ctx->why), "unknown system event %u",
			 run->system_event.type);
		return VCPU_FAILED;
	}
}

enum vcpu_action vcpu_handle_exit(struct kvm_run *run, size_t run_size, struct exit_ctx *ctx)
{
	uint32_t reason = run->exit_reason;

	ctx->stats.by_reason[reason < EXIT_REASON_MAX ? reason : 0]++;
	switch (reason) {
	case KVM_EXIT_IO:
		return handle_io(run, run_size, ctx);
	case KVM_EXIT_MMIO:
		if (run->mmio.len == 0 || run->mmio.len > sizeof(run->mmio.data)) {
			snprintf(ctx->why, sizeof(ctx->why), "malformed MMIO exit (len %u)",
				 run->mmio.len);
			return VCPU_FAILED;
		}
		bus_access(ctx->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
			   run->mmio.is_write);
		ctx->stats.mmio_accesses++;
		return VCPU_CONTINUE;
	case KVM_EXIT_INTR:
		return VCPU_CONTINUE;
	case KVM_EXIT_DEBUG:
		/* Only with KVM_SET_GUEST_DEBUG, i.e. a debugger attached. */
		snprintf(ctx->why, sizeof(ctx->why), "debug exit (exception %u) with no debugger",
			 run->debug.arch.exception);
		return VCPU_DEBUG;
	case KVM_EXIT_SHUTDOWN:
		snprintf(ctx->why, sizeof(ctx->why),
			 "guest triple fault (KVM_EXIT_SHUTDOWN)");
		return VCPU_SHUTDOWN;
	case KVM_EXIT_SYSTEM_EVENT:
		return handle_system_event(run, ctx);
	case KVM_EXIT_HLT:
		/* Only without an in-kernel irqchip; nothing could wake the vCPU. */
		snprintf(ctx->why, sizeof(ctx->why), "guest halted with no way to wake it");
		return VCPU_FAILED;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(ctx->why, sizeof(ctx->why),
			 "KVM internal error, suberror %u%s", run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
			 " (instruction emulation failed)" : "");
		return run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
		       VCPU_UNEMULATED : VCPU_FAILED;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(ctx->why, sizeof(ctx->why),
			 "VM entry failed, hardware reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return VCPU_FAILED;
	default:
		snprintf(ctx->why, sizeof(ctx->why), "unexpected exit reason %u (%s)",
			 reason, exit_reason_name(reason));
		return VCPU_FAILED;
	}
}

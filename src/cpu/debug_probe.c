// SPDX-License-Identifier: MIT
/*
 * The guest-debug probe (debug_probe.h).  A scratch VM with 4 MiB of RAM,
 * the test-guest boot tables (x86.c) and a few bytes of code: each question
 * is asked on a fresh vCPU, starting either in ring 0 or on an iretq that
 * drops to ring 3, and answered by the first exit that tells.
 */
#include "cpu/debug_probe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "abi/board.h"
#include "base/clock.h"
#include "base/log.h"
#include "cpu/x86.h"

#define PROBE_RAM    BOARD_MIN_RAM
#define CODE         0x100000ULL
#define R0           (CODE + 0x00)  /* nop x4; out; jmp . */
#define R0_INT3      (CODE + 0x10)  /* int3; out; jmp . */
#define TRAMP        (CODE + 0x20)  /* iretq (the frame below) */
#define U            (CODE + 0x30)  /* ring 3: nop x4; out; jmp . */
#define U_INT3       (CODE + 0x40)  /* ring 3: int3; out; jmp . */
#define FRAME        0x101000ULL    /* RIP, CS, RFLAGS, RSP, SS for iretq */
#define USER_STACK   0x102000ULL
#define MAX_EXITS    64
#define DR7_GE       0x600ULL       /* GE and the reserved bit 10, as QEMU */
#define DR7_G0       0x2ULL

static const uint8_t code[] = {
	[0x00] = 0x90, 0x90, 0x90, 0x90, 0xE6, 0x80, 0xEB, 0xFE,
	[0x10] = 0xCC, 0xE6, 0x80, 0xEB, 0xFE,
	[0x20] = 0x48, 0xCF,
	[0x30] = 0x90, 0x90, 0x90, 0x90, 0xE6, 0x80, 0xEB, 0xFE,
	[0x40] = 0xCC, 0xE6, 0x80, 0xEB, 0xFE,
};

enum outcome { HIT, MISSED_IO, UNEMULATED, OTHER };

struct probe_vm {
	int sys_fd, vm_fd, run_size;
	struct mem_map mem;
	unsigned int next_id;
};

/* Run a fresh vCPU from rip (ring 0; TRAMP drops to ring 3 at user_rip)
 * with the given guest debugging until a debug exit at target, or another
 * exit that ends the question. */
static enum outcome ask(struct probe_vm *pv, uint64_t rip, uint64_t user_rip,
			uint32_t control, uint64_t dr0, uint64_t target)
{
	uint64_t frame[5] = { user_rip, BOARD_SEL_UCODE, X86_RFLAGS_RESERVED, USER_STACK,
			      BOARD_SEL_UDATA };
	struct kvm_guest_debug dbg = { .control = control };
	struct kvm_regs regs = { .rip = rip, .rsp = FRAME, .rflags = X86_RFLAGS_RESERVED };
	struct kvm_sregs sregs;
	enum outcome res = OTHER;
	struct kvm_run *run;
	int fd = ioctl(pv->vm_fd, KVM_CREATE_VCPU, pv->next_id++);

	if (fd < 0)
		return OTHER;
	run = mmap(NULL, (size_t)pv->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (run == MAP_FAILED) {
		close(fd);
		return OTHER;
	}
	dbg.arch.debugreg[0] = dr0;
	dbg.arch.debugreg[7] = dr0 ? DR7_GE | DR7_G0 : 0;
	if (mem_write(&pv->mem, FRAME, frame, sizeof(frame)) ||
	    ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		goto out;
	x86_boot_sregs(&sregs, 0);
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(fd, KVM_SET_REGS, &regs) < 0 ||
	    ioctl(fd, KVM_SET_GUEST_DEBUG, &dbg) < 0)
		goto out;
	for (int i = 0; i < MAX_EXITS; i++) {
		if (ioctl(fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (run->exit_reason == KVM_EXIT_DEBUG) {
			if (ioctl(fd, KVM_GET_REGS, &regs) < 0)
				break;
			if (regs.rip == target) {
				res = HIT;
				break;
			}
			continue;	/* e.g. stepping the iretq in ring 0 */
		}
		if (run->exit_reason == KVM_EXIT_IO)
			res = MISSED_IO;
		else if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
			res = UNEMULATED;
		break;
	}
out:
	munmap(run, (size_t)pv->run_size);
	close(fd);
	return res;
}

static enum probe_int3 int3_outcome(enum outcome o)
{
	switch (o) {
	case HIT:
		return PROBE_INT3_DEBUG_EXIT;
	case UNEMULATED:
		return PROBE_INT3_UNEMULATED;
	default:
		/* No IDT in the scratch VM: a #BP the guest gets ends in a
		 * triple fault, never in the out. */
		return PROBE_INT3_GUEST;
	}
}

static void ask_all(struct probe_vm *pv, struct kvm_debug_caps *c)
{
	const uint32_t en = KVM_GUESTDBG_ENABLE;

	c->step[0] = ask(pv, R0, 0, en | KVM_GUESTDBG_SINGLESTEP, 0, R0 + 1) == HIT;
	c->hw_bp[0] = ask(pv, R0, 0, en | KVM_GUESTDBG_USE_HW_BP, R0 + 2, R0 + 2) == HIT;
	c->int3[0] = int3_outcome(ask(pv, R0_INT3, 0, en | KVM_GUESTDBG_USE_SW_BP, 0, R0_INT3));
	c->step[1] = ask(pv, TRAMP, U, en | KVM_GUESTDBG_SINGLESTEP, 0, U + 1) == HIT;
	c->hw_bp[1] = ask(pv, TRAMP, U, en | KVM_GUESTDBG_USE_HW_BP, U + 2, U + 2) == HIT;
	c->int3[1] = int3_outcome(ask(pv, TRAMP, U_INT3, en | KVM_GUESTDBG_USE_SW_BP, 0, U_INT3));
}

int kvm_probe_debug(const struct kvm *kvm, struct kvm_debug_caps *c)
{
	struct mem_layout_spec single = { .kind = MEM_LAYOUT_SINGLE };
	struct probe_vm pv = { .sys_fd = kvm->sys_fd, .run_size = kvm->run_size };
	struct kvm_userspace_memory_region r;
	uint64_t t0 = now_ns(), end;
	int err;

	memset(c, 0, sizeof(*c));
	c->api = ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_GUEST_DEBUG) > 0;
	if (!c->api)
		return -ENOTSUP;
	pv.vm_fd = ioctl(kvm->sys_fd, KVM_CREATE_VM, 0);
	if (pv.vm_fd < 0)
		return -errno;
	err = ioctl(pv.vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_GUEST_DEBUG2);
	c->flags = err > 0 ? (uint32_t)err : 0;
	err = mem_map_create(&pv.mem, &single, MEM_BACKING_ANON, PROBE_RAM, 1);
	if (err)
		goto out_vm;
	r = (struct kvm_userspace_memory_region){
		.slot = 0, .memory_size = PROBE_RAM,
		.userspace_addr = (uint64_t)(uintptr_t)pv.mem.host_base,
	};
	err = x86_write_boot_tables(&pv.mem, PROBE_RAM, &end);
	if (!err)
		err = mem_write(&pv.mem, CODE, code, sizeof(code));
	if (!err && ioctl(pv.vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		err = -errno;
	if (!err)
		ask_all(&pv, c);
	mem_map_destroy(&pv.mem);
out_vm:
	close(pv.vm_fd);
	c->ns = now_ns() - t0;
	return err;
}

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

static const char *int3_name(enum probe_int3 i)
{
	switch (i) {
	case PROBE_INT3_DEBUG_EXIT:
		return "debug exit";
	case PROBE_INT3_UNEMULATED:
		return "emulation failure (recognised)";
	case PROBE_INT3_GUEST:
		return "the guest's #BP (not interceptable)";
	default:
		return "unknown";
	}
}

void kvm_debug_caps_describe(const struct kvm_debug_caps *c, char *buf, size_t len)
{
	if (!c->api) {
		snprintf(buf, len, "no KVM_SET_GUEST_DEBUG: breakpoints in guest memory only");
		return;
	}
	snprintf(buf, len,
		 "single-step ring 0 %s, ring 3 %s; hardware breakpoints ring 0 %s, ring 3 %s; "
		 "int3 in ring 0: %s, in ring 3: %s (probed in %.1f ms)",
		 yes_no(c->step[0]), yes_no(c->step[1]), yes_no(c->hw_bp[0]),
		 yes_no(c->hw_bp[1]), int3_name(c->int3[0]), int3_name(c->int3[1]),
		 (double)c->ns / 1e6);
}

// SPDX-License-Identifier: MIT
/*
 * Completing, on the vCPU thread, instructions the host's KVM could not
 * emulate (emulate.h classifies them; this file carries them out with the
 * vCPU's registers and guest memory).
 */
#include "cpu/vcpu_emulate.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "abi/paging.h"
#include "base/log.h"
#include "cpu/vcpu.h"
#include "cpu/x86.h"
#include "cpu/xsave.h"


/* General-purpose register n (0 = RAX ... 15 = R15, the encoding order). */
static __u64 *gpr(struct kvm_regs *r, int n)
{
	__u64 *const map[16] = {
		&r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp, &r->rsi, &r->rdi,
		&r->r8, &r->r9, &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15,
	};

	return map[n & 15];
}

static uint64_t size_mask(unsigned int size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

/* The guest-virtual address of u's memory operand. */
static uint64_t effective_address(struct kvm_regs *regs, const struct kvm_sregs *sregs,
				  const struct unemulated *u)
{
	const struct x86_rm *rm = &u->rm;
	uint64_t ea = 0;

	if (rm->base >= 0)
		ea += *gpr(regs, rm->base);
	if (rm->index >= 0)
		ea += *gpr(regs, rm->index) * rm->scale;
	ea += (uint64_t)rm->disp;
	if (rm->rip_relative)
		ea += regs->rip + u->len;
	if (rm->segment == 4)
		ea += sregs->fs.base;
	else if (rm->segment == 5)
		ea += sregs->gs.base;
	return ea;
}

/* Read the r/m operand of u: a register, or guest memory via the guest's
 * page tables (an operand crossing a page boundary is not supported). */
static int read_rm(struct vcpu *vcpu, struct kvm_regs *regs, const struct kvm_sregs *sregs,
		   const struct unemulated *u, uint64_t *val)
{
	uint64_t ea;

	if (!u->rm.is_mem) {
		*val = *gpr(regs, u->rm.reg) & size_mask(u->op_size);
		return 0;
	}
	ea = effective_address(regs, sregs, u);
	*val = 0;
	return vcpu_read_gva(vcpu, ea, val, u->op_size) == u->op_size ? 0 : -EFAULT;
}

/* The host address of the guest page holding gva, through the guest's
 * page tables: -EFAULT when it is not mapped (*present false) or, for a
 * write, not writable; -ENOTSUP when it is not RAM. */
static int page_hva(struct vcpu *vcpu, uint64_t gva, bool write, uint8_t **hva, bool *present)
{
	struct kvm_translation tr = { .linear_address = gva & ~0xFFFULL };

	*present = false;
	if (ioctl(vcpu->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
		return -EFAULT;
	*present = true;
	if (write && !tr.writeable)
		return -EFAULT;
	*hva = mem_gpa_to_hva(vcpu->env->mem, tr.physical_address & ~0xFFFULL, 0x1000);
	return *hva ? 0 : -ENOTSUP;
}

/* The host address of size bytes of guest memory at ea, one page, mapped
 * by the guest's page tables (writable ones when write): -EFAULT else. */
static int guest_hva(struct vcpu *vcpu, uint64_t ea, size_t size, bool write, void **hva)
{
	uint8_t *page;
	bool present;

	if ((ea & 0xFFF) + size > 0x1000 || page_hva(vcpu, ea, write, &page, &present))
		return -EFAULT;
	*hva = page + (ea & 0xFFF);
	return 0;
}

/*
 * cmpxchg8b/16b: compare EDX:EAX (RDX:RAX) with the operand; equal, store
 * ECX:EBX (RCX:RBX) and set ZF, else load the operand into EDX:EAX
 * (RDX:RAX) and clear ZF.  Carried out by the host's own locked
 * instruction on the host mapping of the guest page, so vCPUs running
 * natively meanwhile see a real atomic.  A misaligned cmpxchg16b operand
 * is #GP(0), as on the CPU.
 */
static int do_cmpxchg_double(struct vcpu *vcpu, struct kvm_regs *regs,
			     const struct kvm_sregs *sregs, const struct unemulated *u,
			     bool *gp)
{
	uint64_t ea = effective_address(regs, sregs, u);
	void *p;
	bool ok;

	if (u->op_size == 16 && (ea & 15)) {
		*gp = true;
		return 0;
	}
	if (guest_hva(vcpu, ea, u->op_size, true, &p))
		return -EFAULT;
	if (u->op_size == 16) {
		uint64_t lo = regs->rax, hi = regs->rdx;

		__asm__ volatile("lock cmpxchg16b %1"
				 : "=@ccz"(ok), "+m"(*(volatile unsigned __int128 *)p),
				   "+a"(lo), "+d"(hi)
				 : "b"(regs->rbx), "c"(regs->rcx)
				 : "memory");
		regs->rax = lo;
		regs->rdx = hi;
	} else {
		uint32_t lo = (uint32_t)regs->rax, hi = (uint32_t)regs->rdx;

		__asm__ volatile("lock cmpxchg8b %1"
				 : "=@ccz"(ok), "+m"(*(volatile uint64_t *)p), "+a"(lo), "+d"(hi)
				 : "b"((uint32_t)regs->rbx), "c"((uint32_t)regs->rcx)
				 : "memory");
		if (!ok) { /* 32-bit destinations: zero-extended */
			regs->rax = lo;
			regs->rdx = hi;
		}
	}
	if (ok)
		regs->rflags |= X86_RFLAGS_ZF;
	else
		regs->rflags &= ~X86_RFLAGS_ZF;
	return 0;
}

/* ldmxcsr / stmxcsr through the vCPU's FPU state; setting a reserved
 * MXCSR bit (16-31) is #GP(0). */
static int do_mxcsr(struct vcpu *vcpu, struct kvm_regs *regs, const struct kvm_sregs *sregs,
		    const struct unemulated *u, bool *gp)
{
	uint64_t ea = effective_address(regs, sregs, u);
	struct kvm_fpu fpu;
	uint32_t v = 0;
	void *p;
	int err = vcpu_get_fpu(vcpu, &fpu);

	if (err)
		return err;
	if (u->kind == UNEMULATED_STMXCSR) {
		if (guest_hva(vcpu, ea, 4, true, &p))
			return -EFAULT;
		memcpy(p, &fpu.mxcsr, 4);
		return 0;
	}
	if (vcpu_read_gva(vcpu, ea, &v, 4) != 4)
		return -EFAULT;
	if (v & 0xFFFF0000u) {
		*gp = true;
		return 0;
	}
	fpu.mxcsr = v;
	return vcpu_set_fpu(vcpu, &fpu);
}

/* Write a result to register n with x86's width rules: 32-bit results
 * zero-extend, 16-bit ones merge. */
static void write_reg(struct kvm_regs *regs, int n, unsigned int size, uint64_t v)
{
	__u64 *r = gpr(regs, n);

	if (size == 2)
		*r = (*r & ~0xFFFFULL) | (v & 0xFFFF);
	else
		*r = v & size_mask(size);
}

static int do_popcnt(struct vcpu *vcpu, struct kvm_regs *regs, const struct kvm_sregs *sregs,
		     const struct unemulated *u)
{
	uint64_t src;
	int err = read_rm(vcpu, regs, sregs, u, &src);

	if (err)
		return err;
	write_reg(regs, u->reg, u->op_size, (uint64_t)__builtin_popcountll(src));
	regs->rflags &= ~X86_RFLAGS_ARITH;
	if (!src)
		regs->rflags |= X86_RFLAGS_ZF;
	return 0;
}

/* lsl: the selector from r/m (16 bits), its descriptor from the guest's
 * GDT or LDT, ZF and the destination by x86_lsl_limit's verdict. */
static int do_lsl(struct vcpu *vcpu, struct kvm_regs *regs, const struct kvm_sregs *sregs,
		  struct unemulated *u)
{
	unsigned int size = u->op_size;
	uint64_t sel = 0, desc = 0, base, table_limit;
	uint32_t limit;
	bool ok = false;
	int err;

	u->op_size = 2;
	err = read_rm(vcpu, regs, sregs, u, &sel);
	u->op_size = size;
	if (err)
		return err;
	base = (sel & 4) ? sregs->ldt.base : sregs->gdt.base;
	table_limit = (sel & 4) ? sregs->ldt.limit : sregs->gdt.limit;
	if ((sel & ~7ULL) && (sel | 7) <= table_limit && !((sel & 4) && sregs->ldt.unusable) &&
	    vcpu_read_gva(vcpu, base + (sel & ~7ULL), &desc, 8) == 8)
		ok = x86_lsl_limit(desc, (uint16_t)sel, sregs->cs.selector & 3, &limit);
	regs->rflags &= ~X86_RFLAGS_ZF;
	if (!ok)
		return 0;	/* ZF = 0, the destination unchanged */
	regs->rflags |= X86_RFLAGS_ZF;
	write_reg(regs, u->reg, size, limit);
	return 0;
}

/* Exception vector at RIP with error code err (#GP and #PF have one). */
static int inject_fault(struct vcpu *vcpu, uint8_t vector, uint32_t err)
{
	struct kvm_vcpu_events ev;

	if (ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	ev.exception.injected = 1;
	ev.exception.nr = vector;
	ev.exception.has_error_code = vector == 13 || vector == 14;
	ev.exception.error_code = err;
	ev.exception.pending = 0;
	if (ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return -errno;
	return 0;
}

static int inject_exception(struct vcpu *vcpu, uint8_t vector)
{
	return inject_fault(vcpu, vector, 0);
}

/* #PF for a supervisor access to gva: CR2 = gva, error code P (the page is
 * mapped, so it was a protection fault) and W. */
static int inject_page_fault(struct vcpu *vcpu, struct kvm_sregs *sregs, uint64_t gva,
			     bool present, bool write)
{
	sregs->cr2 = gva;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, sregs) < 0)
		return -errno;
	return inject_fault(vcpu, 14, (present ? 1u : 0u) | (write ? 2u : 0u));
}

/* The host's standard XSAVE layout, which KVM's XSAVE buffer follows. */
static struct xsave_layout xsave_layout;
static pthread_once_t xsave_layout_once = PTHREAD_ONCE_INIT;

static void xsave_layout_init(void)
{
	xsave_layout_host(&xsave_layout);
}

/*
 * Copy len bytes between buf and guest-virtual memory at gva, page by page
 * through the guest's page tables.  Every page is checked before any byte
 * moves; on a page that is not mapped (or not writable, for a write) the
 * fault's address and kind are returned and nothing was written.
 */
static int copy_gva(struct vcpu *vcpu, uint64_t gva, void *buf, size_t len, bool write,
		    uint64_t *fault_gva, bool *fault_present)
{
	uint8_t *hva[4];
	size_t npages = ((gva & 0xFFF) + len + 0xFFF) >> 12, done = 0;

	if (npages > ARRAY_SIZE(hva))
		return -E2BIG;
	for (size_t i = 0; i < npages; i++) {
		uint64_t page = (gva & ~0xFFFULL) + (i << 12);
		int err = page_hva(vcpu, page, write, &hva[i], fault_present);

		if (err == -EFAULT)
			*fault_gva = i ? page : gva;
		if (err)
			return err; /* -ENOTSUP: a device page, not RAM */
	}
	for (size_t i = 0; i < npages; i++) {
		size_t off = i ? 0 : (gva & 0xFFF), n = 0x1000 - off;

		if (n > len - done)
			n = len - done;
		if (write)
			memcpy(hva[i] + off, (uint8_t *)buf + done, n);
		else
			memcpy((uint8_t *)buf + done, hva[i] + off, n);
		done += n;
	}
	return 0;
}

/*
 * xsave/xsaveopt/xrstor in the standard form: the area (64-byte aligned,
 * else #GP(0)) against the vCPU's state from KVM_GET_XSAVE, by the rules
 * of xsave.h; RFBM = XCR0 & EDX:EAX.  A page of the area that is not
 * mapped becomes a #PF, as the CPU would raise it (Linux's signal-frame
 * code relies on that to fault user pages in).
 */
static int do_xsave(struct vcpu *vcpu, struct kvm_regs *regs, struct kvm_sregs *sregs,
		    const struct unemulated *u, bool *done)
{
	static __thread struct kvm_xsave state;
	static __thread uint8_t area[sizeof(state.region)];
	uint64_t ea = effective_address(regs, sregs, u), xcr0 = 0, rfbm, fault_gva = 0;
	bool store = u->kind == UNEMULATED_XSAVE, present = false;
	struct kvm_xcrs xcrs;
	size_t len;
	int err;

	*done = false;
	pthread_once(&xsave_layout_once, xsave_layout_init);
	if (ea & 63)
		return inject_exception(vcpu, 13);
	if (ioctl(vcpu->fd, KVM_GET_XCRS, &xcrs) < 0 || ioctl(vcpu->fd, KVM_GET_XSAVE, &state) < 0)
		return -errno;
	for (unsigned int i = 0; i < xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++)
		if (xcrs.xcrs[i].xcr == 0)
			xcr0 = xcrs.xcrs[i].value;
	rfbm = xcr0 & (regs->rdx << 32 | (uint32_t)regs->rax);
	len = xsave_extent(&xsave_layout, rfbm);
	if (len > sizeof(area))
		return -ENOTSUP; /* AMX-sized state: KVM_GET_XSAVE2 would be needed */
	err = copy_gva(vcpu, ea, area, len, false, &fault_gva, &present);
	if (!err && store) {
		xsave_store(&xsave_layout, (const uint8_t *)state.region, rfbm, area);
		err = copy_gva(vcpu, ea, area, len, true, &fault_gva, &present);
	}
	if (err == -EFAULT)
		return inject_page_fault(vcpu, sregs, fault_gva, present, store);
	if (err)
		return err;
	if (!store) {
		switch (xsave_load(&xsave_layout, (uint8_t *)state.region, rfbm, xcr0, area)) {
		case XRSTOR_GP:
			return inject_exception(vcpu, 13);
		case XRSTOR_COMPACTED:
			return -ENOTSUP;
		case XRSTOR_OK:
			break;
		}
		if (ioctl(vcpu->fd, KVM_SET_XSAVE, &state) < 0)
			return -errno;
	}
	*done = true;
	return 0;
}

int vcpu_reflect_int3(struct vcpu *vcpu)
{
	struct kvm_regs regs;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0)
		return -errno;
	regs.rip += 1;
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return inject_exception(vcpu, 3);
}

/*
 * KVM gave up on the instruction at RIP.  Complete it when the architecture
 * defines its result (emulate.h); otherwise describe it for the crash report.
 */
int vcpu_complete_unemulated(struct vcpu *vcpu)
{
	struct guest_cpu_features cpu = { .smap = vcpu->guest_smap };
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct unemulated u;
	uint8_t insn[15];
	size_t n;
	int err = 0;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	cpu.osxsave = sregs.cr4 & X86_CR4_OSXSAVE;
	cpu.smap |= (sregs.cr4 & X86_CR4_SMAP) != 0;
	n = vcpu_read_gva(vcpu, regs.rip, insn, sizeof(insn));
	x86_classify_unemulated(insn, n, &cpu, &u);
	switch (u.kind) {
	case UNEMULATED_CMPXCHG_DOUBLE:
	case UNEMULATED_LDMXCSR:
	case UNEMULATED_STMXCSR: {
		bool gp = false;

		err = u.kind == UNEMULATED_CMPXCHG_DOUBLE ? do_cmpxchg_double(vcpu, &regs, &sregs, &u, &gp)
							   : do_mxcsr(vcpu, &regs, &sregs, &u, &gp);
		if (err == -EFAULT) {
			snprintf(vcpu->exit.why, sizeof(vcpu->exit.why),
				 "%s at RIP %llx: its memory operand is not mapped writable guest "
				 "RAM in one page (minivmm does not inject the page fault)",
				 u.name, regs.rip);
			return -ENOTSUP;
		}
		if (err)
			break;
		if (gp) {
			err = inject_exception(vcpu, 13);
			break;
		}
		regs.rip += u.len;
		if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
			return -errno;
		break;
	}
	case UNEMULATED_XSAVE:
	case UNEMULATED_XRSTOR: {
		bool done;

		err = do_xsave(vcpu, &regs, &sregs, &u, &done);
		if (err == -ENOTSUP) {
			snprintf(vcpu->exit.why, sizeof(vcpu->exit.why),
				 "%s at RIP %llx: the area is not RAM, in the compacted form, or "
				 "larger than KVM_GET_XSAVE's buffer", u.name, regs.rip);
			return -ENOTSUP;
		}
		if (err || !done)
			break;
		regs.rip += u.len;
		if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
			return -errno;
		break;
	}
	case UNEMULATED_POPCNT:
	case UNEMULATED_LSL:
		err = u.kind == UNEMULATED_POPCNT ? do_popcnt(vcpu, &regs, &sregs, &u)
						  : do_lsl(vcpu, &regs, &sregs, &u);
		if (err)
			break;
		__attribute__((fallthrough)); /* step over it like the others */
	case UNEMULATED_INT3:
	case UNEMULATED_FWAIT:
	case UNEMULATED_CLAC:
	case UNEMULATED_STAC:
		regs.rip += u.len;
		if (u.kind == UNEMULATED_CLAC)
			regs.rflags &= ~X86_RFLAGS_AC;
		if (u.kind == UNEMULATED_STAC)
			regs.rflags |= X86_RFLAGS_AC;
		if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
			return -errno;
		if (u.kind == UNEMULATED_INT3)
			err = inject_exception(vcpu, 3);
		break;
	case UNEMULATED_UD:
		err = inject_exception(vcpu, 6);
		break;
	default:
		snprintf(vcpu->exit.why, sizeof(vcpu->exit.why),
			 "KVM cannot emulate the instruction at RIP %llx (%s; %02x %02x %02x %02x)",
			 regs.rip, n ? u.name : "bytes unreadable", n > 0 ? insn[0] : 0,
			 n > 1 ? insn[1] : 0, n > 2 ? insn[2] : 0, n > 3 ? insn[3] : 0);
		return -ENOTSUP;
	}
	if (err)
		return err;
	if (vcpu->exit.stats.unemulated[u.kind]++ == 0)
		log_info("vCPU %u: this host's KVM cannot emulate '%s' (RIP %llx); minivmm "
			 "completed it: %s", vcpu->id, u.name, regs.rip,
			 unemulated_kind_name(u.kind));
	return 0;
}


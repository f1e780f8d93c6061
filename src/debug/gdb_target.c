// SPDX-License-Identifier: MIT
/*
 * The gdb session's target is the VM: registers through the vCPU ioctls of
 * src/cpu, memory through the checked GPA path, running through
 * vcpu_pause.h and KVM_SET_GUEST_DEBUG.  Also the vCPU side: the trap hook
 * that recognises a stop that is gdb's (gdbstub_trap).
 */
#include "debug/gdbstub_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cpu/vcpu_emulate.h"
#include "cpu/x86.h"

#define DR6_BREAKPOINTS   0xFULL     /* B0-B3: which DR matched */
#define VECTOR_BP         3
#define CANONICAL_HIGH    0xFFFF800000000000ULL

static struct gdbstub *stub(void *t)
{
	return t;
}

static unsigned int nr_cpus(void *t)
{
	return stub(t)->p.nr_vcpus;
}

static int get_state(void *t, unsigned int cpu, struct gdb_x86_state *s)
{
	struct vcpu *v = &stub(t)->p.vcpus[cpu];
	int err = vcpu_get_regs(v, &s->regs);

	if (!err)
		err = vcpu_get_sregs(v, &s->sregs);
	if (!err)
		err = vcpu_get_fpu(v, &s->fpu);
	if (!err && vcpu_get_msr(v, GDB_MSR_KERNEL_GS_BASE, &s->kernel_gs_base))
		s->kernel_gs_base = 0;	/* shown as 0 where KVM does not say */
	return err;
}

/* Only what changed goes back: KVM_SET_SREGS has side effects (an MMU
 * reload) that a register write from gdb should not cause. */
static int set_state(void *t, unsigned int cpu, const struct gdb_x86_state *s)
{
	struct vcpu *v = &stub(t)->p.vcpus[cpu];
	struct gdb_x86_state now;
	int err = get_state(t, cpu, &now);

	if (!err && memcmp(&now.sregs, &s->sregs, sizeof(s->sregs)))
		err = vcpu_set_state(v, &s->sregs, NULL);
	if (!err && memcmp(&now.regs, &s->regs, sizeof(s->regs)))
		err = vcpu_set_state(v, NULL, &s->regs);
	if (!err && memcmp(&now.fpu, &s->fpu, sizeof(s->fpu)))
		err = vcpu_set_fpu(v, &s->fpu);
	if (!err && now.kernel_gs_base != s->kernel_gs_base)
		err = vcpu_set_msr(v, GDB_MSR_KERNEL_GS_BASE, s->kernel_gs_base);
	return err;
}

static bool canonical(uint64_t va, unsigned int bits)
{
	int64_t s = (int64_t)(va << (64 - bits)) >> (64 - bits);

	return (uint64_t)s == va;
}

/* KVM_TRANSLATE walks non-canonical addresses as if they were canonical:
 * refuse them first (57 bits only with 5-level paging on). */
static bool canonical_for(struct vcpu *v, uint64_t va)
{
	struct kvm_sregs sregs;

	if (canonical(va, 48))
		return true;
	return canonical(va, 57) && !vcpu_get_sregs(v, &sregs) && (sregs.cr4 & X86_CR4_LA57);
}

int gdb_vm_translate(struct gdbstub *g, unsigned int cpu, uint64_t gva, uint64_t *gpa)
{
	if (cpu >= g->p.nr_vcpus || !canonical_for(&g->p.vcpus[cpu], gva))
		return -EFAULT;
	if (!vcpu_translate(&g->p.vcpus[cpu], gva, gpa))
		return 0;
	/* The kernel image before its own page tables map it: only segments
	 * linked in the upper half (a vmlinux), never identity or per-CPU
	 * ones, whose virtual addresses mean something else. */
	for (unsigned int i = 0; i < g->p.nr_segs; i++) {
		const struct loader_segment *s = &g->p.segs[i];

		if (s->vaddr < CANONICAL_HIGH || s->vaddr == s->paddr)
			continue;
		if (gva >= s->vaddr && gva - s->vaddr < s->size) {
			*gpa = s->paddr + (gva - s->vaddr);
			return 0;
		}
	}
	return -EFAULT;
}

static int translate(void *t, unsigned int cpu, uint64_t gva, uint64_t *gpa)
{
	return gdb_vm_translate(stub(t), cpu, gva, gpa);
}

static size_t read_phys(void *t, uint64_t gpa, void *buf, size_t len)
{
	return mem_read(stub(t)->p.mem, gpa, buf, len) ? 0 : len;
}

static size_t write_phys(void *t, uint64_t gpa, const void *buf, size_t len)
{
	return mem_write(stub(t)->p.mem, gpa, buf, len) ? 0 : len;
}

/* Every vCPU is planned before any is touched: a refused step leaves the
 * machine as it was. */
static int resume(void *t, const struct gdb_resume_req *req, char *note, size_t note_len)
{
	struct gdbstub *g = stub(t);

	for (unsigned int i = 0; i < g->p.nr_vcpus; i++) {
		int err = gdb_vcpu_plan(g, i, req, note, note_len);

		if (err)
			return err;
	}
	for (unsigned int i = 0; i < g->p.nr_vcpus; i++) {
		int err = gdb_vcpu_apply(g, i);

		if (err)
			return err;
		vcpu_pause_hold(g->p.pause, &g->p.vcpus[i],
				!req->detach && req->act[i] == GDB_STAY);
	}
	pthread_mutex_lock(&g->lock);
	g->running = !req->detach;
	g->stop_pending = false;
	pthread_mutex_unlock(&g->lock);
	vcpu_resume_all(g->p.pause);
	return 0;
}

static void kill_vm(void *t)
{
	struct gdbstub *g = stub(t);

	g->p.kill(g->p.ctx);
}

static void describe(void *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s", stub(t)->caps_text);
}

const struct gdb_target_ops gdb_vm_target_ops = {
	.nr_cpus = nr_cpus, .get_state = get_state, .set_state = set_state,
	.translate = translate, .read_phys = read_phys, .write_phys = write_phys,
	.resume = resume, .kill = kill_vm, .describe = describe,
};

/* ---- the vCPU side --------------------------------------------------------- */

/* On the vCPU's thread: record the first stop since gdb resumed, and stop
 * everyone; the vCPU itself parks before its next KVM_RUN. */
enum vcpu_action gdb_vm_report(struct gdbstub *g, struct vcpu *vcpu, enum gdb_stop_kind kind)
{
	uint64_t one = 1;
	bool first = false;

	pthread_mutex_lock(&g->lock);
	if (g->running && !g->stop_pending) {
		g->stop = (struct gdb_stop){ .cpu = vcpu->id, .signal = GDB_SIGTRAP, .kind = kind };
		g->stop_pending = first = true;
	}
	pthread_mutex_unlock(&g->lock);
	if (first) {
		ssize_t r;

		vcpu_pause_request(g->p.pause, g->p.vcpus, g->p.nr_vcpus);
		r = write(g->stop_fd, &one, sizeof(one));
		(void)r; /* an eventfd write cannot fail short of overflow */
	}
	/* Not first: another stop won; a breakpoint's RIP stays on the int3,
	 * so it is hit again after the resume. */
	return VCPU_CONTINUE;
}

static bool planted_at_rip(struct gdbstub *g, struct vcpu *vcpu)
{
	struct kvm_regs regs;
	uint64_t gpa;

	return !vcpu_get_regs(vcpu, &regs) &&
	       !gdb_vm_translate(g, vcpu->id, regs.rip, &gpa) &&
	       gdb_session_sw_bp_at(g->session, gpa) != NULL;
}

enum vcpu_action gdbstub_trap(void *ctx, struct vcpu *vcpu, enum vcpu_action why)
{
	struct gdbstub *g = ctx;
	struct kvm_debug_exit_arch *d = &vcpu->run->debug.arch;

	/* PVM: a ring-0 int3 is an emulation failure at the int3 itself. */
	if (why == VCPU_UNEMULATED)
		return planted_at_rip(g, vcpu) ? gdb_vm_report(g, vcpu, GDB_STOP_SWBREAK) : why;
	if (why != VCPU_DEBUG)
		return why;
	if (d->exception == VECTOR_BP) {
		if (planted_at_rip(g, vcpu))
			return gdb_vm_report(g, vcpu, GDB_STOP_SWBREAK);
		/* The guest's own int3 (KVM_GUESTDBG_USE_SW_BP takes them all). */
		return vcpu_reflect_int3(vcpu) ? VCPU_FAILED : VCPU_CONTINUE;
	}
	if (gdb_vcpu_trap(g, vcpu, &why))	/* a watched guest vector */
		return why;
	return gdb_vm_report(g, vcpu, (d->dr6 & DR6_BREAKPOINTS) ? GDB_STOP_HWBREAK : GDB_STOP_SIGNAL);
}

// SPDX-License-Identifier: MIT
/*
 * Per-vCPU debugging state: what KVM_SET_GUEST_DEBUG gets at each resume,
 * and ring-3 stops on hosts whose KVM cannot make them (PVM: ring 3 runs
 * natively, its #BP and #DB go straight to the guest).
 *
 * There the stub watches the guest's own exception vectors instead: a
 * hardware breakpoint on the #BP handler (IDT vector 3) when int3s are
 * planted, and on the #DB handler (vector 1) while a ring-3 step runs by
 * RFLAGS.TF.  Ring 0 is emulated on those hosts and the emulator checks
 * DR0-DR3, so the breakpoint fires on the handler's first instruction, with
 * the CPU's exception frame on the stack.  When the frame says ring 3 and
 * the stop is gdb's (an int3 the stub planted, a step it asked for), the
 * vCPU is put back where the exception came from, as if the host had
 * stopped it there.  Any other exception goes on to the guest's handler:
 * its first instruction is stepped with that breakpoint off, then the
 * breakpoint is re-armed.
 */
#include "debug/gdbstub_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cpu/x86.h"

#define DR7_GE          0x600ULL   /* GE and the always-one bit 10 */
#define DR6_BS          (1ULL << 14)
#define RFLAGS_TF       (1ULL << 8)
#define VEC_DB          0
#define VEC_BP          1
#define GATE_SIZE       16

static const unsigned int vector_nr[2] = { 1, 3 };

static int ring_of(const struct kvm_sregs *s)
{
	return (s->cs.selector & 3) ? 3 : 0;
}

/* The handler of IDT vector n, from the vCPU's IDTR; 0 when absent. */
static uint64_t handler_of(struct vcpu *v, const struct kvm_sregs *s, unsigned int n)
{
	uint8_t gate[GATE_SIZE];
	uint64_t off;

	if ((uint64_t)n * GATE_SIZE + GATE_SIZE - 1 > s->idt.limit ||
	    vcpu_read_gva(v, s->idt.base + (uint64_t)n * GATE_SIZE, gate, sizeof(gate)) !=
	    sizeof(gate) || !(gate[5] & 0x80))
		return 0;
	off = (uint64_t)(gate[0] | gate[1] << 8) | (uint64_t)(gate[6] | gate[7] << 8) << 16;
	off |= (uint64_t)(gate[8] | gate[9] << 8 | gate[10] << 16 | (uint32_t)gate[11] << 24) << 32;
	return off;
}

static bool arm(struct gdb_vcpu_dbg *d, int vec, uint64_t handler)
{
	for (int i = 0; i < 4; i++) {
		if (d->dr7 & (3ULL << (2 * i)))
			continue;
		d->dr[i] = handler;
		d->dr7 |= DR7_GE | 2ULL << (2 * i);
		d->slot[vec] = i;
		d->handler[vec] = handler;
		return true;
	}
	return false;
}

int gdb_vcpu_plan(struct gdbstub *g, unsigned int cpu, const struct gdb_resume_req *req,
		  char *note, size_t note_len)
{
	struct gdb_vcpu_dbg *d = &g->vdbg[cpu];
	struct vcpu *v = &g->p.vcpus[cpu];
	enum gdb_resume act = req->act[cpu];
	struct kvm_sregs s;
	int ring;

	memset(d, 0, sizeof(*d));
	d->slot[VEC_DB] = d->slot[VEC_BP] = -1;
	if (req->detach)
		return 0;
	for (unsigned int i = 0; i < req->nr_hw && i < 4; i++) {
		d->dr[i] = req->hw[i];
		d->dr7 |= DR7_GE | 2ULL << (2 * i);	/* Gi; RW, LEN 0: execution */
	}
	if (vcpu_get_sregs(v, &s))
		return -EIO;
	ring = ring_of(&s);
	if (req->nr_sw && g->vec_bp) {
		uint64_t h = handler_of(v, &s, vector_nr[VEC_BP]);

		if (!h && !note[0])	/* the guest has not set up its IDT yet */
			snprintf(note, note_len, "minivmm: vCPU %u has no #BP handler yet: an int3 "
				 "this host cannot catch (one in ring-3 code) goes to the guest until "
				 "it has one (docs/debugging.md)\n", cpu);
		if (h)
			arm(d, VEC_BP, h);
	}
	if (act == GDB_STEP && !g->caps.step[ring ? 1 : 0]) {
		uint64_t h = ring && g->vec_step ? handler_of(v, &s, vector_nr[VEC_DB]) : 0;

		if (!h || !arm(d, VEC_DB, h)) {
			snprintf(note, note_len, "minivmm: this host's KVM cannot single-step guest "
				 "ring %d%s (docs/debugging.md); vCPU %u stays where it is\n", ring,
				 ring && g->vec_step ? ", and no #DB handler or debug register is "
				 "free to step it another way" : "", cpu);
			return -EOPNOTSUPP;
		}
		d->tf_step = true;
	} else if (act == GDB_STEP) {
		d->control |= KVM_GUESTDBG_SINGLESTEP | (g->caps.flags & KVM_GUESTDBG_BLOCKIRQ);
	}
	if (req->nr_sw)
		d->control |= KVM_GUESTDBG_USE_SW_BP;
	if (d->dr7)
		d->control |= KVM_GUESTDBG_USE_HW_BP;
	if (d->control)
		d->control |= KVM_GUESTDBG_ENABLE;
	return 0;
}

static int set_tf(struct vcpu *v, bool on)
{
	struct kvm_regs r;
	int err = vcpu_get_regs(v, &r);

	if (err)
		return err;
	r.rflags = on ? r.rflags | RFLAGS_TF : r.rflags & ~RFLAGS_TF;
	return vcpu_set_state(v, NULL, &r);
}

int gdb_vcpu_apply(struct gdbstub *g, unsigned int cpu)
{
	struct gdb_vcpu_dbg *d = &g->vdbg[cpu];
	struct vcpu *v = &g->p.vcpus[cpu];
	int err = vcpu_set_guest_debug(v, d->control, d->dr, d->dr7);

	if (!err && d->tf_step)
		err = set_tf(v, true);
	return err;
}

void gdb_vcpu_stopped(struct gdbstub *g, unsigned int cpu)
{
	struct gdb_vcpu_dbg *d = &g->vdbg[cpu];

	/* A TF step that never completed (another vCPU stopped first). */
	if (d->tf_step) {
		set_tf(&g->p.vcpus[cpu], false);
		d->tf_step = false;
	}
}

/* A segment from the guest's GDT, for going back to ring 3. */
static int segment(struct vcpu *v, const struct kvm_sregs *s, uint16_t sel,
		   struct kvm_segment *out)
{
	uint64_t e;

	if ((sel & ~7u) == 0 || (uint64_t)(sel & ~7u) + 7 > s->gdt.limit ||
	    vcpu_read_gva(v, s->gdt.base + (sel & ~7u), &e, sizeof(e)) != sizeof(e) ||
	    !(e >> 47 & 1))
		return -EFAULT;
	*out = (struct kvm_segment){
		.base = (e >> 16 & 0xFFFFFF) | (e >> 56 & 0xFF) << 24,
		.limit = (uint32_t)((e & 0xFFFF) | (e >> 48 & 0xF) << 16),
		.selector = sel, .type = e >> 40 & 0xF, .s = e >> 44 & 1, .dpl = e >> 45 & 3,
		.present = 1, .l = e >> 53 & 1, .db = e >> 54 & 1, .g = e >> 55 & 1,
	};
	if (out->g)
		out->limit = out->limit << 12 | 0xFFF;
	return 0;
}

/* Undo the exception delivery: the vCPU back in ring 3 as in the frame
 * (RIP, CS, RFLAGS, RSP, SS), with RIP moved to rip. */
static int back_to_ring3(struct vcpu *v, const uint64_t frame[5], uint64_t rip,
			 uint64_t rflags)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	int err = vcpu_get_regs(v, &r);

	if (!err)
		err = vcpu_get_sregs(v, &s);
	if (!err)
		err = segment(v, &s, (uint16_t)frame[1], &s.cs);
	if (!err)
		err = segment(v, &s, (uint16_t)frame[4], &s.ss);
	if (err)
		return err;
	r.rip = rip;
	r.rflags = rflags;
	r.rsp = frame[3];
	return vcpu_set_state(v, &s, &r);
}

/* The vCPU is on the first instruction of a watched handler: gdb's stop,
 * or the guest's own exception to let through. */
static enum vcpu_action at_handler(struct gdbstub *g, struct vcpu *v, int vec)
{
	struct gdb_vcpu_dbg *d = &g->vdbg[v->id];
	struct kvm_regs r;
	uint64_t frame[5], gpa;

	if (!vcpu_get_regs(v, &r) &&
	    vcpu_read_gva(v, r.rsp, frame, sizeof(frame)) == sizeof(frame) && (frame[1] & 3)) {
		if (vec == VEC_BP && !gdb_vm_translate(g, v->id, frame[0] - 1, &gpa) &&
		    gdb_session_sw_bp_at(g->session, gpa) &&
		    !back_to_ring3(v, frame, frame[0] - 1, frame[2]))
			return gdb_vm_report(g, v, GDB_STOP_SWBREAK);
		if (vec == VEC_DB && d->tf_step &&
		    !back_to_ring3(v, frame, frame[0], frame[2] & ~RFLAGS_TF)) {
			d->tf_step = false;
			return gdb_vm_report(g, v, GDB_STOP_SIGNAL);
		}
	}
	/* Not gdb's: step the handler's first instruction with its
	 * breakpoint off, then arm it again (gdb_vcpu_trap, BS). */
	d->skipping = true;
	if (vcpu_set_guest_debug(v, d->control | KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP |
				 (g->caps.flags & KVM_GUESTDBG_BLOCKIRQ), d->dr,
				 d->dr7 & ~(3ULL << (2 * d->slot[vec]))))
		return VCPU_FAILED;
	return VCPU_CONTINUE;
}

bool gdb_vcpu_trap(struct gdbstub *g, struct vcpu *v, enum vcpu_action *action)
{
	struct gdb_vcpu_dbg *d = &g->vdbg[v->id];
	uint64_t dr6 = v->run->debug.arch.dr6;

	if (d->skipping && (dr6 & DR6_BS)) {
		d->skipping = false;
		*action = vcpu_set_guest_debug(v, d->control, d->dr, d->dr7) ? VCPU_FAILED :
			  VCPU_CONTINUE;
		return true;
	}
	for (int vec = 0; vec < 2; vec++) {
		if (d->slot[vec] >= 0 && (dr6 & (1ULL << d->slot[vec]))) {
			*action = at_handler(g, v, vec);
			return true;
		}
	}
	return false;
}

void gdb_vcpu_caps(struct gdbstub *g)
{
	bool ring0 = g->caps.hw_bp[0] && g->caps.step[0] &&
		     (g->caps.flags & KVM_GUESTDBG_USE_HW_BP);

	g->vec_bp = ring0 && g->caps.int3[1] == PROBE_INT3_GUEST;
	g->vec_step = ring0 && !g->caps.step[1];
}

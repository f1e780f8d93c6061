// SPDX-License-Identifier: MIT
#include "cpu/vcpu.h"
#include "cpu/vcpu_emulate.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/log.h"
#include "base/sandbox.h"
#include "cpu/x86.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig; /* Its only job is to make KVM_RUN return -EINTR. */
}

int vcpu_signals_init(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the interrupted KVM_RUN must return. */
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL))
		return -errno;
	return 0;
}

int vcpu_create(struct vcpu *vcpu, struct kvm *kvm, unsigned int id,
		const struct vcpu_env *env)
{
	void *run;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->id = id;
	vcpu->env = env;
	vcpu->exit.pio = env->pio;
	vcpu->exit.mmio = env->mmio;
	vcpu->fd = kvm_create_vcpu(kvm, id);
	if (vcpu->fd < 0)
		return vcpu->fd;
	run = mmap(NULL, (size_t)kvm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (run == MAP_FAILED) {
		int err = -errno;

		log_err("vCPU %u: cannot map kvm_run: %s", id, strerror(errno));
		close(vcpu->fd);
		vcpu->fd = -1;
		return err;
	}
	vcpu->run = run;
	vcpu->run_size = (size_t)kvm->run_size;
	return 0;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

int vcpu_set_cpuid(struct vcpu *vcpu, const struct kvm_cpuid2 *cpuid)
{
	vcpu->guest_smap = x86_cpuid_has_smap(cpuid);
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0) {
		int err = -errno;

		log_err("vCPU %u: KVM_SET_CPUID2 failed: %s", vcpu->id, strerror(errno));
		return err;
	}
	return 0;
}

int vcpu_inject_nmi(struct vcpu *vcpu)
{
	return ioctl(vcpu->fd, KVM_NMI) < 0 ? -errno : 0;
}

int vcpu_get_sregs(struct vcpu *vcpu, struct kvm_sregs *sregs)
{
	if (ioctl(vcpu->fd, KVM_GET_SREGS, sregs) < 0) {
		int err = -errno;

		log_err("vCPU %u: KVM_GET_SREGS failed: %s", vcpu->id, strerror(errno));
		return err;
	}
	return 0;
}

int vcpu_get_regs(struct vcpu *vcpu, struct kvm_regs *regs)
{
	return ioctl(vcpu->fd, KVM_GET_REGS, regs) < 0 ? -errno : 0;
}

int vcpu_tsc_khz(struct vcpu *vcpu)
{
	int r = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);

	return r < 0 ? -errno : r;
}

int vcpu_set_state(struct vcpu *vcpu, const struct kvm_sregs *sregs,
		   const struct kvm_regs *regs)
{
	if (sregs && ioctl(vcpu->fd, KVM_SET_SREGS, sregs) < 0) {
		int err = -errno;

		log_err("vCPU %u: KVM_SET_SREGS failed: %s", vcpu->id, strerror(errno));
		return err;
	}
	if (regs && ioctl(vcpu->fd, KVM_SET_REGS, regs) < 0) {
		int err = -errno;

		log_err("vCPU %u: KVM_SET_REGS failed: %s", vcpu->id, strerror(errno));
		return err;
	}
	return 0;
}

int vcpu_get_fpu(struct vcpu *vcpu, struct kvm_fpu *fpu)
{
	return ioctl(vcpu->fd, KVM_GET_FPU, fpu) < 0 ? -errno : 0;
}

int vcpu_set_fpu(struct vcpu *vcpu, const struct kvm_fpu *fpu)
{
	return ioctl(vcpu->fd, KVM_SET_FPU, fpu) < 0 ? -errno : 0;
}

struct one_msr {
	struct kvm_msrs head;
	struct kvm_msr_entry entry;
};

int vcpu_get_msr(struct vcpu *vcpu, uint32_t index, uint64_t *value)
{
	struct one_msr m = { .head.nmsrs = 1, .entry.index = index };
	int r = ioctl(vcpu->fd, KVM_GET_MSRS, &m);

	if (r < 0)
		return -errno;
	if (r != 1)
		return -EINVAL;
	*value = m.entry.data;
	return 0;
}

int vcpu_set_msr(struct vcpu *vcpu, uint32_t index, uint64_t value)
{
	struct one_msr m = { .head.nmsrs = 1, .entry = { .index = index, .data = value } };
	int r = ioctl(vcpu->fd, KVM_SET_MSRS, &m);

	if (r < 0)
		return -errno;
	return r == 1 ? 0 : -EINVAL;
}

int vcpu_set_guest_debug(struct vcpu *vcpu, uint32_t control, const uint64_t dr[4],
			 uint64_t dr7)
{
	struct kvm_guest_debug dbg = { .control = control };

	for (int i = 0; dr && i < 4; i++)
		dbg.arch.debugreg[i] = dr[i];
	dbg.arch.debugreg[7] = dr7;
	return ioctl(vcpu->fd, KVM_SET_GUEST_DEBUG, &dbg) < 0 ? -errno : 0;
}

/* The debugger sees debug exits and failed emulations first. */
static enum vcpu_action debug_first(struct vcpu *vcpu, enum vcpu_action action)
{
	const struct vcpu_env *env = vcpu->env;

	if ((action == VCPU_DEBUG || action == VCPU_UNEMULATED) && env->debug_trap)
		action = env->debug_trap(env->debug_ctx, vcpu, action);
	if (action == VCPU_DEBUG)	/* no debugger wanted it */
		action = VCPU_FAILED;
	return action;
}

/* The profiler's sample: where the guest is (RIP) and in which ring. */
static void take_sample(struct vcpu *vcpu)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return;
	vcpu->env->sample(vcpu->env->sample_ctx, vcpu->id, regs.rip, sregs.cs.selector & 3);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	const struct vcpu_env *env = vcpu->env;
	enum vcpu_action action = VCPU_CONTINUE;

	if (sandbox_enter(SANDBOX_VCPU)) {
		snprintf(vcpu->exit.why, sizeof(vcpu->exit.why),
			 "cannot enter the seccomp allow-list (--seccomp=off runs without)");
		action = VCPU_FAILED;
	}
	while (action == VCPU_CONTINUE && !atomic_load(env->stopping)) {
		bool park = env->pause && vcpu_should_park(env->pause, vcpu);

		/* Before parking, complete a pending I/O or MMIO exit without
		 * running guest code (KVM_RUN with immediate_exit, the KVM API's
		 * way), so the registers others read meanwhile are final. */
		if (park)
			vcpu->run->immediate_exit = 1;
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				if (atomic_exchange(&vcpu->sample_wanted, false) && env->sample)
					take_sample(vcpu);
				if (park)
					vcpu_park(env->pause, vcpu, env->stopping);
				/* Kicks set it; a kick that lands after this
				 * line finds its request flag checked above. */
				vcpu->run->immediate_exit = 0;
				continue;
			}
			snprintf(vcpu->exit.why, sizeof(vcpu->exit.why), "KVM_RUN failed: %s",
				 strerror(errno));
			action = VCPU_FAILED;
			break;
		}
		action = debug_first(vcpu, vcpu_handle_exit(vcpu->run, vcpu->run_size,
							     &vcpu->exit));
		if (action == VCPU_UNEMULATED)
			action = vcpu_complete_unemulated(vcpu) ? VCPU_FAILED : VCPU_CONTINUE;
		if (action == VCPU_CONTINUE && env->after_exit)
			action = env->after_exit(env->ctx, vcpu);
	}
	vcpu->result = action;
	if (env->pause)
		vcpu_pause_leave(env->pause);
	if (action != VCPU_CONTINUE && env->stopped)
		env->stopped(env->ctx, vcpu);
	return NULL;
}

int vcpu_start(struct vcpu *vcpu)
{
	int err;

	if (vcpu->env->pause)
		vcpu_pause_enter(vcpu->env->pause);
	err = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	if (err) {
		if (vcpu->env->pause)
			vcpu_pause_leave(vcpu->env->pause);
		log_err("vCPU %u: cannot start thread: %s", vcpu->id, strerror(err));
		return -err;
	}
	{
		/* "minivmm-vcpuN" in top -H, perf and /proc (QEMU: "CPU N/KVM"). */
		char name[16];

		snprintf(name, sizeof(name), "minivmm-vcpu%u", vcpu->id);
		pthread_setname_np(vcpu->thread, name);
	}
	vcpu->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	/* immediate_exit covers a kick that lands just before KVM_RUN. */
	vcpu->run->immediate_exit = 1;
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_request_sample(struct vcpu *vcpu)
{
	atomic_store(&vcpu->sample_wanted, true);
	vcpu_kick(vcpu);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (vcpu->started)
		pthread_join(vcpu->thread, NULL);
	vcpu->started = false;
}

static void dump_segment(FILE *out, const char *name, const struct kvm_segment *s)
{
	fprintf(out, "  %-3s sel=%04x base=%016llx limit=%08x type=%x dpl=%u p=%u l=%u db=%u\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->dpl,
		s->present, s->l, s->db);
}

int vcpu_translate(struct vcpu *vcpu, uint64_t gva, uint64_t *gpa)
{
	struct kvm_translation tr = { .linear_address = gva };

	if (ioctl(vcpu->fd, KVM_TRANSLATE, &tr) < 0)
		return -errno;
	if (!tr.valid)
		return -EFAULT;
	*gpa = tr.physical_address;
	return 0;
}

size_t vcpu_read_gva(struct vcpu *vcpu, uint64_t gva, void *buf, size_t len)
{
	uint8_t *out = buf;
	size_t done = 0;

	while (done < len) {
		uint64_t gpa, piece = 0x1000 - ((gva + done) & 0xFFF);

		if (piece > len - done)
			piece = len - done;
		if (vcpu_translate(vcpu, gva + done, &gpa) ||
		    mem_read(vcpu->env->mem, gpa, out + done, piece))
			break;
		done += piece;
	}
	return done;
}

static void dump_code(struct vcpu *vcpu, FILE *out, uint64_t rip)
{
	uint8_t bytes[16];

	if (vcpu_read_gva(vcpu, rip, bytes, sizeof(bytes)) != sizeof(bytes)) {
		fprintf(out, "  code: RIP %016llx does not translate to guest memory\n",
			(unsigned long long)rip);
		return;
	}
	fprintf(out, "  code at RIP %016llx:", (unsigned long long)rip);
	for (unsigned int i = 0; i < sizeof(bytes); i++)
		fprintf(out, " %02x", bytes[i]);
	fprintf(out, "\n");
}

void vcpu_dump_state(struct vcpu *vcpu, FILE *out)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(out, "minivmm: vCPU %u: cannot read registers: %s\n", vcpu->id,
			strerror(errno));
		return;
	}
	fprintf(out, "minivmm: vCPU %u state:\n", vcpu->id);
	fprintf(out, "  rip=%016llx rflags=%016llx\n", r.rip, r.rflags);
	fprintf(out, "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n", r.rax, r.rbx, r.rcx, r.rdx);
	fprintf(out, "  rsi=%016llx rdi=%016llx rbp=%016llx rsp=%016llx\n", r.rsi, r.rdi, r.rbp, r.rsp);
	fprintf(out, "  r8 =%016llx r9 =%016llx r10=%016llx r11=%016llx\n", r.r8, r.r9, r.r10, r.r11);
	fprintf(out, "  r12=%016llx r13=%016llx r14=%016llx r15=%016llx\n", r.r12, r.r13, r.r14, r.r15);
	fprintf(out, "  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%016llx\n",
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	dump_segment(out, "cs", &s.cs);
	dump_segment(out, "ss", &s.ss);
	dump_segment(out, "ds", &s.ds);
	dump_segment(out, "tr", &s.tr);
	fprintf(out, "  gdt=%016llx/%04x idt=%016llx/%04x\n", s.gdt.base, s.gdt.limit,
		s.idt.base, s.idt.limit);
	dump_code(vcpu, out, r.rip);
	fflush(out);
}

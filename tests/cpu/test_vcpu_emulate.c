// SPDX-License-Identifier: MIT
/*
 * vcpu_emulate.c (completing instructions the host's KVM could not
 * emulate) against a fake vCPU: this file defines ioctl(), so every KVM
 * ioctl the code makes lands on a model of one vCPU here — registers,
 * segment registers, FPU, XSAVE state and XCR0, pending events, and a
 * page-granular guest page table for KVM_TRANSLATE — over guest RAM from
 * fake_mem.h.  No /dev/kvm: the decoder's operand forms, every kind the
 * code completes, and the failure paths (unmapped, read-only and device
 * pages, page-crossing areas, misalignment, reserved bits, failing ioctls).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <linux/kvm.h>

#include "base/log.h"
#include "cpu/vcpu.h"
#include "cpu/vcpu_emulate.h"
#include "cpu/x86.h"
#include "fake_mem.h"

#define FAKE_FD   4242
#define RAM_SIZE  0x20000ull
#define DEV_GPA   0x100000ull       /* past RAM: a device page */
#define NR_MAPS   16

/* ---- the fake vCPU ------------------------------------------------------ */

static struct {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_vcpu_events events;
	struct kvm_xsave xsave;
	uint64_t xcr0;
	struct { uint64_t gva, gpa; bool writable; } maps[NR_MAPS];
	unsigned int nr_maps;
	unsigned long fail_req;      /* this request fails with EIO */
	unsigned int set_regs, set_xsave, set_fpu;
} cpu;

int ioctl(int fd, unsigned long req, ...);

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fd != FAKE_FD || req == cpu.fail_req) {
		errno = fd != FAKE_FD ? EBADF : EIO;
		return -1;
	}
	switch (req) {
	case KVM_GET_REGS: memcpy(arg, &cpu.regs, sizeof(cpu.regs)); return 0;
	case KVM_SET_REGS: memcpy(&cpu.regs, arg, sizeof(cpu.regs)); cpu.set_regs++; return 0;
	case KVM_GET_SREGS: memcpy(arg, &cpu.sregs, sizeof(cpu.sregs)); return 0;
	case KVM_SET_SREGS: memcpy(&cpu.sregs, arg, sizeof(cpu.sregs)); return 0;
	case KVM_GET_FPU: memcpy(arg, &cpu.fpu, sizeof(cpu.fpu)); return 0;
	case KVM_SET_FPU: memcpy(&cpu.fpu, arg, sizeof(cpu.fpu)); cpu.set_fpu++; return 0;
	case KVM_GET_VCPU_EVENTS: memcpy(arg, &cpu.events, sizeof(cpu.events)); return 0;
	case KVM_SET_VCPU_EVENTS: memcpy(&cpu.events, arg, sizeof(cpu.events)); return 0;
	case KVM_GET_XSAVE: memcpy(arg, &cpu.xsave, sizeof(cpu.xsave)); return 0;
	case KVM_SET_XSAVE: memcpy(&cpu.xsave, arg, sizeof(cpu.xsave)); cpu.set_xsave++; return 0;
	case KVM_GET_XCRS: {
		struct kvm_xcrs *x = arg;

		memset(x, 0, sizeof(*x));
		x->nr_xcrs = 1;
		x->xcrs[0].xcr = 0;
		x->xcrs[0].value = cpu.xcr0;
		return 0;
	}
	case KVM_TRANSLATE: {
		struct kvm_translation *t = arg;

		t->valid = 0;
		for (unsigned int i = 0; i < cpu.nr_maps; i++) {
			if (cpu.maps[i].gva != (t->linear_address & ~0xFFFull))
				continue;
			t->physical_address = cpu.maps[i].gpa | (t->linear_address & 0xFFF);
			t->valid = 1;
			t->writeable = cpu.maps[i].writable;
		}
		return 0;
	}
	}
	errno = ENOTTY;
	return -1;
}

static void map(uint64_t gva, uint64_t gpa, bool writable)
{
	assert_true(cpu.nr_maps < NR_MAPS);
	cpu.maps[cpu.nr_maps].gva = gva;
	cpu.maps[cpu.nr_maps].gpa = gpa;
	cpu.maps[cpu.nr_maps++].writable = writable;
}

struct fx {
	struct mem_map mem;
	struct vcpu_env env;
	struct vcpu vcpu;
	FILE *quiet;
};

#define CODE 0x401000ull   /* RIP's page, at GPA 0x1000 */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(fake_mem_init_slots(&f->mem, 0, RAM_SIZE / 2, 2, true), 0);
	f->env.mem = &f->mem;
	f->vcpu.fd = FAKE_FD;
	f->vcpu.env = &f->env;
	f->quiet = fopen("/dev/null", "w");
	log_set_sink(f->quiet);
	memset(&cpu, 0, sizeof(cpu));
	cpu.regs.rip = CODE;
	cpu.regs.rflags = 0x2;
	cpu.sregs.cr4 = X86_CR4_OSXSAVE;
	cpu.xcr0 = 3;
	map(CODE, 0x1000, false);
	for (unsigned int p = 2; p < 8; p++)      /* data: gva 0x10000+p*4K -> gpa p*4K */
		map(0x10000 + p * 0x1000ull, p * 0x1000ull, true);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	log_set_sink(NULL);
	fclose(f->quiet);
	fake_mem_destroy(&f->mem);
	free(f);
	return 0;
}

static void code(struct fx *f, const uint8_t *bytes, size_t n)
{
	assert_int_equal(mem_write(&f->mem, 0x1000, bytes, n), 0);
}

#define CODE_BYTES(f, ...) do { \
	const uint8_t b_[] = { __VA_ARGS__ }; \
	code(f, b_, sizeof(b_)); \
} while (0)

static uint8_t *ram(struct fx *f, uint64_t gpa)
{
	return mem_gpa_to_hva(&f->mem, gpa, 1);
}

static int complete(struct fx *f)
{
	return vcpu_complete_unemulated(&f->vcpu);
}

/* ---- tests -------------------------------------------------------------- */

static void test_int3_fwait_clac_stac(void **state)
{
	struct fx *f = *state;

	CODE_BYTES(f, 0xCC);
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.regs.rip, CODE + 1);
	assert_true(cpu.events.exception.injected);
	assert_int_equal(cpu.events.exception.nr, 3);
	assert_int_equal(f->vcpu.exit.stats.unemulated[UNEMULATED_INT3], 1);

	cpu.events.exception.injected = 0;
	cpu.regs.rip = CODE;
	CODE_BYTES(f, 0x9B);
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.regs.rip, CODE + 1);
	assert_false(cpu.events.exception.injected);

	f->vcpu.guest_smap = true;
	cpu.regs.rip = CODE;
	CODE_BYTES(f, 0x0F, 0x01, 0xCB);
	assert_int_equal(complete(f), 0);
	assert_true(cpu.regs.rflags & X86_RFLAGS_AC);
	cpu.regs.rip = CODE;
	CODE_BYTES(f, 0x0F, 0x01, 0xCA);
	assert_int_equal(complete(f), 0);
	assert_false(cpu.regs.rflags & X86_RFLAGS_AC);
	assert_int_equal(cpu.regs.rip, CODE + 3);

	/* Without SMAP in the guest's CPU, clac is #UD and RIP stays. */
	f->vcpu.guest_smap = false;
	cpu.regs.rip = CODE;
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.regs.rip, CODE);
	assert_int_equal(cpu.events.exception.nr, 6);
}

static void test_reflect_int3(void **state)
{
	struct fx *f = *state;

	assert_int_equal(vcpu_reflect_int3(&f->vcpu), 0);
	assert_int_equal(cpu.regs.rip, CODE + 1);
	assert_int_equal(cpu.events.exception.nr, 3);
	cpu.fail_req = KVM_SET_REGS;
	assert_int_equal(vcpu_reflect_int3(&f->vcpu), -EIO);
}

static void test_popcnt_forms(void **state)
{
	struct fx *f = *state;
	uint32_t v = 0xF0F0000F;

	/* popcnt rax, rcx */
	CODE_BYTES(f, 0xF3, 0x48, 0x0F, 0xB8, 0xC1);
	cpu.regs.rcx = 0xFFFF0000FFFF0001ull;
	cpu.regs.rflags |= X86_RFLAGS_ZF;
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.regs.rax, 33);
	assert_false(cpu.regs.rflags & X86_RFLAGS_ZF);
	assert_int_equal(cpu.regs.rip, CODE + 5);

	/* popcnt eax, ecx of 0: ZF, and a 32-bit result zero-extends */
	cpu.regs.rip = CODE;
	cpu.regs.rax = ~0ull;
	cpu.regs.rcx = 0xFFFFFFFF00000000ull;
	CODE_BYTES(f, 0xF3, 0x0F, 0xB8, 0xC1);
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.regs.rax, 0);
	assert_true(cpu.regs.rflags & X86_RFLAGS_ZF);

	/* popcnt ax, gs:[rbx + rcx*4 + 8]: segment base, SIB, disp8, 16-bit merge */
	cpu.regs.rip = CODE;
	cpu.regs.rax = 0x1111222233334444ull;
	cpu.regs.rbx = 0x2000;
	cpu.regs.rcx = 0x10;
	cpu.sregs.gs.base = 0x10000;
	memcpy(ram(f, 0x2000 + 0x40 + 8), &v, 4);
	CODE_BYTES(f, 0x65, 0x66, 0xF3, 0x0F, 0xB8, 0x44, 0x8B, 0x08);
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.regs.rax, 0x1111222233330000ull | 4); /* 0x000F: 4 bits */
	assert_int_equal(cpu.regs.rip, CODE + 8);

	/* popcnt r9, [rip + 0x0FF2]: RIP-relative, from the end of the insn */
	cpu.regs.rip = CODE;
	cpu.sregs.gs.base = 0;
	map(CODE + 0x1000, 0x3000, false);
	memcpy(ram(f, 0x3000), &v, 4);
	CODE_BYTES(f, 0xF3, 0x4C, 0x0F, 0xB8, 0x0D, 0xF7, 0x0F, 0x00, 0x00);
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.regs.r9, 12);

	/* An operand that does not translate: the completion fails. */
	cpu.regs.rip = CODE;
	cpu.regs.rbx = 0x900000;
	CODE_BYTES(f, 0xF3, 0x48, 0x0F, 0xB8, 0x03);
	assert_int_equal(complete(f), -EFAULT);
	assert_int_equal(cpu.regs.rip, CODE);
}

static void test_cmpxchg16b(void **state)
{
	struct fx *f = *state;
	uint64_t m[2] = { 0x1111, 0x2222 }, got[2];

	memcpy(ram(f, 0x2010), m, 16);
	cpu.regs.rsi = 0x12010;
	cpu.regs.rax = 0x1111;
	cpu.regs.rdx = 0x2222;
	cpu.regs.rbx = 0xAAAA;
	cpu.regs.rcx = 0xBBBB;
	CODE_BYTES(f, 0xF0, 0x48, 0x0F, 0xC7, 0x0E);
	assert_int_equal(complete(f), 0);
	memcpy(got, ram(f, 0x2010), 16);
	assert_int_equal(got[0], 0xAAAA);
	assert_int_equal(got[1], 0xBBBB);
	assert_true(cpu.regs.rflags & X86_RFLAGS_ZF);
	assert_int_equal(cpu.regs.rip, CODE + 5);

	/* Not equal: RDX:RAX gets the operand, ZF clear, memory unchanged. */
	cpu.regs.rip = CODE;
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.regs.rax, 0xAAAA);
	assert_int_equal(cpu.regs.rdx, 0xBBBB);
	assert_false(cpu.regs.rflags & X86_RFLAGS_ZF);

	/* Misaligned: #GP(0), RIP stays. */
	cpu.regs.rip = CODE;
	cpu.regs.rsi = 0x12008;
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.events.exception.nr, 13);
	assert_int_equal(cpu.regs.rip, CODE);

	/* A read-only page: not completed, the reason says so. */
	cpu.regs.rsi = CODE + 0x100;
	assert_int_equal(complete(f), -ENOTSUP);
	assert_non_null(strstr(f->vcpu.exit.why, "not mapped writable"));
}

static void test_cmpxchg8b(void **state)
{
	struct fx *f = *state;
	uint64_t m = 0x0000000500000006ull, got;

	memcpy(ram(f, 0x2008), &m, 8);
	cpu.regs.rsi = 0x12008;
	cpu.regs.rax = 0xFFFFFFFF00000001ull; /* 32-bit compare: 1 != 6 */
	cpu.regs.rdx = 5;
	CODE_BYTES(f, 0xF0, 0x0F, 0xC7, 0x0E);
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.regs.rax, 6);  /* loaded, zero-extended */
	assert_int_equal(cpu.regs.rdx, 5);
	assert_false(cpu.regs.rflags & X86_RFLAGS_ZF);
	cpu.regs.rip = CODE;
	cpu.regs.rbx = 0x77;
	cpu.regs.rcx = 0x88;
	assert_int_equal(complete(f), 0);
	memcpy(&got, ram(f, 0x2008), 8);
	assert_int_equal(got, 0x0000008800000077ull);
	assert_true(cpu.regs.rflags & X86_RFLAGS_ZF);
}

static void test_mxcsr(void **state)
{
	struct fx *f = *state;
	uint32_t v = 0x1F80 | 0x40, got;

	/* ldmxcsr [rsp + 4] */
	cpu.regs.rsp = 0x12100;
	memcpy(ram(f, 0x2104), &v, 4);
	CODE_BYTES(f, 0x0F, 0xAE, 0x54, 0x24, 0x04);
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.fpu.mxcsr, v);
	assert_int_equal(cpu.regs.rip, CODE + 5);

	/* stmxcsr [rsp + 8] */
	cpu.regs.rip = CODE;
	CODE_BYTES(f, 0x0F, 0xAE, 0x5C, 0x24, 0x08);
	assert_int_equal(complete(f), 0);
	memcpy(&got, ram(f, 0x2108), 4);
	assert_int_equal(got, v);

	/* A reserved MXCSR bit: #GP(0), MXCSR unchanged. */
	cpu.regs.rip = CODE;
	v = 0x10000;
	memcpy(ram(f, 0x2104), &v, 4);
	CODE_BYTES(f, 0x0F, 0xAE, 0x54, 0x24, 0x04);
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.events.exception.nr, 13);
	assert_int_equal(cpu.fpu.mxcsr, 0x1F80 | 0x40);

	/* KVM_GET_FPU failing is an error, not a guess. */
	cpu.fail_req = KVM_GET_FPU;
	assert_int_equal(complete(f), -EIO);
}

static void test_lsl(void **state)
{
	struct fx *f = *state;
	uint64_t gdt[4] = { 0, 0x00AF9A000000FFFFull, 0x00CF92000000FFFFull, 0x0000E20000001000ull };

	memcpy(ram(f, 0x4000), gdt, sizeof(gdt));
	cpu.sregs.gdt.base = 0x14000;
	cpu.sregs.gdt.limit = sizeof(gdt) - 1;
	cpu.sregs.ldt.unusable = 1;

	/* lsl eax, ecx with selector 0x10: a 4 GiB data segment */
	cpu.regs.rcx = 0x10;
	CODE_BYTES(f, 0x0F, 0x03, 0xC1);
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.regs.rax, 0xFFFFFFFF);
	assert_true(cpu.regs.rflags & X86_RFLAGS_ZF);
	assert_int_equal(cpu.regs.rip, CODE + 3);

	/* The null selector, one past the GDT's limit, an unusable LDT: ZF=0,
	 * the destination unchanged, RIP still moves on. */
	for (unsigned int i = 0; i < 3; i++) {
		static const uint64_t sel[] = { 0, 0x20, 0x14 };

		cpu.regs.rip = CODE;
		cpu.regs.rcx = sel[i];
		cpu.regs.rax = 0x1234;
		assert_int_equal(complete(f), 0);
		assert_int_equal(cpu.regs.rax, 0x1234);
		assert_false(cpu.regs.rflags & X86_RFLAGS_ZF);
		assert_int_equal(cpu.regs.rip, CODE + 3);
	}
}

static uint8_t *area(struct fx *f, uint64_t gpa)
{
	return ram(f, gpa);
}

static void test_xsave_and_xrstor(void **state)
{
	struct fx *f = *state;
	uint8_t *state_bytes = (uint8_t *)cpu.xsave.region;
	uint32_t mx = 0x1F80 | 0x8000, got;
	uint64_t bv;

	memcpy(state_bytes + 24, &mx, 4);                 /* MXCSR in the legacy area */
	bv = 3;
	memcpy(state_bytes + 512, &bv, 8);                /* XSTATE_BV */
	cpu.regs.rdi = 0x15000;
	cpu.regs.rax = ~0u;
	cpu.regs.rdx = ~0u;
	CODE_BYTES(f, 0x0F, 0xAE, 0x27);                  /* xsave [rdi] */
	assert_int_equal(complete(f), 0);
	memcpy(&got, area(f, 0x5000) + 24, 4);
	assert_int_equal(got, mx);
	memcpy(&bv, area(f, 0x5000) + 512, 8);
	assert_int_equal(bv & ~3ull, 0);                  /* only what XCR0 allows */
	assert_int_equal(cpu.regs.rip, CODE + 3);
	assert_int_equal(f->vcpu.exit.stats.unemulated[UNEMULATED_XSAVE], 1);

	/* xrstor [rdi] of an area with another MXCSR: KVM_SET_XSAVE gets it */
	cpu.regs.rip = CODE;
	mx = 0x1F80;
	memcpy(area(f, 0x5000) + 24, &mx, 4);
	CODE_BYTES(f, 0x0F, 0xAE, 0x2F);
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.set_xsave, 1);
	memcpy(&got, state_bytes + 24, 4);
	assert_int_equal(got, mx);

	/* XSTATE_BV with a bit outside XCR0: #GP(0), state untouched */
	cpu.regs.rip = CODE;
	bv = 7;
	memcpy(area(f, 0x5000) + 512, &bv, 8);
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.events.exception.nr, 13);
	assert_int_equal(cpu.set_xsave, 1);
	assert_int_equal(cpu.regs.rip, CODE);

	/* The compacted form: not completed, with the reason. */
	bv = 3;
	memcpy(area(f, 0x5000) + 512, &bv, 8);
	bv = 1ull << 63 | 3;
	memcpy(area(f, 0x5000) + 520, &bv, 8);
	assert_int_equal(complete(f), -ENOTSUP);
	assert_non_null(strstr(f->vcpu.exit.why, "compacted"));

	/* A misaligned area: #GP(0). */
	cpu.regs.rdi = 0x15020;
	cpu.events.exception.nr = 0;
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.events.exception.nr, 13);
}

static void test_xsave_page_faults(void **state)
{
	struct fx *f = *state;

	/* The area starts 64 bytes before the end of the last mapped page:
	 * the next page (gva 0x18000) is not mapped -> #PF there, not-present,
	 * a write for xsave, and nothing stored. */
	cpu.regs.rdi = 0x17FC0;
	cpu.regs.rax = 3;
	memset(area(f, 0x7FC0), 0x5A, 64);
	CODE_BYTES(f, 0x0F, 0xAE, 0x27);
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.events.exception.nr, 14);
	assert_int_equal(cpu.events.exception.error_code, 2);
	assert_int_equal(cpu.sregs.cr2, 0x18000);
	assert_int_equal(cpu.regs.rip, CODE);
	assert_int_equal(area(f, 0x7FC0)[0], 0x5A);

	/* A read-only but present page for xsave: #PF with P|W at the area. */
	cpu.regs.rdi = CODE + 0x400;
	assert_int_equal(complete(f), 0);
	assert_int_equal(cpu.events.exception.error_code, 3);
	assert_int_equal(cpu.sregs.cr2, CODE + 0x400);

	/* xrstor from a device page: not RAM, not completed. */
	map(0x30000, DEV_GPA, true);
	cpu.regs.rdi = 0x30000;
	CODE_BYTES(f, 0x0F, 0xAE, 0x2F);
	assert_int_equal(complete(f), -ENOTSUP);
}

static void test_unknown_and_unreadable(void **state)
{
	struct fx *f = *state;

	CODE_BYTES(f, 0x0F, 0x05, 0x90, 0x90);
	assert_int_equal(complete(f), -ENOTSUP);
	assert_non_null(strstr(f->vcpu.exit.why, "0f 05 90 90"));

	cpu.regs.rip = 0x7000000;      /* not mapped */
	assert_int_equal(complete(f), -ENOTSUP);
	assert_non_null(strstr(f->vcpu.exit.why, "bytes unreadable"));
}

static void test_ioctl_failures(void **state)
{
	struct fx *f = *state;
	static const unsigned long reqs[] = { KVM_GET_REGS, KVM_GET_SREGS, KVM_SET_REGS };

	CODE_BYTES(f, 0x9B);
	for (unsigned int i = 0; i < 3; i++) {
		cpu.fail_req = reqs[i];
		cpu.regs.rip = CODE;
		assert_int_equal(complete(f), -EIO);
	}
	CODE_BYTES(f, 0xCC);
	cpu.fail_req = KVM_SET_VCPU_EVENTS;
	assert_int_equal(complete(f), -EIO);
	CODE_BYTES(f, 0x0F, 0xAE, 0x27);
	cpu.regs.rip = CODE;
	cpu.regs.rdi = 0x15000;
	cpu.fail_req = KVM_GET_XSAVE;
	assert_int_equal(complete(f), -EIO);
	CODE_BYTES(f, 0x0F, 0xAE, 0x2F);
	cpu.fail_req = KVM_SET_XSAVE;
	memset(area(f, 0x5000) + 512, 0, 64);
	assert_int_equal(complete(f), -EIO);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_int3_fwait_clac_stac),
		T(test_reflect_int3),
		T(test_popcnt_forms),
		T(test_cmpxchg16b),
		T(test_cmpxchg8b),
		T(test_mxcsr),
		T(test_lsl),
		T(test_xsave_and_xrstor),
		T(test_xsave_page_faults),
		T(test_unknown_and_unreadable),
		T(test_ioctl_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

// SPDX-License-Identifier: MIT
/*
 * Guest program of the linux-vector-state test: do user processes keep
 * their own vector registers across context switches?
 *
 * Two processes each fill registers with their own pattern -- the upper
 * halves of ymm7 (XSAVE component 2, AVX), zmm7's upper 256 bits
 * (component 6), zmm20 (component 7) and k3 (component 5), the AVX-512
 * ones only when the CPU and the OS have them -- then yield to each other
 * thousands of times and check after every yield that the registers still
 * hold their pattern.  A guest kernel that context-switches only the
 * FXSAVE state while user space runs with AVX enabled lets one process
 * see the other's values.  The system call is issued inline: a call to a
 * libc function may execute vzeroupper.  Built without -mavx*: the
 * compiler itself then never touches these registers (which is also why
 * zmm20 and k3 need no clobber).
 *
 * `vecstate` checks the AVX registers only (what a process that leaves
 * AVX-512 alone relies on) and prints "MINIVMM-MARKER
 * vector_state=clean|leaked|unsupported"; `vecstate avx512` adds the
 * AVX-512 ones and prints "avx512_state=clean|leaked|absent".  A line per
 * process gives its counts.
 */
#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 4000
#define SPIN 256

static void yield(void)
{
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "a"(24L /* sched_yield */) : "rcx", "r11", "memory");
}

static void load(const uint8_t *want, uint64_t kwant, int avx512)
{
	__asm__ volatile("vmovdqu %0, %%ymm7" : : "m"(*(const uint8_t(*)[32])want) : "xmm7");
	if (avx512)
		__asm__ volatile("vmovdqu64 %0, %%zmm20\n\t"
				 "vmovdqu64 %0, %%zmm7\n\t"
				 "kmovq %1, %%k3"
				 : : "m"(*(const uint8_t(*)[64])want), "m"(kwant) : "xmm7");
}

/* Exit status: bit 0 the AVX registers leaked, bit 1 the AVX-512 ones. */
static int child(int id, int avx512)
{
	uint8_t want[64], got[64];
	uint64_t kwant = 0x5A5A0000ULL + (uint64_t)id, kgot = 0;
	long ymm_leaks = 0, zmm_leaks = 0;

	memset(want, 0x40 + id, sizeof(want));
	load(want, kwant, avx512);
	for (int r = 0; r < ROUNDS; r++) {
		yield();
		for (int s = 0; s < SPIN; s++) {
			int ymm_bad, zmm_bad = 0;

			/* ymm7 as a whole: XMM (component 1) and YMM_Hi128 (2). */
			__asm__ volatile("vmovdqu %%ymm7, %0" : "=m"(*(uint8_t(*)[32])got));
			ymm_bad = memcmp(got, want, 32) != 0;
			if (avx512) {
				/* ZMM_Hi256 (6), Hi16_ZMM (7), opmask (5). */
				__asm__ volatile("vmovdqu64 %%zmm7, %0" : "=m"(*(uint8_t(*)[64])got));
				zmm_bad = memcmp(got + 32, want + 32, 32) != 0;
				__asm__ volatile("vmovdqu64 %%zmm20, %0" : "=m"(*(uint8_t(*)[64])got));
				zmm_bad |= memcmp(got, want, 64) != 0;
				__asm__ volatile("kmovq %%k3, %0" : "=m"(kgot));
				zmm_bad |= kgot != kwant;
			}
			if (ymm_bad || zmm_bad) {
				ymm_leaks += ymm_bad;
				zmm_leaks += zmm_bad;
				load(want, kwant, avx512);
				break;
			}
		}
	}
	/* Only now, after the loop: printf itself may use vector registers. */
	printf("vecstate: process %d: %d yields; rounds that saw another process's "
	       "registers: AVX %ld, AVX-512 %ld\n", id, ROUNDS, ymm_leaks, zmm_leaks);
	return (ymm_leaks ? 1 : 0) | (zmm_leaks ? 2 : 0);
}

int main(int argc, char **argv)
{
	unsigned int a, b, c, d, xcr0_lo = 0, xcr0_hi = 0;
	int avx512 = 0, status, leaked = 0;

	setvbuf(stdout, NULL, _IONBF, 0);
	__cpuid(1, a, b, c, d);
	if (!(c & (1u << 27)) || !(c & (1u << 28))) { /* OSXSAVE, AVX */
		printf("MINIVMM-MARKER vector_state=unsupported\n");
		return 0;
	}
	__asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
	__cpuid_count(7, 0, a, b, c, d);
	avx512 = (b & (1u << 16)) && (xcr0_lo & 0xE6) == 0xE6;
	if (argc > 1 && !strcmp(argv[1], "avx512")) {
		if (!avx512) {
			printf("MINIVMM-MARKER avx512_state=absent\n");
			return 0;
		}
	} else {
		avx512 = 0;
	}
	printf("vecstate: XCR0 %x, checking %s\n", xcr0_lo,
	       avx512 ? "ymm7, zmm7, zmm20, k3" : "ymm7");
	for (int id = 0; id < 2; id++)
		if (fork() == 0)
			return child(id, avx512);
	while (wait(&status) > 0)
		leaked |= WIFEXITED(status) ? WEXITSTATUS(status) : 3;
	if (avx512)
		printf("MINIVMM-MARKER avx512_state=%s\n", leaked & 2 ? "leaked" : "clean");
	else
		printf("MINIVMM-MARKER vector_state=%s\n", leaked & 1 ? "leaked" : "clean");
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The freestanding runtime shared by minivmm's test guests.
 *
 * A guest provides `int main(const void *fdt)`; it runs in ring 3 with
 * interrupts off, and its return value leaves through the debug-exit port.
 * Ring 0 is reached only through ring0_call() (see start.S for why).
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asm_defs.h"
#include "board.h"

int main(const void *fdt);

/* ---- CPU and ports ------------------------------------------------------ */

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* Leave through the debug-exit port: minivmm exits with `status`. */
__attribute__((noreturn)) void guest_exit(int status);

/*
 * Run fn(arg) in ring 0 (interrupts off, on the RSP0 stack) and return its
 * result.  Costs a #UD round trip; every ring-0 instruction is emulated on
 * PVM hosts, so keep fn tiny.
 */
uint64_t ring0_call(uint64_t (*fn)(uint64_t), uint64_t arg);
/* Ring-0 function for ring0_call(): `sti; hlt; cli`, i.e. wait for one IRQ. */
uint64_t r0_wait_irq(uint64_t unused);
/* Bit n is set when PIC vector GUEST_IRQ_BASE + n was taken. */
extern volatile uint16_t irq_pending;
/* Atomically read and clear irq_pending. */
static inline uint16_t irq_take(void)
{
	return __atomic_exchange_n(&irq_pending, 0, __ATOMIC_SEQ_CST);
}

/* Image bounds from the linker script (the guest's code, data and stacks):
 * loaded bytes end at __load_end, __image_end is that rounded up to a page. */
extern char __image_start[], __load_end[], __image_end[];

/* ---- console (COM1, polled) -------------------------------------------- */

void putchar_raw(char c);	/* byte as is */
void putstr(const char *s);	/* "\n" becomes "\r\n" */
__attribute__((format(printf, 1, 2))) int printf(const char *fmt, ...);
int vprintf(const char *fmt, va_list ap);
/* %s %c %d %u %x %p with l/ll/z length, '0' or '-' flag, width; %% */
__attribute__((format(printf, 3, 4)))
int snprintf(char *buf, size_t size, const char *fmt, ...);

/* ---- strings ------------------------------------------------------------ */

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* ---- device tree -------------------------------------------------------- */

#define FDT_MAX_MEM	1024
#define FDT_MAX_RSV	64
#define FDT_MAX_BOOTARGS 1024

struct mem_range {
	uint64_t base;
	uint64_t size;
};

struct fdt_info {
	unsigned int n_mem;		/* /memory@ reg entries, in FDT order */
	struct mem_range mem[FDT_MAX_MEM];
	unsigned int n_rsv;		/* memory reservation block */
	struct mem_range rsv[FDT_MAX_RSV];
	unsigned int n_cpus;		/* /cpus/cpu@N nodes */
	uint32_t addr_cells, size_cells;	/* root #address/#size-cells */
	bool truncated;			/* more entries than fit above */
	char bootargs[FDT_MAX_BOOTARGS];	/* "" if no /chosen/bootargs */
};

/* Parse the (read-only) FDT into *info.  0, or a negative error; see
 * fdt_strerror(). */
int fdt_parse(const void *fdt, struct fdt_info *info);
const char *fdt_strerror(int err);
uint64_t fdt_ram_bytes(const struct fdt_info *info);
uint64_t fdt_ram_top(const struct fdt_info *info);

/*
 * Parse the FDT or die: prints "<who>: bad device tree (...)" and exits
 * GUEST_EXIT_CONTRACT.  The result lives in static storage.
 */
const struct fdt_info *fdt_info_or_die(const char *who, const void *fdt);

/* ---- bootargs (whitespace-separated key=value) -------------------------- */

/* Copy the value of `key` into val (NUL-terminated); false if absent. */
bool bootarg_get(const char *args, const char *key, char *val, size_t len);
/* Decimal or 0x-hex with optional K/M/G suffix; `def` if absent.  A
 * malformed value prints an error and exits GUEST_EXIT_CONTRACT. */
uint64_t bootarg_u64(const char *args, const char *key, uint64_t def);

#endif

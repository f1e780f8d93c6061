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
#include "abi/board.h"
#include "abi/mmu_port.h"
#include "abi/paging.h"

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

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
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

/*
 * Ring-0 #PF hook: when set, every page fault first calls pf_hook(CR2, error
 * code) in ring 0 (interrupts off, on the RSP0 stack, caller-saved registers
 * preserved by the stub).  Return 0 when the fault is resolved: iretq retries
 * the access.  Nonzero: the fault is reported as usual (exit 12).  It runs
 * emulated on PVM hosts: no printf, a few dozen instructions at most.
 */
extern int (*volatile pf_hook)(uint64_t cr2, uint64_t err);

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

/* The /minivmm-mmu node (board.h "MMU protocol"). */
struct fdt_mmu {
	bool shadow;			/* mode = "shadow" (else "tdp") */
	bool lazy;			/* fill = "lazy" (shadow mode only) */
	uint64_t mailbox, mailbox_size;
	uint64_t pool, pool_size;
	uint64_t pool_free;		/* first pool byte the guest may use */
	uint64_t boot_root;		/* page-table root at entry */
	uint32_t io_port;
	const char *bad;		/* NULL, or why the node is unusable */
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
	bool has_mmu;			/* /minivmm-mmu present */
	struct fdt_mmu mmu;		/* valid if has_mmu && !mmu.bad */
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

/* ---- MMU protocol (board.h "MMU protocol"; lib/mmu.c) -------------------- */

/* errno values as the VMM returns them (negated) in the mailbox. */
#define GUEST_ENOMEM	12
#define GUEST_EFAULT	14
#define GUEST_EEXIST	17	/* ours: mmu_map found something in the way */
#define GUEST_ENODEV	19	/* ours: nobody answered the command port */
#define GUEST_EINVAL	22
#define GUEST_ENOSPC	28
#define GUEST_ENOSYS	38

/*
 * Check the /minivmm-mmu node against the mode port and set up the pool
 * allocator; everything below needs it.  Prints "<who>: ..." and exits
 * GUEST_EXIT_CONTRACT when the VMM does not offer the protocol.
 */
void mmu_init_or_die(const char *who, const struct fdt_info *info);
unsigned int mmu_mode(void);			/* MMU_PORT_TDP / _SHADOW */
const struct fdt_mmu *mmu_info(void);
/* End of the RAM that starts at address 0 (what the identity map may
 * cover). */
uint64_t mmu_low_ram_end(void);

/* The mailbox field at `offset` (MMU_MB_*), through its identity mapping. */
static inline volatile uint64_t *mmu_mailbox(unsigned int offset)
{
	return (volatile uint64_t *)(BOARD_MMU_MAILBOX + offset);
}

/* Run MMU_CMD_* with its arguments already in the mailbox: RESULT, or
 * -GUEST_ENODEV if the port did not answer.  Ring-0 safe. */
int64_t mmu_command(uint32_t cmd);

/*
 * Address-space control: 0 or a negative errno.  tdp: mov %cr3 / invlpg /
 * a CR3 reload, in ring 0 through ring0_call(); shadow: the commands (the
 * guest never loads CR3 itself).  Callable from ring 3, and from ring 0
 * (in tdp mode at the price of a nested #UD round trip).
 */
/* Shadow mode: keep [gva, gva+len) filled in every root (MMU_CMD_PIN). */
int64_t mmu_pin(uint64_t gva, uint64_t len);
int64_t mmu_load_root(uint64_t root);
int64_t mmu_invlpg(uint64_t gva);
int64_t mmu_flush(void);

/* A measured phase (both modes); issue from ring 3.  0 or a negative errno. */
int64_t mmu_phase_begin(const char *name);
int64_t mmu_phase_end(const char *name, uint64_t cycles, uint64_t checksum,
		      uint64_t ops);

/*
 * Classify a page fault, for a pf_hook.  Shadow mode asks the VMM: MMU_OK
 * (a hidden fault, fixed: retry), MMU_PF_GUEST (a true fault; *guest_err
 * gets its error code), MMU_PF_REFUSED, or a negative errno.  In tdp mode
 * every fault is a true one.  Ring-0 safe.
 */
int64_t mmu_page_fault(uint64_t cr2, uint64_t err, uint64_t *guest_err);

/*
 * Page-table pages from the pool.  Handed out zeroed (the pool starts
 * zeroed; nothing is memset, since in shadow mode every pool write is a VM
 * exit) and must be zero again when freed: clear only the entries you set.
 * mmu_pt_alloc() returns 0 when the pool is exhausted.  Ring-0 safe.
 */
uint64_t mmu_pt_alloc(void);
void mmu_pt_free(uint64_t table);
uint64_t mmu_pt_in_use(void);		/* pages, boot tables excluded */

/* One entry: a single 8-byte access through the pool's identity mapping
 * (one trapped write in shadow mode). */
static inline void mmu_pte_set(uint64_t table, unsigned int idx, uint64_t v)
{
	((volatile uint64_t *)table)[idx] = v;
}

static inline uint64_t mmu_pte_get(uint64_t table, unsigned int idx)
{
	return ((volatile uint64_t *)table)[idx];
}

/*
 * Builders (no TLB maintenance: changing a present entry of a loaded root
 * also needs mmu_invlpg / mmu_flush).
 *  - mmu_space_new(ident_top): a fresh root (0: pool exhausted or ident_top
 *    beyond mmu_low_ram_end()).  Its first 512 GiB (PML4 entry 0) are one
 *    identity map shared by every space: RAM [0, ident_top) (rounded up to
 *    2 MiB, and at least the image; a later call with a larger ident_top
 *    extends it for all spaces), the mailbox and the pool, writable and
 *    user-accessible.  A guest's own mappings go at 512 GiB and up.
 *  - mmu_slot(): the table and index of the entry at `level` (PT_LEVEL_*)
 *    in gva's walk, allocating the tables above it: 0, -GUEST_ENOMEM, or
 *    -GUEST_EEXIST when a large page is in the way.  Ring-0 safe.
 *  - mmu_map(): map one page (PAGE_SIZE_4K or PAGE_SIZE_2M; PTE_PS is added
 *    for 2 MiB) with `flags`: 0, -GUEST_ENOMEM, -GUEST_EEXIST (already
 *    mapped) or -GUEST_EINVAL (bad size or alignment).
 */
uint64_t mmu_space_new(uint64_t ident_top);
int mmu_slot(uint64_t root, uint64_t gva, unsigned int level, uint64_t *table,
	     unsigned int *idx);
int mmu_map(uint64_t root, uint64_t gva, uint64_t gpa, uint64_t size,
	    uint64_t flags);

#endif

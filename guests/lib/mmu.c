/* SPDX-License-Identifier: MIT */
/*
 * Guest side of minivmm's MMU protocol (board.h "MMU protocol"): the mode,
 * the command port and mailbox, root loads and invalidations for both modes,
 * a page-table page allocator over the pool and a small page-table builder.
 *
 * Cost model (PVM host): ring-3 code is native, a ring-0 instruction ~0.6 us,
 * a VM exit (port command, or in shadow mode every pool write) 30-70 us.  So
 * tables are written one entry at a time and only where an entry changes,
 * the pool is never memset (it starts zeroed and freed pages must come back
 * zeroed), and the functions a #PF hook uses are short and ring-0 safe: no
 * printf, no ring0_call needed in shadow mode.
 */
#include "guest.h"

/* Written to RESULT before each command: still there afterwards means that
 * nobody handled the port (an older VMM drops unclaimed writes). */
#define MMU_NO_ANSWER	0x4e4f2d414e535752ULL

#define FREE_MAX	256	/* freed pages kept for reuse; more leak */

static const struct fdt_mmu *mmu;
static unsigned int mode;
static uint16_t port;
static uint64_t low_ram_end;

static uint64_t pool_next, pool_end, pages_in_use;
static uint64_t free_pages[FREE_MAX];
static unsigned int n_free;

/* Identity map shared by every space: its root's entry 0 is copied into
 * each new root, so later extensions of the PDPT below show up everywhere. */
static uint64_t ident_root, ident_top;

unsigned int mmu_mode(void)
{
	return mode;
}

const struct fdt_mmu *mmu_info(void)
{
	return mmu;
}

uint64_t mmu_low_ram_end(void)
{
	return low_ram_end;
}

/* RAM that starts at 0 and continues without a gap (ranges may touch). */
static uint64_t find_low_ram_end(const struct fdt_info *info)
{
	uint64_t end = 0;
	bool grew = true;

	while (grew) {
		grew = false;
		for (unsigned int i = 0; i < info->n_mem; i++) {
			const struct mem_range *r = &info->mem[i];

			if (r->base <= end && r->base + r->size > end) {
				end = r->base + r->size;
				grew = true;
			}
		}
	}
	return end;
}

static __attribute__((noreturn)) void die(const char *who, const char *why)
{
	printf("%s: FAIL: %s\n", who, why);
	guest_exit(GUEST_EXIT_CONTRACT);
}

/* Shadow mode without a hook would die at the first hidden fault (lazy
 * fill, or eager fill past a full store): retry those, report the rest. */
static int hidden_fault_hook(uint64_t cr2, uint64_t err)
{
	uint64_t guest_err;

	return mmu_page_fault(cr2, err, &guest_err) != MMU_OK;
}

void mmu_init_or_die(const char *who, const struct fdt_info *info)
{
	const struct fdt_mmu *m = &info->mmu;

	if (!info->has_mmu)
		die(who, "no /minivmm-mmu node in the device tree (minivmm too old?)");
	if (m->bad) {
		printf("%s: FAIL: /minivmm-mmu: %s\n", who, m->bad);
		guest_exit(GUEST_EXIT_CONTRACT);
	}
	if (m->mailbox != BOARD_MMU_MAILBOX)
		die(who, "the mailbox is not at BOARD_MMU_MAILBOX");
	if (m->pool + m->pool_size > BOARD_MMIO_HOLE_END)
		die(who, "the pool is not below 4 GiB");
	if (m->io_port > 0xfffc)
		die(who, "io-port out of range");
	mmu = m;
	port = (uint16_t)m->io_port;
	mode = inl(port);
	if (mode != (m->shadow ? MMU_PORT_SHADOW : MMU_PORT_TDP)) {
		printf("%s: FAIL: the MMU port says mode %u, the device tree \"%s\"\n",
		       who, mode, m->shadow ? "shadow" : "tdp");
		guest_exit(GUEST_EXIT_CONTRACT);
	}
	low_ram_end = find_low_ram_end(info);
	pool_next = m->pool_free;
	pool_end = m->pool + m->pool_size;
	if (mode == MMU_PORT_SHADOW) {
		pf_hook = hidden_fault_hook;
		/*
		 * With lazy fill a freshly loaded root is empty: pin what the
		 * CPU and the #PF hook touch before a fault can be answered
		 * (GDT and TSS, the image with the IDT, handler code, data
		 * and stacks, and the mailbox).
		 */
		if (mmu_pin(BOARD_BOOT_GDT, BOARD_BOOT_TSS + BOARD_BOOT_TSS_SIZE - BOARD_BOOT_GDT) ||
		    mmu_pin((uint64_t)__image_start,
			    (uint64_t)(__image_end - __image_start)) ||
		    mmu_pin(BOARD_MMU_MAILBOX, PAGE_SIZE_4K))
			die(who, "MMU_CMD_PIN failed");
	}
}

int64_t mmu_pin(uint64_t gva, uint64_t len)
{
	*mmu_mailbox(MMU_MB_ARG0) = gva;
	*mmu_mailbox(MMU_MB_ARG1) = len;
	return mmu_command(MMU_CMD_PIN);
}

/* ---- commands ------------------------------------------------------------ */

int64_t mmu_command(uint32_t cmd)
{
	volatile uint64_t *res = mmu_mailbox(MMU_MB_RESULT);
	uint64_t r;

	*res = MMU_NO_ANSWER;
	outl(port, cmd);
	r = *res;
	return r == MMU_NO_ANSWER ? -GUEST_ENODEV : (int64_t)r;
}

static uint64_t r0_load_cr3(uint64_t root)
{
	__asm__ volatile("mov %0, %%cr3" : : "r"(root) : "memory");
	return 0;
}

static uint64_t r0_invlpg(uint64_t gva)
{
	__asm__ volatile("invlpg (%0)" : : "r"(gva) : "memory");
	return 0;
}

/* No global pages are ever set (CR4.PGE is off), so a CR3 reload flushes
 * every translation. */
static uint64_t r0_flush(uint64_t unused)
{
	uint64_t cr3;

	(void)unused;
	__asm__ volatile("mov %%cr3, %0\n\tmov %0, %%cr3" : "=r"(cr3) : : "memory");
	return 0;
}

int64_t mmu_load_root(uint64_t root)
{
	if (mode == MMU_PORT_TDP)
		return (int64_t)ring0_call(r0_load_cr3, root);
	*mmu_mailbox(MMU_MB_ARG0) = root;
	return mmu_command(MMU_CMD_LOAD_ROOT);
}

int64_t mmu_invlpg(uint64_t gva)
{
	if (mode == MMU_PORT_TDP)
		return (int64_t)ring0_call(r0_invlpg, gva);
	*mmu_mailbox(MMU_MB_ARG0) = gva;
	return mmu_command(MMU_CMD_INVLPG);
}

int64_t mmu_flush(void)
{
	if (mode == MMU_PORT_TDP)
		return (int64_t)ring0_call(r0_flush, 0);
	return mmu_command(MMU_CMD_FLUSH);
}

int64_t mmu_page_fault(uint64_t cr2, uint64_t err, uint64_t *guest_err)
{
	int64_t r;

	*guest_err = err;
	if (mode == MMU_PORT_TDP)
		return MMU_PF_GUEST;
	*mmu_mailbox(MMU_MB_ARG0) = cr2;
	*mmu_mailbox(MMU_MB_ARG1) = err;
	r = mmu_command(MMU_CMD_PAGE_FAULT);
	if (r == MMU_PF_GUEST)
		*guest_err = *mmu_mailbox(MMU_MB_RESULT2);
	return r;
}

static void put_name(const char *name)
{
	volatile char *p = (volatile char *)mmu_mailbox(MMU_MB_NAME);
	unsigned int i;

	for (i = 0; i < MMU_MB_NAME_MAX - 1 && name[i]; i++)
		p[i] = name[i];
	p[i] = '\0';
}

int64_t mmu_phase_begin(const char *name)
{
	put_name(name);
	return mmu_command(MMU_CMD_PHASE_BEGIN);
}

int64_t mmu_phase_end(const char *name, uint64_t cycles, uint64_t checksum,
		      uint64_t ops)
{
	put_name(name);
	*mmu_mailbox(MMU_MB_CYCLES) = cycles;
	*mmu_mailbox(MMU_MB_CHECKSUM) = checksum;
	*mmu_mailbox(MMU_MB_OPS) = ops;
	return mmu_command(MMU_CMD_PHASE_END);
}

/* ---- pool pages ---------------------------------------------------------- */

uint64_t mmu_pt_alloc(void)
{
	uint64_t page = 0;

	if (n_free) {
		page = free_pages[--n_free];
	} else if (pool_next < pool_end) {
		page = pool_next;
		pool_next += PAGE_SIZE_4K;
	}
	pages_in_use += page != 0;
	return page;
}

void mmu_pt_free(uint64_t table)
{
	pages_in_use--;
	if (n_free < FREE_MAX)
		free_pages[n_free++] = table;
}

uint64_t mmu_pt_in_use(void)
{
	return pages_in_use;
}

/* ---- builders ------------------------------------------------------------ */

int mmu_slot(uint64_t root, uint64_t gva, unsigned int level, uint64_t *table,
	     unsigned int *idx)
{
	uint64_t t = root;

	for (unsigned int l = 0; l < level; l++) {
		unsigned int i = PT_INDEX(gva, l);
		uint64_t e = mmu_pte_get(t, i);

		if (!(e & PTE_P)) {
			uint64_t child = mmu_pt_alloc();

			if (!child)
				return -GUEST_ENOMEM;
			/* Rights are decided at the leaf. */
			e = child | PTE_P_RW_US;
			mmu_pte_set(t, i, e);
		} else if (e & PTE_PS) {
			return -GUEST_EEXIST;
		}
		t = e & PTE_ADDR_MASK;
	}
	*table = t;
	*idx = PT_INDEX(gva, level);
	return 0;
}

int mmu_map(uint64_t root, uint64_t gva, uint64_t gpa, uint64_t size,
	    uint64_t flags)
{
	unsigned int level = size == PAGE_SIZE_2M ? PT_LEVEL_PD : PT_LEVEL_PT;
	unsigned int idx;
	uint64_t table;
	int err;

	if ((size != PAGE_SIZE_4K && size != PAGE_SIZE_2M) ||
	    ((gva | gpa) & (size - 1)))
		return -GUEST_EINVAL;
	err = mmu_slot(root, gva, level, &table, &idx);
	if (err)
		return err;
	if (mmu_pte_get(table, idx) & PTE_P)
		return -GUEST_EEXIST;
	mmu_pte_set(table, idx, gpa | flags | (level == PT_LEVEL_PD ? PTE_PS : 0));
	return 0;
}

/* Identity-map [a, b) with 2 MiB pages where they fit, else 4 KiB ones. */
static int map_ident(uint64_t a, uint64_t b)
{
	while (a < b) {
		uint64_t size = !(a & (PAGE_SIZE_2M - 1)) && b - a >= PAGE_SIZE_2M ?
				PAGE_SIZE_2M : PAGE_SIZE_4K;
		int err = mmu_map(ident_root, a, a, size, PTE_P_RW_US);

		if (err)
			return err;
		a += size;
	}
	return 0;
}

uint64_t mmu_space_new(uint64_t top)
{
	uint64_t root;

	top = (top + PAGE_SIZE_2M - 1) & ~(PAGE_SIZE_2M - 1);
	if (top < (uint64_t)__image_end)
		top = ((uint64_t)__image_end + PAGE_SIZE_2M - 1) & ~(PAGE_SIZE_2M - 1);
	if (top > low_ram_end || top > BOARD_MMIO_HOLE_START)
		return 0;
	if (!ident_root) {
		ident_root = mmu_pt_alloc();
		if (!ident_root ||
		    map_ident(mmu->mailbox, mmu->mailbox + PAGE_SIZE_4K) ||
		    map_ident(mmu->pool, mmu->pool + mmu->pool_size))
			return 0;
	}
	if (top > ident_top) {
		if (map_ident(ident_top, top))
			return 0;
		ident_top = top;
	}
	root = mmu_pt_alloc();
	if (root)
		mmu_pte_set(root, 0, mmu_pte_get(ident_root, 0));
	return root;
}

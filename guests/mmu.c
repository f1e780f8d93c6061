/* SPDX-License-Identifier: MIT */
/*
 * MMU workloads for comparing --mmu=tdp with --mmu=shadow (eager or lazy
 * fill).  Each workload builds its own page tables in the pool (lib/mmu.c:
 * a shared identity map of low RAM, the mailbox and the pool, plus its own
 * mappings at WORK_GVA), loads the root and runs its measured loop in ring 3
 * between mmu_phase_begin/mmu_phase_end.  The checksum folds values read
 * back from memory written with a deterministic pattern, so it is the same
 * in every mode; a wrong or stale translation changes it.
 *
 * bootargs (sizes take K/M/G):
 *   workload=W[,W...]  tlb-4k, tlb-2m, pt-churn, as-switch, demand, all
 *                      (default: the five), bad-root, bad-table, bad-pin,
 *                      trap-cost (bench/run.py)
 *   seed=N             pattern and random-order seed (default 1)
 *   ws=64M reads=4M    tlb-*: working set, random dependent 8-byte reads
 *   iters=384 batch=8 frames=64
 *                      pt-churn: iterations of map `batch` pages onto
 *                      `frames` data frames / touch / unmap + invlpg
 *   k=8 switches=8192 sw-reads=8
 *                      as-switch: address spaces, root loads, reads each
 *   pages=2048         demand: pages first touched through the #PF hook
 */
#include "guest.h"

#define WORK_GVA	0x0000008000000000ULL	/* PML4 slot 1: clear of the identity map */
#define GOLDEN		0x9E3779B97F4A7C15ULL
#define MAX_SPACES	64
#define WORDS_4K	(PAGE_SIZE_4K / 8)

struct params {
	uint64_t seed;
	uint64_t ws, reads;
	uint64_t iters, batch, frames;
	uint64_t k, switches, sw_reads;
	uint64_t pages;
};

struct workload {
	const char *name;
	bool in_all;
	uint64_t (*need)(const struct params *p);	/* data bytes */
	int (*run)(const struct params *p);
};

static uint64_t data_base;	/* 2 MiB aligned RAM above the image */
static uint64_t tlb_sums[2];
static unsigned int tlb_done;

/* ---- helpers --------------------------------------------------------------- */

static uint64_t mix(uint64_t x)		/* a 64-bit finaliser (splitmix64's) */
{
	x ^= x >> 30;
	x *= 0xBF58476D1CE4E5B9ULL;
	x ^= x >> 27;
	x *= 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* The value word i of a workload's data holds. */
static uint64_t pat(uint64_t seed, uint64_t i)
{
	return mix(seed + i * GOLDEN);
}

static uint64_t rng_next(uint64_t *s)
{
	*s += GOLDEN;
	return mix(*s);
}

/* r scaled to [0, n) without a division. */
static uint64_t below(uint64_t r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)r * n) >> 64);
}

static uint64_t fold(uint64_t sum, uint64_t v)
{
	return (sum << 7 | sum >> 57) ^ v;
}

static __attribute__((noreturn)) void fail(const char *wl, const char *what,
					   int64_t err)
{
	printf("mmu: %s: FAIL: %s (%ld)\n", wl, what, err);
	guest_exit(GUEST_EXIT_FAIL);
}

static uint64_t new_space(const char *wl, uint64_t data_top)
{
	uint64_t root = mmu_space_new(data_top);

	if (!root)
		fail(wl, "cannot build an address space (page-table pool full?)", 0);
	return root;
}

static void map(const char *wl, uint64_t root, uint64_t gva, uint64_t gpa,
		uint64_t size)
{
	int err = mmu_map(root, gva, gpa, size, PTE_P_RW_US);

	if (err)
		fail(wl, "mmu_map", err);
}

static void load(const char *wl, uint64_t root)
{
	int64_t err = mmu_load_root(root);

	if (err)
		fail(wl, "mmu_load_root", err);
}

static void phase_begin(const char *wl)
{
	int64_t err = mmu_phase_begin(wl);

	if (err)
		fail(wl, "PHASE_BEGIN", err);
}

/* Ends the phase and prints the workload's line; `extra` may be "". */
static void phase_end(const char *wl, uint64_t cycles, uint64_t sum,
		      uint64_t ops, const char *extra)
{
	int64_t err = mmu_phase_end(wl, cycles, sum, ops);

	if (err)
		fail(wl, "PHASE_END", err);
	printf("mmu: %s checksum=0x%016lx cycles=%lu ops=%lu cycles/op=%lu%s\n",
	       wl, sum, cycles, ops, ops ? cycles / ops : 0, extra);
}

/* Fill `words` words at va with pat(seed, first + i). */
static void fill(uint64_t va, uint64_t words, uint64_t seed, uint64_t first)
{
	uint64_t *w = (uint64_t *)va;

	for (uint64_t i = 0; i < words; i++)
		w[i] = pat(seed, first + i);
}

/* ---- tlb-4k / tlb-2m ------------------------------------------------------- */

#define SEED_TLB	0x746c62ULL

static uint64_t tlb_need(const struct params *p)
{
	return p->ws;
}

/*
 * Random reads over a working set far beyond the TLB's reach.  Each index
 * depends on the value read before, so the misses are serialised and the
 * loop measures translation latency rather than memory parallelism.  Both
 * page sizes see the same data: their checksums must agree too.
 */
static int run_tlb(const struct params *p, uint64_t page, const char *wl)
{
	uint64_t root = new_space(wl, data_base + p->ws);
	uint64_t words = p->ws / 8, x = p->seed, last = 0, sum = 0, t0, t1;
	const uint64_t *w = (const uint64_t *)WORK_GVA;

	for (uint64_t off = 0; off < p->ws; off += page)
		map(wl, root, WORK_GVA + off, data_base + off, page);
	load(wl, root);
	/* Through the new mapping: in lazy mode this also takes the fills. */
	fill(WORK_GVA, words, p->seed ^ SEED_TLB, 0);

	phase_begin(wl);
	t0 = rdtsc();
	for (uint64_t i = 0; i < p->reads; i++) {
		last = w[below(rng_next(&x) ^ last, words)];
		sum = fold(sum, last);
	}
	t1 = rdtsc();
	phase_end(wl, t1 - t0, sum, p->reads, "");
	tlb_sums[page == PAGE_SIZE_2M] = sum;
	tlb_done |= page == PAGE_SIZE_2M ? 2 : 1;
	if (tlb_done == 3 && tlb_sums[0] != tlb_sums[1])
		fail(wl, "tlb-4k and tlb-2m read the same data but disagree", 0);
	return GUEST_EXIT_OK;
}

static int run_tlb4k(const struct params *p)
{
	return run_tlb(p, PAGE_SIZE_4K, "tlb-4k");
}

static int run_tlb2m(const struct params *p)
{
	return run_tlb(p, PAGE_SIZE_2M, "tlb-2m");
}

/* ---- pt-churn -------------------------------------------------------------- */

#define SEED_CHURN	0x636875726eULL
#define CHURN_STRIDE	167	/* odd: `batch` slots of one PT stay distinct */

static uint64_t churn_need(const struct params *p)
{
	return p->frames * PAGE_SIZE_4K;
}

/* Retarget a present PTE and rely on mmu_flush() alone to make the CPU
 * see it (the loop above only ever uses mmu_invlpg). */
static int churn_flush_check(const char *wl, uint64_t pt)
{
	const volatile uint64_t *w = (const volatile uint64_t *)WORK_GVA;
	uint64_t a, b;
	int64_t err;

	mmu_pte_set(pt, 0, data_base | PTE_P_RW_US);
	a = w[0];
	mmu_pte_set(pt, 0, (data_base + PAGE_SIZE_4K) | PTE_P_RW_US);
	err = mmu_flush();
	if (err)
		fail(wl, "mmu_flush", err);
	b = w[0];
	mmu_pte_set(pt, 0, 0);
	err = mmu_flush();
	if (err)
		fail(wl, "mmu_flush", err);
	if (a != *(volatile uint64_t *)data_base ||
	    b != *(volatile uint64_t *)(data_base + PAGE_SIZE_4K))
		fail(wl, "a retargeted PTE still read the old frame after mmu_flush", 0);
	return GUEST_EXIT_OK;
}

/*
 * Map `batch` pages (PTE writes from ring 3), read and update a word in
 * each, unmap them (clear + invlpg).  The slots are reused with other frames
 * in later iterations, so a translation that outlived its invlpg reads the
 * wrong frame and changes the checksum.
 */
static int run_churn(const struct params *p)
{
	const char *wl = "pt-churn";
	uint64_t root = new_space(wl, data_base + churn_need(p));
	uint64_t slot[PT_ENTRIES], x = p->seed ^ SEED_CHURN, sum = 0, pt, t0, t1;
	unsigned int idx;
	int err;

	for (uint64_t f = 0; f < p->frames; f++)
		fill(data_base + f * PAGE_SIZE_4K, WORDS_4K, x, f * WORDS_4K);
	err = mmu_slot(root, WORK_GVA, PT_LEVEL_PT, &pt, &idx);
	if (err)
		fail(wl, "mmu_slot", err);
	load(wl, root);

	phase_begin(wl);
	t0 = rdtsc();
	for (uint64_t it = 0; it < p->iters; it++) {
		uint64_t start = rng_next(&x);

		for (uint64_t j = 0; j < p->batch; j++) {
			uint64_t f = below(rng_next(&x), p->frames);

			slot[j] = (start + j * CHURN_STRIDE) & (PT_ENTRIES - 1);
			mmu_pte_set(pt, (unsigned int)slot[j],
				    (data_base + f * PAGE_SIZE_4K) | PTE_P_RW_US);
		}
		for (uint64_t j = 0; j < p->batch; j++) {
			volatile uint64_t *w = (volatile uint64_t *)
				(WORK_GVA + slot[j] * PAGE_SIZE_4K);
			uint64_t o = rng_next(&x) & (WORDS_4K - 1), v = w[o];

			sum = fold(sum, v);
			w[o ^ 1] += v;
		}
		for (uint64_t j = 0; j < p->batch; j++) {
			mmu_pte_set(pt, (unsigned int)slot[j], 0);
			err = (int)mmu_invlpg(WORK_GVA + slot[j] * PAGE_SIZE_4K);
			if (err)
				fail(wl, "mmu_invlpg", err);
		}
	}
	t1 = rdtsc();
	phase_end(wl, t1 - t0, sum, p->iters * p->batch, "");
	return churn_flush_check(wl, pt);
}

/* ---- as-switch ------------------------------------------------------------- */

#define SEED_AS		0x6173ULL

static uint64_t as_need(const struct params *p)
{
	return p->k * PAGE_SIZE_4K;
}

/*
 * K address spaces, each with a private page at WORK_GVA over its own
 * frame, visited round-robin.  Reading the private page right after each
 * switch proves the switch took effect; a wrong value is counted and fails
 * the run.
 */
static int run_as_switch(const struct params *p)
{
	const char *wl = "as-switch";
	uint64_t roots[MAX_SPACES], x = p->seed ^ SEED_AS, sum = 0, bad = 0, t0, t1;
	const volatile uint64_t *w = (const volatile uint64_t *)WORK_GVA;

	for (uint64_t s = 0; s < p->k; s++) {
		uint64_t frame = data_base + s * PAGE_SIZE_4K;

		fill(frame, WORDS_4K, x, s * WORDS_4K);
		roots[s] = new_space(wl, data_base + as_need(p));
		map(wl, roots[s], WORK_GVA, frame, PAGE_SIZE_4K);
	}

	phase_begin(wl);
	t0 = rdtsc();
	for (uint64_t i = 0; i < p->switches; i++) {
		uint64_t s = i % p->k;
		int64_t err = mmu_load_root(roots[s]);

		if (err)
			fail(wl, "mmu_load_root", err);
		for (uint64_t r = 0; r < p->sw_reads; r++) {
			uint64_t o = rng_next(&x) & (WORDS_4K - 1), v = w[o];

			bad += v != pat(p->seed ^ SEED_AS, s * WORDS_4K + o);
			sum = fold(sum, v);
		}
	}
	t1 = rdtsc();
	phase_end(wl, t1 - t0, sum, p->switches, "");
	if (bad)
		fail(wl, "reads after a switch saw another space's page", (int64_t)bad);
	return GUEST_EXIT_OK;
}

/* ---- demand ---------------------------------------------------------------- */

#define SEED_DEMAND	0x646dULL

static struct {
	uint64_t root, len;
	uint64_t pt, pt_region;	/* last PT used and its 2 MiB region + 1 */
	volatile uint64_t faults, hidden, other;
} dm;

static uint64_t demand_need(const struct params *p)
{
	return p->pages * PAGE_SIZE_4K;
}

/*
 * Ring 0: what a demand-paging OS does, with the frame fixed by the page
 * index.  Tables below the PML4 are allocated as first needed; the last PT
 * is remembered, since a walk costs ~45 emulated instructions on PVM.
 */
static int demand_hook(uint64_t cr2, uint64_t err)
{
	uint64_t gerr, off = cr2 - WORK_GVA, region = (cr2 >> PAGE_SHIFT_2M) + 1;
	int64_t r = mmu_page_fault(cr2, err, &gerr);
	unsigned int idx;

	if (r == MMU_OK) {
		dm.hidden++;
		return 0;
	}
	if (r != MMU_PF_GUEST || (gerr & PFEC_P) || off >= dm.len)
		goto not_ours;
	if (region != dm.pt_region) {
		if (mmu_slot(dm.root, cr2, PT_LEVEL_PT, &dm.pt, &idx))
			goto not_ours;
		dm.pt_region = region;
	}
	idx = PT_INDEX(cr2, PT_LEVEL_PT);
	mmu_pte_set(dm.pt, idx, (data_base + (off & ~(PAGE_SIZE_4K - 1))) | PTE_P_RW_US);
	dm.faults++;
	return 0;
not_ours:
	dm.other++;
	return 1;
}

/* Visit pages in a scattered order: a stride coprime with n. */
static uint64_t coprime_stride(uint64_t n)
{
	uint64_t s = (GOLDEN >> 40) | 1;

	for (;; s += 2) {
		uint64_t a = s % n, b = n;

		while (a) {
			uint64_t t = b % a;

			b = a;
			a = t;
		}
		if (b == 1)
			return s % n ? s % n : 1;
	}
}

static int run_demand(const struct params *p)
{
	const char *wl = "demand";
	uint64_t seed = p->seed ^ SEED_DEMAND, n = p->pages, sum = 0, bad = 0, t0, t1;
	uint64_t stride = coprime_stride(n), first = seed % n;
	int (*prev)(uint64_t, uint64_t) = pf_hook;
	char extra[80];

	dm.root = new_space(wl, data_base + demand_need(p));
	dm.len = n * PAGE_SIZE_4K;
	pf_hook = demand_hook;
	load(wl, dm.root);

	phase_begin(wl);
	t0 = rdtsc();
	for (uint64_t i = 0, pg = first; i < n; i++, pg = (pg + stride) % n) {
		volatile uint64_t *w = (volatile uint64_t *)(WORK_GVA + pg * PAGE_SIZE_4K);

		w[pat(seed, pg) & (WORDS_4K - 1)] = pat(seed, n + pg);
	}
	for (uint64_t pg = 0; pg < n; pg++) {
		const volatile uint64_t *w = (const volatile uint64_t *)
			(WORK_GVA + pg * PAGE_SIZE_4K);
		uint64_t v = w[pat(seed, pg) & (WORDS_4K - 1)];

		bad += v != pat(seed, n + pg);
		sum = fold(sum, v);
	}
	t1 = rdtsc();
	pf_hook = prev;
	snprintf(extra, sizeof(extra), " faults=%lu hidden=%lu", dm.faults, dm.hidden);
	phase_end(wl, t1 - t0, sum, n, extra);
	if (bad)
		fail(wl, "pages read back wrong", (int64_t)bad);
	if (dm.faults != n)
		fail(wl, "expected one true fault per page", (int64_t)dm.faults);
	return GUEST_EXIT_OK;
}

/* ---- bad-root / bad-table: the VMM's refusals -------------------------------- */

static uint64_t bad_need(const struct params *p)
{
	(void)p;
	return 2 * PAGE_SIZE_4K;
}

static int run_bad_root(const struct params *p)
{
	const char *wl = "bad-root";
	const struct fdt_mmu *m = mmu_info();
	uint64_t outside = m->pool + m->pool_size, root;
	int64_t r_out, r_ram;

	(void)p;
	if (mmu_mode() == MMU_PORT_TDP) {
		printf("mmu: bad-root: skipped: tdp mode loads CR3 itself, the check "
		       "needs --mmu=shadow\n");
		return GUEST_EXIT_OK;
	}
	root = new_space(wl, data_base + bad_need(p));
	load(wl, root);
	r_out = mmu_load_root(outside);
	r_ram = mmu_load_root(data_base);
	printf("mmu: bad-root: root 0x%lx (outside RAM and pool) -> %ld, "
	       "root 0x%lx (RAM, not pool) -> %ld, expected %d (-EFAULT)\n",
	       outside, r_out, data_base, r_ram, -GUEST_EFAULT);
	/* The refused loads must leave the current root in place. */
	if (mmu_load_root(root))
		fail(wl, "reloading a good root after the refusals", 0);
	if (r_out != -GUEST_EFAULT || r_ram != -GUEST_EFAULT) {
		printf("mmu: bad-root: FAIL\n");
		return GUEST_EXIT_FAIL;
	}
	printf("mmu: bad-root: ok\n");
	return GUEST_EXIT_OK;
}

/* Hostile MMU_CMD_PIN arguments: refused with the documented errors, and
 * minivmm neither hangs nor crashes (a range ending at the top of the
 * address space once made its fill loop wrap). */
static int run_bad_pin(const struct params *p)
{
	int64_t top, wrap, noncanon, big, r = 0;
	unsigned int n = 0;

	(void)p;
	if (mmu_mode() == MMU_PORT_TDP) {
		printf("mmu: bad-pin: skipped: pins need --mmu=shadow\n");
		return GUEST_EXIT_OK;
	}
	top = mmu_pin(0xFFFFFFFFFFFFF000ULL, 0xFFF);		/* valid, last page */
	wrap = mmu_pin(0xFFFFFFFFFFFFF000ULL, 0x2000);		/* wraps */
	noncanon = mmu_pin(0x0000800000000000ULL, 0x1000);
	big = mmu_pin(0, 1ULL << 40);
	while (n < 64 && (r = mmu_pin(0x1000, 0x1000)) == 0)
		n++;
	printf("mmu: bad-pin: top %ld, wrap %ld, non-canonical %ld, huge %ld, "
	       "full after %u more -> %ld\n", top, wrap, noncanon, big, n, r);
	if (top || wrap != -GUEST_EINVAL || noncanon != -GUEST_EINVAL ||
	    big != -GUEST_EINVAL || r != -GUEST_ENOSPC) {
		printf("mmu: bad-pin: FAIL\n");
		return GUEST_EXIT_FAIL;
	}
	printf("mmu: bad-pin: ok\n");
	return GUEST_EXIT_OK;
}

#define SEED_BAD	0x626164ULL
#define BAD_GVA		(WORK_GVA + 0x40000000ULL)

static struct {
	uint64_t pd, good_pt;
	unsigned int pd_idx;
	volatile uint64_t refused, hidden, other;
} bt;

/* Ring 0: on the refusal, relink the range through a table in the pool
 * (what a guest would do to cooperate) and retry. */
static int bad_table_hook(uint64_t cr2, uint64_t err)
{
	uint64_t gerr;
	int64_t r = mmu_page_fault(cr2, err, &gerr);

	if (r == MMU_OK) {
		bt.hidden++;
		return 0;
	}
	if (r == MMU_PF_REFUSED && (cr2 & ~(PAGE_SIZE_4K - 1)) == BAD_GVA) {
		bt.refused++;
		mmu_pte_set(bt.pd, bt.pd_idx, bt.good_pt | PTE_P_RW_US);
		return 0;
	}
	bt.other++;
	return 1;
}

/* A PT in ordinary RAM, linked from a PD in the pool: the shadow cannot
 * follow writes to it, so minivmm must refuse to shadow what it maps. */
static int run_bad_table(const struct params *p)
{
	const char *wl = "bad-table";
	uint64_t ram_pt = data_base, frame = data_base + PAGE_SIZE_4K;
	uint64_t root = new_space(wl, data_base + bad_need(p));
	uint64_t want = pat(p->seed ^ SEED_BAD, 0), got;
	int (*prev)(uint64_t, uint64_t) = pf_hook;
	int err;

	memset((void *)ram_pt, 0, PAGE_SIZE_4K);	/* RAM: no exits */
	fill(frame, WORDS_4K, p->seed ^ SEED_BAD, 0);
	((volatile uint64_t *)ram_pt)[0] = frame | PTE_P_RW_US;
	bt.good_pt = mmu_pt_alloc();
	if (!bt.good_pt)
		fail(wl, "page-table pool full", 0);
	mmu_pte_set(bt.good_pt, 0, frame | PTE_P_RW_US);
	err = mmu_slot(root, BAD_GVA, PT_LEVEL_PD, &bt.pd, &bt.pd_idx);
	if (err)
		fail(wl, "mmu_slot", err);
	mmu_pte_set(bt.pd, bt.pd_idx, ram_pt | PTE_P_RW_US);

	pf_hook = bad_table_hook;
	load(wl, root);
	got = *(const volatile uint64_t *)BAD_GVA;
	pf_hook = prev;
	printf("mmu: bad-table: read 0x%016lx (expected 0x%016lx), refused=%lu\n",
	       got, want, bt.refused);
	if (got != want)
		fail(wl, "wrong value behind the table", 0);
	if (mmu_mode() == MMU_PORT_TDP) {
		printf("mmu: bad-table: ok (tdp: the CPU walks tables anywhere in "
		       "RAM; the refusal needs --mmu=shadow)\n");
		return GUEST_EXIT_OK;
	}
	if (bt.refused != 1) {
		printf("mmu: bad-table: FAIL: expected exactly one MMU_PF_REFUSED\n");
		return GUEST_EXIT_FAIL;
	}
	printf("mmu: bad-table: ok\n");
	return GUEST_EXIT_OK;
}

/* ---- main -------------------------------------------------------------------- */

/* ---- trap-cost (bench/shadow.py) ---------------------------------------- */

/*
 * The benchmark of one trapped page-table write against the bare exit round
 * trip, both measured here in the same run:
 *  exit-rtt:  `outb` to the POST port (an exit the VMM answers at once);
 *  pt-write:  one PTE write in a live table of the loaded root, alternately
 *             mapping and unmapping (in shadow mode every one exits as
 *             MMIO and the VMM re-derives the shadow entry);
 *  pt-unmap-invlpg: map + unmap + invlpg, i.e. what making an unmap
 *             visible costs (in shadow mode on a shadow-paging host this
 *             includes the host sync).
 */
static int run_trap_cost(const struct params *p)
{
	const char *wl = "trap-cost";
	uint64_t root = new_space(wl, data_base + PAGE_SIZE_4K), pt, t0, t1;
	uint64_t pte = data_base | PTE_P_RW_US;
	unsigned int idx;
	int err;

	err = mmu_slot(root, WORK_GVA, PT_LEVEL_PT, &pt, &idx);
	if (err)
		fail(wl, "mmu_slot", err);
	load(wl, root);

	phase_begin("exit-rtt");
	t0 = rdtsc();
	for (uint64_t i = 0; i < p->iters; i++)
		outb(BOARD_POST_PORT, (uint8_t)i);
	t1 = rdtsc();
	phase_end("exit-rtt", t1 - t0, p->iters, p->iters, "");

	phase_begin("pt-write");
	t0 = rdtsc();
	for (uint64_t i = 0; i < p->iters; i++)
		mmu_pte_set(pt, idx, (i & 1) ? 0 : pte);
	t1 = rdtsc();
	mmu_pte_set(pt, idx, 0);
	if (mmu_flush())
		fail(wl, "mmu_flush", 0);
	phase_end("pt-write", t1 - t0, p->iters, p->iters, "");

	phase_begin("pt-unmap-invlpg");
	t0 = rdtsc();
	for (uint64_t i = 0; i < p->iters; i++) {
		mmu_pte_set(pt, idx, pte);
		(void)*(volatile uint64_t *)WORK_GVA;	/* the mapping is live */
		mmu_pte_set(pt, idx, 0);
		err = (int)mmu_invlpg(WORK_GVA);
		if (err)
			fail(wl, "mmu_invlpg", err);
	}
	t1 = rdtsc();
	phase_end("pt-unmap-invlpg", t1 - t0, p->iters, p->iters, "");
	return GUEST_EXIT_OK;
}

static uint64_t trap_need(const struct params *p)
{
	(void)p;
	return PAGE_SIZE_4K;
}

static const struct workload workloads[] = {
	{ "tlb-4k", true, tlb_need, run_tlb4k },
	{ "tlb-2m", true, tlb_need, run_tlb2m },
	{ "pt-churn", true, churn_need, run_churn },
	{ "as-switch", true, as_need, run_as_switch },
	{ "demand", true, demand_need, run_demand },
	{ "bad-root", false, bad_need, run_bad_root },
	{ "bad-table", false, bad_need, run_bad_table },
	{ "trap-cost", false, trap_need, run_trap_cost },
	{ "bad-pin", false, bad_need, run_bad_pin },
};
#define NR_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

static uint64_t arg(const char *args, const char *key, uint64_t def,
		    uint64_t min, uint64_t max)
{
	uint64_t v = bootarg_u64(args, key, def);

	if (v < min || v > max) {
		printf("mmu: FAIL: %s=%lu is not in [%lu, %lu]\n", key, v, min, max);
		guest_exit(GUEST_EXIT_CONTRACT);
	}
	return v;
}

static void parse_params(const char *args, struct params *p)
{
	p->seed = bootarg_u64(args, "seed", 1);
	p->ws = arg(args, "ws", 64 * BOARD_MiB, PAGE_SIZE_2M, 2 * BOARD_GiB);
	p->ws = (p->ws + PAGE_SIZE_2M - 1) & ~(PAGE_SIZE_2M - 1);
	p->reads = arg(args, "reads", 4 * BOARD_MiB, 1, 1ULL << 40);
	p->iters = arg(args, "iters", 384, 1, 1ULL << 32);
	p->batch = arg(args, "batch", 8, 1, PT_ENTRIES);
	p->frames = arg(args, "frames", 64, 2, 1ULL << 18);
	p->k = arg(args, "k", 8, 1, MAX_SPACES);
	p->switches = arg(args, "switches", 8192, 1, 1ULL << 32);
	p->sw_reads = arg(args, "sw-reads", 8, 1, 1ULL << 20);
	p->pages = arg(args, "pages", 2048, 1, 1ULL << 18);
}

/* Bit i set: workloads[i] selected.  "all" is every in_all workload. */
static unsigned int parse_workloads(const char *args)
{
	char list[128], *w = list;
	unsigned int sel = 0;

	if (!bootarg_get(args, "workload", list, sizeof(list)))
		memcpy(list, "all", 4);
	while (*w) {
		char *end = w;
		unsigned int i;

		while (*end && *end != ',')
			end++;
		if (*end)
			*end++ = '\0';
		for (i = 0; i < NR_WORKLOADS; i++)
			if (!strcmp(w, workloads[i].name))
				break;
		if (i < NR_WORKLOADS) {
			sel |= 1U << i;
		} else if (!strcmp(w, "all")) {
			for (i = 0; i < NR_WORKLOADS; i++)
				sel |= (unsigned int)workloads[i].in_all << i;
		} else {
			printf("mmu: FAIL: unknown workload '%s' (all", w);
			for (i = 0; i < NR_WORKLOADS; i++)	/* the list is the table */
				printf(" %s", workloads[i].name);
			printf(")\n");
			guest_exit(GUEST_EXIT_CONTRACT);
		}
		w = end;
	}
	return sel;
}

int main(const void *fdt)
{
	const struct fdt_info *info = fdt_info_or_die("mmu", fdt);
	struct params p;
	unsigned int sel;
	int status = GUEST_EXIT_OK;

	mmu_init_or_die("mmu", info);
	printf("mmu: mode=%s\n", mmu_mode() == MMU_PORT_SHADOW ? "shadow" : "tdp");
	if (mmu_mode() == MMU_PORT_SHADOW)
		printf("mmu: fill=%s\n", mmu_info()->lazy ? "lazy" : "eager");
	parse_params(info->bootargs, &p);
	sel = parse_workloads(info->bootargs);
	data_base = ((uint64_t)__image_end + PAGE_SIZE_2M - 1) & ~(PAGE_SIZE_2M - 1);

	for (unsigned int i = 0; i < NR_WORKLOADS; i++) {
		const struct workload *wl = &workloads[i];
		uint64_t top = data_base + wl->need(&p);

		if (!(sel & (1U << i)))
			continue;
		if (top > mmu_low_ram_end() || top > BOARD_MMIO_HOLE_START) {
			printf("mmu: %s: FAIL: needs RAM up to 0x%lx (%lu MiB of data "
			       "from 0x%lx), low RAM ends at 0x%lx: raise -m\n",
			       wl->name, top, (top - data_base) >> 20, data_base,
			       mmu_low_ram_end());
			return GUEST_EXIT_CONTRACT;
		}
		status = wl->run(&p);
		if (status)
			return status;
	}
	printf("mmu: done, %lu page-table pages used\n", mmu_pt_in_use());
	return GUEST_EXIT_OK;
}

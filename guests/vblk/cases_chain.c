/* SPDX-License-Identifier: MIT */
/*
 * Hostile rings and chains (src/devices/virtio/virtqueue.c's limits, and
 * blk.c's request layout): every one must stop the queue with NEEDS_RESET
 * without a used element and without the device touching anything.
 */
#include "cases.h"

/* A read of 4 KiB into `data` (len bytes): header, data, status. */
static bool bad_read_buffer(uint64_t data, uint32_t len)
{
	struct vdev *d = env.rw;
	struct seg s[3] = {
		{ d->hdr, 16, 0 }, { data, len, D_WRITE }, { d->status, 1, D_WRITE },
	};

	*(volatile uint32_t *)d->hdr = T_IN;
	*(volatile uint64_t *)(d->hdr + 8) = env.rsector;
	blk_submit(d, s, 3);
	return expect_needs_reset(d);
}

static bool buffer_beyond_ram(void) { return bad_read_buffer(env.ram_top, 4096); }
static bool buffer_straddles_ram_end(void) { return bad_read_buffer(env.ram_top - 2048, 4096); }
static bool buffer_in_mmio_hole(void) { return bad_read_buffer(0xE0000000ull, 4096); }
static bool buffer_in_pci_window(void) { return bad_read_buffer(env.rw->bar, 4096); }
static bool buffer_on_local_apic(void) { return bad_read_buffer(BOARD_LAPIC_BASE, 4096); }
static bool buffer_address_wraps(void) { return bad_read_buffer(0xFFFFFFFFFFFFF000ull, 0x2000); }
/* From the top of the hole across 4 GiB (into high RAM on split layouts). */
static bool buffer_crosses_4g(void) { return bad_read_buffer(0xFFFFF000ull, 0x2000); }

static bool buffer_in_mmu_mailbox(void)
{
	if (!env.mailbox)
		return fail("the device tree names no MMU mailbox");
	return bad_read_buffer(env.mailbox, 4096);
}

/* Descriptors already written: publish head, kick, expect NEEDS_RESET. */
static bool kick_expect_reset(uint16_t head)
{
	vq_publish(&env.rw->q, head);
	vdev_kick(env.rw, 0);
	return expect_needs_reset(env.rw);
}

static bool desc_self_loop(void)
{
	stage_get_id(env.rw);
	vq_set_desc(&env.rw->q, 1, env.rw->id, 20, D_WRITE | D_NEXT, 1);
	return kick_expect_reset(0);
}

/* 0 -> 1 -> ... -> QSIZE-1 -> 0: more descriptors than the queue holds. */
static bool desc_cycle_longer_than_queue(void)
{
	for (unsigned int i = 0; i < QSIZE; i++)
		vq_set_desc(&env.rw->q, i, env.rw->hdr, 16, D_NEXT, (uint16_t)((i + 1) % QSIZE));
	return kick_expect_reset(0);
}

static bool next_beyond_queue(void)
{
	stage_get_id(env.rw);
	vq_set_desc(&env.rw->q, 1, env.rw->id, 20, D_WRITE | D_NEXT, QSIZE);
	return kick_expect_reset(0);
}

static bool head_beyond_queue(void)
{
	stage_get_id(env.rw);
	return kick_expect_reset(QSIZE);
}

static bool avail_index_jumps(void)
{
	struct vq *q = &env.rw->q;

	stage_get_id(env.rw);
	*(volatile uint16_t *)(q->avail + 4) = 0;
	vq_publish_raw(q, QSIZE + 1);
	vdev_kick(env.rw, 0);
	return expect_needs_reset(env.rw);
}

/* Descriptors over the largest RAM range until the chain passes 4 GiB
 * (used.len is 32 bits).  With small slots (chunks:2M) the segment limit
 * stops it first: NEEDS_RESET either way. */
static bool lengths_pass_2_32(void)
{
	uint64_t seg = env.big_size < 0x80000000ull ? env.big_size : 0x80000000ull;
	unsigned int n;

	seg &= ~0xFFFull;
	n = (unsigned int)(0x100000000ull / seg + 1);
	if (n >= QSIZE)
		return fail("RAM too small for a 4 GiB chain of %u descriptors", QSIZE);
	for (unsigned int i = 0; i < n; i++)
		vq_set_desc(&env.rw->q, i, env.big_base, (uint32_t)seg, D_NEXT,
			    (uint16_t)(i + 1));
	vq_set_desc(&env.rw->q, n, env.rw->status, 1, D_WRITE, 0);
	return kick_expect_reset(0);
}

static bool header_too_short(void)
{
	struct vdev *d = env.rw;
	struct seg s[3] = {
		{ d->hdr, 8, 0 }, { d->small, 4096, D_WRITE }, { d->status, 1, D_WRITE },
	};

	*(volatile uint32_t *)d->hdr = T_IN;
	blk_submit(d, s, 3);
	return expect_needs_reset(d);
}

static bool status_in_readonly_descriptor(void)
{
	struct vdev *d = env.rw;
	struct seg s[2] = { { d->hdr, 16, 0 }, { d->status, 1, 0 } };

	*(volatile uint32_t *)d->hdr = T_FLUSH;
	blk_submit(d, s, 2);
	return expect_needs_reset(d);
}

static bool readable_after_writable(void)
{
	struct vdev *d = env.rw;
	struct seg s[3] = {
		{ d->hdr, 16, 0 }, { d->status, 1, D_WRITE }, { d->small, 16, 0 },
	};

	*(volatile uint32_t *)d->hdr = T_FLUSH;
	blk_submit(d, s, 3);
	return expect_needs_reset(d);
}

/* ---- indirect tables ------------------------------------------------------- */

static volatile struct vdesc *table(unsigned int n)
{
	return (volatile struct vdesc *)ar(AR_INDIRECT + 0x1000 * (n + 1));
}

/* A valid GET_ID table at table(n): header, id, status. */
static void good_table(unsigned int n)
{
	volatile struct vdesc *t = table(n);

	stage_get_id(env.rw);	/* header and status contents */
	t[0] = (struct vdesc){ env.rw->hdr, 16, D_NEXT, 1 };
	t[1] = (struct vdesc){ env.rw->id, 20, D_WRITE | D_NEXT, 2 };
	t[2] = (struct vdesc){ env.rw->status, 1, D_WRITE, 0 };
}

static bool indirect(uint64_t addr, uint32_t len, uint16_t flags)
{
	vq_set_desc(&env.rw->q, 0, addr, len, (uint16_t)(D_INDIRECT | flags), 1);
	vq_set_desc(&env.rw->q, 1, env.rw->status, 1, D_WRITE, 0);
	return kick_expect_reset(0);
}

static bool indirect_points_at_itself(void)
{
	good_table(0);
	table(0)[0] = (struct vdesc){ (uint64_t)table(0), 48, D_INDIRECT, 0 };
	return indirect((uint64_t)table(0), 48, 0);
}

static bool indirect_nested(void)
{
	good_table(1);
	table(0)[0] = (struct vdesc){ (uint64_t)table(1), 48, D_INDIRECT, 0 };
	return indirect((uint64_t)table(0), 16, 0);
}

static bool indirect_loop(void)
{
	good_table(0);
	table(0)[1].next = 0;
	return indirect((uint64_t)table(0), 48, 0);
}

static bool indirect_next_beyond_table(void)
{
	good_table(0);
	table(0)[1].next = 3;
	return indirect((uint64_t)table(0), 48, 0);
}

static bool indirect_with_next(void)
{
	good_table(0);
	return indirect((uint64_t)table(0), 48, D_NEXT);
}

static bool indirect_len_zero(void) { good_table(0); return indirect((uint64_t)table(0), 0, 0); }
static bool indirect_len_odd(void) { good_table(0); return indirect((uint64_t)table(0), 40, 0); }
/* 1025 entries (more than any queue), all inside RAM. */
static bool indirect_too_long(void) { good_table(0); return indirect((uint64_t)table(0), 16 * 1025, 0); }
static bool indirect_beyond_ram(void) { return indirect(env.ram_top - 16, 48, 0); }
static bool indirect_wraps(void) { return indirect(0xFFFFFFFFFFFFFFF0ull, 48, 0); }
static bool indirect_in_pci_window(void) { return indirect(env.rw->bar, 48, 0); }

const struct vcase chain_cases[] = {
	{ "descriptor-self-loop", desc_self_loop },
	{ "chain-longer-than-queue", desc_cycle_longer_than_queue },
	{ "next-beyond-queue-size", next_beyond_queue },
	{ "head-beyond-queue-size", head_beyond_queue },
	{ "avail-index-jumps", avail_index_jumps },
	{ "buffer-beyond-RAM", buffer_beyond_ram },
	{ "buffer-straddles-RAM-end", buffer_straddles_ram_end },
	{ "buffer-in-MMIO-hole", buffer_in_mmio_hole },
	{ "buffer-in-PCI-window", buffer_in_pci_window },
	{ "buffer-on-local-APIC", buffer_on_local_apic },
	{ "buffer-in-MMU-mailbox", buffer_in_mmu_mailbox },
	{ "buffer-address-wraps-2^64", buffer_address_wraps },
	{ "buffer-crosses-4GiB", buffer_crosses_4g },
	{ "lengths-pass-2^32", lengths_pass_2_32 },
	{ "header-too-short", header_too_short },
	{ "status-in-readonly-descriptor", status_in_readonly_descriptor },
	{ "readable-after-writable", readable_after_writable },
	{ "indirect-points-at-itself", indirect_points_at_itself },
	{ "indirect-nested", indirect_nested },
	{ "indirect-loop", indirect_loop },
	{ "indirect-next-beyond-table", indirect_next_beyond_table },
	{ "indirect-with-NEXT", indirect_with_next },
	{ "indirect-length-0", indirect_len_zero },
	{ "indirect-length-not-16s", indirect_len_odd },
	{ "indirect-1025-entries", indirect_too_long },
	{ "indirect-table-beyond-RAM", indirect_beyond_ram },
	{ "indirect-table-wraps-2^64", indirect_wraps },
	{ "indirect-table-in-PCI-window", indirect_in_pci_window },
};
const unsigned int nr_chain_cases = sizeof(chain_cases) / sizeof(chain_cases[0]);

/* SPDX-License-Identifier: MIT */
/*
 * Hostile set-up: feature negotiation, status, queue registers and ring
 * placement, kicks at the wrong time (src/devices/virtio/pci.c's rules).
 */
#include "cases.h"

static bool begin_negotiated(struct vdev *d)
{
	if (!vdev_begin(d))
		return fail("reset/ACKNOWLEDGE/DRIVER failed");
	if (!vdev_features(d, VBLK_FEATURES & d->offered))
		return fail("FEATURES_OK refused for the standard features");
	return true;
}

static bool features_unoffered(void)
{
	struct vdev *d = env.rw;
	uint8_t st;

	if (!vdev_begin(d))
		return fail("begin");
	if (d->offered & BIT(50))
		return fail("feature bit 50 is offered");
	note("FEATURES_OK not kept");
	if (vdev_features(d, (VBLK_FEATURES & d->offered) | BIT(50)))
		return fail("FEATURES_OK kept with an unoffered bit");
	st = vstatus(d);
	return st == (ST_ACK | ST_DRIVER) || fail("status 0x%x", st);
}

static bool features_without_version_1(void)
{
	struct vdev *d = env.rw;

	if (!vdev_begin(d))
		return fail("begin");
	note("FEATURES_OK not kept");
	if (vdev_features(d, VBLK_FEATURES & d->offered & ~BIT(VIRTIO_F_VERSION_1)))
		return fail("FEATURES_OK kept without VERSION_1");
	return true;
}

static bool driver_ok_without_features_ok(void)
{
	struct vdev *d = env.rw;
	uint8_t st;

	if (!vdev_begin(d))
		return fail("begin");
	vstatus_set(d, ST_ACK | ST_DRIVER | ST_DRIVER_OK);
	st = vstatus(d);
	note("DRIVER_OK not kept");
	return st == (ST_ACK | ST_DRIVER) || fail("status 0x%x", st);
}

static bool enable_before_features_ok(void)
{
	struct vdev *d = env.rw;
	struct vq_place p;

	if (!vdev_begin(d))
		return fail("begin");
	place_rw(&p);
	vq_clear(&p);
	vdev_queue_setup(d, &p);
	note("queue_enable stays 0 before FEATURES_OK, takes 1 after");
	if (vdev_queue_enable(d))
		return fail("queue enabled before FEATURES_OK");
	if (!vdev_features(d, VBLK_FEATURES & d->offered))
		return fail("FEATURES_OK refused");
	return vdev_queue_enable(d) || fail("queue not enabled after FEATURES_OK");
}

/* A GET_ID staged and kicked at `when`; then the rest of the set-up; it is
 * served only by a kick after DRIVER_OK. */
static bool early_kick(bool after_features)
{
	struct vdev *d = env.rw;
	struct vq_place p;

	if (!vdev_begin(d))
		return fail("begin");
	if (after_features && !vdev_features(d, VBLK_FEATURES & d->offered))
		return fail("FEATURES_OK refused");
	place_rw(&p);
	vq_clear(&p);
	vdev_queue_setup(d, &p);
	if (after_features && !vdev_queue_enable(d))
		return fail("queue not enabled");
	stage_get_id(d);
	vq_publish(&d->q, 0);
	vdev_kick(d, 0);
	if (!io_fence())
		return false;
	if (!after_features && (!vdev_features(d, VBLK_FEATURES & d->offered) ||
				!vdev_queue_enable(d)))
		return fail("set-up after the kick failed");
	vstatus_set(d, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	if (!io_fence())
		return false;
	if (vq_used_idx(&d->q) != 0)
		return fail("the early kick was served (used idx %u)", vq_used_idx(&d->q));
	note("kick dropped; the request is served by the first kick after DRIVER_OK");
	vdev_kick(d, 0);
	return expect_status(d, S_OK, 21);
}

static bool kick_before_features_ok(void)
{
	return early_kick(false);
}

static bool kick_before_driver_ok(void)
{
	return early_kick(true);
}

/* The rings of p (size, addresses) must be refused at queue_enable. */
static bool refused_ring(const struct vq_place *p)
{
	struct vdev *d = env.rw;
	uint8_t st;

	if (!begin_negotiated(d))
		return false;
	vdev_queue_setup(d, p);
	note("queue_enable stays 0, NEEDS_RESET");
	if (vdev_queue_enable(d))
		return fail("queue enabled");
	st = vstatus(d);
	if (!(st & ST_NEEDS_RESET))
		return fail("status 0x%x: no NEEDS_RESET", st);
	/* The queue is off: a kick after DRIVER_OK finds nothing to do. */
	vstatus_set(d, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	vdev_kick(d, 0);
	return io_fence();
}

static bool queue_size_not_pow2(void)
{
	struct vq_place p;

	place_spare(&p, 12);
	return refused_ring(&p);
}

static bool used_ring(uint64_t used)
{
	struct vq_place p;

	place_spare(&p, QSIZE);
	p.used = used;
	return refused_ring(&p);
}

static bool used_ring_beyond_ram(void) { return used_ring(env.ram_top); }
static bool used_ring_straddles_ram_end(void) { return used_ring(env.ram_top - 64); }
static bool used_ring_in_pci_window(void) { return used_ring(env.rw->bar); }
static bool used_ring_misaligned(void) { return used_ring(ar(AR_SPARE + 0x2002)); }

static bool used_ring_in_mmu_mailbox(void)
{
	if (!env.mailbox)
		return fail("the device tree names no MMU mailbox");
	return used_ring(env.mailbox);
}

static bool desc_ring_wraps(void)
{
	struct vq_place p;

	place_spare(&p, QSIZE);
	p.desc = 0xFFFFFFFFFFFFFF00ull;
	return refused_ring(&p);
}

static bool avail_ring_in_mmio_hole(void)
{
	struct vq_place p;

	place_spare(&p, QSIZE);
	p.avail = 0xE0000000ull;
	return refused_ring(&p);
}

static bool queue_size_bounds(void)
{
	struct vdev *d = env.rw;
	uint64_t qs = d->common + CC_QSIZE;
	uint16_t max;

	if (!begin_negotiated(d))
		return false;
	wr16(d->common + CC_QSELECT, 0);
	max = rd16(qs);
	note("0 and 2x the maximum ignored; 1 and 3 accepted until queue_enable");
	wr16(qs, 0);
	if (rd16(qs) != max)
		return fail("size 0 accepted (%u)", rd16(qs));
	wr16(qs, (uint16_t)(2 * max));
	if (rd16(qs) != max)
		return fail("size %u accepted", 2 * max);
	wr16(qs, 1);
	if (rd16(qs) != 1)
		return fail("size 1 refused");
	wr16(qs, 3);
	return (rd16(qs) == 3 && !(vstatus(d) & ST_NEEDS_RESET)) ||
	       fail("size 3: reads %u, status 0x%x", rd16(qs), vstatus(d));
}

static bool status_clear_ignored(void)
{
	struct vdev *d = env.rw;
	uint8_t full = ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK;

	vstatus_set(d, ST_ACK | ST_DRIVER);
	note("ignored: status unchanged, the device keeps working");
	return (vstatus(d) == full || fail("status 0x%x", vstatus(d))) &&
	       blk_check_read(d, env.rsector);
}

static bool queue_fields_frozen(void)
{
	struct vdev *d = env.rw;

	wr16(d->common + CC_QSELECT, 0);
	wr64(d->common + CC_QDESC, ar(AR_SPARE));
	wr16(d->common + CC_QSIZE, 8);
	note("writes to an enabled queue ignored");
	if (rd32(d->common + CC_QDESC) != (uint32_t)d->q.desc ||
	    rd32(d->common + CC_QDESC + 4) != (uint32_t)(d->q.desc >> 32) ||
	    rd16(d->common + CC_QSIZE) != QSIZE)
		return fail("queue fields changed");
	return blk_check_read(d, env.rsector);
}

static bool features_after_features_ok(void)
{
	struct vdev *d = env.rw;

	wr32(d->common + CC_GFSELECT, 0);
	wr32(d->common + CC_GF, 0);
	note("driver_feature write ignored");
	return (rd32(d->common + CC_GF) == (uint32_t)d->negotiated ||
		fail("driver features now 0x%x", rd32(d->common + CC_GF))) &&
	       blk_check_read(d, env.rsector);
}

static bool bad_access_widths(void)
{
	struct vdev *d = env.rw;

	note("reads all-ones, writes ignored");
	if (rd32(d->common + CC_STATUS) != 0xFFFFFFFFu || rd16(d->common + CC_STATUS) != 0xFFFF ||
	    rd8(d->common + CC_QSIZE) != 0xFF || rd32(d->devcfg + d->devcfg_len) != 0xFFFFFFFFu)
		return fail("a mis-sized or out-of-range read answered");
	wr32(d->common + CC_STATUS, 0);	/* a reset, if it were taken */
	wr8(d->common + CC_QSIZE, 1);
	if (vstatus(d) != (ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK))
		return fail("a 4-byte status write was taken (status 0x%x)", vstatus(d));
	return blk_check_read(d, env.rsector);
}

static bool absent_queue(void)
{
	struct vdev *d = env.rw;
	uint16_t nq = rd16(d->common + CC_NUMQ);

	wr16(d->common + CC_QSELECT, nq);
	wr16(d->common + CC_QSIZE, 8);
	wr16(d->common + CC_QENABLE, 1);
	note("reads 0, writes ignored");
	if (rd16(d->common + CC_QSIZE) != 0 || rd16(d->common + CC_QENABLE) != 0)
		return fail("queue %u answers", nq);
	/* Its notify address lies past the notify structure: ignored. */
	wr16(d->notify + (uint64_t)nq * d->notify_mult, nq);
	wr16(d->common + CC_QSELECT, 0);
	return blk_check_read(d, env.rsector);
}

static bool msix_vector_out_of_range(void)
{
	struct vdev *d = env.rw;

	if (!begin_negotiated(d))
		return false;
	wr16(d->common + CC_QSELECT, 0);
	wr16(d->common + CC_QMSIX, (uint16_t)d->msix_size);
	wr16(d->common + CC_MSIX, 0x7FF);
	note("vectors past the MSI-X table read NO_VECTOR");
	return (rd16(d->common + CC_QMSIX) == NO_VECTOR && rd16(d->common + CC_MSIX) == NO_VECTOR) ||
	       fail("vectors read 0x%x / 0x%x", rd16(d->common + CC_QMSIX),
		    rd16(d->common + CC_MSIX));
}

const struct vcase setup_cases[] = {
	{ "features-not-offered", features_unoffered },
	{ "features-without-VERSION_1", features_without_version_1 },
	{ "DRIVER_OK-without-FEATURES_OK", driver_ok_without_features_ok },
	{ "queue-enable-before-FEATURES_OK", enable_before_features_ok },
	{ "kick-before-FEATURES_OK", kick_before_features_ok },
	{ "kick-before-DRIVER_OK", kick_before_driver_ok },
	{ "queue-size-not-power-of-two", queue_size_not_pow2 },
	{ "queue-size-bounds", queue_size_bounds },
	{ "used-ring-beyond-RAM", used_ring_beyond_ram },
	{ "used-ring-straddles-RAM-end", used_ring_straddles_ram_end },
	{ "used-ring-in-PCI-window", used_ring_in_pci_window },
	{ "used-ring-in-MMU-mailbox", used_ring_in_mmu_mailbox },
	{ "used-ring-misaligned", used_ring_misaligned },
	{ "descriptor-ring-wraps-2^64", desc_ring_wraps },
	{ "avail-ring-in-MMIO-hole", avail_ring_in_mmio_hole },
	{ "status-bits-cleared-without-reset", status_clear_ignored },
	{ "queue-fields-after-enable", queue_fields_frozen },
	{ "features-after-FEATURES_OK", features_after_features_ok },
	{ "register-access-widths", bad_access_widths },
	{ "absent-queue", absent_queue },
	{ "MSI-X-vector-out-of-range", msix_vector_out_of_range },
};
const unsigned int nr_setup_cases = sizeof(setup_cases) / sizeof(setup_cases[0]);

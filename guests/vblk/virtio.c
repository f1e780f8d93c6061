/* SPDX-License-Identifier: MIT */
/*
 * The driver side of virtio-pci (virtio 1.x, 3.1 and 4.1) and of one split
 * virtqueue (2.7), and virtio-blk requests over it (5.2.6).  Polled: the
 * guest waits for used->idx with a TSC deadline.
 */
#include "vblk.h"

/* ---- device status and features -------------------------------------------- */

bool vdev_reset(struct vdev *d)
{
	uint64_t until = deadline();

	vstatus_set(d, 0);
	/* 4.1.4.3.2: the driver waits for the status to read 0. */
	while (vstatus(d) != 0)
		if (!before(until)) {
			printf("vblk: 00:%02x.0: status stays 0x%x after reset\n", d->slot,
			       vstatus(d));
			return false;
		}
	return true;
}

bool vdev_begin(struct vdev *d)
{
	if (!vdev_reset(d))
		return false;
	vstatus_set(d, ST_ACK);
	vstatus_set(d, ST_ACK | ST_DRIVER);
	wr32(d->common + CC_DFSELECT, 0);
	d->offered = rd32(d->common + CC_DF);
	wr32(d->common + CC_DFSELECT, 1);
	d->offered |= (uint64_t)rd32(d->common + CC_DF) << 32;
	if (!(d->offered & BIT(VIRTIO_F_VERSION_1))) {
		printf("vblk: 00:%02x.0: VERSION_1 not offered (0x%lx)\n", d->slot, d->offered);
		return false;
	}
	return vstatus(d) == (ST_ACK | ST_DRIVER);
}

bool vdev_features(struct vdev *d, uint64_t want)
{
	wr32(d->common + CC_GFSELECT, 0);
	wr32(d->common + CC_GF, (uint32_t)want);
	wr32(d->common + CC_GFSELECT, 1);
	wr32(d->common + CC_GF, (uint32_t)(want >> 32));
	d->negotiated = want;
	vstatus_set(d, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	/* 3.1.1: re-read; the device clears FEATURES_OK when it refuses. */
	return vstatus(d) & ST_FEATURES_OK;
}

/* ---- queue 0 ----------------------------------------------------------------- */

void vdev_queue_setup(struct vdev *d, const struct vq_place *p)
{
	wr16(d->common + CC_QSELECT, 0);
	wr16(d->common + CC_QSIZE, p->size);
	wr64(d->common + CC_QDESC, p->desc);
	wr64(d->common + CC_QAVAIL, p->avail);
	wr64(d->common + CC_QUSED, p->used);
	wr16(d->common + CC_QMSIX, p->msix);
	d->q = (struct vq){ .size = p->size, .desc = p->desc, .avail = p->avail,
			    .used = p->used };
}

bool vdev_queue_enable(struct vdev *d)
{
	wr16(d->common + CC_QSELECT, 0);
	wr16(d->common + CC_QENABLE, 1);
	return rd16(d->common + CC_QENABLE) == 1;
}

void vq_clear(const struct vq_place *p)
{
	memset((void *)p->desc, 0, 16ul * p->size);
	memset((void *)p->avail, 0, 6ul + 2ul * p->size);
	memset((void *)p->used, 0, 6ul + 8ul * p->size);
}

static uint32_t cfg32(const struct vdev *d, unsigned int off)
{
	return rd32(d->devcfg + off);
}

/* capacity is 64 bits read as two halves: retry while config_generation
 * moves (4.1.4.3.1). */
static void read_config(struct vdev *d)
{
	uint8_t gen;

	do {
		gen = rd8(d->common + CC_CFGGEN);
		d->capacity = cfg32(d, 0) | (uint64_t)cfg32(d, 4) << 32;
	} while (gen != rd8(d->common + CC_CFGGEN));
	d->blk_size = (d->negotiated & BIT(VIRTIO_BLK_F_BLK_SIZE)) ? cfg32(d, 20) : 512;
	d->ro = d->negotiated & BIT(VIRTIO_BLK_F_RO);
}

bool vdev_init(struct vdev *d, const struct vq_place *p)
{
	uint16_t max;
	uint8_t want = ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK, st;

	if (!vdev_begin(d))
		return false;
	if (!vdev_features(d, VBLK_FEATURES & d->offered)) {
		printf("vblk: 00:%02x.0: FEATURES_OK refused for 0x%lx\n", d->slot,
		       VBLK_FEATURES & d->offered);
		return false;
	}
	wr16(d->common + CC_QSELECT, 0);
	max = rd16(d->common + CC_QSIZE);
	if (max < p->size || rd16(d->common + CC_NUMQ) < 1) {
		printf("vblk: 00:%02x.0: queue 0 offers %u entries\n", d->slot, max);
		return false;
	}
	vq_clear(p);
	vdev_queue_setup(d, p);
	if (!vdev_queue_enable(d)) {
		printf("vblk: 00:%02x.0: queue 0 not enabled\n", d->slot);
		return false;
	}
	vstatus_set(d, want);
	st = vstatus(d);
	if (st != want) {
		printf("vblk: 00:%02x.0: status 0x%x after DRIVER_OK\n", d->slot, st);
		return false;
	}
	read_config(d);
	return true;
}

void vdev_kick(const struct vdev *d, unsigned int q)
{
	wr16(d->notify + (uint64_t)q * d->notify_mult, (uint16_t)q);
}

/* ---- the ring -------------------------------------------------------------- */

void vq_set_desc(const struct vq *q, unsigned int i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	volatile struct vdesc *dp = vq_desc(q, i);

	dp->addr = addr;
	dp->len = len;
	dp->flags = flags;
	dp->next = next;
}

void vq_publish_raw(struct vq *q, uint16_t idx)
{
	q->avail_idx = idx;
	/* Release: entries and descriptors before the index (x86: a compiler
	 * barrier, stores are not reordered with stores). */
	__atomic_store_n((uint16_t *)(q->avail + 2), idx, __ATOMIC_RELEASE);
}

void vq_publish(struct vq *q, uint16_t head)
{
	volatile uint16_t *ring = (volatile uint16_t *)(q->avail + 4);

	ring[q->avail_idx % q->size] = head;
	vq_publish_raw(q, (uint16_t)(q->avail_idx + 1));
}

uint16_t vq_used_idx(const struct vq *q)
{
	return __atomic_load_n((uint16_t *)(q->used + 2), __ATOMIC_ACQUIRE);
}

bool vq_wait(struct vq *q, uint16_t n)
{
	uint64_t until = deadline();

	while ((uint16_t)(vq_used_idx(q) - q->used_seen) < n)
		if (!before(until))
			return false;
		else
			__asm__ volatile("pause");
	return true;
}

void vq_used_elem(const struct vq *q, uint16_t k, uint32_t *id, uint32_t *len)
{
	uint64_t e = q->used + 4 + 8ull * ((uint16_t)(q->used_seen + k) % q->size);

	*id = *(volatile uint32_t *)e;
	*len = *(volatile uint32_t *)(e + 4);
}

/* ---- virtio-blk requests --------------------------------------------------- */

void blk_submit(struct vdev *d, const struct seg *segs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		vq_set_desc(&d->q, i, segs[i].addr, segs[i].len,
			    (uint16_t)(segs[i].flags | (i + 1 < n ? D_NEXT : 0)),
			    (uint16_t)(i + 1 < n ? i + 1 : 0));
	vq_publish(&d->q, 0);
	vdev_kick(d, 0);
}

int blk_request(struct vdev *d, uint32_t type, uint64_t sector, uint64_t data,
		uint32_t len, bool data_writable, uint32_t *used_len)
{
	volatile uint32_t *hdr = (volatile uint32_t *)d->hdr;
	struct seg segs[3];
	unsigned int n = 0;
	uint32_t id;

	hdr[0] = type;
	hdr[1] = 0;
	*(volatile uint64_t *)(d->hdr + 8) = sector;
	wr8(d->status, S_UNTOUCHED);
	segs[n++] = (struct seg){ d->hdr, 16, 0 };
	if (len)
		segs[n++] = (struct seg){ data, len, data_writable ? D_WRITE : 0 };
	segs[n++] = (struct seg){ d->status, 1, D_WRITE };
	blk_submit(d, segs, n);
	if (!vq_wait(&d->q, 1)) {
		printf("vblk: 00:%02x.0: request type %u sector %lu: no answer (used idx %u)\n",
		       d->slot, type, sector, vq_used_idx(&d->q));
		return -1;
	}
	vq_used_elem(&d->q, 0, &id, used_len);
	d->q.used_seen++;
	if (id != 0) {
		printf("vblk: 00:%02x.0: used id %u, expected head 0\n", d->slot, id);
		return -1;
	}
	return rd8(d->status);
}

bool blk_check_read(struct vdev *d, uint64_t sector)
{
	uint8_t *buf = (uint8_t *)d->small;
	uint32_t used;
	int st;

	memset(buf, 0xCC, 4096);
	st = blk_request(d, T_IN, sector, d->small, 4096, true, &used);
	if (st != S_OK || used != 4097) {
		printf("vblk: 00:%02x.0: read of sector %lu: status %d, used.len %u\n",
		       d->slot, sector, st, used);
		return false;
	}
	for (unsigned int i = 0; i < 4096; i++) {
		if (buf[i] != bg_byte(sector * SECTOR + i)) {
			printf("vblk: 00:%02x.0: sector %lu byte %u: 0x%02x, expected 0x%02x\n",
			       d->slot, sector, i, buf[i], bg_byte(sector * SECTOR + i));
			return false;
		}
	}
	return true;
}

/*
 * Kicks travel by ioeventfd to the one I/O thread, which serves the
 * eventfds in the order they became ready (epoll's ready list is FIFO and
 * KVM signals the eventfd during the guest's write).  So once the other
 * drive has answered a request kicked after some kick K, the I/O thread
 * has handled K: a kick that was to be dropped has been dropped.
 */
bool io_fence(void)
{
	uint32_t used;
	int st = blk_request(env.ro, T_GET_ID, 0, env.ro->id, 20, true, &used);

	if (st != S_OK || used != 21) {
		printf("vblk: fence: GET_ID on 00:%02x.0 answered %d, used.len %u\n",
		       env.ro->slot, st, used);
		return false;
	}
	return true;
}

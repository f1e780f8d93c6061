/* SPDX-License-Identifier: MIT */
/*
 * The virtio-blk test guest's driver (guests/virtio_blk.c has the plan):
 * PCI configuration mechanism #1, the modern virtio-pci transport and a
 * split virtqueue, written from the PCI and virtio 1.x specifications
 * rather than from minivmm's headers, so the guest checks the device
 * against the specification and not against itself.  Ring 3, polled: the
 * device's interrupts are checked once (irq.c), nothing depends on them.
 */
#ifndef GUEST_VBLK_H
#define GUEST_VBLK_H

#include "guest.h"

/* ---- PCI (PCI Local Bus 3.0) ---------------------------------------------- */

#define PCI_VENDOR_ID	0x00
#define PCI_COMMAND	0x04
#define PCI_STATUS	0x06
#define PCI_CLASS_REV	0x08
#define PCI_HEADER_TYPE	0x0E
#define PCI_BAR0	0x10
#define PCI_CAP_PTR	0x34
#define PCI_INT_PIN	0x3D
#define PCI_CMD_MEMORY	0x0002
#define PCI_CMD_MASTER	0x0004
#define PCI_STATUS_INTX	0x0008
#define PCI_STATUS_CAPS	0x0010
#define PCI_CAP_VNDR	0x09
#define PCI_CAP_MSIX	0x11

#define VIRTIO_VENDOR	0x1AF4
#define VIRTIO_BLK_ID	0x1042	/* 0x1040 + device type 2 */

uint32_t pci_read(unsigned int dev, unsigned int reg, unsigned int width);
void pci_write(unsigned int dev, unsigned int reg, unsigned int width, uint32_t v);
/* Extend the boot identity map over the GiB holding addr (2 MiB pages,
 * uncached): the PCI window, the I/O APIC and the local APIC live in the
 * 32-bit hole, which the boot map covers only when RAM reaches past it. */
void map_gib(uint64_t addr);
/* Scan bus 0: the host bridge at 00:00.0, virtio-blk functions in slots
 * 1..drives, nothing else; prints each function.  True when all is so. */
bool pci_scan(unsigned int drives);

/* ---- virtio (1.x, 2.1 and 4.1) -------------------------------------------- */

#define VIRTIO_F_INDIRECT	28
#define VIRTIO_F_EVENT_IDX	29
#define VIRTIO_F_VERSION_1	32
#define VIRTIO_BLK_F_SIZE_MAX	1
#define VIRTIO_BLK_F_SEG_MAX	2
#define VIRTIO_BLK_F_RO		5
#define VIRTIO_BLK_F_BLK_SIZE	6
#define VIRTIO_BLK_F_FLUSH	9
#define VIRTIO_BLK_F_DISCARD	13
#define BIT(n)			((uint64_t)1 << (n))

#define ST_ACK		1
#define ST_DRIVER	2
#define ST_DRIVER_OK	4
#define ST_FEATURES_OK	8
#define ST_NEEDS_RESET	64

/* Common configuration offsets. */
#define CC_DFSELECT	0x00
#define CC_DF		0x04
#define CC_GFSELECT	0x08
#define CC_GF		0x0C
#define CC_MSIX		0x10
#define CC_NUMQ		0x12
#define CC_STATUS	0x14
#define CC_CFGGEN	0x15
#define CC_QSELECT	0x16
#define CC_QSIZE	0x18
#define CC_QMSIX	0x1A
#define CC_QENABLE	0x1C
#define CC_QNOFF	0x1E
#define CC_QDESC	0x20
#define CC_QAVAIL	0x28
#define CC_QUSED	0x30
#define NO_VECTOR	0xFFFF

#define D_NEXT		1
#define D_WRITE		2
#define D_INDIRECT	4

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vq {
	uint16_t size;
	uint64_t desc, avail, used;	/* guest-physical = virtual */
	uint16_t avail_idx;		/* the driver's next avail->idx */
	uint16_t used_seen;		/* used entries consumed */
};

struct vdev {
	unsigned int slot;
	uint64_t bar, bar_size;
	uint64_t common, isr, devcfg, notify;	/* addresses in the BAR */
	uint32_t notify_mult, devcfg_len;
	unsigned int msix_cap;		/* config offset, 0: none */
	unsigned int msix_size;		/* vectors */
	uint64_t msix_table, msix_pba;
	uint64_t offered, negotiated;
	uint64_t capacity;		/* sectors */
	uint32_t blk_size;
	bool ro;
	struct vq q;			/* queue 0: the only one used */
	/* This drive's scratch buffers: header, status byte, GET_ID answer,
	 * a 4 KiB data buffer (own ones, so the other drive's requests never
	 * touch a request still pending here). */
	uint64_t hdr, status, id, small;
};

/* Find the capabilities of the function in `slot`, size and check BAR 0,
 * turn on memory decoding: 0, or prints why not and returns -1. */
int vdev_probe(struct vdev *d, unsigned int slot);

/* MMIO accessors on a BAR address. */
static inline uint8_t rd8(uint64_t a) { return *(volatile uint8_t *)a; }
static inline uint16_t rd16(uint64_t a) { return *(volatile uint16_t *)a; }
static inline uint32_t rd32(uint64_t a) { return *(volatile uint32_t *)a; }
static inline void wr8(uint64_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline void wr16(uint64_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline void wr32(uint64_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline void wr64(uint64_t a, uint64_t v)
{
	wr32(a, (uint32_t)v);
	wr32(a + 4, (uint32_t)(v >> 32));
}

static inline uint8_t vstatus(const struct vdev *d) { return rd8(d->common + CC_STATUS); }
static inline void vstatus_set(const struct vdev *d, uint8_t s) { wr8(d->common + CC_STATUS, s); }

/* Where a queue's rings go and how big it is (a power of two, or not). */
struct vq_place {
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t msix;			/* queue vector (NO_VECTOR: none) */
};

/* Zero the rings of a placement that lies in RAM (flags, indexes). */
void vq_clear(const struct vq_place *p);
/* Write 0 to the status and wait until it reads 0. */
bool vdev_reset(struct vdev *d);
/* Reset, ACKNOWLEDGE, DRIVER, read the offered features: false on error. */
bool vdev_begin(struct vdev *d);
/* Accept `want` & offered, set FEATURES_OK: true when the device kept it. */
bool vdev_features(struct vdev *d, uint64_t want);
/* Program queue 0 from p (not enabled). */
void vdev_queue_setup(struct vdev *d, const struct vq_place *p);
/* queue_enable = 1; true when it reads back 1. */
bool vdev_queue_enable(struct vdev *d);
/* The whole sequence with the standard features: reset .. DRIVER_OK,
 * device configuration read.  Prints and returns false on any deviation. */
bool vdev_init(struct vdev *d, const struct vq_place *p);
/* The driver features vdev_init asks for. */
#define VBLK_FEATURES (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT) | \
		       BIT(VIRTIO_BLK_F_RO) | BIT(VIRTIO_BLK_F_BLK_SIZE) | \
		       BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_SEG_MAX) | \
		       BIT(VIRTIO_BLK_F_SIZE_MAX))
void vdev_kick(const struct vdev *d, unsigned int q);

/* ---- the ring -------------------------------------------------------------- */

static inline volatile struct vdesc *vq_desc(const struct vq *q, unsigned int i)
{
	return (volatile struct vdesc *)(q->desc + 16ull * i);
}

void vq_set_desc(const struct vq *q, unsigned int i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next);
/* Make head available (ring entry, then index, with a release barrier). */
void vq_publish(struct vq *q, uint16_t head);
/* Bump avail->idx by n without filling entries (hostile cases). */
void vq_publish_raw(struct vq *q, uint16_t idx);
uint16_t vq_used_idx(const struct vq *q);
/* Wait (bounded) until n more used entries arrived; false on timeout. */
bool vq_wait(struct vq *q, uint16_t n);
/* The k-th used element after the ones consumed so far. */
void vq_used_elem(const struct vq *q, uint16_t k, uint32_t *id, uint32_t *len);

/* ---- virtio-blk requests --------------------------------------------------- */

#define T_IN		0
#define T_OUT		1
#define T_FLUSH		4
#define T_GET_ID	8
#define T_DISCARD	11
#define S_OK		0
#define S_IOERR		1
#define S_UNSUPP	2
#define S_UNTOUCHED	0xEE	/* what the driver leaves in the status byte */
#define SECTOR		512u

/* One descriptor as a request spells it. */
struct seg {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;			/* D_WRITE */
};

/* Chain segs at descriptors 0..n-1, publish head 0, kick. */
void blk_submit(struct vdev *d, const struct seg *segs, unsigned int n);
/* A request from header, data and status: its status byte (S_*) and
 * used.len, or -1 (printed) when no used element came back for it. */
int blk_request(struct vdev *d, uint32_t type, uint64_t sector, uint64_t data,
		uint32_t len, bool data_writable, uint32_t *used_len);

/* ---- the memory the guest uses (virtio_blk.c) ------------------------------ */

struct vblk_env {
	const struct fdt_info *info;
	uint64_t ram_top;		/* highest RAM address + 1 */
	uint64_t big_base, big_size;	/* the largest RAM range */
	uint64_t arena;			/* 2 MiB aligned, ARENA_SIZE bytes */
	uint64_t mailbox;		/* the MMU mailbox (not RAM), or 0 */
	uint64_t timeout;		/* TSC cycles for a bounded wait */
	uint8_t seed;
	uint64_t rsector, wsector;	/* image sectors to read / write */
	struct vdev *rw, *ro;		/* slot 1 (read-write), slot 2 */
};

extern struct vblk_env env;

/*
 * The arena, in offsets from its base.  Chunk boundaries (chunks:2M) fall
 * every 2 MiB: the read-write drive's descriptor table, used ring and both
 * big data buffers straddle one each.
 */
#define ARENA_SIZE	((uint64_t)(10 * BOARD_MiB))
#define AR_HDR		0x0000		/* request headers, 16 bytes each */
#define AR_STATUS	0x1000		/* status bytes */
#define AR_ID		0x2000		/* GET_ID answers */
#define AR_SMALL	0x10000		/* 4 KiB buffers, 16 of them */
#define AR_INDIRECT	0x20000		/* indirect tables, 4 KiB apart */
#define AR_RO_RINGS	0x40000		/* the read-only drive's queue */
#define AR_SPARE	0x50000		/* rings for the set-up cases */
#define QSIZE		32
#define AR_DESC		(2 * BOARD_MiB - 8 * QSIZE)	/* straddles 2 MiB */
#define AR_AVAIL	(2 * BOARD_MiB + 0x1000)
#define AR_USED		(4 * BOARD_MiB - 0x40)	/* element 7 straddles 4 MiB */
#define BIG_LEN		0x2000
#define AR_WBUF		(6 * BOARD_MiB - 0x1000)	/* 8 KiB across 6 MiB */
#define AR_RBUF		(8 * BOARD_MiB - 0x1000)	/* 8 KiB across 8 MiB */

static inline uint64_t ar(uint64_t off) { return env.arena + off; }

/* The standard placement of each drive's queue 0. */
void place_rw(struct vq_place *p);
void place_ro(struct vq_place *p);

/* A bounded wait: true while the deadline has not passed. */
static inline uint64_t deadline(void) { return rdtsc() + env.timeout; }
static inline bool before(uint64_t t) { return rdtsc() < t; }

/* The image contents the host wrote: byte `off` of the image. */
static inline uint8_t bg_byte(uint64_t off)
{
	uint64_t s = off >> 9;

	return (uint8_t)(s * 0x9E + (off & 511) * 7 + (s >> 8) * 13 + 0x5A);
}

/* The pattern the guest writes: byte i of the written range. */
static inline uint8_t wr_byte(uint64_t i, uint8_t seed)
{
	return (uint8_t)((i * 13) ^ seed ^ (i >> 8));
}

/* Read 4 KiB at sector s of d into a small buffer and compare it with the
 * host's background pattern: the device still works. */
bool blk_check_read(struct vdev *d, uint64_t sector);
/* The other drive answers a GET_ID: every kick signalled before this one
 * on the I/O thread has been handled (see cases.c). */
bool io_fence(void);

/* ---- interrupts (irq.c) and the hostile cases (cases*.c) ------------------- */

bool irq_tests(struct vdev *d);
/* Run every case; returns how many failed. */
unsigned int run_cases(unsigned int *total);

#endif

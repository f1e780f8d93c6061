/* SPDX-License-Identifier: MIT */
/*
 * The hostile cases: each is a function that provokes one mistake on the
 * read-write drive (or the read-only one) and checks minivmm's documented
 * reaction (src/devices/virtio/pci.c, virtqueue.c, blk.c):
 *  - a bad request gets an error status (IOERR / UNSUPP) and the queue goes on;
 *  - a malformed ring or chain sets NEEDS_RESET (with a config interrupt),
 *    returns no used element, and the queue serves nothing until reset;
 *  - a ring outside guest RAM or a size that is not a power of two keeps
 *    queue_enable at 0 and sets NEEDS_RESET;
 *  - a kick before DRIVER_OK is dropped; bad status / feature / register
 *    writes are ignored.
 * The runner (cases.c) starts each case on a freshly initialised device and,
 * afterwards, resets it and checks that a read returns the image's bytes.
 */
#ifndef GUEST_VBLK_CASES_H
#define GUEST_VBLK_CASES_H

#include "vblk.h"

struct vcase {
	const char *name;
	bool (*fn)(void);
};

extern const struct vcase setup_cases[], req_cases[], chain_cases[];
extern const unsigned int nr_setup_cases, nr_req_cases, nr_chain_cases;

/* Print why the case failed; returns false. */
__attribute__((format(printf, 1, 2))) bool fail(const char *fmt, ...);
/* The reaction the case checks for, shown on its line (a literal). */
void note(const char *what);

/* Wait for the answer to head 0: status byte st, used.len len. */
bool expect_status(struct vdev *d, uint8_t st, uint32_t len);
/* A request (as blk_request) whose answer must be st with used.len len. */
bool expect_request(struct vdev *d, uint32_t type, uint64_t sector, uint64_t data,
		    uint32_t len, bool writable, uint8_t st, uint32_t used_len);
/* After a kick of a malformed chain: NEEDS_RESET, the config interrupt
 * (ISR bit 1), no used element, and a valid request kicked afterwards is
 * not served either. */
bool expect_needs_reset(struct vdev *d);
/* Descriptors 0..2 as a valid GET_ID request on d (not published). */
void stage_get_id(struct vdev *d);
/* Spare rings (AR_SPARE) of the given size, cleared. */
void place_spare(struct vq_place *p, uint16_t size);

#endif

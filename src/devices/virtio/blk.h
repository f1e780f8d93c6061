/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.x, 5.2): the device type behind a virtio transport.
 * Requests are parsed from the queues' chains and handed to a
 * block_backend with iovecs straight into guest memory; completions arrive
 * on the backend's thread.
 */
#ifndef MINIVMM_DEVICES_VIRTIO_BLK_H
#define MINIVMM_DEVICES_VIRTIO_BLK_H

#include <stdint.h>

#include "devices/block.h"
#include "devices/virtio/virtio_dev.h"
#include "mmu/memory.h"

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX     1
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_GEOMETRY     4
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_TOPOLOGY     10
#define VIRTIO_BLK_F_CONFIG_WCE   11
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_WZ_FLAG_UNMAP 1u
#define VIRTIO_BLK_ID_BYTES      20
#define VIRTIO_BLK_SECTOR        512u

/* Limits this device offers. */
#define VIRTIO_BLK_MAX_QUEUES        16
#define VIRTIO_BLK_SIZE_MAX          (1u << 20)    /* bytes per segment */
#define VIRTIO_BLK_MAX_DISCARD_SECT  (1u << 22)    /* 2 GiB per request */

/* The request header (readable, first 16 bytes of a chain). */
struct virtio_blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* One DISCARD / WRITE_ZEROES segment. */
struct virtio_blk_discard_wz {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

/* Configuration space (5.2.4), little-endian, up to the fields we offer. */
struct virtio_blk_config {
	uint64_t capacity;               /* 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	struct {
		uint16_t cylinders;
		uint8_t heads;
		uint8_t sectors;
	} geometry;
	uint32_t blk_size;
	struct {
		uint8_t physical_block_exp;
		uint8_t alignment_offset;
		uint16_t min_io_size;
		uint32_t opt_io_size;
	} topology;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed)); /* 60 bytes, no tail padding */

struct virtio_blk_params {
	const struct mem_map *mem;
	/* Not owned: it must outlive the device (destroy it afterwards). */
	struct block_backend *backend;
	unsigned int nr_queues;          /* 1..VIRTIO_BLK_MAX_QUEUES */
	uint16_t queue_size;             /* power of two, 4..VIRTQ_MAX_SIZE */
	const char *serial;              /* GET_ID, at most 20 bytes; NULL: "" */
};

/* A virtio-blk device type for a transport; freed by its ops->destroy. */
__attribute__((warn_unused_result))
int virtio_blk_create(const struct virtio_blk_params *p, struct virtio_dev **out);

#endif

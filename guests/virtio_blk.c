/* SPDX-License-Identifier: MIT */
/*
 * A bare-metal virtio-blk driver that then turns hostile (issue 13).  Run
 * with two drives: slot 1 read-write (serial= given), slot 2 readonly=on,
 * both raw images whose every byte is bg_byte(offset) (vblk/vblk.h).
 *
 *  1. PCI: mechanism #1 on 0xCF8/0xCFC, bus 0 scanned (host bridge at
 *     00:00.0, virtio-blk 1af4:1042 in slots 1 and 2, all-ones elsewhere),
 *     each function's capability list and BAR 0, memory decode turned on.
 *  2. virtio 1.x initialisation, then real requests: GET_ID (the serial),
 *     reads checked against the host's pattern, four reads in flight, one
 *     through an indirect table, a write of a known pattern (from an 8 KiB
 *     buffer that straddles a 2 MiB slot boundary under chunks:2M), FLUSH,
 *     and the read-back.  The readonly drive answers writes with IOERR.
 *  3. INTx and MSI-X delivery (vblk/irq.c).
 *  4. The hostile cases (vblk/cases*.c): each must get the reaction
 *     minivmm documents, and the device must work again afterwards.
 * Every step prints "vblk: ..."; the last line is "vblk: PASS ..." and the
 * exit status 0 only when everything held (GUEST_EXIT_FAIL otherwise).
 *
 * bootargs: serial=STR (required), seed=N, rsector=N, wsector=N (4 KiB
 * aligned sectors), cap=SECTORS (both images' size), wait=CYCLES (the
 * bound on every wait, in TSC cycles).
 */
#include "vblk/vblk.h"

struct vblk_env env;
static struct vdev rw_dev, ro_dev;
static char serial[21];
static uint64_t want_cap;

#define ARENA_LOW	(6 * BOARD_MiB)

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* RAM above 4 GiB (split layouts) holds the arena, so every ring and
 * buffer address needs 33 bits; otherwise it sits at 6 MiB. */
static bool choose_arena(void)
{
	const struct fdt_info *info = env.info;
	uint64_t a = ARENA_LOW;

	for (unsigned int i = 0; i < info->n_mem; i++) {
		const struct mem_range *r = &info->mem[i];

		if (r->size > env.big_size) {
			env.big_base = r->base;
			env.big_size = r->size;
		}
		if (r->base >= BOARD_HIGH_RAM_START && r->size >= ARENA_SIZE + PAGE_SIZE_2M)
			a = (r->base + PAGE_SIZE_2M - 1) & ~(PAGE_SIZE_2M - 1);
	}
	env.arena = a;
	if (overlaps(a, ARENA_SIZE, (uint64_t)__image_start,
		     (uint64_t)(__image_end - __image_start)))
		return false;
	for (unsigned int i = 0; i < info->n_rsv; i++)
		if (overlaps(a, ARENA_SIZE, info->rsv[i].base, info->rsv[i].size))
			return false;
	for (unsigned int i = 0; i < info->n_mem; i++)
		if (a >= info->mem[i].base &&
		    a + ARENA_SIZE <= info->mem[i].base + info->mem[i].size)
			return true;
	return false;
}

void place_rw(struct vq_place *p)
{
	*p = (struct vq_place){ .size = QSIZE, .desc = ar(AR_DESC), .avail = ar(AR_AVAIL),
				.used = ar(AR_USED), .msix = NO_VECTOR };
}

void place_ro(struct vq_place *p)
{
	*p = (struct vq_place){ .size = QSIZE, .desc = ar(AR_RO_RINGS),
				.avail = ar(AR_RO_RINGS + 0x1000),
				.used = ar(AR_RO_RINGS + 0x2000), .msix = NO_VECTOR };
}

static bool step(bool ok, const char *what)
{
	printf("vblk: %s: %s\n", what, ok ? "ok" : "FAILED");
	return ok;
}

static bool get_id_is(struct vdev *d, const char *want)
{
	uint8_t *id = (uint8_t *)d->id;
	uint32_t used;
	int st;

	memset(id, 0xAB, 32);
	st = blk_request(d, T_GET_ID, 0, d->id, 20, true, &used);
	if (st != S_OK || used != 21 || id[20] != 0xAB) {
		printf("vblk: GET_ID: status %d, used.len %u\n", st, used);
		return false;
	}
	/* 5.2.6: NUL-padded, no terminator when all 20 bytes are used. */
	for (unsigned int i = 0; i < 20; i++) {
		char c = i < strlen(want) ? want[i] : 0;

		if (id[i] != (uint8_t)c) {
			printf("vblk: GET_ID byte %u: 0x%02x, expected 0x%02x\n", i, id[i], c);
			return false;
		}
	}
	return true;
}

static bool drive_ok(struct vdev *d, bool ro)
{
	struct vq_place p;

	if (ro)
		place_ro(&p);
	else
		place_rw(&p);
	if (!vdev_init(d, &p))
		return false;
	printf("vblk: 00:%02x.0: features 0x%lx of 0x%lx, capacity %lu sectors, "
	       "block %u, %s\n", d->slot, d->negotiated, d->offered, d->capacity,
	       d->blk_size, d->ro ? "read-only" : "read-write");
	if (d->ro != ro || d->capacity != want_cap) {
		printf("vblk: 00:%02x.0: expected %s, %lu sectors\n", d->slot,
		       ro ? "read-only" : "read-write", want_cap);
		return false;
	}
	return true;
}

/* Four reads in flight at once, heads 0, 4, 8, 12, one kick. */
static bool reads_in_flight(struct vdev *d)
{
	struct vq *q = &d->q;
	unsigned int seen = 0;

	for (unsigned int k = 0; k < 4; k++) {
		uint64_t hdr = ar(AR_HDR + 0x200 + 16 * k), st = ar(AR_STATUS + 0x200 + k);
		uint64_t buf = ar(AR_SMALL + 0x2000 + 0x1000 * k);
		uint16_t h = (uint16_t)(4 * k);

		*(volatile uint32_t *)hdr = T_IN;
		*(volatile uint32_t *)(hdr + 4) = 0;
		*(volatile uint64_t *)(hdr + 8) = env.rsector + 8 * k;
		wr8(st, S_UNTOUCHED);
		memset((void *)buf, 0xCC, 4096);
		vq_set_desc(q, h, hdr, 16, D_NEXT, (uint16_t)(h + 1));
		vq_set_desc(q, h + 1u, buf, 4096, D_WRITE | D_NEXT, (uint16_t)(h + 2));
		vq_set_desc(q, h + 2u, st, 1, D_WRITE, 0);
		vq_publish(q, h);
	}
	vdev_kick(d, 0);
	if (!vq_wait(q, 4))
		return false;
	for (unsigned int k = 0; k < 4; k++) {
		uint32_t id, len;

		vq_used_elem(q, (uint16_t)k, &id, &len);
		if (id % 4 || id >= 16 || (seen & 1u << id) || len != 4097) {
			printf("vblk: in flight: used element %u: id %u len %u\n", k, id, len);
			return false;
		}
		seen |= 1u << id;
	}
	q->used_seen = (uint16_t)(q->used_seen + 4);
	for (unsigned int k = 0; k < 4; k++) {
		const uint8_t *buf = (const uint8_t *)ar(AR_SMALL + 0x2000 + 0x1000 * k);
		uint64_t base = (env.rsector + 8 * k) * SECTOR;

		if (rd8(ar(AR_STATUS + 0x200 + k)) != S_OK)
			return false;
		for (unsigned int i = 0; i < 4096; i++)
			if (buf[i] != bg_byte(base + i))
				return false;
	}
	return true;
}

/* A read through an indirect table: header, data, status. */
static bool indirect_read(struct vdev *d)
{
	volatile struct vdesc *t = (volatile struct vdesc *)ar(AR_INDIRECT);
	uint8_t *buf = (uint8_t *)d->small;
	uint32_t id, len;

	*(volatile uint32_t *)d->hdr = T_IN;
	*(volatile uint64_t *)(d->hdr + 8) = env.rsector;
	wr8(d->status, S_UNTOUCHED);
	memset(buf, 0xCC, 4096);
	t[0] = (struct vdesc){ d->hdr, 16, D_NEXT, 1 };
	t[1] = (struct vdesc){ d->small, 4096, D_WRITE | D_NEXT, 2 };
	t[2] = (struct vdesc){ d->status, 1, D_WRITE, 0 };
	vq_set_desc(&d->q, 0, ar(AR_INDIRECT), 48, D_INDIRECT, 0);
	vq_publish(&d->q, 0);
	vdev_kick(d, 0);
	if (!vq_wait(&d->q, 1))
		return false;
	vq_used_elem(&d->q, 0, &id, &len);
	d->q.used_seen++;
	if (id != 0 || len != 4097 || rd8(d->status) != S_OK)
		return false;
	for (unsigned int i = 0; i < 4096; i++)
		if (buf[i] != bg_byte(env.rsector * SECTOR + i))
			return false;
	return true;
}

/* The pattern from the buffer that straddles 6 MiB, FLUSH, read back into
 * the one that straddles 8 MiB. */
static bool write_flush_read(struct vdev *d)
{
	uint8_t *w = (uint8_t *)ar(AR_WBUF), *r = (uint8_t *)ar(AR_RBUF);
	uint32_t used;
	int st;

	for (unsigned int i = 0; i < BIG_LEN; i++)
		w[i] = wr_byte(i, env.seed);
	memset(r, 0xCC, BIG_LEN);
	st = blk_request(d, T_OUT, env.wsector, ar(AR_WBUF), BIG_LEN, false, &used);
	if (st != S_OK || used != 1)
		return printf("vblk: write: status %d used.len %u\n", st, used), false;
	st = blk_request(d, T_FLUSH, 0, 0, 0, false, &used);
	if (st != S_OK || used != 1)
		return printf("vblk: flush: status %d used.len %u\n", st, used), false;
	st = blk_request(d, T_IN, env.wsector, ar(AR_RBUF), BIG_LEN, true, &used);
	if (st != S_OK || used != BIG_LEN + 1)
		return printf("vblk: read back: status %d used.len %u\n", st, used), false;
	for (unsigned int i = 0; i < BIG_LEN; i++)
		if (r[i] != wr_byte(i, env.seed))
			return printf("vblk: read back byte %u: 0x%02x\n", i, r[i]), false;
	printf("vblk: wrote %u bytes at sector %lu from [0x%lx, 0x%lx), read back into "
	       "[0x%lx, 0x%lx)\n", BIG_LEN, env.wsector, ar(AR_WBUF), ar(AR_WBUF) + BIG_LEN,
	       ar(AR_RBUF), ar(AR_RBUF) + BIG_LEN);
	return true;
}

static void scratch(struct vdev *d, uint64_t off)
{
	d->hdr = ar(AR_HDR + off);
	d->status = ar(AR_STATUS + off);
	d->id = ar(AR_ID + off);
	d->small = ar(AR_SMALL + off * 2);	/* 0 or 0x1000 */
}

static bool setup(const void *fdt)
{
	const struct fdt_info *info = fdt_info_or_die("vblk", fdt);

	env.info = info;
	if (!bootarg_get(info->bootargs, "serial", serial, sizeof(serial))) {
		printf("vblk: no serial= in bootargs\n");
		return false;
	}
	env.seed = (uint8_t)bootarg_u64(info->bootargs, "seed", 0x5C);
	env.rsector = bootarg_u64(info->bootargs, "rsector", 64);
	env.wsector = bootarg_u64(info->bootargs, "wsector", 512);
	want_cap = bootarg_u64(info->bootargs, "cap", 2048);
	env.timeout = bootarg_u64(info->bootargs, "wait", 16ull << 30);
	env.ram_top = fdt_ram_top(info);
	env.mailbox = info->has_mmu && !info->mmu.bad ? info->mmu.mailbox : 0;
	if (env.rsector % 8 || env.wsector % 8 || env.rsector + 32 > want_cap ||
	    env.wsector + BIG_LEN / SECTOR > want_cap) {
		printf("vblk: rsector/wsector must be 4 KiB aligned and inside cap\n");
		return false;
	}
	if (!choose_arena()) {
		printf("vblk: no free RAM for the arena at 0x%lx\n", env.arena);
		return false;
	}
	printf("vblk: RAM top 0x%lx, arena [0x%lx, 0x%lx), mailbox 0x%lx\n", env.ram_top,
	       env.arena, env.arena + ARENA_SIZE, env.mailbox);
	env.rw = &rw_dev;
	env.ro = &ro_dev;
	scratch(env.rw, 0);
	scratch(env.ro, 0x800);
	return true;
}

int main(const void *fdt)
{
	unsigned int failed, total = 0;
	bool ok;

	if (!setup(fdt))
		return GUEST_EXIT_CONTRACT;
	ok = step(pci_scan(2), "pci scan");
	if (!ok || vdev_probe(env.rw, 1) || vdev_probe(env.ro, 2))
		return printf("vblk: FAIL: no usable virtio-blk functions\n"), GUEST_EXIT_FAIL;
	if (!step(drive_ok(env.ro, true), "read-only drive up") ||
	    !step(drive_ok(env.rw, false), "read-write drive up"))
		return printf("vblk: FAIL: initialisation\n"), GUEST_EXIT_FAIL;
	ok &= step(get_id_is(env.ro, "") && get_id_is(env.rw, serial), "GET_ID serials");
	ok &= step(blk_check_read(env.ro, env.rsector) && blk_check_read(env.rw, env.rsector),
		   "reads match the image");
	ok &= step(reads_in_flight(env.rw), "four reads in flight");
	ok &= step(indirect_read(env.rw), "read through an indirect table");
	ok &= step(write_flush_read(env.rw), "write, flush, read back");
	ok &= step(irq_tests(env.rw), "interrupts");
	failed = run_cases(&total);
	/* Nothing a case did reached the image: the pattern and sector 0. */
	ok &= step(blk_check_read(env.rw, 0) && blk_check_read(env.ro, 0) &&
		   write_flush_read(env.rw), "image intact after the cases");
	if (!ok || failed) {
		printf("vblk: FAIL: %u of %u cases failed%s\n", failed, total,
		       ok ? "" : ", and a step failed");
		return GUEST_EXIT_FAIL;
	}
	printf("vblk: PASS: %u hostile cases, each with its documented reaction\n", total);
	return GUEST_EXIT_OK;
}

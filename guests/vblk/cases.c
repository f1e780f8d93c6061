/* SPDX-License-Identifier: MIT */
/*
 * The case runner, the helpers every case uses, and the cases about single
 * requests: each gets an error status and the queue carries on.
 */
#include "cases.h"

static const char *reaction;

bool fail(const char *fmt, ...)
{
	va_list ap;

	putstr("vblk:   ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putstr("\n");
	return false;
}

void note(const char *what)
{
	reaction = what;
}

/* ---- helpers ---------------------------------------------------------------- */

bool expect_status(struct vdev *d, uint8_t st, uint32_t len)
{
	uint32_t id, used;
	uint8_t got;

	if (!vq_wait(&d->q, 1))
		return fail("no used element (status 0x%x)", vstatus(d));
	vq_used_elem(&d->q, 0, &id, &used);
	d->q.used_seen++;
	got = rd8(d->status);
	if (id != 0 || used != len || got != st)
		return fail("answered id %u used.len %u status %u; expected 0, %u, %u",
			    id, used, got, len, st);
	return true;
}

bool expect_request(struct vdev *d, uint32_t type, uint64_t sector, uint64_t data,
		    uint32_t len, bool writable, uint8_t st, uint32_t used_len)
{
	uint32_t used;
	int got = blk_request(d, type, sector, data, len, writable, &used);

	if (got != st || used != used_len)
		return fail("type %u sector 0x%lx: status %d used.len %u; expected %u, %u",
			    type, sector, got, used, st, used_len);
	return true;
}

void stage_get_id(struct vdev *d)
{
	*(volatile uint32_t *)d->hdr = T_GET_ID;
	*(volatile uint32_t *)(d->hdr + 4) = 0;
	*(volatile uint64_t *)(d->hdr + 8) = 0;
	wr8(d->status, S_UNTOUCHED);
	vq_set_desc(&d->q, 0, d->hdr, 16, D_NEXT, 1);
	vq_set_desc(&d->q, 1, d->id, 20, D_WRITE | D_NEXT, 2);
	vq_set_desc(&d->q, 2, d->status, 1, D_WRITE, 0);
}

bool expect_needs_reset(struct vdev *d)
{
	uint64_t until = deadline();
	uint8_t st, isr;

	note("NEEDS_RESET + config interrupt, no used element, queue stopped until reset");
	while (!((st = vstatus(d)) & ST_NEEDS_RESET))
		if (!before(until))
			return fail("no NEEDS_RESET (status 0x%x, used idx %u)", st,
				    vq_used_idx(&d->q));
	/* NEEDS_RESET is raised after the device stopped looking at the
	 * ring, so a used element would be there by now. */
	if (vq_used_idx(&d->q) != d->q.used_seen)
		return fail("a used element came back for the malformed chain");
	isr = rd8(d->isr);
	if (!(isr & 2))
		return fail("ISR 0x%x: no configuration-change interrupt", isr);
	/* Stopped until reset: a good request is not served. */
	stage_get_id(d);
	vq_publish(&d->q, 0);
	vdev_kick(d, 0);
	if (!io_fence())
		return false;
	if (vq_used_idx(&d->q) != d->q.used_seen)
		return fail("a request was served after NEEDS_RESET");
	return true;
}

void place_spare(struct vq_place *p, uint16_t size)
{
	*p = (struct vq_place){ .size = size, .desc = ar(AR_SPARE),
				.avail = ar(AR_SPARE + 0x1000),
				.used = ar(AR_SPARE + 0x2000), .msix = NO_VECTOR };
	vq_clear(p);
}

/* ---- requests that fail alone ----------------------------------------------- */

static bool read_past_capacity(void)
{
	struct vdev *d = env.rw;

	note("IOERR, used.len 1");
	return expect_request(d, T_IN, d->capacity, d->small, 4096, true, S_IOERR, 1);
}

static bool read_straddles_capacity(void)
{
	struct vdev *d = env.rw;

	note("IOERR, used.len 1");
	return expect_request(d, T_IN, d->capacity - 4, d->small, 4096, true, S_IOERR, 1);
}

/* sector * 512 = 2^64: a device that multiplied first would write sector 0
 * (main() checks it afterwards, the host checks the image). */
static bool write_sector_wraps(void)
{
	note("IOERR, sector 0 untouched");
	memset((void *)env.rw->small, 0x99, 4096);
	return expect_request(env.rw, T_OUT, 1ull << 55, env.rw->small, 4096, false,
			      S_IOERR, 1);
}

static bool read_sector_max(void)
{
	note("IOERR");
	return expect_request(env.rw, T_IN, ~0ull, env.rw->small, 4096, true, S_IOERR, 1);
}

static bool read_len_not_sectors(void)
{
	note("IOERR");
	return expect_request(env.rw, T_IN, env.rsector, env.rw->small, 100, true, S_IOERR, 1);
}

static bool unknown_type(void)
{
	note("UNSUPP");
	return expect_request(env.rw, 0x7777, 0, 0, 0, false, S_UNSUPP, 1);
}

static bool discard_not_negotiated(void)
{
	volatile uint64_t *seg = (volatile uint64_t *)env.rw->small;

	seg[0] = 0;		/* sector 0 */
	seg[1] = 8;		/* 8 sectors, flags 0 */
	note("UNSUPP, sector 0 untouched");
	return expect_request(env.rw, T_DISCARD, 0, env.rw->small, 16, false, S_UNSUPP, 1);
}

static bool get_id_short_buffer(void)
{
	struct vdev *d = env.rw;
	uint8_t *id = (uint8_t *)d->id;
	char want[21];

	memset(id, 0xAB, 32);
	if (!expect_request(d, T_GET_ID, 0, d->id, 5, true, S_OK, 6))
		return false;
	if (!bootarg_get(env.info->bootargs, "serial", want, sizeof(want)))
		return fail("no serial");
	if (memcmp(id, want, 5) || id[5] != 0xAB)
		return fail("GET_ID into 5 bytes wrote %02x %02x .. guard %02x", id[0], id[1],
			    id[5]);
	note("OK, 5 bytes of the serial, used.len 6, nothing past the buffer");
	return true;
}

static bool zero_length_read(void)
{
	note("OK, used.len 1");
	return expect_request(env.rw, T_IN, env.rsector, 0, 0, true, S_OK, 1);
}

static bool readonly_write(void)
{
	struct vdev *d = env.ro;

	memset((void *)d->small, 0x77, 4096);
	note("IOERR; reads still match the image");
	return expect_request(d, T_OUT, env.rsector, d->small, 4096, false, S_IOERR, 1) &&
	       blk_check_read(d, env.rsector);
}

static bool readonly_discard(void)
{
	volatile uint64_t *seg = (volatile uint64_t *)env.ro->small;

	seg[0] = env.rsector;
	seg[1] = 8;
	note("IOERR (not offered, but a write to a read-only device)");
	return expect_request(env.ro, T_DISCARD, 0, env.ro->small, 16, false, S_IOERR, 1);
}

static bool readonly_flush(void)
{
	note("OK");
	return expect_request(env.ro, T_FLUSH, 0, 0, 0, false, S_OK, 1);
}

const struct vcase req_cases[] = {
	{ "read-past-capacity", read_past_capacity },
	{ "read-straddles-capacity", read_straddles_capacity },
	{ "write-sector-times-512-wraps", write_sector_wraps },
	{ "read-sector-2^64-1", read_sector_max },
	{ "read-length-not-sectors", read_len_not_sectors },
	{ "unknown-request-type", unknown_type },
	{ "discard-not-negotiated", discard_not_negotiated },
	{ "get-id-short-buffer", get_id_short_buffer },
	{ "zero-length-read", zero_length_read },
	{ "readonly-drive-write", readonly_write },
	{ "readonly-drive-discard", readonly_discard },
	{ "readonly-drive-flush", readonly_flush },
};
const unsigned int nr_req_cases = sizeof(req_cases) / sizeof(req_cases[0]);

/* ---- the runner ---------------------------------------------------------------- */

static bool run_one(const struct vcase *c)
{
	struct vq_place p;
	bool ok;

	place_rw(&p);
	reaction = NULL;
	if (!vdev_init(env.rw, &p))
		return fail("could not initialise the device before the case");
	(void)rd8(env.rw->isr);
	ok = c->fn();
	/* Whatever state the case left: reset, start again, read. */
	place_rw(&p);
	if (!vdev_init(env.rw, &p) || !blk_check_read(env.rw, env.rsector))
		return fail("the device does not work after a reset");
	return ok;
}

unsigned int run_cases(unsigned int *total)
{
	static const struct {
		const struct vcase *cases;
		const unsigned int *n;
	} tables[] = {
		{ setup_cases, &nr_setup_cases },
		{ req_cases, &nr_req_cases },
		{ chain_cases, &nr_chain_cases },
	};
	unsigned int failed = 0;

	for (unsigned int t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		for (unsigned int i = 0; i < *tables[t].n; i++) {
			const struct vcase *c = &tables[t].cases[i];
			bool ok = run_one(c);

			printf("vblk: case %s: %s (%s)\n", c->name, ok ? "ok" : "FAIL, expected",
			       reaction ? reaction : "-");
			failed += !ok;
			++*total;
		}
	}
	return failed;
}

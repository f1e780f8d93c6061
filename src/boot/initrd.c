// SPDX-License-Identifier: MIT
#include "boot/initrd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "boot/decompress.h"

#define CPIO_HDR      110
#define CPIO_PATH_MAX 4096      /* the kernel skips entries with longer names */
/* The name's padding: header + name end 4-byte aligned (init/initramfs.c). */
#define N_ALIGN(n)    ((((uint64_t)(n) + 1) & ~3ULL) + 2)

/* Field i of a newc header: 8 hex digits (0 on anything else). */
static bool hex_field(const uint8_t *hdr, unsigned int i, uint32_t *v)
{
	const uint8_t *p = hdr + 6 + 8 * i;

	*v = 0;
	for (int k = 0; k < 8; k++) {
		uint8_t c = p[k];
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		*v = *v << 4 | d;
	}
	return true;
}

/* The size of the newc entry at p[0, n), its padding included; 0 with
 * *why when there is no complete, well-formed entry there. */
static size_t cpio_entry(const uint8_t *p, size_t n, const char **why)
{
	uint32_t filesize, namesize;
	uint64_t size;

	if (n < CPIO_HDR) {
		*why = "a cpio header is cut short";
		return 0;
	}
	if (memcmp(p, "070701", 6) && memcmp(p, "070702", 6)) {
		*why = memcmp(p, "070707", 6) ? "no cpio magic"
					      : "an odc cpio header (the kernel takes newc only)";
		return 0;
	}
	if (!hex_field(p, 6, &filesize) || !hex_field(p, 11, &namesize)) {
		*why = "a cpio header with a malformed size";
		return 0;
	}
	size = (CPIO_HDR + N_ALIGN(namesize) + filesize + 3) & ~3ULL;
	if (size > n) {
		*why = "a cpio entry is cut short";
		return 0;
	}
	if (namesize >= 1 && namesize <= CPIO_PATH_MAX && p[CPIO_HDR + namesize - 1]) {
		*why = "a cpio name without its terminating NUL";
		return 0;
	}
	return (size_t)size;
}

/* Checks a member's output as the kernel's flush_buffer reads it: entries
 * at 4-byte-aligned offsets (relative to the member's start) and zero
 * padding, nothing else, the last entry complete.  NULL or the problem. */
static const char *check_stream(const uint8_t *p, size_t n)
{
	const char *why = NULL;
	size_t pos = 0, entries = 0;

	while (pos < n) {
		size_t size;

		if (!p[pos]) {
			pos++;
			continue;
		}
		if (p[pos] != '0')
			return "data that is neither a cpio entry nor padding";
		if (pos & 3)
			return "a cpio entry at an unaligned offset";
		size = cpio_entry(p + pos, n - pos, &why);
		if (!size)
			return why;
		pos += size;
		entries++;
	}
	return entries ? NULL : "no cpio entry";
}

/* The growing result, capped at limit bytes. */
struct out {
	uint8_t *p;
	size_t len, cap, limit;
	const char *what;
};

/* Appends src[0, n) at the next 4-byte-aligned offset (zeros between). */
static int out_append(struct out *o, const uint8_t *src, size_t n)
{
	size_t at = (o->len + 3) & ~(size_t)3;

	if (at > o->limit || n > o->limit - at) {
		log_err("%s: unpacks to more than %zu bytes: refused", o->what, o->limit);
		return -EFBIG;
	}
	if (at + n > o->cap) {
		size_t cap = o->cap ? o->cap : (4u << 20);
		uint8_t *p;

		while (cap < at + n)
			cap = cap > o->limit / 2 ? o->limit : cap * 2;
		p = realloc(o->p, cap);
		if (!p) {
			log_err("%s: out of memory for %zu bytes", o->what, cap);
			return -ENOMEM;
		}
		o->p = p;
		o->cap = cap;
	}
	memset(o->p + o->len, 0, at - o->len);
	memcpy(o->p + at, src, n);
	o->len = at + n;
	return 0;
}

static void add_format(struct initrd_unpacked *u, const char *name)
{
	size_t l = strlen(u->formats);
	const char *last = strrchr(u->formats, ' ');

	last = last ? last + 1 : u->formats;
	if (l && !strcmp(last, name))
		return;
	snprintf(u->formats + l, sizeof(u->formats) - l, "%s%s", l ? " + " : "", name);
}

static void untouched(struct initrd_unpacked *u, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void untouched(struct initrd_unpacked *u, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(u->why_untouched, sizeof(u->why_untouched), fmt, ap);
	va_end(ap);
}

/* One compressed member at in[pos, len): decompressed, checked, appended.
 * 1 when the file must go to the kernel untouched (u says why). */
static int do_member(const uint8_t *in, size_t len, size_t pos, struct out *o,
		     struct initrd_unpacked *u, size_t *used)
{
	enum decompress_format fmt = decompress_detect(in + pos, len - pos);
	const char *name = decompress_format_name(fmt), *bad;
	size_t room = o->limit - ((o->len + 3) & ~(size_t)3), m_len;
	char label[160];
	uint8_t *m;
	int err;

	if (fmt == DECOMPRESS_UNKNOWN || fmt == DECOMPRESS_NONE) {
		untouched(u, "not an initramfs: unknown data at offset 0x%zx", pos);
		return 1;
	}
	if (fmt == DECOMPRESS_LZO) {
		untouched(u, "an lzo member at offset 0x%zx (no host decoder)", pos);
		return 1;
	}
	snprintf(label, sizeof(label), "%s: %s member at offset 0x%zx", o->what, name, pos);
	err = decompress_member(in + pos, len - pos, &m, &m_len, room, used, label);
	if (err)
		return err;
	bad = check_stream(m, m_len);
	if (bad) {
		untouched(u, "the %s member at offset 0x%zx is not a cpio archive (%s)", name,
			  pos, bad);
		free(m);
		return 1;
	}
	err = out_append(o, m, m_len);
	free(m);
	if (err)
		return err;
	u->members++;
	add_format(u, name);
	return 0;
}

int initrd_unpack(const uint8_t *in, size_t len, size_t max_out, const char *what,
		  struct initrd_unpacked *u)
{
	struct out o = { .limit = max_out, .what = what };
	size_t pos = 0, run = 0, run_end = 0;
	bool in_run = false;
	int err = 0;

	memset(u, 0, sizeof(*u));
	while (pos < len) {
		const char *why = NULL;
		size_t size, used = 0;

		if (!in[pos]) {
			pos++;
			continue;
		}
		if (in[pos] == '0' && !(pos & 3)) {
			size = cpio_entry(in + pos, len - pos, &why);
			if (!size) {
				untouched(u, "not an initramfs: %s at offset 0x%zx", why, pos);
				err = 1;
				break;
			}
			if (!in_run || pos != run_end) {
				/* A new run (zeros between runs are dropped). */
				if (in_run) {
					err = out_append(&o, in + run, run_end - run);
					if (err)
						break;
				}
				run = pos;
				in_run = true;
				u->cpio_pieces++;
				add_format(u, "cpio");
			}
			pos += size;
			run_end = pos;
			continue;
		}
		if (in_run) {
			err = out_append(&o, in + run, run_end - run);
			in_run = false;
			if (err)
				break;
		}
		err = do_member(in, len, pos, &o, u, &used);
		if (err)
			break;
		pos += used;
	}
	if (!err && in_run)
		err = out_append(&o, in + run, run_end - run);
	if (!err && !u->members) {
		untouched(u, "uncompressed already");
		err = 1;
	}
	if (err) {
		free(o.p);
		u->cpio_pieces = u->members = 0;
		return err > 0 ? 0 : err;
	}
	u->data = o.p;
	u->len = o.len;
	return 0;
}

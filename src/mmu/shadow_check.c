// SPDX-License-Identifier: MIT
/*
 * shadow_check: recompute everything the shadow MMU keeps incrementally
 * (refcounts, reverse map, free list, entries) and compare.  For tests and
 * debugging; allocates a scratch array per call.
 */
#include "mmu/shadow_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct check {
	struct shadow_mmu *s;
	uint32_t *refs; /* recomputed reference counts */
	char *why;
	size_t len;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct check *c, const char *fmt, ...)
{
	va_list ap;

	if (c->why && c->len) {
		va_start(ap, fmt);
		vsnprintf(c->why, c->len, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

static int check_lists(struct check *c)
{
	struct shadow_mmu *s = c->s;
	uint64_t n = s->cfg.store_pages, free_pages = 0, used = 0, hashed = 0;

	for (uint32_t sp = s->free_head; sp != SP_NIL; sp = s->pages[sp].next) {
		if (sp >= n || s->pages[sp].refs || ++free_pages > n)
			return fail(c, "free list broken at page %" PRIu32, sp);
	}
	for (uint64_t i = 0; i < n; i++)
		used += s->pages[i].refs != 0;
	if (used + free_pages != n || used != s->stats.pages_in_use)
		return fail(c, "%" PRIu64 " used + %" PRIu64 " free != %" PRIu64
			    " pages, pages_in_use %" PRIu64, used, free_pages, n,
			    s->stats.pages_in_use);
	for (uint64_t b = 0; b <= s->bucket_mask; b++) {
		for (uint32_t sp = s->buckets[b]; sp != SP_NIL; sp = s->pages[sp].next) {
			const struct shadow_page *p = &s->pages[sp];

			if (sp >= n || !p->refs || shadow_bucket(s, p->gpa) != b ||
			    p->level >= PT_LEVELS || ++hashed > used)
				return fail(c, "reverse map broken at page %" PRIu32, sp);
			if (shadow_lookup(s, p->gpa, p->level) != sp)
				return fail(c, "(0x%" PRIx64 ", %u) shadowed twice", p->gpa,
					    p->level);
		}
	}
	if (hashed != used)
		return fail(c, "%" PRIu64 " pages in the reverse map, %" PRIu64 " used",
			    hashed, used);
	return 0;
}

static int check_roots(struct check *c)
{
	struct shadow_mmu *s = c->s;

	if (s->current >= (int)s->nr_slots || (s->current >= 0 && !s->roots[s->current].used))
		return fail(c, "current root slot %d not in use", s->current);
	for (unsigned int i = 0; i < s->nr_slots; i++) {
		const struct shadow_root *r = &s->roots[i];

		if (!r->used)
			continue;
		if (r->sp >= s->cfg.store_pages || !s->pages[r->sp].refs ||
		    s->pages[r->sp].level || s->pages[r->sp].gpa != r->guest_root)
			return fail(c, "root slot %u: bad page %" PRIu32, i, r->sp);
		c->refs[r->sp]++;
	}
	return 0;
}

static int check_entry(struct check *c, uint32_t sp, unsigned int i, uint64_t g,
		       bool complete)
{
	struct shadow_mmu *s = c->s;
	int level = s->pages[sp].level;
	uint64_t cur = shadow_entry(s, sp, i), addr = cur & s->addr_mask;
	uint32_t child = shadow_child(s, level, cur);
	struct shadow_derived d;

	if (child != SP_NIL) {
		if (addr < s->cfg.store_gpa || addr >= s->store_end ||
		    !s->pages[child].refs || s->pages[child].level != level + 1)
			return fail(c, "page %" PRIu32 " entry %u links a bad page (0x%" PRIx64 ")",
				    sp, i, cur);
		c->refs[child]++;
	}
	shadow_derive(s, level, g, &d);
	if (cur && !shadow_entry_matches(s, cur, child, &d))
		return fail(c, "page %" PRIu32 " (0x%" PRIx64 " level %d) entry %u: 0x%" PRIx64
			    " but guest 0x%" PRIx64, sp, s->pages[sp].gpa, level, i, cur, g);
	if (!cur && complete && d.kind != SH_NONE)
		return fail(c, "page %" PRIu32 " (0x%" PRIx64 " level %d) entry %u missing"
			    " (guest 0x%" PRIx64 ")", sp, s->pages[sp].gpa, level, i, g);
	return 0;
}

int shadow_check(struct shadow_mmu *s, bool complete, char *why, size_t len)
{
	struct check c = { .s = s, .why = why, .len = len };
	int rc;

	if (why && len)
		why[0] = '\0';
	c.refs = calloc(s->cfg.store_pages, sizeof(*c.refs));
	if (!c.refs)
		return -ENOMEM;
	rc = check_lists(&c);
	if (!rc)
		rc = check_roots(&c);
	for (uint32_t sp = 0; !rc && sp < s->cfg.store_pages; sp++) {
		const uint8_t *t;

		if (!s->pages[sp].refs)
			continue;
		t = shadow_guest_table(s, s->pages[sp].gpa);
		for (unsigned int i = 0; !rc && i < PT_ENTRIES; i++)
			rc = check_entry(&c, sp, i, shadow_guest_entry(t, i), complete);
	}
	for (uint32_t sp = 0; !rc && sp < s->cfg.store_pages; sp++) {
		if (c.refs[sp] != s->pages[sp].refs)
			rc = fail(&c, "page %" PRIu32 " refs %" PRIu32 ", %" PRIu32 " found", sp,
				  s->pages[sp].refs, c.refs[sp]);
	}
	free(c.refs);
	return rc;
}

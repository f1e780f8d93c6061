// SPDX-License-Identifier: MIT
#include "profile/timeline.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "report/svg.h"

#define TOP 3

void timeline_init(struct timeline *t, uint64_t start_ns)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->start_ns = start_ns;
}

void timeline_destroy(struct timeline *t)
{
	free(t->v);
	pthread_mutex_destroy(&t->lock);
	memset(t, 0, sizeof(*t));
}

static void end_line(struct timeline *t, uint64_t now,
		     void (*totals)(void *ctx, struct exit_stats *out), void *ctx)
{
	struct timeline_line *l;

	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;
		struct timeline_line *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return; /* the timeline misses a line; the guest goes on */
		t->v = v;
		t->cap = cap;
	}
	l = &t->v[t->n++];
	memset(l, 0, sizeof(*l));
	l->ns = now;
	memcpy(l->text, t->partial, t->plen);
	l->text[t->plen] = '\0';
	totals(ctx, &l->exits);
	t->plen = 0;
}

void timeline_feed(struct timeline *t, const uint8_t *buf, size_t len, uint64_t now,
		   void (*totals)(void *ctx, struct exit_stats *out), void *ctx)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < len; i++) {
		uint8_t c = buf[i];

		if (c == '\n') {
			end_line(t, now, totals, ctx);
		} else if (c == '\r') {
			continue;
		} else if (t->plen < TIMELINE_TEXT - 1) {
			/* Printable ASCII as it is, the rest as '?'. */
			t->partial[t->plen++] = c >= 0x20 && c < 0x7F ? (char)c : '?';
		}
	}
	pthread_mutex_unlock(&t->lock);
}

static uint64_t exits_total(const struct exit_stats *s)
{
	uint64_t n = 0;

	for (unsigned int r = 0; r < EXIT_REASON_MAX; r++)
		n += s->by_reason[r];
	return n;
}

struct hit {
	const char *name;   /* NULL: "[user]" or "[unknown]" by ring */
	uint8_t ring;
	uint64_t count;
};

static int by_hits(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;

	return (x->count < y->count) - (x->count > y->count);
}

/*
 * The TOP functions sampled in [from, to): counted in a small array (the
 * samples of one interval are few), names from syms.
 */
static size_t top_in(const struct profile *p, const struct symbols *syms, uint64_t from,
		     uint64_t to, struct hit *top, uint64_t *samples)
{
	struct hit *h = NULL;
	size_t n = 0, cap = 0;

	*samples = 0;
	for (unsigned int v = 0; p && v < p->nr_vcpus; v++) {
		for (size_t i = 0; i < p->per_vcpu[v].n; i++) {
			const struct profile_sample *s = &p->per_vcpu[v].v[i];
			const struct symbol *sym;
			const char *name;
			size_t j;

			if (s->ns < from || s->ns >= to)
				continue;
			(*samples)++;
			sym = syms ? symbols_find(syms, s->rip) : NULL;
			name = sym ? sym->name : NULL;
			for (j = 0; j < n; j++)
				if (h[j].name == name && h[j].ring == s->cpl)
					break;
			if (j == n) {
				if (n == cap) {
					struct hit *m = realloc(h, (cap = cap ? 2 * cap : 16) * sizeof(*m));

					if (!m)
						continue;
					h = m;
				}
				h[n++] = (struct hit){ .name = name, .ring = s->cpl };
			}
			h[j].count++;
		}
	}
	if (n)
		qsort(h, n, sizeof(*h), by_hits);
	if (n > TOP)
		n = TOP;
	if (n)
		memcpy(top, h, n * sizeof(*h));
	free(h);
	return n;
}

static const char *hit_name(const struct hit *h)
{
	return h->name ? h->name : h->ring == 3 ? "[user]" : "[unknown]";
}

/* One interval: [from, to) with the exits between before and after. */
static json_t *interval_json(const struct profile *prof, const struct symbols *syms,
			     uint64_t start, uint64_t from, uint64_t to,
			     const struct exit_stats *before, const struct exit_stats *after)
{
	json_t *o = json_object(), *reasons = json_object(), *top = json_array();
	struct hit h[TOP];
	uint64_t samples;
	size_t n = top_in(prof, syms, from, to, h, &samples);

	for (unsigned int r = 0; r < EXIT_REASON_MAX; r++) {
		uint64_t x = after->by_reason[r] - before->by_reason[r];
		json_int_t prev = json_integer_value(json_object_get(reasons, exit_reason_name(r)));

		if (x)
			json_object_set_new(reasons, exit_reason_name(r),
					    json_integer(prev + (json_int_t)x));
	}
	json_object_set_new(o, "t_s", json_real((double)(to - start) / 1e9));
	json_object_set_new(o, "interval_s", json_real((double)(to - from) / 1e9));
	json_object_set_new(o, "exits",
			    json_integer((json_int_t)(exits_total(after) - exits_total(before))));
	json_object_set_new(o, "exits_by_reason", reasons);
	json_object_set_new(o, "pio_accesses",
			    json_integer((json_int_t)(after->pio_accesses - before->pio_accesses)));
	json_object_set_new(o, "mmio_accesses",
			    json_integer((json_int_t)(after->mmio_accesses - before->mmio_accesses)));
	if (prof) {
		json_object_set_new(o, "samples", json_integer((json_int_t)samples));
		for (size_t i = 0; i < n; i++) {
			json_t *f = json_object();

			json_object_set_new(f, "function", json_string(hit_name(&h[i])));
			json_object_set_new(f, "ring", json_integer(h[i].ring));
			json_object_set_new(f, "samples", json_integer((json_int_t)h[i].count));
			json_array_append_new(top, f);
		}
	}
	json_object_set_new(o, "top", top);
	return o;
}

#define ROW 16
#define LEFT 560
#define WIDTH 1400
#define TOP_MARGIN 40

static void write_svg(FILE *f, const struct timeline *t, uint64_t end_ns,
		      const struct profile *prof, const struct symbols *syms)
{
	double total = (double)(end_ns - t->start_ns) / 1e9, step = svg_step(total);
	double scale = total > 0 ? (WIDTH - LEFT - 240) / total : 0;
	int height = TOP_MARGIN + ROW * (int)(t->n + 2);
	uint64_t prev = t->start_ns;

	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"font-family=\"monospace\" font-size=\"11\">\n", WIDTH, height);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	fprintf(f, "<text x=\"8\" y=\"16\" font-size=\"13\">minivmm boot timeline: %zu console "
		"lines in %.2f s%s</text>\n", t->n, total,
		prof ? "; bars labelled with the interval's most sampled function" : "");
	for (double x = 0; x <= total + 1e-9; x += step) {
		int px = LEFT + (int)(x * scale);

		fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>"
			"<text x=\"%d\" y=\"%d\" fill=\"#666\">%g s</text>\n", px, TOP_MARGIN - 12,
			px, height, px + 2, TOP_MARGIN - 4, x);
	}
	for (size_t i = 0; i <= t->n; i++) {
		uint64_t to = i < t->n ? t->v[i].ns : end_ns;
		const char *text = i < t->n ? t->v[i].text : "(run ends)";
		int y = TOP_MARGIN + ROW * (int)i;
		double x0 = (double)(prev - t->start_ns) / 1e9 * scale;
		double w = (double)(to - prev) / 1e9 * scale;
		struct hit h[TOP];
		uint64_t samples;
		size_t n = top_in(prof, syms, prev, to, h, &samples);
		char label[TIMELINE_TEXT];

		snprintf(label, sizeof(label), "%.78s", text);
		fprintf(f, "<text x=\"4\" y=\"%d\">", y + 12);
		svg_text(f, label);
		fprintf(f, "</text><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
			"fill=\"%s\"><title>%.3f s, ", LEFT + x0, y + 2, w < 1 ? 1 : w, ROW - 4,
			n && h[0].ring == 3 ? "#59a14f" : "#4e79a7", (double)(to - prev) / 1e9);
		if (i < t->n)
			fprintf(f, "%" PRIu64 " exits", exits_total(&t->v[i].exits) -
							     (i ? exits_total(&t->v[i - 1].exits) : 0));
		fprintf(f, "</title></rect>");
		if (n) {
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" fill=\"#444\">", LEFT + x0 + (w < 1 ? 1 : w) + 4,
				y + 12);
			svg_text(f, hit_name(&h[0]));
			fprintf(f, " (%" PRIu64 "/%" PRIu64 ")</text>", h[0].count, samples);
		}
		fputc('\n', f);
		prev = to;
	}
	fprintf(f, "</svg>\n");
}

int timeline_write(const struct timeline *t, const char *path, uint64_t end_ns,
		   const struct exit_stats *end_exits, const struct profile *prof,
		   const struct symbols *syms)
{
	json_t *root = json_object(), *lines = json_array();
	struct exit_stats zero = { 0 };
	uint64_t prev = t->start_ns;
	char svg_path[4096];
	FILE *f;
	int err = 0;

	for (size_t i = 0; i < t->n; i++) {
		json_t *o = interval_json(prof, syms, t->start_ns, prev, t->v[i].ns,
					  i ? &t->v[i - 1].exits : &zero, &t->v[i].exits);

		json_object_set_new(o, "text", json_string(t->v[i].text));
		json_array_append_new(lines, o);
		prev = t->v[i].ns;
	}
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "run_s", json_real((double)(end_ns - t->start_ns) / 1e9));
	json_object_set_new(root, "profile_hz", prof ? json_integer(prof->hz) : json_null());
	json_object_set_new(root, "lines", lines);
	json_object_set_new(root, "after_last_line",
			    interval_json(prof, syms, t->start_ns, prev, end_ns,
					  t->n ? &t->v[t->n - 1].exits : &zero, end_exits));
	if (json_dump_file(root, path, JSON_INDENT(1)))
		err = -EIO;
	json_decref(root);
	if (err) {
		log_err("--timeline %s: cannot write it", path);
		return err;
	}
	if ((size_t)snprintf(svg_path, sizeof(svg_path), "%s.svg", path) >= sizeof(svg_path))
		return -ENAMETOOLONG;
	f = fopen(svg_path, "w");
	if (!f) {
		err = -errno;
		log_err("--timeline %s: %s", svg_path, strerror(errno));
		return err;
	}
	write_svg(f, t, end_ns, prof, syms);
	if (fclose(f)) {
		err = -errno;
		log_err("--timeline %s: %s", svg_path, strerror(errno));
	}
	return err;
}

// SPDX-License-Identifier: MIT
#include "profile/profile.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/sandbox.h"
#include "cpu/vcpu.h"

int profile_init(struct profile *p, unsigned int hz, struct vcpu *vcpus, unsigned int nr)
{
	memset(p, 0, sizeof(*p));
	p->timer_fd = p->wake_fd = -1;
	p->hz = hz;
	p->vcpus = vcpus;
	p->nr_vcpus = nr;
	p->per_vcpu = calloc(nr, sizeof(*p->per_vcpu));
	if (!p->per_vcpu)
		return -ENOMEM;
	p->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	p->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (p->timer_fd < 0 || p->wake_fd < 0) {
		int err = -errno;

		profile_destroy(p);
		return err;
	}
	return 0;
}

void profile_sample(struct profile *p, unsigned int vcpu, uint64_t rip, unsigned int cpl)
{
	struct profile_vcpu *pv;

	if (vcpu >= p->nr_vcpus)
		return;
	pv = &p->per_vcpu[vcpu];
	if (pv->n == pv->cap) {
		size_t cap = pv->cap ? 2 * pv->cap : 4096;
		struct profile_sample *v = realloc(pv->v, cap * sizeof(*v));

		if (!v) {
			pv->dropped++;
			return;
		}
		pv->v = v;
		pv->cap = cap;
	}
	pv->v[pv->n++] = (struct profile_sample){ .rip = rip, .ns = now_ns(), .cpl = (uint8_t)cpl };
}

static void *profile_thread(void *arg)
{
	struct profile *p = arg;
	struct pollfd fds[2] = { { .fd = p->timer_fd, .events = POLLIN },
				 { .fd = p->wake_fd, .events = POLLIN } };

	sandbox_enter(SANDBOX_PROFILE);

	while (!atomic_load(&p->stop)) {
		uint64_t n;

		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents || atomic_load(&p->stop))
			break;
		if (!(fds[0].revents & POLLIN) || read(p->timer_fd, &n, sizeof(n)) != sizeof(n))
			continue;
		p->ticks++;
		for (unsigned int i = 0; i < p->nr_vcpus; i++)
			vcpu_request_sample(&p->vcpus[i]);
	}
	return NULL;
}

int profile_start(struct profile *p)
{
	long ns = 1000000000L / (long)p->hz;
	struct itimerspec its = {
		.it_interval = { .tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L },
		.it_value = { .tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L },
	};
	int err;

	if (timerfd_settime(p->timer_fd, 0, &its, NULL) < 0)
		return -errno;
	err = pthread_create(&p->thread, NULL, profile_thread, p);
	if (err)
		return -err;
	pthread_setname_np(p->thread, "minivmm-prof");
	p->started = true;
	return 0;
}

void profile_stop(struct profile *p)
{
	uint64_t one = 1;

	if (!p->started)
		return;
	atomic_store(&p->stop, true);
	if (write(p->wake_fd, &one, sizeof(one)) < 0)
		log_err("profiler: cannot wake its thread: %s", strerror(errno));
	pthread_join(p->thread, NULL);
	p->started = false;
}

void profile_destroy(struct profile *p)
{
	profile_stop(p);
	if (p->per_vcpu)
		for (unsigned int i = 0; i < p->nr_vcpus; i++)
			free(p->per_vcpu[i].v);
	free(p->per_vcpu);
	if (p->timer_fd >= 0)
		close(p->timer_fd);
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	memset(p, 0, sizeof(*p));
	p->timer_fd = p->wake_fd = -1;
}

/* One row of the report: a function (or a page, or all of ring 3). */
struct row {
	uint64_t key;   /* symbol index + 1, or page address */
	bool user;
	const char *name;
	uint64_t count;
};

static int by_count(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return (x->key > y->key) - (x->key < y->key);
}

static int by_key(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->user != y->user)
		return x->user ? 1 : -1;
	if (!x->name != !y->name)
		return x->name ? -1 : 1;
	return (x->key > y->key) - (x->key < y->key);
}

static bool same_row(const struct row *x, const struct row *y)
{
	return x->user == y->user && !x->name == !y->name && x->key == y->key;
}

/*
 * Samples grouped by function: ring 3 samples are grouped the same way
 * (test guests have one symbol table for both rings; for Linux, user
 * addresses find no kernel symbol and fall into one "[user]" row).
 */
static struct row *group(const struct profile *p, const struct symbols *syms, size_t *nrows,
			 uint64_t *total)
{
	size_t n = 0, k = 0;
	struct row *rows;

	*total = 0;
	for (unsigned int i = 0; i < p->nr_vcpus; i++)
		n += p->per_vcpu[i].n;
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows)
		return NULL;
	for (unsigned int i = 0; i < p->nr_vcpus; i++) {
		for (size_t j = 0; j < p->per_vcpu[i].n; j++) {
			const struct profile_sample *s = &p->per_vcpu[i].v[j];
			const struct symbol *sym = syms ? symbols_find(syms, s->rip) : NULL;
			struct row *r = &rows[k++];

			r->user = s->cpl == 3;
			r->count = 1;
			if (sym) {
				r->key = (uint64_t)(sym - syms->v) + 1;
				r->name = sym->name;
			} else {
				r->key = r->user ? 0 : s->rip & ~0xFFFULL;
				r->name = NULL;
			}
		}
	}
	*total = k;
	/* Merge equal keys. */
	qsort(rows, k, sizeof(*rows), by_key);
	n = 0;
	for (size_t j = 0; j < k; j++) {
		if (n && same_row(&rows[n - 1], &rows[j]))
			rows[n - 1].count++;
		else
			rows[n++] = rows[j];
	}
	qsort(rows, n, sizeof(*rows), by_count);
	*nrows = n;
	return rows;
}

static void row_name(const struct row *r, char *buf, size_t len)
{
	if (r->name)
		snprintf(buf, len, "%s", r->name);
	else if (r->user)
		snprintf(buf, len, "[user]");
	else
		snprintf(buf, len, "[page %#" PRIx64 "]", r->key);
}

void profile_report(const struct profile *p, const struct symbols *syms, unsigned int top,
		    FILE *out)
{
	uint64_t total, user = 0, dropped = 0;
	size_t nrows = 0;
	struct row *rows = group(p, syms, &nrows, &total);

	for (unsigned int i = 0; i < p->nr_vcpus; i++) {
		dropped += p->per_vcpu[i].dropped;
		for (size_t j = 0; j < p->per_vcpu[i].n; j++)
			user += p->per_vcpu[i].v[j].cpl == 3;
	}
	fprintf(out, "minivmm: guest profile (%u Hz per vCPU, %" PRIu64 " samples", p->hz, total);
	for (unsigned int i = 0; i < p->nr_vcpus; i++)
		fprintf(out, "%s vCPU %u: %zu", i ? "," : ";", i, p->per_vcpu[i].n);
	fprintf(out, "%s)\n", dropped ? ", some dropped: out of memory" : "");
	if (!total || !rows) {
		fprintf(out, "  no samples\n");
		free(rows);
		return;
	}
	fprintf(out, "  ring 0 %5.1f%%, ring 3 %5.1f%%%s\n", 100.0 * (double)(total - user) / (double)total,
		100.0 * (double)user / (double)total,
		syms ? "" : " (no symbols: --profile-symbols FILE names the functions)");
	fprintf(out, "  %7s %6s  ring  function\n", "samples", "%");
	for (size_t i = 0; i < nrows && i < top; i++) {
		char name[128];

		row_name(&rows[i], name, sizeof(name));
		fprintf(out, "  %7" PRIu64 " %5.1f%%  %4s  %s\n", rows[i].count,
			100.0 * (double)rows[i].count / (double)total, rows[i].user ? "3" : "0", name);
	}
	free(rows);
}

int profile_write_folded(const struct profile *p, const struct symbols *syms, const char *path)
{
	uint64_t total;
	size_t nrows = 0;
	struct row *rows = group(p, syms, &nrows, &total);
	FILE *f;
	int err = 0;

	if (!rows)
		return -ENOMEM;
	f = fopen(path, "w");
	if (!f) {
		err = -errno;
		free(rows);
		return err;
	}
	for (size_t i = 0; i < nrows; i++) {
		char name[128];

		row_name(&rows[i], name, sizeof(name));
		fprintf(f, "%s;%s %" PRIu64 "\n", rows[i].user ? "ring3" : "ring0", name,
			rows[i].count);
	}
	if (fclose(f))
		err = -errno;
	free(rows);
	return err;
}

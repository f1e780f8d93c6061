// SPDX-License-Identifier: MIT
#include "report/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "cpu/kvm.h"

struct kvm_stats {
	struct kvm_stats_header hdr;
	char *descs;     /* num_desc descriptors of desc_size bytes */
	size_t desc_size;
	uint64_t *data;
	size_t data_words;
};

static int read_exact(int fd, void *buf, size_t len, off_t off)
{
	ssize_t r = pread(fd, buf, len, off);

	if (r < 0)
		return -errno;
	return (size_t)r == len ? 0 : -EIO;
}

static void kvm_stats_free(struct kvm_stats *s)
{
	free(s->descs);
	free(s->data);
}

static int kvm_stats_load(int fd, struct kvm_stats *s)
{
	size_t max_end = 0;
	int err;

	memset(s, 0, sizeof(*s));
	err = read_exact(fd, &s->hdr, sizeof(s->hdr), 0);
	if (err)
		return err;
	s->desc_size = sizeof(struct kvm_stats_desc) + s->hdr.name_size;
	s->descs = calloc(s->hdr.num_desc, s->desc_size);
	if (!s->descs)
		return -ENOMEM;
	err = read_exact(fd, s->descs, s->hdr.num_desc * s->desc_size, s->hdr.desc_offset);
	if (err)
		goto fail;
	for (uint32_t i = 0; i < s->hdr.num_desc; i++) {
		const struct kvm_stats_desc *d = (void *)(s->descs + i * s->desc_size);
		size_t end = d->offset + (size_t)d->size * sizeof(uint64_t);

		if (end > max_end)
			max_end = end;
	}
	s->data_words = max_end / sizeof(uint64_t);
	s->data = calloc(s->data_words ? s->data_words : 1, sizeof(uint64_t));
	if (!s->data) {
		err = -ENOMEM;
		goto fail;
	}
	err = read_exact(fd, s->data, max_end, s->hdr.data_offset);
	if (err)
		goto fail;
	return 0;
fail:
	kvm_stats_free(s);
	return err;
}

static const char *unit_suffix(uint32_t flags)
{
	switch (flags & KVM_STATS_UNIT_MASK) {
	case KVM_STATS_UNIT_BYTES: return " bytes";
	case KVM_STATS_UNIT_CYCLES: return " cycles";
	default: return "";
	}
}

static void print_desc(FILE *out, const struct kvm_stats_desc *d, const uint64_t *v)
{
	uint32_t type = d->flags & KVM_STATS_TYPE_MASK;

	if (d->size == 1) {
		if ((d->flags & KVM_STATS_UNIT_MASK) == KVM_STATS_UNIT_SECONDS) {
			/* Scale by the base-10 exponent (e.g. -9 for ns) to seconds. */
			double x = (double)v[0];

			for (int e = d->exponent; e < 0; e++)
				x /= 10.0;
			fprintf(out, "    %-32s %.6f s%s\n", d->name, x,
				type == KVM_STATS_TYPE_PEAK ? " (peak)" : "");
			return;
		}
		fprintf(out, "    %-32s %" PRIu64 "%s%s\n", d->name, v[0], unit_suffix(d->flags),
			type == KVM_STATS_TYPE_PEAK ? " (peak)" :
			type == KVM_STATS_TYPE_INSTANT ? " (now)" : "");
		return;
	}
	/* Histograms: list the non-empty buckets. */
	fprintf(out, "    %-32s", d->name);
	for (uint16_t i = 0; i < d->size; i++)
		if (v[i])
			fprintf(out, " [%u]=%" PRIu64, i, v[i]);
	fprintf(out, "\n");
}

/* Open the VM's (vcpu_fd < 0) or a vCPU's stats fd, read it, close it. */
static int kvm_stats_load_of(struct kvm *kvm, int vcpu_fd, struct kvm_stats *s)
{
	int fd = kvm_stats_fd(kvm, vcpu_fd), err;

	memset(s, 0, sizeof(*s));
	if (fd < 0)
		return fd;
	err = kvm_stats_load(fd, s);
	close(fd);
	return err;
}

int stats_print_kvm(FILE *out, struct kvm *kvm, int vcpu_fd, const char *label)
{
	struct kvm_stats s;
	int err = kvm_stats_load_of(kvm, vcpu_fd, &s);
	bool any = false;

	if (err)
		return err;
	fprintf(out, "  %s (KVM statistics, non-zero):\n", label);
	for (uint32_t i = 0; i < s.hdr.num_desc; i++) {
		const struct kvm_stats_desc *d = (void *)(s.descs + i * s.desc_size);
		const uint64_t *v = s.data + d->offset / sizeof(uint64_t);
		bool nonzero = false;

		for (uint16_t k = 0; k < d->size; k++)
			nonzero |= v[k] != 0;
		if (!nonzero)
			continue;
		print_desc(out, d, v);
		any = true;
	}
	if (!any)
		fprintf(out, "    (all zero)\n");
	kvm_stats_free(&s);
	return 0;
}

int stats_kvm_snapshot(struct kvm *kvm, int vcpu_fd, struct kvm_stat_values *out)
{
	struct kvm_stats s;
	int err = kvm_stats_load_of(kvm, vcpu_fd, &s);

	memset(out, 0, sizeof(*out));
	if (err)
		return err;
	out->names = calloc(s.hdr.num_desc ? s.hdr.num_desc : 1, sizeof(*out->names));
	out->values = calloc(s.hdr.num_desc ? s.hdr.num_desc : 1, sizeof(*out->values));
	out->cumulative = calloc(s.hdr.num_desc ? s.hdr.num_desc : 1, sizeof(*out->cumulative));
	if (!out->names || !out->values || !out->cumulative) {
		kvm_stats_free(&s);
		stats_kvm_values_free(out);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s.hdr.num_desc; i++) {
		const struct kvm_stats_desc *d = (void *)(s.descs + i * s.desc_size);

		if (d->size != 1)
			continue;
		snprintf(out->names[out->n], sizeof(out->names[0]), "%s", d->name);
		out->values[out->n] = s.data[d->offset / sizeof(uint64_t)];
		out->cumulative[out->n] = (d->flags & KVM_STATS_TYPE_MASK) == KVM_STATS_TYPE_CUMULATIVE;
		out->n++;
	}
	kvm_stats_free(&s);
	return 0;
}

void stats_kvm_values_free(struct kvm_stat_values *v)
{
	free(v->names);
	free(v->values);
	free(v->cumulative);
	memset(v, 0, sizeof(*v));
}

int stats_kvm_accumulate(struct kvm_stat_values *sum, const struct kvm_stat_values *v)
{
	if (!sum->names) {	/* the first one (it may have no entries) */
		size_t n = v->n ? v->n : 1;

		sum->names = malloc(n * sizeof(*sum->names));
		sum->values = malloc(n * sizeof(*sum->values));
		sum->cumulative = malloc(n * sizeof(*sum->cumulative));
		if (!sum->names || !sum->values || !sum->cumulative) {
			stats_kvm_values_free(sum);
			return -ENOMEM;
		}
		memcpy(sum->names, v->names, v->n * sizeof(*sum->names));
		memcpy(sum->values, v->values, v->n * sizeof(*sum->values));
		memcpy(sum->cumulative, v->cumulative, v->n * sizeof(*sum->cumulative));
		sum->n = v->n;
		return 0;
	}
	for (unsigned int i = 0; i < sum->n && i < v->n; i++)
		if (!strcmp(sum->names[i], v->names[i]))
			sum->values[i] += v->values[i];
	return 0;
}

static const uint64_t *kvm_value_of(const struct kvm_stat_values *v, unsigned int hint,
				    const char *name)
{
	if (hint < v->n && !strcmp(v->names[hint], name))
		return &v->values[hint];
	for (unsigned int i = 0; i < v->n; i++)
		if (!strcmp(v->names[i], name))
			return &v->values[i];
	return NULL;
}

json_t *stats_kvm_json(const struct kvm_stat_values *v, const struct kvm_stat_values *base)
{
	json_t *o = json_object();

	for (unsigned int i = 0; o && i < v->n; i++) {
		uint64_t x = v->values[i];

		if (base && v->cumulative[i]) {
			const uint64_t *b = kvm_value_of(base, i, v->names[i]);

			x -= b ? *b : 0;
			if (!x)
				continue;
		}
		json_object_set_new(o, v->names[i], json_integer((json_int_t)x));
	}
	return o;
}

json_t *stats_exits_json(const struct exit_stats *st, const struct exit_stats *base)
{
	json_t *o = json_object();

	for (unsigned int r = 0; o && r < EXIT_REASON_MAX; r++) {
		uint64_t x = st->by_reason[r] - (base ? base->by_reason[r] : 0);
		/* Reasons without a name of their own share "other": add up. */
		json_int_t prev = json_integer_value(json_object_get(o, exit_reason_name(r)));

		if (x)
			json_object_set_new(o, exit_reason_name(r),
					    json_integer(prev + (json_int_t)x));
	}
	return o;
}

void stats_print_exits(FILE *out, const char *label, const struct exit_stats *st)
{
	uint64_t total = 0;

	for (unsigned int r = 0; r < EXIT_REASON_MAX; r++)
		total += st->by_reason[r];
	fprintf(out, "  %s exits seen by minivmm: %" PRIu64 "\n", label, total);
	for (unsigned int r = 0; r < EXIT_REASON_MAX; r++)
		if (st->by_reason[r])
			fprintf(out, "    %-32s %" PRIu64 "\n", exit_reason_name(r), st->by_reason[r]);
	if (st->pio_accesses)
		fprintf(out, "    %-32s %" PRIu64 "\n", "port I/O accesses", st->pio_accesses);
	if (st->mmio_accesses)
		fprintf(out, "    %-32s %" PRIu64 "\n", "MMIO accesses", st->mmio_accesses);
	for (unsigned int k = UNEMULATED_INT3; k < UNEMULATED_KINDS; k++)
		if (st->unemulated[k])
			fprintf(out, "    %-32s %" PRIu64 "\n", unemulated_kind_name(k),
				st->unemulated[k]);
}

int stats_rss_kib(const struct mem_map *mem, uint64_t *vmm_kib, uint64_t *guest_kib)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	uintptr_t guest_lo = (uintptr_t)mem->host_base;
	uintptr_t guest_hi = guest_lo + mem->host_size;
	bool in_guest = false;
	char line[512];

	if (!f)
		return -errno;
	*vmm_kib = *guest_kib = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, kib;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in_guest = lo < guest_hi && hi > guest_lo;
			continue;
		}
		if (sscanf(line, "Rss: %lu kB", &kib) == 1) {
			if (in_guest)
				*guest_kib += kib;
			else
				*vmm_kib += kib;
		}
	}
	fclose(f);
	return 0;
}

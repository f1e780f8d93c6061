// SPDX-License-Identifier: MIT
/*
 * What the MMU modes report: the shadow core's counters, the host-sync
 * counters, and the guest's measured phases (each with the exit counts and
 * KVM statistics of its vCPU over the phase), for --stats and `compare`.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mmu/kvm/mmu_kvm_priv.h"

/* The shadow core's counters (phases report their deltas), its gauges (as
 * they stand), and this file's own sync counters. */
#define SHADOW_DELTAS(X) \
	X(trapped_writes) X(hidden_faults) X(true_faults) X(refused_faults) X(prefills) \
	X(root_loads) X(root_hits) X(root_misses) X(root_evictions) \
	X(store_full_evictions) X(nomem) X(invlpgs) X(flushes) X(rsvd_entries) \
	X(refused_targets) X(unreadable_tables) X(tlb_flush_requests) X(time_ns)
#define SHADOW_GAUGES(X) X(pages_in_use) X(pages_peak)
#define SHADOW_COUNTERS(X) SHADOW_DELTAS(X) SHADOW_GAUGES(X)
#define SYNC_COUNTERS(X) X(host_syncs) X(host_sync_ns) X(frame_syncs) X(frame_sync_ns)

/* Everything but the vCPU's own numbers. */
static void snapshot_mmu(const struct mmu_kvm *m, struct mmu_snapshot *s)
{
	if (m->shadow)
		shadow_get_stats(m->shadow, &s->shadow);
#define X(f) s->f = m->f;
	SYNC_COUNTERS(X)
#undef X
}

static void snapshot(struct mmu_kvm *m, struct vcpu *v, struct mmu_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->exits = v->exit.stats;
	stats_kvm_snapshot(m->kvm, v->fd, &s->kvm); /* this vCPU's: phases are per vCPU */
	snapshot_mmu(m, s);
}

/* Counters as deltas from base (NULL: absolute); gauges as they are. */
static json_t *shadow_json(const struct mmu_snapshot *s, const struct mmu_snapshot *base)
{
	json_t *o = json_object();

#define X(f) json_object_set_new(o, #f, \
	json_integer((json_int_t)(s->shadow.f - (base ? base->shadow.f : 0))));
	SHADOW_DELTAS(X)
#undef X
#define X(f) json_object_set_new(o, #f, json_integer((json_int_t)s->shadow.f));
	SHADOW_GAUGES(X)
#undef X
#define X(f) json_object_set_new(o, #f, json_integer((json_int_t)(s->f - (base ? base->f : 0))));
	SYNC_COUNTERS(X)
#undef X
	return o;
}

void mmu_phase_end(struct mmu_kvm *m, struct vcpu *v)
{
	struct mmu_snapshot now;
	json_t *ph = json_object();
	char sum[24];

	snapshot(m, v, &now);
	snprintf(sum, sizeof(sum), "0x%016" PRIx64, m->phase_checksum);
	json_object_set_new(ph, "name", json_string(m->phase_name));
	json_object_set_new(ph, "cycles", json_integer((json_int_t)m->phase_cycles));
	json_object_set_new(ph, "checksum", json_string(sum));
	json_object_set_new(ph, "ops", json_integer((json_int_t)m->phase_ops));
	/* Without a matching begin, deltas run from the start of the VM. */
	json_object_set_new(ph, "exits", stats_exits_json(&now.exits,
		m->in_phase ? &m->phase_start.exits : NULL));
	json_object_set_new(ph, "kvm", stats_kvm_json(&now.kvm,
		m->in_phase ? &m->phase_start.kvm : NULL));
	if (m->shadow)
		json_object_set_new(ph, "shadow", shadow_json(&now, m->in_phase ? &m->phase_start : NULL));
	json_array_append_new(m->phases, ph);
	stats_kvm_values_free(&now.kvm);
	if (m->in_phase)
		stats_kvm_values_free(&m->phase_start.kvm);
	m->in_phase = false;
}

void mmu_phase_begin(struct mmu_kvm *m, struct vcpu *v)
{
	if (m->in_phase)
		stats_kvm_values_free(&m->phase_start.kvm);
	snapshot(m, v, &m->phase_start);
	m->in_phase = true;
}

void mmu_kvm_print_stats(const struct mmu_kvm *m, FILE *out)
{
	size_t i;
	json_t *ph;

	fprintf(out, "  MMU: %s%s%s\n", m->shadow ? "shadow (minivmm)" : "tdp (guest page tables)",
		m->shadow ? ", fill " : "", m->shadow ? (m->plan.lazy ? "lazy" : "eager") : "");
	if (m->shadow) {
		struct shadow_stats st;

		shadow_get_stats(m->shadow, &st);
#define X(f) if (st.f) fprintf(out, "    %-32s %" PRIu64 "\n", #f, st.f);
		SHADOW_COUNTERS(X)
#undef X
		fprintf(out, "    %-32s %" PRIu64 " (%.3f ms)\n", "host_syncs (store slot)",
			m->host_syncs, (double)m->host_sync_ns / 1e6);
		fprintf(out, "    %-32s %" PRIu64 " (%.3f ms)\n", "frame_syncs (leaf frames)",
			m->frame_syncs, (double)m->frame_sync_ns / 1e6);
		if (m->bad_roots)
			fprintf(out, "    %-32s %" PRIu64 "\n", "refused roots", m->bad_roots);
	}
	if (m->bad_commands)
		fprintf(out, "    %-32s %" PRIu64 "\n", "bad commands", m->bad_commands);
	json_array_foreach(m->phases, i, ph) {
		fprintf(out, "  phase %s: %" JSON_INTEGER_FORMAT " cycles, %" JSON_INTEGER_FORMAT
			" ops, checksum %s\n",
			json_string_value(json_object_get(ph, "name")),
			json_integer_value(json_object_get(ph, "cycles")),
			json_integer_value(json_object_get(ph, "ops")),
			json_string_value(json_object_get(ph, "checksum")));
	}
}

void mmu_kvm_stats_json(const struct mmu_kvm *m, json_t *root)
{
	json_object_set_new(root, "mmu", json_string(m->shadow ? "shadow" : "tdp"));
	json_object_set_new(root, "shadow_fill", m->shadow ?
			    json_string(m->plan.lazy ? "lazy" : "eager") : json_null());
	if (m->shadow) {
		struct mmu_snapshot s = { 0 };

		snapshot_mmu(m, &s);
		json_object_set_new(root, "shadow", shadow_json(&s, NULL));
	}
	json_object_set(root, "phases", m->phases);
}

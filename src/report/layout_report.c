// SPDX-License-Identifier: MIT
#include "report/layout_report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "abi/board.h"
#include "base/clock.h"
#include "base/log.h"

static const char *slot_flags(const struct mem_slot *s)
{
	return s->readonly ? "ro" : "rw";
}

/* Where a slot's host memory is: an offset into guest RAM's one mapping, or
 * a region's own mapping. */
static void slot_hva(const struct mem_map *mem, const struct mem_slot *s, char *buf, size_t len)
{
	if (s->kind == MEM_RAM)
		snprintf(buf, len, "ram+0x%" PRIx64, (uint64_t)(s->hva - mem->host_base));
	else
		snprintf(buf, len, "own mapping");
}

static unsigned int nr_ram_slots(const struct mem_map *mem)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < mem->nr_slots; i++)
		n += mem->slots[i].kind == MEM_RAM;
	return n;
}

static json_t *layout_json(const struct mem_map *mem, const struct kvm *kvm)
{
	struct e820_entry e820[E820_MAX];
	int n = mem_e820_build(mem, e820, E820_MAX);
	json_t *slots = json_array(), *map = json_array(), *root;
	char name[48], hva[32];

	mem_layout_name(&mem->layout, name, sizeof(name));
	for (unsigned int i = 0; i < mem->nr_slots; i++) {
		const struct mem_slot *s = &mem->slots[i];
		bool ram = s->kind == MEM_RAM;

		snprintf(hva, sizeof(hva), "0x%" PRIxPTR, (uintptr_t)s->hva);
		json_array_append_new(slots, json_pack("{s:I, s:s, s:I, s:I, s:I, s:s, s:o, s:s, s:s}",
			"slot", (json_int_t)s->id, "kind", mem_kind_name(s->kind),
			"gpa", (json_int_t)s->gpa,
			"gpa_end", (json_int_t)(s->gpa + s->size - 1), "size", (json_int_t)s->size,
			"hva", hva,
			"hva_offset", ram ? json_integer((json_int_t)(s->hva - mem->host_base)) : json_null(),
			"flags", slot_flags(s), "backing", ram ? mem_backing_name(mem->backing) : "anon"));
	}
	for (int i = 0; i < n; i++)
		json_array_append_new(map, json_pack("{s:I, s:I, s:I, s:s}",
			"addr", (json_int_t)e820[i].addr, "end", (json_int_t)(e820[i].addr + e820[i].size - 1),
			"size", (json_int_t)e820[i].size, "type", e820_type_name(e820[i].type)));
	snprintf(hva, sizeof(hva), "0x%" PRIxPTR, (uintptr_t)mem->host_base);
	root = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:o, s:o}",
		"layout", name, "backing", mem_backing_name(mem->backing),
		"ram_size", (json_int_t)mem->ram_size, "nr_slots", (json_int_t)mem->nr_slots,
		"nr_ram_slots", (json_int_t)nr_ram_slots(mem),
		"max_slots", (json_int_t)kvm->max_memslots, "host_base", hva,
		"host_mmu", host_paging_name(kvm->paging), "slots", slots, "e820", map);
	return root;
}

static void print_e820(FILE *out, const struct mem_map *mem)
{
	struct e820_entry e820[E820_MAX];
	int n = mem_e820_build(mem, e820, E820_MAX);

	fprintf(out, "guest memory map (e820):\n");
	for (int i = 0; i < n; i++) {
		char size[32];

		mem_format_size(e820[i].size, size, sizeof(size));
		fprintf(out, "  0x%016" PRIx64 "-0x%016" PRIx64 "  %-9s %s\n", e820[i].addr,
			e820[i].addr + e820[i].size - 1, e820_type_name(e820[i].type), size);
	}
}

int layout_report_show(FILE *out, const struct mem_map *mem, const struct kvm *kvm, bool json)
{
	char name[48], size[32];

	if (json) {
		json_t *root = layout_json(mem, kvm);
		int err = root ? json_dumpf(root, out, JSON_INDENT(2)) : -1;

		fputc('\n', out);
		json_decref(root);
		return err ? -EIO : 0;
	}
	mem_layout_name(&mem->layout, name, sizeof(name));
	mem_format_size(mem->ram_size, size, sizeof(size));
	fprintf(out, "memory layout %s, backing %s: %s of RAM in %u slot%s, %u slot%s in all "
		"(KVM allows %u)\n", name, mem_backing_name(mem->backing), size, nr_ram_slots(mem),
		nr_ram_slots(mem) == 1 ? "" : "s", mem->nr_slots, mem->nr_slots == 1 ? "" : "s",
		kvm->max_memslots);
	fprintf(out, "guest RAM is mapped at host address 0x%" PRIxPTR
		" (the hva column is an offset from it)\n\n", (uintptr_t)mem->host_base);
	fprintf(out, "%5s  %-12s  %-18s  %-18s  %10s  %-16s  %-5s  %s\n", "slot", "kind",
		"gpa start", "gpa end", "size", "hva", "flags", "backing");
	for (unsigned int i = 0; i < mem->nr_slots; i++) {
		const struct mem_slot *s = &mem->slots[i];
		char off[32];

		mem_format_size(s->size, size, sizeof(size));
		slot_hva(mem, s, off, sizeof(off));
		fprintf(out, "%5u  %-12s  0x%016" PRIx64 "  0x%016" PRIx64 "  %10s  %-16s  %-5s  %s\n",
			s->id, mem_kind_name(s->kind), s->gpa, s->gpa + s->size - 1, size, off,
			slot_flags(s), s->kind == MEM_RAM ? mem_backing_name(mem->backing) : "anon");
	}
	fputc('\n', out);
	print_e820(out, mem);
	return 0;
}

/* ---- compare-layouts --------------------------------------------------- */

struct layout_result {
	char name[48];
	bool ok;
	unsigned int nr_slots;
	uint64_t smallest, largest, below_4g, above_4g;
	double register_us;
	struct e820_entry e820[E820_MAX];
	int nr_e820;
};

static double now_us(void)
{
	return (double)now_ns() / 1e3;
}

static int measure_layout(const struct vm_config *cfg, const struct mem_layout_spec *spec,
			  struct layout_result *r, enum host_paging *mmu)
{
	struct kvm kvm;
	struct mem_map mem;
	double t0;
	int err;

	mem_layout_name(spec, r->name, sizeof(r->name));
	err = kvm_open(&kvm, cfg->kvm_device);
	if (err)
		return err;
	*mmu = kvm.paging;
	err = kvm_create_vm(&kvm);
	if (!err)
		err = mem_map_create(&mem, spec, cfg->backing, cfg->ram_size, kvm.max_memslots);
	if (err) {
		kvm_close(&kvm);
		return err;
	}
	r->smallest = UINT64_MAX;
	t0 = now_us();
	err = kvm_register_memory(&kvm, &mem);
	r->register_us = now_us() - t0;
	for (unsigned int i = 0; i < mem.nr_slots; i++) {
		const struct mem_slot *s = &mem.slots[i];

		r->smallest = s->size < r->smallest ? s->size : r->smallest;
		r->largest = s->size > r->largest ? s->size : r->largest;
		if (s->gpa < BOARD_HIGH_RAM_START)
			r->below_4g += s->size;
		else
			r->above_4g += s->size;
	}
	r->nr_slots = mem.nr_slots;
	r->nr_e820 = mem_e820_build(&mem, r->e820, E820_MAX);
	r->ok = !err;
	mem_map_destroy(&mem);
	kvm_close(&kvm);
	return err;
}

static bool same_e820(const struct layout_result *a, const struct layout_result *b)
{
	return a->nr_e820 == b->nr_e820 &&
	       !memcmp(a->e820, b->e820, sizeof(a->e820[0]) * (size_t)(a->nr_e820 > 0 ? a->nr_e820 : 0));
}

static void print_row_sizes(FILE *out, const char *label, const struct layout_result *r,
			    unsigned int n, size_t field)
{
	fprintf(out, "%-26s", label);
	for (unsigned int i = 0; i < n; i++) {
		char size[32];

		mem_format_size(*(const uint64_t *)((const char *)&r[i] + field), size, sizeof(size));
		fprintf(out, "  %-16s", r[i].ok ? size : "refused");
	}
	fputc('\n', out);
}

static void print_compare_text(FILE *out, const struct vm_config *cfg,
			       const struct layout_result *r, unsigned int n,
			       enum host_paging mmu)
{
	char size[32];

	mem_format_size(cfg->ram_size, size, sizeof(size));
	fprintf(out, "memory layouts for %s of RAM, backing %s, host MMU %s\n\n", size,
		mem_backing_name(cfg->backing), host_paging_name(mmu));
	fprintf(out, "%-26s", "");
	for (unsigned int i = 0; i < n; i++)
		fprintf(out, "  %-16s", r[i].name);
	fprintf(out, "\n%-26s", "memory slots");
	for (unsigned int i = 0; i < n; i++) {
		char slots[16];

		snprintf(slots, sizeof(slots), "%u", r[i].nr_slots);
		fprintf(out, "  %-16s", r[i].ok ? slots : "refused");
	}
	fputc('\n', out);
	print_row_sizes(out, "smallest slot", r, n, offsetof(struct layout_result, smallest));
	print_row_sizes(out, "largest slot", r, n, offsetof(struct layout_result, largest));
	print_row_sizes(out, "RAM below 4 GiB", r, n, offsetof(struct layout_result, below_4g));
	print_row_sizes(out, "RAM above 4 GiB", r, n, offsetof(struct layout_result, above_4g));
	fprintf(out, "%-26s", "KVM slot registration");
	for (unsigned int i = 0; i < n; i++) {
		char t[32];

		snprintf(t, sizeof(t), "%.0f us", r[i].register_us);
		fprintf(out, "  %-16s", r[i].ok ? t : "refused");
	}
	fprintf(out, "\n%-26s", "guest memory map (e820)");
	for (unsigned int i = 0; i < n; i++)
		fprintf(out, "  %-16s", !r[i].ok ? "refused" : i == 0 ? "reference" :
			same_e820(&r[0], &r[i]) ? "same" : "differs");
	fputc('\n', out);
}

static int print_compare_json(FILE *out, const struct vm_config *cfg,
			      const struct layout_result *r, unsigned int n,
			      enum host_paging mmu)
{
	json_t *arr = json_array(), *root;
	int err;

	for (unsigned int i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:f, s:b}",
			"layout", r[i].name, "ok", r[i].ok, "nr_slots", (json_int_t)r[i].nr_slots,
			"smallest_slot", (json_int_t)r[i].smallest, "largest_slot", (json_int_t)r[i].largest,
			"ram_below_4g", (json_int_t)r[i].below_4g, "ram_above_4g", (json_int_t)r[i].above_4g,
			"register_us", r[i].register_us, "e820_same_as_first", same_e820(&r[0], &r[i])));
	root = json_pack("{s:I, s:s, s:s, s:o}", "ram_size", (json_int_t)cfg->ram_size,
			 "backing", mem_backing_name(cfg->backing), "host_mmu",
			 host_paging_name(mmu), "layouts", arr);
	err = root ? json_dumpf(root, out, JSON_INDENT(2)) : -1;
	fputc('\n', out);
	json_decref(root);
	return err;
}

int layout_report_compare(FILE *out, const struct vm_config *cfg)
{
	struct layout_result *r = calloc(cfg->nr_compare, sizeof(*r));
	enum host_paging mmu = HOST_PAGING_UNKNOWN;
	int status = 0;

	if (!r)
		return 1;
	/* A layout the host refuses still gets its column, marked refused
	 * (the reason is on stderr); the status then says so. */
	for (unsigned int i = 0; i < cfg->nr_compare; i++)
		if (measure_layout(cfg, &cfg->compare[i], &r[i], &mmu))
			status = 2;
	if (cfg->json) {
		if (print_compare_json(out, cfg, r, cfg->nr_compare, mmu))
			status = 1;
	} else {
		print_compare_text(out, cfg, r, cfg->nr_compare, mmu);
	}
	free(r);
	return status;
}

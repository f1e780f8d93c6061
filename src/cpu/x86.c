// SPDX-License-Identifier: MIT
#include "cpu/x86.h"
#include "mmu/idmap.h"

#include <asm/kvm_para.h>

#include <errno.h>
#include <string.h>

#include "abi/board.h"
#include "base/log.h"

/* Flat descriptors: base 0, limit 4 GiB, G=1; L=1 for 64-bit code. */
#define GDT_KCODE64 0x00AF9B000000FFFFULL
#define GDT_KCODE32 0x00CF9B000000FFFFULL
#define GDT_KDATA   0x00CF93000000FFFFULL
#define GDT_UDATA   0x00CFF3000000FFFFULL
#define GDT_UCODE64 0x00AFFB000000FFFFULL
#define TSS_TYPE_BUSY 0xB
#define TSS_LIMIT (X86_TSS64_SIZE + X86_TSS_IOMAP_BYTES) /* + the 0xff byte */

static void tss_descriptor(uint64_t out[2], uint64_t base, uint32_t limit)
{
	out[0] = (limit & 0xFFFFULL) | ((base & 0xFFFFFFULL) << 16) |
		 ((uint64_t)TSS_TYPE_BUSY << 40) | (1ULL << 47) |
		 ((uint64_t)(limit >> 16 & 0xF) << 48) | ((base >> 24 & 0xFF) << 56);
	out[1] = base >> 32;
}

static int write_gdt_tss(const struct mem_map *mem)
{
	uint64_t gdt[7] = { 0, GDT_KCODE64, GDT_KDATA, GDT_UDATA, GDT_UCODE64 };
	uint8_t *tss = mem_gpa_to_hva(mem, BOARD_BOOT_TSS, TSS_LIMIT + 1);
	uint16_t iomap = X86_TSS64_SIZE;

	if (!tss)
		return -EFAULT;
	tss_descriptor(&gdt[5], BOARD_BOOT_TSS, TSS_LIMIT);
	/* An all-zero bitmap grants every port to ring 3; the byte after it
	 * must be 0xff (SDM vol. 1, 19.5.2). */
	memset(tss, 0, TSS_LIMIT + 1);
	memcpy(tss + 102, &iomap, sizeof(iomap));
	tss[TSS_LIMIT] = 0xFF;
	return mem_write(mem, BOARD_BOOT_GDT, gdt, sizeof(gdt));
}

int x86_write_linux_gdt(const struct mem_map *mem)
{
	/* 0x10 and 0x18 as the 64-bit boot protocol wants them; 0x20, 32-bit
	 * code, for the PVH entry. */
	uint64_t gdt[7] = { 0, 0, GDT_KCODE64, GDT_KDATA, GDT_KCODE32 };

	tss_descriptor(&gdt[5], BOARD_BOOT_TSS, TSS_LIMIT);
	return mem_write(mem, BOARD_BOOT_GDT, gdt, sizeof(gdt));
}

int x86_write_boot_tables(const struct mem_map *mem, uint64_t map_top, uint64_t *boot_end)
{
	/* Always cover the 32-bit hole, where MMIO and the APICs live. */
	struct idmap_spec map = { .tables_gpa = BOARD_BOOT_PML4,
				  .top = map_top < 4 * BOARD_GiB ? 4 * BOARD_GiB : map_top };
	int err;

	if (map_top > BOARD_BOOT_MAX_PDS * BOARD_GiB) {
		log_err("test guests can address at most %llu GiB of guest-physical space",
			(unsigned long long)BOARD_BOOT_MAX_PDS);
		return -E2BIG;
	}
	err = write_gdt_tss(mem);
	if (!err)
		err = idmap_build(mem, &map);
	if (!err)
		*boot_end = BOARD_BOOT_PML4 + idmap_pages(&map) * PAGE_SIZE_4K;
	return err;
}

static struct kvm_segment flat_segment(uint16_t sel, uint8_t type, int dpl, int code64)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xFFFFFFFF, .selector = sel, .type = type,
		.present = 1, .dpl = (uint8_t)dpl, .db = code64 ? 0 : 1, .s = 1,
		.l = code64 ? 1 : 0, .g = 1,
	};
}

void x86_boot_sregs(struct kvm_sregs *s, int nx)
{
	struct kvm_segment data = flat_segment(BOARD_SEL_KDATA, 0x3, 0, 0);

	s->cs = flat_segment(BOARD_SEL_KCODE, 0xB, 0, 1);
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->tr = (struct kvm_segment){
		.base = BOARD_BOOT_TSS, .limit = TSS_LIMIT, .selector = BOARD_SEL_TSS,
		.type = TSS_TYPE_BUSY, .present = 1,
	};
	s->ldt = (struct kvm_segment){ .type = 0x2, .present = 1, .unusable = 1 };
	s->gdt.base = BOARD_BOOT_GDT;
	s->gdt.limit = 7 * 8 - 1;
	s->idt.base = 0;
	s->idt.limit = 0;
	s->cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;
	s->cr3 = BOARD_BOOT_PML4;
	s->cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
	s->efer = X86_EFER_LME | X86_EFER_LMA | (nx ? X86_EFER_NXE : 0);
}

void x86_linux_sregs(struct kvm_sregs *s, int nx)
{
	x86_boot_sregs(s, nx);
	s->cs.selector = 0x10;
	s->ds.selector = s->es.selector = s->fs.selector = s->gs.selector = s->ss.selector = 0x18;
}

void x86_pvh_sregs(struct kvm_sregs *s)
{
	x86_linux_sregs(s, 0);
	s->cs = flat_segment(0x20, 0xB, 0, 0);
	s->cr0 = X86_CR0_PE | X86_CR0_ET;
	s->cr3 = 0;
	s->cr4 = 0;
	s->efer = 0;
}

void x86_boot_regs(struct kvm_regs *r, uint64_t entry, uint64_t fdt_gpa)
{
	memset(r, 0, sizeof(*r));
	r->rip = entry;
	r->rdi = fdt_gpa;
	r->rflags = X86_RFLAGS_RESERVED;
}

struct kvm_cpuid_entry2 *x86_cpuid_find(const struct kvm_cpuid2 *cpuid, uint32_t function,
					uint32_t index)
{
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		/* like strchr: the caller decides whether the table is writable */
		struct kvm_cpuid_entry2 *e = (struct kvm_cpuid_entry2 *)&cpuid->entries[i];

		if (e->function != function)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index)
			continue;
		return e;
	}
	return NULL;
}

void x86_cpuid_set_vcpu(struct kvm_cpuid2 *cpuid, unsigned int vcpu_id,
			unsigned int nr_vcpus)
{
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			/* Initial APIC ID and logical processor count. */
			e->ebx = (e->ebx & 0x0000FFFF) | (vcpu_id << 24) |
				 ((nr_vcpus & 0xFF) << 16);
			if (nr_vcpus > 1)
				e->edx |= 1u << 28; /* HTT: the count field is valid */
			break;
		case 0xB:
		case 0x1F:
			e->edx = vcpu_id; /* x2APIC ID */
			break;
		default:
			break;
		}
	}
}

int x86_cpuid_has_nx(struct kvm_cpuid2 *cpuid)
{
	struct kvm_cpuid_entry2 *e = x86_cpuid_find(cpuid, 0x80000001, 0);

	return e && (e->edx & (1u << 20));
}

bool x86_cpuid_has_smap(const struct kvm_cpuid2 *cpuid)
{
	struct kvm_cpuid_entry2 *e = x86_cpuid_find(cpuid, 7, 0);

	return e && (e->ebx & X86_CPUID7_EBX_SMAP);
}

unsigned int x86_cpuid_maxphyaddr(struct kvm_cpuid2 *cpuid)
{
	struct kvm_cpuid_entry2 *e = x86_cpuid_find(cpuid, 0x80000008, 0);
	unsigned int bits = e ? (e->eax & 0xff) : 36; /* 36: the SDM's default */

	return bits < 32 ? 32 : bits > 52 ? 52 : bits;
}

uint32_t x86_cpuid_hide_pv_hypercalls(struct kvm_cpuid2 *cpuid)
{
	const uint32_t bits = (1u << KVM_FEATURE_PV_UNHALT) | (1u << KVM_FEATURE_PV_SEND_IPI) |
			      (1u << KVM_FEATURE_PV_SCHED_YIELD);
	struct kvm_cpuid_entry2 *e = x86_cpuid_find(cpuid, KVM_CPUID_FEATURES, 0);
	uint32_t cleared;

	if (!e)
		return 0;
	cleared = e->eax & bits;
	e->eax &= ~bits;
	return cleared;
}

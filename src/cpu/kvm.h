/* SPDX-License-Identifier: MIT */
/*
 * The small KVM wrapper: system- and VM-level ioctls.  Together with the
 * vCPU code in this directory it is the only code that talks to /dev/kvm.
 */
#ifndef MINIVMM_KVM_H
#define MINIVMM_KVM_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "mmu/memory.h"

/* How the host virtualizes guest paging (the "second dimension"). */
enum host_paging {
	HOST_PAGING_UNKNOWN,
	HOST_PAGING_VMX_EPT,   /* Intel VMX with EPT */
	HOST_PAGING_SVM_NPT,   /* AMD SVM with NPT */
	HOST_PAGING_KVM_SHADOW,/* VMX/SVM with ept/npt disabled: KVM shadow paging */
	HOST_PAGING_PVM,       /* kvm_pvm: no VMX/SVM, KVM shadow-pages everything */
};

struct kvm_routes;

struct kvm {
	int sys_fd;
	int vm_fd;
	int run_size;              /* mmap size of struct kvm_run */
	unsigned int max_memslots;
	bool readonly_mem;
	bool irqchip;              /* in-kernel irqchip created */
	enum host_paging paging;
	struct kvm_routes *routes; /* cpu/kvm_irq.c: the GSI routing table */
};

int kvm_open(struct kvm *kvm, const char *dev);
int kvm_create_vm(struct kvm *kvm);
void kvm_close(struct kvm *kvm);

int kvm_check_extension(const struct kvm *kvm, long cap);
/* Memory slots: the one place that tells KVM about guest memory.  Every
 * slot of the map (RAM and the MMU regions, read-only ones with
 * KVM_MEM_READONLY); one slot again, or removed (the shadow store's flip). */
int kvm_register_memory(struct kvm *kvm, const struct mem_map *mem)
	__attribute__((warn_unused_result));
int kvm_register_slot(struct kvm *kvm, const struct mem_slot *s)
	__attribute__((warn_unused_result));
int kvm_unregister_slot(struct kvm *kvm, const struct mem_slot *s)
	__attribute__((warn_unused_result));
/* Creates irqchip + PIT2 and the x86 TSS/identity-map areas. */
int kvm_setup_platform(struct kvm *kvm, uint64_t tss_addr, uint64_t identity_addr)
	__attribute__((warn_unused_result));
int kvm_irq_line(struct kvm *kvm, uint32_t gsi, bool level);
/* Supported CPUID; caller frees *out. */
int kvm_get_supported_cpuid(struct kvm *kvm, struct kvm_cpuid2 **out);
int kvm_create_vcpu(struct kvm *kvm, unsigned int id);
/* An fd for the binary statistics of the VM (vcpu_fd < 0) or a vCPU. */
int kvm_stats_fd(struct kvm *kvm, int vcpu_fd);

enum host_paging kvm_detect_host_paging(void);
const char *host_paging_name(enum host_paging m);

#endif

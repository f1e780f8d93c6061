// SPDX-License-Identifier: MIT
#include "cpu/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "abi/board.h"
#include "base/log.h"
#include "cpu/kvm_irq.h"

int kvm_open(struct kvm *kvm, const char *dev)
{
	int ver;

	memset(kvm, 0, sizeof(*kvm));
	kvm->vm_fd = -1;
	kvm->sys_fd = open(dev, O_RDWR | O_CLOEXEC);
	if (kvm->sys_fd < 0) {
		int err = -errno;

		log_err("cannot open %s: %s%s", dev, strerror(errno),
			errno == ENOENT ? " (is the kvm module loaded?)" :
			errno == EACCES ? " (are you in the kvm group?)" : "");
		return err;
	}
	ver = ioctl(kvm->sys_fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		log_err("%s speaks KVM API %d, minivmm needs %d", dev, ver, KVM_API_VERSION);
		close(kvm->sys_fd);
		kvm->sys_fd = -1;
		return -ENOTSUP;
	}
	kvm->run_size = ioctl(kvm->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->run_size < (int)sizeof(struct kvm_run)) {
		log_err("KVM_GET_VCPU_MMAP_SIZE returned %d", kvm->run_size);
		close(kvm->sys_fd);
		kvm->sys_fd = -1;
		return -ENOTSUP;
	}
	kvm->paging = kvm_detect_host_paging();
	return 0;
}

int kvm_check_extension(const struct kvm *kvm, long cap)
{
	int fd = kvm->vm_fd >= 0 ? kvm->vm_fd : kvm->sys_fd;
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

int kvm_create_vm(struct kvm *kvm)
{
	int slots;

	kvm->vm_fd = ioctl(kvm->sys_fd, KVM_CREATE_VM, 0);
	if (kvm->vm_fd < 0) {
		int err = -errno;

		log_err("KVM_CREATE_VM failed: %s", strerror(errno));
		return err;
	}
	slots = kvm_check_extension(kvm, KVM_CAP_NR_MEMSLOTS);
	kvm->max_memslots = slots > 0 ? (unsigned int)slots : 32;
	kvm->readonly_mem = kvm_check_extension(kvm, KVM_CAP_READONLY_MEM) > 0;
	return 0;
}

void kvm_close(struct kvm *kvm)
{
	kvm_irq_routing_free(kvm);
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
	if (kvm->sys_fd >= 0)
		close(kvm->sys_fd);
	kvm->vm_fd = kvm->sys_fd = -1;
}

static int set_memory_region(struct kvm *kvm, uint32_t slot, uint32_t flags,
			  uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};

	if (ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		int err = -errno;

		log_err("KVM_SET_USER_MEMORY_REGION slot %u [0x%llx, +0x%llx) failed: %s",
			slot, (unsigned long long)gpa, (unsigned long long)size, strerror(errno));
		return err;
	}
	return 0;
}

int kvm_register_slot(struct kvm *kvm, const struct mem_slot *s)
{
	return set_memory_region(kvm, s->id, s->readonly ? KVM_MEM_READONLY : 0, s->gpa,
				 s->size, s->hva);
}

int kvm_unregister_slot(struct kvm *kvm, const struct mem_slot *s)
{
	return set_memory_region(kvm, s->id, 0, s->gpa, 0, s->hva);
}

int kvm_register_memory(struct kvm *kvm, const struct mem_map *mem)
{
	for (unsigned int i = 0; i < mem->nr_slots; i++) {
		int err = kvm_register_slot(kvm, &mem->slots[i]);

		if (err)
			return err;
	}
	return 0;
}

int kvm_setup_platform(struct kvm *kvm, uint64_t tss_addr, uint64_t identity_addr)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t ident = identity_addr;

	/* Both must precede vCPU creation; harmless where unused (SVM, PVM). */
	if (kvm_check_extension(kvm, KVM_CAP_SET_IDENTITY_MAP_ADDR) &&
	    ioctl(kvm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
		log_warn("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	if (ioctl(kvm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)tss_addr) < 0)
		log_warn("KVM_SET_TSS_ADDR: %s", strerror(errno));
	if (ioctl(kvm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		int err = -errno;

		log_err("KVM_CREATE_IRQCHIP failed: %s", strerror(errno));
		return err;
	}
	kvm->irqchip = true;
	{
		int err = kvm_irq_routing_init(kvm);

		if (err)
			return err;
	}
	if (ioctl(kvm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		int err = -errno;

		log_err("KVM_CREATE_PIT2 failed: %s", strerror(errno));
		return err;
	}
	return 0;
}

int kvm_irq_line(struct kvm *kvm, uint32_t gsi, bool level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };

	if (ioctl(kvm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		return -errno;
	return 0;
}

int kvm_get_supported_cpuid(struct kvm *kvm, struct kvm_cpuid2 **out)
{
	for (unsigned int n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(kvm->sys_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG) {
			int err = -errno;

			log_err("KVM_GET_SUPPORTED_CPUID failed: %s", strerror(errno));
			return err;
		}
	}
	return -E2BIG;
}

int kvm_create_vcpu(struct kvm *kvm, unsigned int id)
{
	int fd = ioctl(kvm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);

	if (fd < 0) {
		int err = -errno;

		log_err("KVM_CREATE_VCPU %u failed: %s", id, strerror(errno));
		return err;
	}
	return fd;
}

int kvm_stats_fd(struct kvm *kvm, int vcpu_fd)
{
	int fd = ioctl(vcpu_fd >= 0 ? vcpu_fd : kvm->vm_fd, KVM_GET_STATS_FD, 0);

	return fd < 0 ? -errno : fd;
}

static bool read_param(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	return ok;
}

enum host_paging kvm_detect_host_paging(void)
{
	char v[16];

	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		return HOST_PAGING_PVM;
	if (read_param("/sys/module/kvm_intel/parameters/ept", v, sizeof(v)))
		return (v[0] == 'Y' || v[0] == '1') ? HOST_PAGING_VMX_EPT : HOST_PAGING_KVM_SHADOW;
	if (read_param("/sys/module/kvm_amd/parameters/npt", v, sizeof(v)))
		return (v[0] == 'Y' || v[0] == '1') ? HOST_PAGING_SVM_NPT : HOST_PAGING_KVM_SHADOW;
	return HOST_PAGING_UNKNOWN;
}

const char *host_paging_name(enum host_paging m)
{
	switch (m) {
	case HOST_PAGING_VMX_EPT: return "vmx+ept";
	case HOST_PAGING_SVM_NPT: return "svm+npt";
	case HOST_PAGING_KVM_SHADOW: return "kvm-shadow";
	case HOST_PAGING_PVM: return "pvm";
	default: return "unknown";
	}
}

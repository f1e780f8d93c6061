// SPDX-License-Identifier: MIT
/*
 * The floor minivmm is measured against: the least a KVM program must do to
 * run a minivmm test guest.  One thread, no irqchip, no device model, no
 * console thread: KVM_RUN in a loop with a switch on the port.  It reuses
 * minivmm's loader, boot tables and device tree so the guest sees the same
 * machine; everything on the run path is raw ioctls.
 *
 *   kvm_floor GUEST.elf [BOOTARGS]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "abi/board.h"
#include "boot/devtree.h"
#include "boot/loader.h"
#include "mmu/memory.h"
#include "cpu/x86.h"

#define RAM_SIZE (256ULL << 20)

static int die(const char *what)
{
	fprintf(stderr, "kvm_floor: %s: %s\n", what, strerror(errno));
	return 1;
}

static int setup_memory(int vm, struct mem_map *mem, const char *path, const char *bootargs)
{
	struct mem_layout_spec single = { .kind = MEM_LAYOUT_SINGLE };
	struct loaded_image img;
	struct devtree_reserved res[2];
	struct devtree_params dt;
	struct kvm_userspace_memory_region r;
	uint64_t boot_end;
	uint8_t *file, fdt[BOARD_BOOT_FDT_MAX];
	size_t len;

	if (mem_map_create(mem, &single, MEM_BACKING_ANON, RAM_SIZE, 1))
		return -1;
	r = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE,
		.userspace_addr = (uint64_t)(uintptr_t)mem->host_base,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return die("KVM_SET_USER_MEMORY_REGION");
	if (loader_read_file(path, &file, &len) ||
	    loader_load_test_guest(mem, file, len, path, &img))
		return -1;
	free(file);
	if (x86_write_boot_tables(mem, RAM_SIZE, &boot_end))
		return -1;
	res[0] = (struct devtree_reserved){ BOARD_BOOT_GDT, boot_end - BOARD_BOOT_GDT };
	res[1] = (struct devtree_reserved){ img.start, img.end - img.start };
	dt = (struct devtree_params){ .mem = mem, .nr_vcpus = 1, .bootargs = bootargs,
				 .reserved = res, .nr_reserved = 2 };
	if (devtree_build(fdt, sizeof(fdt), &dt) || mem_write(mem, BOARD_BOOT_FDT, fdt, devtree_size(fdt)))
		return -1;
	return (int)img.entry;
}

int main(int argc, char **argv)
{
	struct mem_map mem;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	int kvm, vm, vcpu, entry, size;

	if (argc < 2) {
		fprintf(stderr, "usage: kvm_floor GUEST.elf [BOOTARGS]\n");
		return 2;
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return die("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return die("KVM_CREATE_VM");
	entry = setup_memory(vm, &mem, argv[1], argc > 2 ? argv[2] : "");
	if (entry < 0)
		return 1;
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || size < 0)
		return die("KVM_CREATE_VCPU");
	run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED || ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return die("vcpu setup");
	x86_boot_sregs(&sregs, 1);
	x86_boot_regs(&regs, (uint64_t)entry, BOARD_BOOT_FDT);
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return die("KVM_SET_SREGS/REGS");

	for (;;) {
		uint8_t *data;

		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			return die("KVM_RUN");
		if (run->exit_reason != KVM_EXIT_IO) {
			fprintf(stderr, "kvm_floor: exit reason %u\n", run->exit_reason);
			return 3;
		}
		data = (uint8_t *)run + run->io.data_offset;
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			switch (run->io.port) {
			case BOARD_COM1_BASE:
				if (fwrite(data, run->io.size, run->io.count, stdout) != run->io.count)
					return die("stdout");
				break;
			case BOARD_DEBUG_EXIT_PORT:
				fflush(stdout);
				return data[0];
			default:
				break;
			}
		} else {
			/* LSR reads "transmitter empty"; everything else reads 0. */
			memset(data, run->io.port == BOARD_COM1_BASE + 5 ? 0x60 : 0,
			       (size_t)run->io.size * run->io.count);
		}
	}
}

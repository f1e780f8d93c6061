// SPDX-License-Identifier: MIT
/*
 * GSI routing, irqfd and ioeventfd.  The routing table is a flat array of
 * KVM entries: the fixed PC routes first, then one slot per allocated MSI
 * GSI (type 0 while it routes nowhere; such entries are left out of what
 * KVM is given).
 */
#include "cpu/kvm_irq.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "abi/board.h"
#include "base/log.h"

struct kvm_routes {
	pthread_mutex_t lock;
	unsigned int max;              /* KVM_CAP_IRQ_ROUTING: entries KVM takes */
	unsigned int nr_fixed;         /* the PC routes */
	unsigned int nr_msi;           /* MSI GSIs allocated */
	struct kvm_irq_routing_entry *msi;   /* nr_msi, indexed by gsi - base */
	struct kvm_irq_routing *table; /* what KVM is sent: fixed + valid MSI */
};

static void add_chip_route(struct kvm_irq_routing *r, uint32_t gsi, uint32_t chip,
			   uint32_t pin)
{
	struct kvm_irq_routing_entry *e = &r->entries[r->nr++];

	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

/* With rt->lock held. */
static int routes_commit(struct kvm *kvm, struct kvm_routes *rt)
{
	struct kvm_irq_routing *r = rt->table;

	r->nr = rt->nr_fixed;
	for (unsigned int i = 0; i < rt->nr_msi; i++)
		if (rt->msi[i].type == KVM_IRQ_ROUTING_MSI)
			r->entries[r->nr++] = rt->msi[i];
	if (ioctl(kvm->vm_fd, KVM_SET_GSI_ROUTING, r) < 0) {
		int err = -errno;

		log_err("KVM_SET_GSI_ROUTING (%u entries): %s", r->nr, strerror(errno));
		return err;
	}
	return 0;
}

/*
 * Wire the ISA interrupts as a PC does (and as the MP table describes):
 * GSI 0-15 reach the 8259s, GSI 0-23 the I/O APIC, except that the timer,
 * GSI 0, arrives on I/O APIC pin 2 and GSI 2 (the PIC cascade) nowhere.
 */
int kvm_irq_routing_init(struct kvm *kvm)
{
	struct kvm_routes *rt;
	int max = kvm_check_extension(kvm, KVM_CAP_IRQ_ROUTING);
	int err;

	if (max <= 0)
		return 0;      /* KVM's default routes; no MSI routes here */
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	rt->max = (unsigned int)max;
	rt->table = calloc(1, sizeof(*rt->table) + rt->max * sizeof(rt->table->entries[0]));
	rt->msi = calloc(rt->max, sizeof(*rt->msi));
	if (!rt->table || !rt->msi || pthread_mutex_init(&rt->lock, NULL)) {
		free(rt->table);
		free(rt->msi);
		free(rt);
		return -ENOMEM;
	}
	for (uint32_t gsi = 0; gsi < 16; gsi++)
		if (gsi != 2)
			add_chip_route(rt->table, gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER :
				       KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
	for (uint32_t gsi = 0; gsi < BOARD_IOAPIC_PINS; gsi++)
		if (gsi != 2)
			add_chip_route(rt->table, gsi, KVM_IRQCHIP_IOAPIC,
				       gsi == 0 ? BOARD_IRQ0_IOAPIC_PIN : gsi);
	rt->nr_fixed = rt->table->nr;
	kvm->routes = rt;
	pthread_mutex_lock(&rt->lock);
	err = routes_commit(kvm, rt);
	pthread_mutex_unlock(&rt->lock);
	return err;
}

void kvm_irq_routing_free(struct kvm *kvm)
{
	struct kvm_routes *rt = kvm->routes;

	if (!rt)
		return;
	pthread_mutex_destroy(&rt->lock);
	free(rt->table);
	free(rt->msi);
	free(rt);
	kvm->routes = NULL;
}

int kvm_msi_route_alloc(struct kvm *kvm, uint32_t *gsi)
{
	struct kvm_routes *rt = kvm->routes;
	int err = 0;

	if (!rt)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&rt->lock);
	if (rt->nr_fixed + rt->nr_msi >= rt->max) {
		err = -ENOSPC;
	} else {
		*gsi = KVM_IRQ_MSI_GSI_BASE + rt->nr_msi;
		memset(&rt->msi[rt->nr_msi], 0, sizeof(rt->msi[0]));
		rt->msi[rt->nr_msi].gsi = *gsi;
		rt->nr_msi++;
	}
	pthread_mutex_unlock(&rt->lock);
	return err;
}

int kvm_msi_route_set(struct kvm *kvm, uint32_t gsi, bool valid, uint64_t addr,
		      uint32_t data)
{
	struct kvm_routes *rt = kvm->routes;
	struct kvm_irq_routing_entry *e;
	int err;

	if (!rt || gsi < KVM_IRQ_MSI_GSI_BASE || gsi - KVM_IRQ_MSI_GSI_BASE >= rt->nr_msi)
		return -EINVAL;
	pthread_mutex_lock(&rt->lock);
	e = &rt->msi[gsi - KVM_IRQ_MSI_GSI_BASE];
	if (!valid && e->type != KVM_IRQ_ROUTING_MSI) {
		pthread_mutex_unlock(&rt->lock);
		return 0;
	}
	if (valid && e->type == KVM_IRQ_ROUTING_MSI && e->u.msi.data == data &&
	    e->u.msi.address_lo == (uint32_t)addr &&
	    e->u.msi.address_hi == (uint32_t)(addr >> 32)) {
		pthread_mutex_unlock(&rt->lock);
		return 0;      /* unchanged: spare KVM the table */
	}
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	if (valid) {
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = (uint32_t)addr;
		e->u.msi.address_hi = (uint32_t)(addr >> 32);
		e->u.msi.data = data;
	}
	err = routes_commit(kvm, rt);
	pthread_mutex_unlock(&rt->lock);
	return err;
}

int kvm_irqfd(struct kvm *kvm, int fd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd req = {
		.fd = (uint32_t)fd, .gsi = gsi, .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};

	if (ioctl(kvm->vm_fd, KVM_IRQFD, &req) < 0)
		return -errno;
	return 0;
}

int kvm_ioeventfd(struct kvm *kvm, int fd, uint64_t addr, bool pio, bool assign)
{
	struct kvm_ioeventfd req = {
		.addr = addr, .fd = fd,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	/* Length 0 matches any width; without that capability, 16 bits:
	 * what virtio drivers write to a notify address (a queue index). */
	req.len = kvm_check_extension(kvm, KVM_CAP_IOEVENTFD_ANY_LENGTH) ? 0 : 2;
	if (ioctl(kvm->vm_fd, KVM_IOEVENTFD, &req) < 0)
		return -errno;
	return 0;
}

int kvm_signal_msi(struct kvm *kvm, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};
	int r = ioctl(kvm->vm_fd, KVM_SIGNAL_MSI, &msi);

	if (r < 0)
		return -errno;
	return r == 0 ? -EAGAIN : 0;   /* 0: the guest blocked it (masked) */
}

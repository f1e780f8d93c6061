// SPDX-License-Identifier: MIT
/*
 * PCI platform glue.  Per virtio function:
 *  - one eventfd per queue, registered with KVM_IOEVENTFD at the queue's
 *    notify address while BAR 0 decodes (the BAR listener follows the
 *    guest's memory-decode and BAR writes), served on the I/O thread;
 *  - one GSI + eventfd + irqfd per MSI-X vector; the route follows the
 *    guest's MSI-X table (msi_sink.update), a message is one eventfd write;
 *  - INTA# on the slot's I/O APIC pin, counted per pin so that functions
 *    sharing a pin (from the ninth slot on) keep it asserted while any of
 *    them wants it.
 */
#include "vmm/vm_pci.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "abi/board.h"
#include "backends/block/backend.h"
#include "backends/net/backend.h"
#include "base/log.h"
#include "cpu/kvm_irq.h"
#include "devices/pci/host.h"
#include "base/clock.h"
#include "base/snap.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/net.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/rng.h"

#define VM_PCI_QUEUE_SIZE 256
#define VM_PCI_RNG_QUEUE_SIZE 64
#define VM_PCI_CONSOLE_QUEUE_SIZE 128
#define VM_PCI_NET_QUEUE_SIZE 256

struct vm_virtio;

struct vm_kick {
	struct vm_virtio *v;
	unsigned int q;
	int fd;
};

struct vm_msi_vec {
	uint32_t gsi;
	int fd;                      /* -1: no irqfd, KVM_SIGNAL_MSI instead */
};

struct vm_virtio {
	struct vm_pci *pci;
	unsigned int slot;
	struct virtio_dev *vdev;
	struct virtio_pci *vp;
	struct block_backend *backend;   /* virtio-blk: the image, owned */
	struct net_backend *net;         /* virtio-net: the netdev, owned */
	struct virtio_net *vnet;
	unsigned int nr_vecs;
	struct vm_msi_vec *vecs;
	unsigned int nr_kicks;
	struct vm_kick *kicks;
	bool notify_live;                /* ioeventfds sit at notify_bar */
	uint64_t notify_bar;
};

struct vm_pci {
	struct vm_pci_params p;
	struct pci_host *host;
	struct vm_virtio *funcs[BOARD_PCI_SLOTS];
	unsigned int nr_funcs;
	pthread_mutex_t intx_lock;
	unsigned int intx_count[BOARD_IOAPIC_PINS];
	atomic_uint_fast64_t kicks, msis;
	atomic_uint nr_ioeventfds;
	struct virtio_rng *rng;          /* -device virtio-rng-pci */
	int rng_timer_fd;
	struct log_ratelimit rl;
};

/* ---- interrupts --------------------------------------------------------- */

static void intx_set(void *ctx, uint32_t gsi, bool level)
{
	struct vm_pci *pci = ctx;
	bool change;
	int err = 0;

	if (gsi >= BOARD_IOAPIC_PINS)
		return;
	pthread_mutex_lock(&pci->intx_lock);
	if (level)
		change = pci->intx_count[gsi]++ == 0;
	else
		change = pci->intx_count[gsi] > 0 && --pci->intx_count[gsi] == 0;
	if (change)
		err = kvm_irq_line(pci->p.kvm, gsi, level);
	pthread_mutex_unlock(&pci->intx_lock);
	if (err && log_ratelimit_ok(&pci->rl, "pci intx"))
		log_warn("pci: KVM_IRQ_LINE gsi %" PRIu32 ": %s", gsi, strerror(-err));
}

static void msi_send(void *ctx, unsigned int vector, const struct msi_msg *msg)
{
	struct vm_virtio *v = ctx;
	uint64_t one = 1;
	int err = 0;

	if (vector < v->nr_vecs && v->vecs[vector].fd >= 0) {
		if (write(v->vecs[vector].fd, &one, sizeof(one)) != sizeof(one))
			err = -errno;
	} else {
		err = kvm_signal_msi(v->pci->p.kvm, msg->addr, msg->data);
	}
	atomic_fetch_add_explicit(&v->pci->msis, 1, memory_order_relaxed);
	if (err && err != -EAGAIN && log_ratelimit_ok(&v->pci->rl, "pci msi"))
		log_warn("pci: %s: MSI-X vector %u: %s", v->vdev->name, vector, strerror(-err));
}

static void msi_update(void *ctx, unsigned int vector, const struct msi_msg *msg,
		       bool masked)
{
	struct vm_virtio *v = ctx;
	int err;

	if (vector >= v->nr_vecs || v->vecs[vector].fd < 0)
		return;
	err = kvm_msi_route_set(v->pci->p.kvm, v->vecs[vector].gsi, !masked, msg->addr,
				msg->data);
	if (err && log_ratelimit_ok(&v->pci->rl, "pci msi route"))
		log_warn("pci: %s: MSI-X vector %u route: %s", v->vdev->name, vector,
			 strerror(-err));
}

/* One GSI, eventfd and irqfd per vector; a vector without them (no GSI
 * routing on this host) is sent with KVM_SIGNAL_MSI. */
static int setup_vectors(struct vm_virtio *v, unsigned int nr)
{
	struct kvm *kvm = v->pci->p.kvm;

	v->vecs = calloc(nr, sizeof(*v->vecs));
	if (!v->vecs)
		return -ENOMEM;
	v->nr_vecs = nr;
	for (unsigned int i = 0; i < nr; i++) {
		struct vm_msi_vec *vec = &v->vecs[i];
		int err;

		vec->fd = -1;
		if (kvm_msi_route_alloc(kvm, &vec->gsi))
			continue;
		vec->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vec->fd < 0)
			return -errno;
		err = kvm_irqfd(kvm, vec->fd, vec->gsi, true);
		if (err) {
			log_warn("pci: %s: KVM_IRQFD: %s; vector %u uses KVM_SIGNAL_MSI",
				 v->vdev->name, strerror(-err), i);
			close(vec->fd);
			vec->fd = -1;
		}
	}
	return 0;
}

/* ---- queue kicks ---------------------------------------------------------- */

static void kick_ready(void *ctx)
{
	struct vm_kick *k = ctx;
	uint64_t n;

	if (read(k->fd, &n, sizeof(n)) != sizeof(n))
		return;
	atomic_fetch_add_explicit(&k->v->pci->kicks, 1, memory_order_relaxed);
	virtio_pci_kick(k->v->vp, k->q);
}

static void set_ioeventfds(struct vm_virtio *v, uint64_t bar, bool assign)
{
	for (unsigned int q = 0; q < v->nr_kicks; q++) {
		uint64_t addr = bar + virtio_pci_notify_offset(q);
		int err = kvm_ioeventfd(v->pci->p.kvm, v->kicks[q].fd, addr, false, assign);

		if (!err) {
			if (assign)
				atomic_fetch_add(&v->pci->nr_ioeventfds, 1);
			else
				atomic_fetch_sub(&v->pci->nr_ioeventfds, 1);
		} else if (log_ratelimit_ok(&v->pci->rl, "pci ioeventfd")) {
			/* Not fatal: the kick then exits to userspace and
			 * reaches the device through the BAR. */
			log_warn("pci: %s: KVM_IOEVENTFD %s at 0x%" PRIx64 ": %s",
				 v->vdev->name, assign ? "assign" : "deassign", addr,
				 strerror(-err));
		}
	}
}

/* The guest turned BAR 0 on or off, or moved it: the notify addresses'
 * ioeventfds follow. */
static void bar_changed(void *ctx, unsigned int bar, bool live, uint64_t addr)
{
	struct vm_virtio *v = ctx;

	if (bar != VIRTIO_PCI_BAR)
		return;
	if (v->notify_live)
		set_ioeventfds(v, v->notify_bar, false);
	v->notify_live = live;
	v->notify_bar = addr;
	if (live)
		set_ioeventfds(v, addr, true);
}

static int setup_kicks(struct vm_virtio *v, unsigned int nr)
{
	v->kicks = calloc(nr, sizeof(*v->kicks));
	if (!v->kicks)
		return -ENOMEM;
	v->nr_kicks = nr;
	for (unsigned int q = 0; q < nr; q++)
		v->kicks[q] = (struct vm_kick){ .v = v, .q = q, .fd = -1 };
	for (unsigned int q = 0; q < nr; q++) {
		int err;

		v->kicks[q].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->kicks[q].fd < 0)
			return -errno;
		err = evloop_add(v->pci->p.loop, v->kicks[q].fd, kick_ready, &v->kicks[q]);
		if (err)
			return err;
	}
	return 0;
}

/* ---- functions ------------------------------------------------------------ */

static void virtio_free(struct vm_virtio *v)
{
	struct kvm *kvm = v->pci->p.kvm;

	if (v->notify_live)
		set_ioeventfds(v, v->notify_bar, false);
	virtio_pci_destroy(v->vp);
	if (v->vdev && v->vdev->ops->destroy)
		v->vdev->ops->destroy(v->vdev);
	if (v->backend)
		block_destroy(v->backend);
	net_backend_destroy(v->net);
	for (unsigned int i = 0; v->vecs && i < v->nr_vecs; i++) {
		if (v->vecs[i].fd < 0)
			continue;
		if (kvm_irqfd(kvm, v->vecs[i].fd, v->vecs[i].gsi, false))
			log_warn("pci: %s: irqfd deassign failed", v->vdev->name);
		close(v->vecs[i].fd);
	}
	for (unsigned int q = 0; v->kicks && q < v->nr_kicks; q++)
		if (v->kicks[q].fd >= 0)
			close(v->kicks[q].fd);
	free(v->vecs);
	free(v->kicks);
	free(v);
}

/* Wrap vdev (and backend, may be NULL) in a PCI function in the next slot;
 * both are the function's from here on, also on failure. */
static int add_function(struct vm_pci *pci, struct virtio_dev *vdev,
			struct block_backend *backend)
{
	unsigned int slot = pci->nr_funcs + 1;
	struct vm_virtio *v = calloc(1, sizeof(*v));
	struct irq_line intx = { .set = intx_set, .ctx = pci, .gsi = BOARD_PCI_INTX_GSI(slot) };
	struct msi_sink sink = { .send = msi_send, .update = msi_update };
	struct pci_func *f;
	int err;

	if (!v) {
		vdev->ops->destroy(vdev);
		if (backend)
			block_destroy(backend);
		return -ENOMEM;
	}
	*v = (struct vm_virtio){ .pci = pci, .slot = slot, .vdev = vdev, .backend = backend };
	if (slot >= BOARD_PCI_SLOTS) {
		log_err("pci: no free slot for %s (at most %d functions)", vdev->name,
			BOARD_PCI_SLOTS - 1);
		err = -ENOSPC;
		goto fail;
	}
	sink.ctx = v;
	err = setup_vectors(v, vdev->nr_queues + 1);
	if (!err)
		err = setup_kicks(v, vdev->nr_queues);
	if (err)
		goto fail;
	v->vp = virtio_pci_create(vdev, &intx, &sink);
	if (!v->vp) {
		err = -ENOMEM;
		goto fail;
	}
	f = virtio_pci_func(v->vp);
	f->bar_listener = (struct pci_bar_listener){ .changed = bar_changed, .ctx = v };
	err = pci_host_add(pci->host, f, slot);
	if (err)
		goto fail;
	pci->funcs[pci->nr_funcs++] = v;
	return 0;
fail:
	virtio_free(v);
	return err;
}

int vm_pci_add_virtio(struct vm_pci *pci, struct virtio_dev *vdev)
{
	return add_function(pci, vdev, NULL);
}

static void backend_ready(void *ctx)
{
	block_backend_process(ctx);
}

int vm_pci_add_drive(struct vm_pci *pci, const struct drive_config *d)
{
	/* io_uring completions are reaped on the I/O thread, beside the kicks. */
	struct block_backend_opts opts = { .poll_mode = true };
	struct block_backend *b;
	struct virtio_dev *vdev;
	unsigned int nq = pci->p.nr_vcpus < VIRTIO_BLK_MAX_QUEUES ?
			  pci->p.nr_vcpus : VIRTIO_BLK_MAX_QUEUES;
	int err = block_backend_open(d, &opts, &b), fd;

	if (err)    /* missing, unreadable, in use, not raw: the user's to fix */
		return err == -ENOMEM ? err : -EINVAL;
	fd = block_backend_poll_fd(b);
	if (fd >= 0) {
		err = evloop_add(pci->p.loop, fd, backend_ready, b);
		if (err) {
			block_destroy(b);
			return err;
		}
	}
	err = virtio_blk_create(&(struct virtio_blk_params){
		.mem = pci->p.mem, .backend = b, .nr_queues = nq ? nq : 1,
		.queue_size = VM_PCI_QUEUE_SIZE, .serial = d->serial,
	}, &vdev);
	if (err) {
		block_destroy(b);
		return err;
	}
	return add_function(pci, vdev, b);
}

/* ---- virtio-rng and virtio-console ----------------------------------------- */

static ssize_t rng_fill(void *ctx, void *buf, size_t len)
{
	ssize_t r;

	(void)ctx;
	do
		r = getrandom(buf, len, GRND_NONBLOCK);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static uint64_t rng_now(void *ctx)
{
	(void)ctx;
	return now_ns();
}

static void rng_arm(void *ctx, uint64_t delay_ns)
{
	struct vm_pci *pci = ctx;
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(delay_ns / 1000000000ull),
			      .tv_nsec = (long)(delay_ns % 1000000000ull) },
	};

	if (timerfd_settime(pci->rng_timer_fd, 0, &its, NULL) < 0 &&
	    log_ratelimit_ok(&pci->rl, "rng timer"))
		log_warn("virtio-rng: timerfd: %s", strerror(errno));
}

static void rng_timer_ready(void *ctx)
{
	struct vm_pci *pci = ctx;
	uint64_t n;

	if (read(pci->rng_timer_fd, &n, sizeof(n)) == sizeof(n))
		virtio_rng_timer(pci->rng);
}

int vm_pci_add_rng(struct vm_pci *pci, uint64_t max_bytes, uint64_t period_ns)
{
	struct virtio_rng_params p = {
		.mem = pci->p.mem, .queue_size = VM_PCI_RNG_QUEUE_SIZE,
		.entropy = { .fill = rng_fill }, .clock = { .now_ns = rng_now },
		.wakeup = { .arm = rng_arm, .ctx = pci },
		.bytes_per_period = max_bytes, .period_ns = period_ns,
	};
	int err;

	if (pci->rng)
		return -EEXIST;
	pci->rng_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (pci->rng_timer_fd < 0)
		return -errno;
	err = evloop_add(pci->p.loop, pci->rng_timer_fd, rng_timer_ready, pci);
	if (!err)
		err = virtio_rng_create(&p, &pci->rng);
	if (err)
		return err;
	err = add_function(pci, virtio_rng_dev(pci->rng), NULL);
	if (err)
		pci->rng = NULL;      /* freed by add_function */
	return err;
}

int vm_pci_add_console(struct vm_pci *pci, const struct byte_sink *out,
		       void (*rx_ready)(void *ctx), void *rx_ctx, struct virtio_console **con)
{
	struct virtio_console_params p = {
		.mem = pci->p.mem, .out = *out, .rx_ready = rx_ready, .rx_ctx = rx_ctx,
		.rx_queue_size = VM_PCI_CONSOLE_QUEUE_SIZE,
		.tx_queue_size = VM_PCI_CONSOLE_QUEUE_SIZE,
	};
	int err = virtio_console_create(&p, con);

	if (!err)
		err = add_function(pci, virtio_console_dev(*con), NULL);
	if (err)
		*con = NULL;
	return err;
}

int vm_pci_add_net(struct vm_pci *pci, const struct netdev_config *nd,
		   const struct nic_config *nic)
{
	struct virtio_net_params p = {
		.mem = pci->p.mem, .loop = pci->p.loop, .queue_size = VM_PCI_NET_QUEUE_SIZE,
	};
	struct virtio_net *n;
	int err = net_backend_open(nd, pci->p.loop, &p.backend);

	if (err)
		return err;
	memcpy(p.mac, nic->mac, sizeof(p.mac));
	err = virtio_net_create(&p, &n);
	if (err) {
		net_backend_destroy(p.backend);
		return err;
	}
	err = add_function(pci, virtio_net_dev(n), NULL);
	if (err) {
		net_backend_destroy(p.backend);
		return err;
	}
	pci->funcs[pci->nr_funcs - 1]->net = p.backend;
	pci->funcs[pci->nr_funcs - 1]->vnet = n;
	return 0;
}

/* ---- the platform --------------------------------------------------------- */

int vm_pci_create(const struct vm_pci_params *p, struct vm_pci **out)
{
	struct vm_pci *pci = calloc(1, sizeof(*pci));
	uint64_t base, end;
	int err;

	if (!pci)
		return -ENOMEM;
	pci->p = *p;
	pci->rl.burst = 16;
	pci->rng_timer_fd = -1;
	pthread_mutex_init(&pci->intx_lock, NULL);
	pci->host = pci_host_create(BOARD_PCI_MMIO_BASE, BOARD_PCI_MMIO_END, p->mem);
	if (!pci->host) {
		vm_pci_destroy(pci);
		return -ENOMEM;
	}
	pci_host_window(pci->host, &base, &end);
	err = bus_insert(p->pio, BOARD_PCI_CFG_ADDR, BOARD_PCI_CFG_SIZE,
			 pci_host_cfg_device(pci->host));
	if (!err)
		err = bus_insert(p->mmio, base, end - base, pci_host_mmio_device(pci->host));
	if (err) {
		log_err("pci: cannot place the host bridge: %s", strerror(-err));
		vm_pci_destroy(pci);
		return err;
	}
	*out = pci;
	return 0;
}

int vm_pci_quiesce(struct vm_pci *pci)
{
	int first = 0;

	for (unsigned int i = 0; pci && i < pci->nr_funcs; i++) {
		struct vm_virtio *v = pci->funcs[i];
		int err;

		if (!v->backend)
			continue;
		err = block_drain(v->backend);
		if (err) {
			log_err("drive %s: flushing at exit failed: %s", v->backend->path,
				strerror(-err));
			if (!first)
				first = err;
		}
	}
	return first;
}

void vm_pci_destroy(struct vm_pci *pci)
{
	if (!pci)
		return;
	for (unsigned int i = pci->nr_funcs; i-- > 0;)
		virtio_free(pci->funcs[i]);
	pci_host_destroy(pci->host);
	if (pci->rng_timer_fd >= 0)
		close(pci->rng_timer_fd);
	pthread_mutex_destroy(&pci->intx_lock);
	free(pci);
}

void vm_pci_get_stats(const struct vm_pci *pci, struct vm_pci_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!pci)
		return;
	out->kicks = atomic_load(&pci->kicks);
	out->msis = atomic_load(&pci->msis);
	out->nr_functions = pci->nr_funcs;
	out->nr_ioeventfds = atomic_load(&pci->nr_ioeventfds);
}

bool vm_pci_get_net_stats(const struct vm_pci *pci, unsigned int i, struct vm_net_stats *out)
{
	for (unsigned int f = 0; pci && f < pci->nr_funcs; f++) {
		const struct vm_virtio *v = pci->funcs[f];

		if (!v->net || i--)
			continue;
		out->id = v->net->id;
		out->kind = v->net->kind;
		virtio_net_get_stats(v->vnet, &out->dev);
		out->backend_rx_dropped = __atomic_load_n(&v->net->stats.rx_dropped,
							  __ATOMIC_RELAXED);
		out->backend_tx_dropped = __atomic_load_n(&v->net->stats.tx_dropped,
							  __ATOMIC_RELAXED);
		return true;
	}
	return false;
}

unsigned int vm_pci_nr_functions(const struct vm_pci *pci)
{
	return pci ? pci->nr_funcs : 0;
}

void vm_pci_snap(struct vm_pci *pci, struct snap *s)
{
	struct snap child;
	char name[16];

	/* Configuration spaces first: BARs decode again (ioeventfds follow). */
	pci_host_snap(pci->host, s);
	for (unsigned int i = 0; i < pci->nr_funcs; i++) {
		struct vm_virtio *v = pci->funcs[i];
		uint64_t size = v->backend ? v->backend->size : 0;

		snprintf(name, sizeof(name), "virtio%u", v->slot);
		if (!snap_enter(s, name, &child))
			return;
		/* A disk image is not part of the snapshot: it must still be
		 * the one the guest knew. */
		snap_u64(&child, "disk-size", &size);
		if (!snap_saving(&child) && !snap_failed(&child) && v->backend &&
		    size != v->backend->size)
			snap_fail(&child, "disk-size", -EXDEV, "%s is %llu bytes, the snapshot's "
				  "guest knew %llu", v->backend->path,
				  (unsigned long long)v->backend->size, (unsigned long long)size);
		virtio_pci_snap(v->vp, &child);
		snap_leave(&child);
	}
}

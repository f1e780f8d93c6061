// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the machine as a hostile guest sees it.  Port-I/O and
 * MMIO exits, filled in as KVM fills struct kvm_run (any size, count,
 * data offset, address), go through the real exit dispatcher
 * (vcpu_handle_exit) to the real buses, and from there to every device a
 * minivmm VM has on them: COM1 (16550A), the i8042, debug-exit, POST, the
 * PCI host bridge (CONFIG_ADDRESS/CONFIG_DATA and its MMIO window) and
 * three virtio-pci functions behind it (virtio-blk on an in-memory disk
 * whose requests complete late and out of order, virtio-rng, virtio-console),
 * over guest memory whose contents the fuzzer also writes: virtqueue rings,
 * descriptor chains, indirect tables.  Host-side events (kicks as an
 * ioeventfd delivers them, console input, the rng timer, block completions)
 * are interleaved.  Invariants besides "no crash, no sanitizer report": the
 * disk sees only requests inside it; an MSI goes only to a vector the
 * function has; the dispatcher stops only on what a guest may stop it with.
 *
 * Input: [2 bytes: script length L][L * 12-byte ops][guest RAM image].
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi/board.h"
#include "cpu/exit.h"
#include "devices/bus.h"
#include "devices/block.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/pci/host.h"
#include "devices/pci/msix.h"
#include "devices/post.h"
#include "devices/uart.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/rng.h"
#include "base/log.h"
#include "fake_mem.h"

#define RAM_SLOT   (16u << 10)
#define RAM_SLOTS  4u              /* 64 KiB, slots scattered in host memory */
#define DISK       (16u << 10)
#define MAX_PEND   16
#define RUN_SIZE   8192u           /* kvm_run plus its I/O data area */
#define NR_FUNCS   3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct op {
	uint8_t kind, len;
	uint16_t count;
	uint32_t addr, val;
};

struct disk {
	struct block_backend be;
	uint8_t bytes[DISK];
	struct block_io *pending[MAX_PEND];
	unsigned int nr_pending;
};

struct machine {
	struct mem_map mem;
	struct bus pio, mmio;
	struct device *devs[8];
	unsigned int nr_devs;
	struct pci_host *host;
	struct virtio_pci *vp[NR_FUNCS];
	struct virtio_dev *vdev[NR_FUNCS];
	struct virtio_console *con;
	struct virtio_rng *rng;
	struct disk disk;
	uint64_t clock_ns;
	uint8_t run[RUN_SIZE] __attribute__((aligned(8)));
};

/* ---- host-side fakes ---------------------------------------------------- */

static void no_irq(void *ctx, uint32_t gsi, bool level)
{
}

static void no_power(void *ctx, enum power_event ev, int status)
{
}

static void sink(void *ctx, const uint8_t *buf, size_t len)
{
	volatile uint8_t x = 0;

	for (size_t i = 0; i < len; i++)
		x ^= buf[i];
	(void)x;
}

static void msi_send(void *ctx, unsigned int vector, const struct msi_msg *msg)
{
	struct virtio_pci *vp = *(struct virtio_pci **)ctx;

	/* One vector per queue plus the configuration vector, no more. */
	if (vp && vector >= pci_msix_nr_vectors(virtio_pci_func(vp)))
		abort();
}

static int64_t disk_run(struct disk *d, struct block_io *io)
{
	uint64_t off = io->offset, sum = 0;

	switch (io->op) {
	case BLOCK_READ:
	case BLOCK_WRITE:
		for (unsigned int i = 0; i < io->nr_iov; i++)
			sum += io->iov[i].iov_len;
		if (!io->nr_iov || off > DISK || sum > DISK - off || sum != io->len)
			abort();
		for (unsigned int i = 0; i < io->nr_iov; i++) {
			if (io->op == BLOCK_READ)
				memcpy(io->iov[i].iov_base, d->bytes + off, io->iov[i].iov_len);
			else
				memcpy(d->bytes + off, io->iov[i].iov_base, io->iov[i].iov_len);
			off += io->iov[i].iov_len;
		}
		return (int64_t)sum;
	case BLOCK_DISCARD:
	case BLOCK_WRITE_ZEROES:
		if (off > DISK || io->len > DISK - off)
			abort();
		memset(d->bytes + off, 0, io->len);
		return 0;
	case BLOCK_FLUSH:
		return 0;
	}
	abort();
}

static int disk_submit(struct block_backend *b, struct block_io *io)
{
	struct disk *d = (struct disk *)b;

	if (d->nr_pending == MAX_PEND)
		return -EAGAIN;
	d->pending[d->nr_pending++] = io;
	return 0;
}

static void disk_complete(struct disk *d, unsigned int i)
{
	struct block_io *io;

	if (!d->nr_pending)
		return;
	i %= d->nr_pending;
	io = d->pending[i];
	memmove(&d->pending[i], &d->pending[i + 1], (d->nr_pending - i - 1) * sizeof(io));
	d->nr_pending--;
	io->done(io, disk_run(d, io));
}

static void disk_flush_queue(struct block_backend *b)
{
}

static int disk_drain(struct block_backend *b)
{
	struct disk *d = (struct disk *)b;

	while (d->nr_pending)
		disk_complete(d, 0);
	return 0;
}

static const struct block_backend_ops disk_ops = {
	.submit = disk_submit, .flush_queue = disk_flush_queue, .drain = disk_drain,
};

static ssize_t entropy(void *ctx, void *buf, size_t len)
{
	memset(buf, 0xA5, len);
	return (ssize_t)len;
}

static uint64_t clock_now(void *ctx)
{
	return ((struct machine *)ctx)->clock_ns;
}

static void wake_arm(void *ctx, uint64_t delay_ns)
{
}

/* ---- the machine ------------------------------------------------------ */

static bool place(struct machine *m, struct bus *bus, uint64_t base, uint64_t len,
		  struct device *dev)
{
	if (!dev)
		return false;
	m->devs[m->nr_devs++] = dev;
	return bus_insert(bus, base, len, dev) == 0;
}

static bool add_func(struct machine *m, unsigned int i, struct virtio_dev *vdev)
{
	struct irq_line intx = { .set = no_irq, .gsi = BOARD_PCI_INTX_GSI(i + 1) };
	struct msi_sink msi = { .send = msi_send, .ctx = &m->vp[i] };

	m->vdev[i] = vdev;
	m->vp[i] = virtio_pci_create(vdev, &intx, &msi);
	return m->vp[i] && pci_host_add(m->host, virtio_pci_func(m->vp[i]), i + 1) == 0;
}

static bool build(struct machine *m)
{
	struct irq_line com1_irq = { .set = no_irq, .gsi = BOARD_COM1_GSI };
	struct power_ctl power = { .request = no_power };
	struct byte_sink out = { .write = sink };
	struct i8042 *kbc = i8042_create(&power);
	struct post *post = post_create();
	struct uart *com1 = uart_create("com1", &com1_irq, &out);
	struct virtio_dev *blk = NULL;
	uint64_t base, end;
	bool ok;

	bus_init(&m->pio, "pio");
	bus_init(&m->mmio, "mmio");
	ok = place(m, &m->pio, BOARD_COM1_BASE, BOARD_COM1_SIZE, com1 ? uart_device(com1) : NULL);
	ok = place(m, &m->pio, BOARD_I8042_DATA, 1, kbc ? i8042_data_device(kbc) : NULL) && ok;
	ok = place(m, &m->pio, BOARD_I8042_CMD, 1, kbc ? i8042_cmd_device(kbc) : NULL) && ok;
	ok = place(m, &m->pio, BOARD_DEBUG_EXIT_PORT, 1, debug_exit_create(&power)) && ok;
	ok = place(m, &m->pio, BOARD_POST_PORT, 1, post ? post_device(post) : NULL) && ok;
	m->host = pci_host_create(BOARD_PCI_MMIO_BASE, BOARD_PCI_MMIO_END, &m->mem);
	if (!ok || !m->host)
		return false;
	pci_host_window(m->host, &base, &end);
	if (bus_insert(&m->pio, BOARD_PCI_CFG_ADDR, BOARD_PCI_CFG_SIZE, pci_host_cfg_device(m->host)) ||
	    bus_insert(&m->mmio, base, end - base, pci_host_mmio_device(m->host)))
		return false;

	m->disk.be = (struct block_backend){ .ops = &disk_ops, .path = "fuzz", .size = DISK,
					     .can_discard = true, .can_write_zeroes = true,
					     .logical_block = 512, .mem_align = 1 };
	if (virtio_blk_create(&(struct virtio_blk_params){ .mem = &m->mem, .backend = &m->disk.be,
				      .nr_queues = 2, .queue_size = 8, .serial = "fuzz" }, &blk) ||
	    !add_func(m, 0, blk))
		return false;
	if (virtio_rng_create(&(struct virtio_rng_params){
		    .mem = &m->mem, .queue_size = 4,
		    .entropy = { .fill = entropy }, .clock = { .now_ns = clock_now, .ctx = m },
		    .wakeup = { .arm = wake_arm }, .bytes_per_period = 64,
		    .period_ns = 1000000 }, &m->rng) ||
	    !add_func(m, 1, virtio_rng_dev(m->rng)))
		return false;
	if (virtio_console_create(&(struct virtio_console_params){
		    .mem = &m->mem, .out = { .write = sink }, .rx_queue_size = 4,
		    .tx_queue_size = 4, .cols = 80, .rows = 25 }, &m->con) ||
	    !add_func(m, 2, virtio_console_dev(m->con)))
		return false;
	return true;
}

static void teardown(struct machine *m)
{
	disk_drain(&m->disk.be);
	for (unsigned int i = 0; i < NR_FUNCS; i++) {
		if (m->vp[i])
			virtio_pci_destroy(m->vp[i]);
		if (m->vdev[i])
			m->vdev[i]->ops->destroy(m->vdev[i]);
	}
	if (m->host)
		pci_host_destroy(m->host);
	for (unsigned int i = m->nr_devs; i-- > 0;)
		device_destroy(m->devs[i]);
	bus_destroy(&m->pio);
	bus_destroy(&m->mmio);
	fake_mem_destroy(&m->mem);
}

/* Where function i's BAR 0 is (its register, whatever the guest wrote). */
static uint64_t bar0(struct machine *m, unsigned int i)
{
	const uint8_t *cfg = virtio_pci_func(m->vp[i % NR_FUNCS])->cfg;

	return (pci_get32(cfg + 0x10) & ~0xFu) | (uint64_t)pci_get32(cfg + 0x14) << 32;
}

static void guest_exit(struct machine *m, const struct op *o, bool mmio)
{
	struct kvm_run *run = (struct kvm_run *)m->run;
	struct exit_ctx ctx = { .pio = &m->pio, .mmio = &m->mmio };
	enum vcpu_action a;

	memset(run, 0, sizeof(*run));
	if (!mmio) {
		run->exit_reason = KVM_EXIT_IO;
		run->io.direction = o->len & 0x10 ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
		run->io.size = o->len & 0xF;
		run->io.port = (uint16_t)o->addr;
		run->io.count = o->count;
		/* Mostly where KVM puts it; sometimes anywhere. */
		run->io.data_offset = o->len & 0x20 ? o->val : sizeof(*run) + (o->val & 0xFFF);
		if (run->io.data_offset >= sizeof(*run) && run->io.data_offset < RUN_SIZE - 4)
			memcpy(m->run + run->io.data_offset, &o->val, 4);
	} else {
		run->exit_reason = KVM_EXIT_MMIO;
		run->mmio.phys_addr = o->len & 0x80 ? bar0(m, (o->len >> 5) & 3) + (o->addr & 0xFFFF) :
						      o->addr;
		run->mmio.len = o->len & 0xF;
		run->mmio.is_write = o->count & 1;
		memcpy(run->mmio.data, &o->val, 4);
		memcpy(run->mmio.data + 4, &o->addr, 4);
	}
	a = vcpu_handle_exit(run, RUN_SIZE, &ctx);
	/* A guest's I/O never powers off or breaks the VMM by itself; the
	 * debug-exit port and the i8042 ask through the power interface. */
	if (a != VCPU_CONTINUE && a != VCPU_FAILED)
		abort();
}

static void step(struct machine *m, const struct op *o)
{
	uint8_t bytes[4];

	switch (o->kind & 7) {
	case 0:
		guest_exit(m, o, false);
		break;
	case 1:
		guest_exit(m, o, true);
		break;
	case 2: /* the guest's own stores: rings, descriptors, buffers */
		mem_write(&m->mem, (o->addr % (RAM_SLOT * RAM_SLOTS)) & ~3u, &o->val, 4);
		break;
	case 3: /* a kick as the notify ioeventfd delivers it */
		virtio_pci_kick(m->vp[o->len % NR_FUNCS], o->addr % 4);
		break;
	case 4: /* host input: the console and COM1 */
		memcpy(bytes, &o->val, 4);
		virtio_console_input(m->con, bytes, o->len % 5);
		break;
	case 5:
		m->clock_ns += o->val;
		virtio_rng_timer(m->rng);
		break;
	case 6: { /* a configuration-space access of any function, any register */
		uint32_t addr = pci_cfg_addr(0, o->len & 0x1F, 0, o->addr & 0xFC);
		uint32_t len = 1u << (o->count & 3), val = o->val;

		bus_access(&m->pio, BOARD_PCI_CFG_ADDR, &addr, 4, true);
		if (len > 4)
			len = 4;
		bus_access(&m->pio, BOARD_PCI_CFG_ADDR + 4 + (o->addr >> 8 & 3), &val,
			   len, o->count & 4);
		break;
	}
	case 7:
		disk_complete(&m->disk, o->val);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct machine m;
	static FILE *quiet;
	size_t nr, ram = RAM_SLOT * RAM_SLOTS;

	if (!quiet) {
		/* The devices' rate-limited warnings about the guest are the
		 * point of the exercise, not output. */
		quiet = fopen("/dev/null", "w");
		log_set_sink(quiet);
	}
	if (size < 2)
		return 0;
	nr = (size_t)(data[0] | data[1] << 8);
	data += 2;
	size -= 2;
	if (nr > size / sizeof(struct op))
		nr = size / sizeof(struct op);
	memset(&m, 0, sizeof(m));
	if (fake_mem_init_slots(&m.mem, 0, RAM_SLOT, RAM_SLOTS, true))
		abort();
	if (size - nr * sizeof(struct op) < ram)
		ram = size - nr * sizeof(struct op);
	for (size_t off = 0; off < ram; off += RAM_SLOT)
		mem_write(&m.mem, off, data + nr * sizeof(struct op) + off,
			  ram - off < RAM_SLOT ? ram - off : RAM_SLOT);
	if (build(&m)) {
		for (size_t i = 0; i < nr; i++) {
			struct op o;

			memcpy(&o, data + i * sizeof(o), sizeof(o));
			step(&m, &o);
		}
	} else {
		abort();
	}
	teardown(&m);
	return 0;
}

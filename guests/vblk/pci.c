/* SPDX-License-Identifier: MIT */
/*
 * PCI configuration mechanism #1 (ports 0xCF8/0xCFC) and the probe of one
 * virtio-pci function: its capability list, BAR 0, memory decoding.
 */
#include "vblk.h"

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static uint32_t cfg_addr(unsigned int dev, unsigned int reg)
{
	return 0x80000000u | (dev & 31) << 11 | (reg & 0xFC);
}

/* Bus 0, function 0; width 1, 2 or 4 at a naturally aligned reg. */
uint32_t pci_read(unsigned int dev, unsigned int reg, unsigned int width)
{
	uint16_t data = (uint16_t)(BOARD_PCI_CFG_DATA + (reg & 3));

	outl(BOARD_PCI_CFG_ADDR, cfg_addr(dev, reg));
	if (width == 1)
		return inb(data);
	if (width == 2)
		return inw(data);
	return inl(BOARD_PCI_CFG_DATA);
}

void pci_write(unsigned int dev, unsigned int reg, unsigned int width, uint32_t v)
{
	uint16_t data = (uint16_t)(BOARD_PCI_CFG_DATA + (reg & 3));

	outl(BOARD_PCI_CFG_ADDR, cfg_addr(dev, reg));
	if (width == 1)
		outb(data, (uint8_t)v);
	else if (width == 2)
		outw(data, (uint16_t)v);
	else
		outl(BOARD_PCI_CFG_DATA, v);
}

/* One page directory per GiB the boot map leaves out (the hole's GiB). */
static uint64_t spare_pd[2][PT_ENTRIES] __attribute__((aligned(PAGE_SIZE_4K)));
static unsigned int spare_used;

void map_gib(uint64_t addr)
{
	volatile uint64_t *pml4 = (volatile uint64_t *)BOARD_BOOT_PML4;
	uint64_t gib = addr / PAGE_SIZE_1G;
	volatile uint64_t *pdpt;
	uint64_t *pd;

	if (!(pml4[0] & PTE_P) || gib >= PT_ENTRIES) {
		printf("vblk: cannot map 0x%lx\n", addr);
		guest_exit(GUEST_EXIT_CONTRACT);
	}
	pdpt = (volatile uint64_t *)(pml4[0] & PTE_ADDR_MASK);
	if (pdpt[gib] & PTE_P)
		return;
	if (spare_used == 2) {
		printf("vblk: out of page directories mapping 0x%lx\n", addr);
		guest_exit(GUEST_EXIT_CONTRACT);
	}
	pd = spare_pd[spare_used++];
	for (uint64_t i = 0; i < PT_ENTRIES; i++)
		pd[i] = (gib * PAGE_SIZE_1G + i * PAGE_SIZE_2M) | PTE_PS | PTE_P_RW_US |
			PTE_PCD | PTE_PWT;
	/* A non-present entry is never cached: no TLB flush needed. */
	pdpt[gib] = (uint64_t)pd | PTE_P_RW_US;
}

/* ---- capabilities ---------------------------------------------------------- */

struct caps {
	bool seen[5];			/* by virtio cfg_type 1..4 */
	uint32_t off[5], len[5];
	uint32_t notify_mult;
};

static int vendor_cap(struct vdev *d, unsigned int at, struct caps *c)
{
	unsigned int type = pci_read(d->slot, at + 3, 1);
	unsigned int bar = pci_read(d->slot, at + 4, 1);
	unsigned int clen = pci_read(d->slot, at + 2, 1);

	if (type < 1 || type > 4)
		return 0;		/* PCI cfg access (5) or a future type */
	if (bar != 0 || clen < (type == 2 ? 20u : 16u)) {
		printf("vblk: 00:%02x.0: virtio cap type %u at 0x%x: bar %u, length %u\n",
		       d->slot, type, at, bar, clen);
		return -1;
	}
	if (c->seen[type])
		return 0;		/* the first of each type counts (4.1.4) */
	c->seen[type] = true;
	c->off[type] = pci_read(d->slot, at + 8, 4);
	c->len[type] = pci_read(d->slot, at + 12, 4);
	if (type == 2)
		c->notify_mult = pci_read(d->slot, at + 16, 4);
	return 0;
}

static int walk_caps(struct vdev *d, struct caps *c)
{
	unsigned int at, n = 0;

	if (!(pci_read(d->slot, PCI_STATUS, 2) & PCI_STATUS_CAPS)) {
		printf("vblk: 00:%02x.0: no capability list\n", d->slot);
		return -1;
	}
	for (at = pci_read(d->slot, PCI_CAP_PTR, 1) & 0xFC; at; n++) {
		unsigned int id = pci_read(d->slot, at, 1);

		if (at < 0x40 || n == 48) {
			printf("vblk: 00:%02x.0: bad capability pointer 0x%x\n", d->slot, at);
			return -1;
		}
		if (id == PCI_CAP_VNDR && vendor_cap(d, at, c))
			return -1;
		if (id == PCI_CAP_MSIX) {
			d->msix_cap = at;
			d->msix_size = (pci_read(d->slot, at + 2, 2) & 0x7FF) + 1;
			d->msix_table = pci_read(d->slot, at + 4, 4);
			d->msix_pba = pci_read(d->slot, at + 8, 4);
		}
		at = pci_read(d->slot, at + 1, 1) & 0xFC;
	}
	for (unsigned int t = 1; t <= 4; t++) {
		if (!c->seen[t]) {
			printf("vblk: 00:%02x.0: virtio capability type %u missing\n", d->slot, t);
			return -1;
		}
	}
	if (!d->msix_cap || (d->msix_table & 7) || (d->msix_pba & 7)) {
		printf("vblk: 00:%02x.0: no MSI-X in BAR 0\n", d->slot);
		return -1;
	}
	return 0;
}

/* ---- BAR 0 ----------------------------------------------------------------- */

/* Size BAR 0/1 the way firmware does (decoding is off), then restore it. */
static uint64_t bar_size(unsigned int slot)
{
	uint32_t lo = pci_read(slot, PCI_BAR0, 4), hi = pci_read(slot, PCI_BAR0 + 4, 4);
	uint64_t mask;

	pci_write(slot, PCI_BAR0, 4, 0xFFFFFFFFu);
	pci_write(slot, PCI_BAR0 + 4, 4, 0xFFFFFFFFu);
	mask = (uint64_t)pci_read(slot, PCI_BAR0 + 4, 4) << 32 |
	       (pci_read(slot, PCI_BAR0, 4) & ~0xFu);
	pci_write(slot, PCI_BAR0, 4, lo);
	pci_write(slot, PCI_BAR0 + 4, 4, hi);
	return ~mask + 1;
}

static int probe_bar(struct vdev *d)
{
	uint32_t lo = pci_read(d->slot, PCI_BAR0, 4);
	uint64_t size;

	if ((lo & 7) != 4) {
		printf("vblk: 00:%02x.0: BAR 0 is not 64-bit memory (0x%x)\n", d->slot, lo);
		return -1;
	}
	d->bar = (uint64_t)pci_read(d->slot, PCI_BAR0 + 4, 4) << 32 | (lo & ~0xFu);
	size = bar_size(d->slot);
	if (d->bar < BOARD_PCI_MMIO_BASE || d->bar + size > BOARD_PCI_MMIO_END ||
	    (d->bar & (size - 1)) || size < 0x6000 || (size & (size - 1))) {
		printf("vblk: 00:%02x.0: BAR 0 at 0x%lx size 0x%lx: not a naturally "
		       "aligned BAR in the window\n", d->slot, d->bar, size);
		return -1;
	}
	if (((uint64_t)pci_read(d->slot, PCI_BAR0 + 4, 4) << 32 |
	     (pci_read(d->slot, PCI_BAR0, 4) & ~0xFu)) != d->bar) {
		printf("vblk: 00:%02x.0: BAR 0 not restored after sizing\n", d->slot);
		return -1;
	}
	d->bar_size = size;
	map_gib(d->bar);
	/* Firmware left decoding off: the window answers all-ones. */
	if (pci_read(d->slot, PCI_COMMAND, 2) & PCI_CMD_MEMORY || rd32(d->bar) != 0xFFFFFFFFu) {
		printf("vblk: 00:%02x.0: BAR 0 decodes before the driver enabled it\n", d->slot);
		return -1;
	}
	pci_write(d->slot, PCI_COMMAND, 2,
		  pci_read(d->slot, PCI_COMMAND, 2) | PCI_CMD_MEMORY | PCI_CMD_MASTER);
	printf("vblk: 00:%02x.0: BAR 0 at 0x%lx, 0x%lx bytes, 64-bit\n", d->slot, d->bar, size);
	return 0;
}

static bool in_bar(const struct vdev *d, uint32_t off, uint32_t len)
{
	if (len && off < d->bar_size && len <= d->bar_size - off)
		return true;
	printf("vblk: 00:%02x.0: structure [0x%x, +0x%x) is not inside BAR 0\n",
	       d->slot, off, len);
	return false;
}

int vdev_probe(struct vdev *d, unsigned int slot)
{
	struct caps c = { 0 };

	d->slot = slot;
	if (walk_caps(d, &c) || probe_bar(d))
		return -1;
	for (unsigned int t = 1; t <= 4; t++)
		if (!in_bar(d, c.off[t], c.len[t]))
			return -1;
	d->common = d->bar + c.off[1];
	d->notify = d->bar + c.off[2];
	d->isr = d->bar + c.off[3];
	d->devcfg = d->bar + c.off[4];
	d->notify_mult = c.notify_mult;
	d->devcfg_len = c.len[4];
	d->msix_table = d->bar + (d->msix_table & ~7u);
	d->msix_pba = d->bar + (d->msix_pba & ~7u);
	printf("vblk: 00:%02x.0: common@0x%x+%u notify@0x%x+%u x%u isr@0x%x "
	       "device@0x%x+%u msix %u vectors@0x%lx pba@0x%lx\n", slot, c.off[1], c.len[1],
	       c.off[2], c.len[2], c.notify_mult, c.off[3], c.off[4], c.len[4],
	       d->msix_size, d->msix_table - d->bar, d->msix_pba - d->bar);
	return 0;
}

/* ---- the bus ------------------------------------------------------------------ */

static uint32_t raw_read(uint32_t addr)
{
	outl(BOARD_PCI_CFG_ADDR, addr);
	return inl(BOARD_PCI_CFG_DATA);
}

/* Mechanism #1 itself: CONFIG_ADDRESS reads back with its reserved bits
 * clear, sub-dword reads at every offset of CONFIG_DATA, and all-ones for
 * a cleared enable bit, another bus or an absent function. */
static bool check_mechanism(void)
{
	uint32_t addr;
	bool ok = true;

	outl(BOARD_PCI_CFG_ADDR, 0xFF00ABCDu);
	addr = inl(BOARD_PCI_CFG_ADDR);
	if (addr != 0x8000ABCCu) {
		printf("vblk: CONFIG_ADDRESS 0xff00abcd reads back 0x%x\n", addr);
		ok = false;
	}
	outl(BOARD_PCI_CFG_ADDR, cfg_addr(0, PCI_VENDOR_ID));
	if (inb(BOARD_PCI_CFG_DATA) != 0x36 || inb(BOARD_PCI_CFG_DATA + 3) != 0x00 ||
	    inw(BOARD_PCI_CFG_DATA + 2) != 0x0008 || inb(BOARD_PCI_CFG_DATA + 1) != 0x1B) {
		printf("vblk: byte/word reads of 00:00.0's ID differ from 1b36:0008\n");
		ok = false;
	}
	if (raw_read(cfg_addr(0, 0) & ~0x80000000u) != 0xFFFFFFFFu ||
	    raw_read(0x80010000u) != 0xFFFFFFFFu ||		/* bus 1 */
	    raw_read(0x80000000u | 1 << 11 | 1 << 8) != 0xFFFFFFFFu) { /* 00:01.1 */
		printf("vblk: disabled, bus-1 or function-1 reads are not all-ones\n");
		ok = false;
	}
	return ok;
}

bool pci_scan(unsigned int drives)
{
	unsigned int absent = 0;
	bool ok = check_mechanism();

	for (unsigned int dev = 0; dev < BOARD_PCI_SLOTS; dev++) {
		uint32_t id = pci_read(dev, PCI_VENDOR_ID, 4);
		uint32_t class = pci_read(dev, PCI_CLASS_REV, 4) >> 8;
		uint32_t want = dev == 0 ? 0x00081B36u :
				dev <= drives ? (uint32_t)VIRTIO_BLK_ID << 16 | VIRTIO_VENDOR :
				0xFFFFFFFFu;

		if (id == 0xFFFFFFFFu) {
			absent++;
			if (pci_read(dev, PCI_VENDOR_ID, 2) != 0xFFFF ||
			    pci_read(dev, PCI_HEADER_TYPE, 1) != 0xFF) {
				printf("vblk: 00:%02x.0: absent, but narrow reads are not all-ones\n",
				       dev);
				ok = false;
			}
		} else {
			printf("vblk: pci 00:%02x.0 %04x:%04x class %06x header %u pin %u\n", dev,
			       id & 0xFFFF, id >> 16, class, pci_read(dev, PCI_HEADER_TYPE, 1),
			       pci_read(dev, PCI_INT_PIN, 1));
		}
		if (id != want) {
			printf("vblk: 00:%02x.0: id 0x%08x, expected 0x%08x\n", dev, id, want);
			ok = false;
		} else if (dev == 0 && class != 0x060000) {
			printf("vblk: 00:00.0: class %06x is not a host bridge\n", class);
			ok = false;
		} else if (dev && dev <= drives && (class != 0x018000 ||
			   pci_read(dev, PCI_INT_PIN, 1) != 1 ||
			   pci_read(dev, PCI_HEADER_TYPE, 1) != 0)) {
			printf("vblk: 00:%02x.0: class %06x, pin or header type wrong\n", dev, class);
			ok = false;
		}
	}
	printf("vblk: pci scan: host bridge 00:00.0, %u virtio-blk, %u slots all-ones%s\n",
	       drives, absent, ok ? "" : " (MISMATCH)");
	return ok;
}

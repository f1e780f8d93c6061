/* SPDX-License-Identifier: MIT */
/*
 * The device's interrupts, checked once each:
 *  - INTx: MSI-X off, the slot's I/O APIC pin (16 + slot % 8, level, active
 *    low) routed to a vector; a completion sets ISR bit 0, asserts the line
 *    (PCI status INTERRUPT) and the vector arrives; reading the ISR clears
 *    it and deasserts the line, so after the EOI nothing comes back.
 *  - MSI-X: queue 0 on vector 1, the message to the local APIC; a
 *    completion sends it (the ISR stays 0); with the vector masked it
 *    becomes a pending bit instead, delivered when unmasked.
 * Ring 3 runs with IF=0, so an interrupt waits in the local APIC's IRR
 * until the guest takes it with ring0_call(r0_wait_irq); the guest first
 * sees it in the IRR, so that `sti; hlt` never waits for nothing.
 */
#include "vblk.h"

#define IOAPIC_SEL	(BOARD_IOAPIC_BASE + 0x00)
#define IOAPIC_WIN	(BOARD_IOAPIC_BASE + 0x10)
#define IOAPIC_REDIR(pin) (0x10 + 2 * (pin))
#define REDIR_LOW_ACTIVE (1u << 13)
#define REDIR_LEVEL	(1u << 15)
#define REDIR_MASKED	(1u << 16)

#define LAPIC_ID	(BOARD_LAPIC_BASE + 0x20)
#define LAPIC_TPR	(BOARD_LAPIC_BASE + 0x80)
#define LAPIC_EOI	(BOARD_LAPIC_BASE + 0xB0)
#define LAPIC_SVR	(BOARD_LAPIC_BASE + 0xF0)
#define LAPIC_IRR(v)	(BOARD_LAPIC_BASE + 0x200 + 0x10 * ((v) / 32))
#define SVR_ENABLE	0x100

/* Vectors inside the runtime's IRQ range (GUEST_IRQ_BASE ..+15). */
#define VEC_INTX	0x2D
#define VEC_MSIX	0x2E
#define VEC_SPURIOUS	0x2F

#define MSIX_CTRL_ENABLE 0x8000

/* Set by take(): the vector was pending again before the ISR read. */
static bool again_before_ack;
#define MSIX_ENTRY_MASKED 1

static void ioapic_write(uint32_t reg, uint32_t v)
{
	wr32(IOAPIC_SEL, reg);
	wr32(IOAPIC_WIN, v);
}

static bool irr(unsigned int vec)
{
	return rd32(LAPIC_IRR(vec)) >> (vec % 32) & 1;
}

/* PIC: vectors in the runtime's range, every line masked, so that only
 * the I/O APIC and MSI reach the CPU (as in echo.c, minus the UART). */
static void pic_mask_all(void)
{
	outb(BOARD_PIC1_CMD, 0x11);
	outb(BOARD_PIC1_DATA, GUEST_IRQ_BASE);
	outb(BOARD_PIC1_DATA, 1 << 2);
	outb(BOARD_PIC1_DATA, 0x01);
	outb(BOARD_PIC2_CMD, 0x11);
	outb(BOARD_PIC2_DATA, GUEST_IRQ_BASE + 8);
	outb(BOARD_PIC2_DATA, 2);
	outb(BOARD_PIC2_DATA, 0x01);
	outb(BOARD_PIC1_DATA, 0xFF);
	outb(BOARD_PIC2_DATA, 0xFF);
}

/* Wait for vec in the IRR, take it in ring 0, EOI.  False on timeout or
 * when another vector came instead.  With isr, the handler's part for a
 * level-triggered line comes first: *isr gets the device's ISR (reading it
 * lowers the line), so the EOI does not see the line still high. */
static bool take(unsigned int vec, const char *what, const struct vdev *d, uint8_t *isr)
{
	uint64_t until = deadline();
	uint16_t got;

	while (!irr(vec))
		if (!before(until)) {
			printf("vblk: irq: %s: vector 0x%x never pending\n", what, vec);
			return false;
		}
	ring0_call(r0_wait_irq, 0);
	got = irq_take();
	if (isr) {
		again_before_ack = irr(vec);
		*isr = rd8(d->isr);
	}
	wr32(LAPIC_EOI, 0);
	if (got != 1u << (vec - GUEST_IRQ_BASE)) {
		printf("vblk: irq: %s: took 0x%x, expected vector 0x%x\n", what, got, vec);
		return false;
	}
	return true;
}

static bool get_id(struct vdev *d)
{
	uint32_t used;

	return blk_request(d, T_GET_ID, 0, d->id, 20, true, &used) == S_OK;
}

static bool intx_test(struct vdev *d, uint32_t apic_id)
{
	unsigned int pin = BOARD_PCI_INTX_GSI(d->slot);
	uint32_t redir = VEC_INTX | REDIR_LOW_ACTIVE | REDIR_LEVEL;
	uint8_t isr = 0;
	bool ok;

	(void)rd8(d->isr);		/* start with the line low */
	ioapic_write(IOAPIC_REDIR(pin) + 1, apic_id << 24);
	ioapic_write(IOAPIC_REDIR(pin), redir);
	ok = get_id(d);
	if (ok && !(pci_read(d->slot, PCI_STATUS, 2) & PCI_STATUS_INTX)) {
		printf("vblk: irq: INTx: PCI status shows no interrupt\n");
		ok = false;
	}
	ok = ok && take(VEC_INTX, "INTx", d, &isr);
	if (ok && (isr != 1 || rd8(d->isr) != 0 ||
		   pci_read(d->slot, PCI_STATUS, 2) & PCI_STATUS_INTX)) {
		printf("vblk: irq: INTx: ISR 0x%x (expected 1, then 0 with the line low)\n", isr);
		ok = false;
	}
	/* Pending again before the handler read the ISR: the host EOI'd the
	 * level interrupt when it injected it (PVM does), so the I/O APIC saw
	 * the line still high.  That copy is taken; the device must have
	 * nothing more to say, and then nothing may come back. */
	if (ok && again_before_ack) {
		ok = take(VEC_INTX, "INTx re-delivery", d, &isr);
		if (ok && isr != 0) {
			printf("vblk: irq: INTx: re-delivered with ISR 0x%x\n", isr);
			ok = false;
		}
		printf("vblk: irq: INTx: the host ended the level interrupt at injection: "
		       "one re-delivery while the line was high\n");
	}
	if (ok && irr(VEC_INTX)) {
		printf("vblk: irq: INTx: pending again after ISR read and EOI\n");
		ok = false;
	}
	ioapic_write(IOAPIC_REDIR(pin), redir | REDIR_MASKED);
	if (ok)
		printf("vblk: irq: INTx on I/O APIC pin %u: ISR 1, line low after the read\n", pin);
	return ok;
}

static void msix_entry(const struct vdev *d, unsigned int v, uint32_t apic_id,
		       uint32_t data, uint32_t ctrl)
{
	uint64_t e = d->msix_table + 16ull * v;

	wr32(e + 0, (uint32_t)BOARD_LAPIC_BASE | apic_id << 12);
	wr32(e + 4, 0);
	wr32(e + 8, data);
	wr32(e + 12, ctrl);
}

static bool msix_pending(const struct vdev *d, unsigned int v)
{
	return rd32(d->msix_pba) >> v & 1;
}

static bool msix_test(struct vdev *d, uint32_t apic_id)
{
	struct vq_place p;
	uint64_t until;
	bool ok;

	place_rw(&p);
	p.msix = 1;
	msix_entry(d, 1, apic_id, VEC_MSIX, 0);
	pci_write(d->slot, d->msix_cap + 2, 2, MSIX_CTRL_ENABLE);
	ok = vdev_init(d, &p);
	wr16(d->common + CC_QSELECT, 0);
	if (ok && rd16(d->common + CC_QMSIX) != 1) {
		printf("vblk: irq: MSI-X: queue vector reads 0x%x\n", rd16(d->common + CC_QMSIX));
		ok = false;
	}
	ok = ok && get_id(d) && take(VEC_MSIX, "MSI-X", d, NULL);
	if (ok && rd8(d->isr) != 0) {
		printf("vblk: irq: MSI-X: the ISR was set too\n");
		ok = false;
	}
	/* Masked: the message waits as a pending bit. */
	msix_entry(d, 1, apic_id, VEC_MSIX, MSIX_ENTRY_MASKED);
	ok = ok && get_id(d);
	until = deadline();
	while (ok && !msix_pending(d, 1))
		if (!before(until)) {
			printf("vblk: irq: MSI-X: masked vector never pending in the PBA\n");
			ok = false;
		}
	if (ok && irr(VEC_MSIX)) {
		printf("vblk: irq: MSI-X: a masked vector was delivered\n");
		ok = false;
	}
	msix_entry(d, 1, apic_id, VEC_MSIX, 0);
	ok = ok && take(VEC_MSIX, "MSI-X unmasked", d, NULL);
	if (ok && msix_pending(d, 1)) {
		printf("vblk: irq: MSI-X: pending bit stays after delivery\n");
		ok = false;
	}
	pci_write(d->slot, d->msix_cap + 2, 2, 0);
	if (ok)
		printf("vblk: irq: MSI-X vector 1: delivered, ISR 0; masked: PBA, "
		       "delivered on unmask\n");
	return ok;
}

bool irq_tests(struct vdev *d)
{
	uint32_t apic_id;
	struct vq_place p;
	bool ok;

	pic_mask_all();
	map_gib(BOARD_LAPIC_BASE);
	wr32(LAPIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	wr32(LAPIC_TPR, 0);
	apic_id = rd32(LAPIC_ID) >> 24;
	(void)irq_take();
	ok = intx_test(d, apic_id);
	ok = msix_test(d, apic_id) && ok;
	/* Back to the polled set-up: MSI-X off, no vectors. */
	place_rw(&p);
	return vdev_init(d, &p) && ok;
}

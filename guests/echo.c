/* SPDX-License-Identifier: MIT */
/*
 * Interrupt-driven serial echo: every byte received on COM1 is sent back
 * until the terminator (EOT, 0x04, or bootargs `end=<decimal byte>`), which
 * is not echoed; then "echo: <n> bytes (<k> interrupts)" with n the number of
 * bytes echoed.
 *
 * Serial input that arrives before a guest is listening would be lost on a
 * real 16550 (enabling the FIFOs clears the receiver); minivmm's console
 * holds host input until the guest sets IER.RDI, so piped input is safe.
 * "echo: ready" is printed once the receiver is set up.
 *
 * The wait is `sti; hlt` in ring 0 (ring0_call(r0_wait_irq)); the IRQ handler
 * only notes the vector, and the draining, echoing and EOI happen back in
 * ring 3, where instructions are not emulated.  The PIC is edge-triggered:
 * a byte arriving after the drain raises the UART line again, and the PIC
 * latches that edge in IRR even while IRQ4 is in service, so none is lost.
 */
#include "guest.h"

#define COM1_RBR	(BOARD_COM1_BASE + 0)
#define COM1_THR	(BOARD_COM1_BASE + 0)
#define COM1_IER	(BOARD_COM1_BASE + 1)
#define COM1_FCR	(BOARD_COM1_BASE + 2)
#define COM1_LCR	(BOARD_COM1_BASE + 3)
#define COM1_MCR	(BOARD_COM1_BASE + 4)
#define COM1_LSR	(BOARD_COM1_BASE + 5)
#define IER_RDI		0x01
#define FCR_ENABLE	0x01
#define LCR_8N1		0x03
#define MCR_DTR_RTS_OUT2 0x0B
#define LSR_DR		0x01
#define LSR_THRE	0x20

#define PIC_ICW1	0x11	/* edge, cascade, ICW4 needed */
#define PIC_ICW4_8086	0x01
#define PIC_EOI		0x20
#define COM1_IRQ	BOARD_COM1_GSI

static void pic_init(void)
{
	outb(BOARD_PIC1_CMD, PIC_ICW1);
	outb(BOARD_PIC1_DATA, GUEST_IRQ_BASE);		/* ICW2: vectors */
	outb(BOARD_PIC1_DATA, 1 << 2);			/* ICW3: slave on IRQ2 */
	outb(BOARD_PIC1_DATA, PIC_ICW4_8086);
	outb(BOARD_PIC2_CMD, PIC_ICW1);
	outb(BOARD_PIC2_DATA, GUEST_IRQ_BASE + 8);
	outb(BOARD_PIC2_DATA, 2);			/* ICW3: cascade id */
	outb(BOARD_PIC2_DATA, PIC_ICW4_8086);
	outb(BOARD_PIC1_DATA, (uint8_t)~(1 << COM1_IRQ));	/* OCW1: masks */
	outb(BOARD_PIC2_DATA, 0xFF);
}

static void uart_init(void)
{
	outb(COM1_LCR, LCR_8N1);
	outb(COM1_FCR, FCR_ENABLE);	/* enabling clears the receiver */
	outb(COM1_IER, IER_RDI);
	outb(COM1_MCR, MCR_DTR_RTS_OUT2);
}

struct echo_state {
	uint8_t end;
	bool done;
	char last;
	uint64_t bytes;
};

/* Echo whatever the receiver holds; stop at the terminator. */
static void drain(struct echo_state *st)
{
	while (!st->done && (inb(COM1_LSR) & LSR_DR)) {
		uint8_t c = inb(COM1_RBR);

		if (c == st->end) {
			st->done = true;
			break;
		}
		putchar_raw((char)c);
		st->last = (char)c;
		st->bytes++;
	}
}

int main(const void *fdt)
{
	const struct fdt_info *info = fdt_info_or_die("echo", fdt);
	uint64_t end = bootarg_u64(info->bootargs, "end", 0x04);
	struct echo_state st = { .last = '\n' };
	uint64_t irqs = 0, spurious = 0;

	if (end > 0xFF) {
		printf("echo: end=%lu is not a byte\n", end);
		return GUEST_EXIT_CONTRACT;
	}
	st.end = (uint8_t)end;
	pic_init();
	/* minivmm holds host input until IER.RDI is set, so nothing sent
	 * before this point is lost to the FIFO reset in uart_init(). */
	uart_init();
	printf("echo: ready (end byte 0x%02x)\n", st.end);
	/* Read the UART only when its interrupt says so: this guest exists to
	 * prove that input arrives through IRQ 4. */
	while (!st.done) {
		ring0_call(r0_wait_irq, 0);
		uint16_t pending = irq_take();

		if (pending & (1 << COM1_IRQ))
			irqs++;
		if (pending & ~(1 << COM1_IRQ))
			spurious++;
		if (pending & (1 << COM1_IRQ))
			drain(&st);
		if (pending & ~(1 << 7))	/* never EOI a spurious IRQ7 */
			outb(BOARD_PIC1_CMD, PIC_EOI);
	}
	outb(COM1_IER, 0);
	if (st.last != '\n')
		putstr("\n");
	printf("echo: %lu bytes (%lu interrupts", st.bytes, irqs);
	if (spurious)
		printf(", %lu other", spurious);
	putstr(")\n");
	return GUEST_EXIT_OK;
}

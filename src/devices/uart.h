/* SPDX-License-Identifier: MIT */
/*
 * 16550A UART (the PC's COM ports): full register set with 16-byte FIFOs,
 * divisor latch, modem control/status and loopback, interrupts through an
 * irq_line.  Transmission is instantaneous: THR bytes go straight to the
 * byte sink, so THRE/TEMT read as set whenever the guest looks.
 *
 * Thread-safety: register accesses (vCPU threads) and uart_receive()
 * (console thread) may run concurrently; the device serialises them.
 */
#ifndef MINIVMM_UART_H
#define MINIVMM_UART_H

#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"

/* Register offsets (DLAB selects DLL/DLM at 0/1). */
#define UART_RBR 0 /* R, DLAB=0 */
#define UART_THR 0 /* W, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* R */
#define UART_FCR 2 /* W */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_RDI   0x01 /* received data available */
#define UART_IER_THRI  0x02 /* transmitter holding register empty */
#define UART_IER_RLSI  0x04 /* receiver line status */
#define UART_IER_MSI   0x08 /* modem status */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI    0x00
#define UART_IIR_THRI   0x02
#define UART_IIR_RDI    0x04
#define UART_IIR_RLSI   0x06
#define UART_IIR_CTI    0x0C /* character timeout */
#define UART_IIR_FIFO   0xC0 /* FIFOs enabled */

#define UART_FCR_ENABLE   0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04
#define UART_FCR_TRIGGER  0xC0

#define UART_LCR_DLAB  0x80
#define UART_LCR_BREAK 0x40

#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08 /* gates the interrupt line, as on PC boards */
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR   0x01
#define UART_LSR_OE   0x02
#define UART_LSR_BI   0x10
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS  0x10
#define UART_MSR_DSR  0x20
#define UART_MSR_RI   0x40
#define UART_MSR_DCD  0x80

#define UART_FIFO_SIZE 16

struct uart;

/* irq and out are copied; either may be NULL (no interrupt / discard). */
struct uart *uart_create(const char *name, const struct irq_line *irq,
			 const struct byte_sink *out);
struct device *uart_device(struct uart *uart);

/* Host -> guest bytes.  Accepts as many as fit in the receive FIFO (one
 * byte when FIFOs are disabled) and returns that count; never overruns. */
size_t uart_receive(struct uart *uart, const uint8_t *buf, size_t len);

/* Make uart_receive() accept nothing until the guest has been listening
 * (it set IER.RDI, or polls LSR with the receiver empty) for settle_ns, so
 * host input is not lost to the guest's own FIFO resets and flushing reads
 * while it programs the UART.  The caller retries (the notify callback
 * fires when listening starts; retry after settle_ns). */
void uart_hold_input(struct uart *uart, uint64_t settle_ns);

/* Called (from the vCPU thread) whenever the guest frees receive space or
 * starts listening, so the console can push more input. */
void uart_set_rx_space_notify(struct uart *uart, void (*fn)(void *ctx),
			      void *ctx);

/* Save or restore the registers, FIFO and interrupt state (base/snap.h);
 * a guest that was listening is listening at once after a restore.  Load
 * after the interrupt controller: a line the UART held high is driven
 * high again. */
struct snap;
void uart_snap(struct uart *uart, struct snap *s);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * A generic PCI function (PCI Local Bus 3.0, chapter 6): the 256-byte
 * type-0 configuration header with per-bit write masks, memory BARs (32-
 * and 64-bit, sized the standard way: write all-ones, read the mask back),
 * a capability-list builder, and INTx through an irq_line.  MSI-X lives in
 * devices/pci/msix.h.
 *
 * A function knows nothing of where it is placed: the host bridge
 * (devices/pci/host.h) reaches its configuration space and forwards memory
 * cycles to a BAR's handler (a struct device working in offsets inside the
 * BAR) while the BAR decodes, i.e. while COMMAND.MEMORY is set.
 *
 * Locking: f->lock serialises configuration accesses, INTx and MSI-X state.
 * A BAR handler is never called with it held.
 */
#ifndef MINIVMM_DEVICES_PCI_PCI_H
#define MINIVMM_DEVICES_PCI_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"

#define PCI_CFG_SIZE            256
#define PCI_NR_BARS             6

/* Type-0 header offsets. */
#define PCI_VENDOR_ID           0x00
#define PCI_DEVICE_ID           0x02
#define PCI_COMMAND             0x04
#define PCI_STATUS              0x06
#define PCI_REVISION_ID         0x08
#define PCI_CLASS_PROG          0x09    /* class code: 3 bytes, prog-if first */
#define PCI_CACHE_LINE_SIZE     0x0C
#define PCI_HEADER_TYPE         0x0E
#define PCI_BAR0                0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2C
#define PCI_SUBSYSTEM_ID        0x2E
#define PCI_ROM_ADDRESS         0x30
#define PCI_CAP_PTR             0x34
#define PCI_INTERRUPT_LINE      0x3C
#define PCI_INTERRUPT_PIN       0x3D
#define PCI_CAP_START           0x40    /* first byte after the header */

#define PCI_COMMAND_IO          0x0001
#define PCI_COMMAND_MEMORY      0x0002
#define PCI_COMMAND_MASTER      0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_INTERRUPT    0x0008
#define PCI_STATUS_CAP_LIST     0x0010
/* Error bits, write-1-to-clear (never set by minivmm's functions). */
#define PCI_STATUS_ERRORS       0xF900

#define PCI_BAR_MEM_64          0x04    /* BAR type 10b: 64-bit memory */
#define PCI_BAR_PREFETCH        0x08
#define PCI_BAR_FLAGS_MASK      0x0FULL

#define PCI_CAP_ID_VNDR         0x09
#define PCI_CAP_ID_MSIX         0x11

#define PCI_INTX_PIN_A          1

/* pci_func_add_bar flags */
#define PCI_BAR_F_64            (1u << 0)
#define PCI_BAR_F_PREFETCH      (1u << 1)
/* Smallest memory BAR handed out: a page, so a BAR can one day be mapped
 * into the guest directly and never shares a page with another BAR. */
#define PCI_BAR_MIN_SIZE        0x1000ULL

struct pci_msix;

struct pci_bar {
	uint64_t size;          /* power of two; 0: not implemented */
	bool is64;              /* also uses the next BAR register */
	/* Handles accesses of any width (1..8) at any offset inside the BAR. */
	struct device *dev;
	/* Where the host bridge last decoded it (for the listener). */
	bool live;
	uint64_t live_addr;
};

/* Told when a BAR starts decoding, moves, or stops decoding (memory
 * decoding off, moved out of the window): the platform keeps things that
 * sit at BAR addresses outside the device model (a queue notify address's
 * ioeventfd) in step.  Called by the host bridge under its decode lock,
 * on the thread of the configuration write; it must not access the
 * function's configuration space. */
struct pci_bar_listener {
	void (*changed)(void *ctx, unsigned int bar, bool live, uint64_t addr);
	void *ctx;
};

struct pci_func_id {
	uint16_t vendor, device;
	uint16_t subsys_vendor, subsys;
	uint32_t class_code;    /* base class << 16 | subclass << 8 | prog-if */
	uint8_t revision;
};

struct pci_func {
	const char *name;
	pthread_mutex_t lock;
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];    /* bits the guest may write */
	uint8_t w1cmask[PCI_CFG_SIZE];  /* bits a written 1 clears */
	struct pci_bar bars[PCI_NR_BARS];
	uint8_t cap_end;                /* next free capability offset */
	uint8_t last_cap;               /* last capability in the list, or 0 */
	struct irq_line intx;           /* gsi 0 with set NULL: no INTx */
	bool intx_level;                /* what the function wants */
	bool intx_driven;               /* what the line was last set to */
	struct pci_msix *msix;          /* NULL without MSI-X */
	struct pci_bar_listener bar_listener; /* optional; set before plugging in */
};

/* intx may be NULL (no INTx pin); otherwise it is copied, the pin is INTA#
 * and the interrupt line register starts as intx->gsi.  Returns 0 or
 * -errno; undo with pci_func_destroy(). */
int pci_func_init(struct pci_func *f, const char *name,
		  const struct pci_func_id *id, const struct irq_line *intx);
void pci_func_destroy(struct pci_func *f);

/* Declare a memory BAR of `size` bytes (a power of two, at least
 * PCI_BAR_MIN_SIZE) handled by dev.  A 64-bit BAR also takes BAR bar+1.
 * -EINVAL for a bad index, size, or a register already in use. */
int pci_func_add_bar(struct pci_func *f, unsigned int bar, uint64_t size,
		     unsigned int flags, struct device *dev)
	__attribute__((warn_unused_result));

/* Append a capability: cap[0..len) is copied with cap[0] = id and the next
 * pointer filled in; the previous capability (or CAP_PTR) links to it.
 * Capabilities are dword-aligned.  *off receives its config offset.
 * -EINVAL for len < 2, -ENOSPC when it does not fit. */
int pci_cap_add(struct pci_func *f, uint8_t id, const void *cap, uint8_t len,
		uint8_t *off) __attribute__((warn_unused_result));
/* Let the guest write bits of an added capability (off from pci_cap_add). */
void pci_cfg_set_wmask(struct pci_func *f, uint32_t off, const uint8_t *mask,
		       uint32_t len);

/* Guest configuration accesses: len 1..4, off + len <= 256. */
void pci_cfg_read(struct pci_func *f, uint32_t off, void *data, uint32_t len);
void pci_cfg_write(struct pci_func *f, uint32_t off, const void *data, uint32_t len);

/* Placement: write a BAR's address as firmware would (aligned down to the
 * BAR's size).  The guest may reprogram it later. */
void pci_bar_set_addr(struct pci_func *f, unsigned int bar, uint64_t addr);
/* Where BAR bar decodes: true with its address when it is implemented and
 * memory decoding is enabled. */
bool pci_bar_decode(struct pci_func *f, unsigned int bar, uint64_t *addr);

/* The function's interrupt condition (the INTx "wire" the function would
 * drive).  The line follows it unless COMMAND.INTX_DISABLE is set or MSI-X
 * is enabled; STATUS.INTERRUPT always shows it. */
void pci_intx_set(struct pci_func *f, bool level);

/* Save or restore configuration space and the INTx state (base/snap.h).
 * Loading refuses a function whose identity (IDs, class, header) differs
 * from the saved one.  MSI-X state is msix.h's. */
struct snap;
void pci_func_snap(struct pci_func *f, struct snap *s);

/* Little-endian helpers for configuration space and registers. */
static inline uint16_t pci_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t pci_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void pci_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void pci_put32(uint8_t *p, uint32_t v)
{
	pci_put16(p, (uint16_t)v);
	pci_put16(p + 2, (uint16_t)(v >> 16));
}

#endif

// SPDX-License-Identifier: MIT
/*
 * The generic PCI function.  Configuration writes are applied bit by bit
 * through two masks built at set-up: wmask (read/write bits) and w1cmask
 * (write-1-to-clear bits); every other bit is read-only.  That one rule
 * gives BAR sizing for free: the low bits of a BAR below its size are
 * read-only zero (or the type flags), so writing all-ones reads back the
 * size mask, exactly as the PCI specification describes (6.2.5.1).
 *
 * After a write the side effects are re-derived from the new contents:
 * the INTx line (COMMAND.INTX_DISABLE) and MSI-X (its control word).
 */
#include "devices/pci/pci.h"

#include <errno.h>
#include <string.h>

#include "base/snap.h"
#include "devices/pci/msix.h"

static void set_wmask16(struct pci_func *f, uint32_t off, uint16_t mask)
{
	pci_put16(&f->wmask[off], mask);
}

int pci_func_init(struct pci_func *f, const char *name,
		  const struct pci_func_id *id, const struct irq_line *intx)
{
	memset(f, 0, sizeof(*f));
	if (pthread_mutex_init(&f->lock, NULL))
		return -ENOMEM;
	f->name = name;
	pci_put16(&f->cfg[PCI_VENDOR_ID], id->vendor);
	pci_put16(&f->cfg[PCI_DEVICE_ID], id->device);
	f->cfg[PCI_REVISION_ID] = id->revision;
	f->cfg[PCI_CLASS_PROG] = (uint8_t)id->class_code;
	f->cfg[PCI_CLASS_PROG + 1] = (uint8_t)(id->class_code >> 8);
	f->cfg[PCI_CLASS_PROG + 2] = (uint8_t)(id->class_code >> 16);
	f->cfg[PCI_HEADER_TYPE] = 0x00;     /* type 0, single function */
	pci_put16(&f->cfg[PCI_SUBSYSTEM_VENDOR_ID], id->subsys_vendor);
	pci_put16(&f->cfg[PCI_SUBSYSTEM_ID], id->subsys);

	/* No I/O BARs, so COMMAND.IO stays read-only zero. */
	set_wmask16(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
				    PCI_COMMAND_INTX_DISABLE);
	pci_put16(&f->w1cmask[PCI_STATUS], PCI_STATUS_ERRORS);
	f->wmask[PCI_CACHE_LINE_SIZE] = 0xFF;
	f->wmask[PCI_INTERRUPT_LINE] = 0xFF;
	if (intx) {
		f->intx = *intx;
		f->cfg[PCI_INTERRUPT_LINE] = (uint8_t)intx->gsi;
		f->cfg[PCI_INTERRUPT_PIN] = PCI_INTX_PIN_A;
	}
	f->cap_end = PCI_CAP_START;
	return 0;
}

void pci_func_destroy(struct pci_func *f)
{
	pci_msix_free(f);
	pthread_mutex_destroy(&f->lock);
}

static bool bar_reg_used(const struct pci_func *f, unsigned int bar)
{
	if (f->bars[bar].size)
		return true;
	return bar > 0 && f->bars[bar - 1].is64;
}

int pci_func_add_bar(struct pci_func *f, unsigned int bar, uint64_t size,
		     unsigned int flags, struct device *dev)
{
	bool is64 = flags & PCI_BAR_F_64;
	uint64_t mask = ~(size - 1) & ~PCI_BAR_FLAGS_MASK;
	uint32_t off = PCI_BAR0 + 4 * bar;
	uint8_t type = 0;

	if (bar >= PCI_NR_BARS || (is64 && bar + 1 >= PCI_NR_BARS) || !dev)
		return -EINVAL;
	if (size < PCI_BAR_MIN_SIZE || (size & (size - 1)) ||
	    (!is64 && size > (1ULL << 31)))
		return -EINVAL;
	if (bar_reg_used(f, bar) || (is64 && bar_reg_used(f, bar + 1)))
		return -EINVAL;

	f->bars[bar] = (struct pci_bar){ .size = size, .is64 = is64, .dev = dev };
	if (is64)
		type |= PCI_BAR_MEM_64;
	if (flags & PCI_BAR_F_PREFETCH)
		type |= PCI_BAR_PREFETCH;
	pci_put32(&f->cfg[off], type);
	pci_put32(&f->wmask[off], (uint32_t)mask);
	if (is64)
		pci_put32(&f->wmask[off + 4], (uint32_t)(mask >> 32));
	return 0;
}

int pci_cap_add(struct pci_func *f, uint8_t id, const void *cap, uint8_t len,
		uint8_t *off)
{
	uint32_t at = f->cap_end;

	if (len < 2)
		return -EINVAL;
	if (at + len > PCI_CFG_SIZE)
		return -ENOSPC;
	memcpy(&f->cfg[at], cap, len);
	f->cfg[at] = id;
	f->cfg[at + 1] = 0;
	if (f->last_cap)
		f->cfg[f->last_cap + 1] = (uint8_t)at;
	else
		f->cfg[PCI_CAP_PTR] = (uint8_t)at;
	f->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	f->last_cap = (uint8_t)at;
	/* Dword-aligned, as the low two bits of a pointer are reserved. */
	f->cap_end = (uint8_t)((at + len + 3) & ~3u);
	if (at + len + 3 >= PCI_CFG_SIZE)
		f->cap_end = 0xFF; /* full: the next add fails */
	if (off)
		*off = (uint8_t)at;
	return 0;
}

void pci_cfg_set_wmask(struct pci_func *f, uint32_t off, const uint8_t *mask,
		       uint32_t len)
{
	if (off < PCI_CFG_SIZE && len <= PCI_CFG_SIZE - off)
		memcpy(&f->wmask[off], mask, len);
}

static bool cfg_range_ok(uint32_t off, uint32_t len)
{
	return len >= 1 && len <= 4 && off < PCI_CFG_SIZE &&
	       len <= PCI_CFG_SIZE - off;
}

void pci_cfg_read(struct pci_func *f, uint32_t off, void *data, uint32_t len)
{
	if (!cfg_range_ok(off, len)) {
		memset(data, 0xFF, len > 8 ? 8 : len);
		return;
	}
	pthread_mutex_lock(&f->lock);
	memcpy(data, &f->cfg[off], len);
	pthread_mutex_unlock(&f->lock);
}

static uint16_t command(const struct pci_func *f)
{
	return pci_get16(&f->cfg[PCI_COMMAND]);
}

/* Drive the line from the function's condition and the gates on it. */
static void intx_update(struct pci_func *f)
{
	bool level = f->intx_level &&
		     !(command(f) & PCI_COMMAND_INTX_DISABLE) &&
		     !pci_msix_enabled_locked(f);

	if (f->intx_level)
		f->cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		f->cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
	if (level == f->intx_driven || !f->cfg[PCI_INTERRUPT_PIN])
		return;
	f->intx_driven = level;
	irq_line_set(&f->intx, level);
}

void pci_cfg_write(struct pci_func *f, uint32_t off, const void *data, uint32_t len)
{
	const uint8_t *v = data;
	uint16_t msix_ctrl;

	if (!cfg_range_ok(off, len))
		return;
	pthread_mutex_lock(&f->lock);
	msix_ctrl = pci_msix_control_locked(f);
	for (uint32_t i = 0; i < len; i++) {
		uint8_t *b = &f->cfg[off + i];
		uint8_t w = f->wmask[off + i], c = f->w1cmask[off + i];

		*b = (uint8_t)((*b & ~w) | (v[i] & w));
		*b &= (uint8_t)~(v[i] & c);
	}
	intx_update(f);
	if (pci_msix_control_locked(f) != msix_ctrl)
		pci_msix_control_changed(f, msix_ctrl);
	pthread_mutex_unlock(&f->lock);
}

static uint64_t bar_addr_locked(const struct pci_func *f, unsigned int bar)
{
	const uint8_t *reg = &f->cfg[PCI_BAR0 + 4 * bar];
	uint64_t addr = pci_get32(reg);

	if (f->bars[bar].is64)
		addr |= (uint64_t)pci_get32(reg + 4) << 32;
	return addr & ~PCI_BAR_FLAGS_MASK;
}

void pci_bar_set_addr(struct pci_func *f, unsigned int bar, uint64_t addr)
{
	uint8_t *reg;
	uint64_t v;

	if (bar >= PCI_NR_BARS || !f->bars[bar].size)
		return;
	pthread_mutex_lock(&f->lock);
	reg = &f->cfg[PCI_BAR0 + 4 * bar];
	v = (addr & ~(f->bars[bar].size - 1)) | (pci_get32(reg) & PCI_BAR_FLAGS_MASK);
	pci_put32(reg, (uint32_t)v);
	if (f->bars[bar].is64)
		pci_put32(reg + 4, (uint32_t)(v >> 32));
	pthread_mutex_unlock(&f->lock);
}

bool pci_bar_decode(struct pci_func *f, unsigned int bar, uint64_t *addr)
{
	bool on;

	if (bar >= PCI_NR_BARS || !f->bars[bar].size)
		return false;
	pthread_mutex_lock(&f->lock);
	on = command(f) & PCI_COMMAND_MEMORY;
	*addr = bar_addr_locked(f, bar);
	pthread_mutex_unlock(&f->lock);
	return on;
}

void pci_intx_set(struct pci_func *f, bool level)
{
	pthread_mutex_lock(&f->lock);
	f->intx_level = level;
	intx_update(f);
	pthread_mutex_unlock(&f->lock);
}

void pci_func_snap(struct pci_func *f, struct snap *s)
{
	uint8_t cfg[PCI_CFG_SIZE];

	pthread_mutex_lock(&f->lock);
	memcpy(cfg, f->cfg, sizeof(cfg));
	snap_bytes(s, "config", cfg, sizeof(cfg));
	/* Vendor, device, revision, class, header type: the same function. */
	if (!snap_saving(s) && !snap_failed(s) &&
	    (memcmp(cfg, f->cfg, 4) || memcmp(cfg + PCI_REVISION_ID, f->cfg + PCI_REVISION_ID, 4) ||
	     cfg[PCI_HEADER_TYPE] != f->cfg[PCI_HEADER_TYPE]))
		snap_fail(s, "config", -EXDEV, "the snapshot holds another device (%04x:%04x) "
			  "than %s", pci_get16(cfg), pci_get16(cfg + 2), f->name);
	snap_bool(s, "intx-level", &f->intx_level);
	snap_bool(s, "intx-driven", &f->intx_driven);
	if (!snap_saving(s) && !snap_failed(s)) {
		memcpy(f->cfg, cfg, sizeof(cfg));
		if (f->intx_driven && f->cfg[PCI_INTERRUPT_PIN])
			irq_line_set(&f->intx, true);	/* after the irqchip's state */
	}
	pthread_mutex_unlock(&f->lock);
}

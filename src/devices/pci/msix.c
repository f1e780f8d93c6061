// SPDX-License-Identifier: MIT
/*
 * MSI-X.  The table is kept as the guest sees it (16 little-endian bytes per
 * entry) and the state that matters is derived from it when it changes: a
 * vector is effectively masked when MSI-X is disabled, the function mask
 * is set or its entry's mask bit is set.  Every change of a vector's message
 * or effective mask is reported to the sink's update hook (the platform's
 * GSI routing), and a vector that becomes unmasked with its pending bit set
 * is sent then, as 6.8.2.9 requires.
 */
#include "devices/pci/msix.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/snap.h"

struct pci_msix {
	unsigned int nr;
	uint8_t cap;                /* config offset of the capability */
	struct msi_sink sink;
	uint8_t *table;             /* nr * PCI_MSIX_ENTRY_SIZE bytes */
	uint64_t *pba;              /* one bit per vector */
};

uint16_t pci_msix_control_locked(const struct pci_func *f)
{
	return f->msix ? pci_get16(&f->cfg[f->msix->cap + PCI_MSIX_FLAGS]) : 0;
}

bool pci_msix_enabled_locked(const struct pci_func *f)
{
	return pci_msix_control_locked(f) & PCI_MSIX_FLAGS_ENABLE;
}

bool pci_msix_enabled(struct pci_func *f)
{
	bool on;

	pthread_mutex_lock(&f->lock);
	on = pci_msix_enabled_locked(f);
	pthread_mutex_unlock(&f->lock);
	return on;
}

unsigned int pci_msix_nr_vectors(const struct pci_func *f)
{
	return f->msix ? f->msix->nr : 0;
}

static const uint8_t *entry(const struct pci_msix *m, unsigned int v)
{
	return &m->table[(size_t)v * PCI_MSIX_ENTRY_SIZE];
}

static struct msi_msg entry_msg(const struct pci_msix *m, unsigned int v)
{
	const uint8_t *e = entry(m, v);

	return (struct msi_msg){
		.addr = pci_get32(e + PCI_MSIX_ENTRY_ADDR_LO) |
			(uint64_t)pci_get32(e + PCI_MSIX_ENTRY_ADDR_HI) << 32,
		.data = pci_get32(e + PCI_MSIX_ENTRY_DATA),
	};
}

/* The effective mask under control word ctrl. */
static bool masked_under(const struct pci_msix *m, uint16_t ctrl, unsigned int v)
{
	return !(ctrl & PCI_MSIX_FLAGS_ENABLE) || (ctrl & PCI_MSIX_FLAGS_MASKALL) ||
	       (entry(m, v)[PCI_MSIX_ENTRY_CTRL] & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static bool pending(const struct pci_msix *m, unsigned int v)
{
	return m->pba[v / 64] >> (v % 64) & 1;
}

static void set_pending(struct pci_msix *m, unsigned int v, bool on)
{
	if (on)
		m->pba[v / 64] |= 1ULL << (v % 64);
	else
		m->pba[v / 64] &= ~(1ULL << (v % 64));
}

static void send(struct pci_msix *m, unsigned int v)
{
	struct msi_msg msg = entry_msg(m, v);

	if (m->sink.send)
		m->sink.send(m->sink.ctx, v, &msg);
}

/* Vector v's message or mask may have changed: tell the platform, and
 * deliver a pending message now that it may go. */
static void vector_changed(struct pci_func *f, unsigned int v)
{
	struct pci_msix *m = f->msix;
	bool masked = masked_under(m, pci_msix_control_locked(f), v);
	struct msi_msg msg = entry_msg(m, v);

	if (m->sink.update)
		m->sink.update(m->sink.ctx, v, &msg, masked);
	if (!masked && pending(m, v)) {
		set_pending(m, v, false);
		send(m, v);
	}
}

void pci_msix_control_changed(struct pci_func *f, uint16_t old_ctrl)
{
	uint16_t ctrl = pci_msix_control_locked(f);

	for (unsigned int v = 0; v < f->msix->nr; v++)
		if (masked_under(f->msix, old_ctrl, v) != masked_under(f->msix, ctrl, v))
			vector_changed(f, v);
}

int pci_msix_init(struct pci_func *f, unsigned int nr, unsigned int bar,
		  uint32_t table_off, uint32_t pba_off,
		  const struct msi_sink *sink)
{
	uint64_t table_size = (uint64_t)nr * PCI_MSIX_ENTRY_SIZE;
	uint8_t cap[PCI_MSIX_CAP_LEN] = { 0 };
	const uint8_t wmask[2] = { 0, (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8 };
	struct pci_msix *m;
	uint64_t bar_size;
	int ret;

	if (f->msix || nr == 0 || nr > PCI_MSIX_MAX_VECTORS || bar >= PCI_NR_BARS)
		return -EINVAL;
	bar_size = f->bars[bar].size;
	if ((table_off | pba_off) & PCI_MSIX_BIR_MASK ||
	    table_off + table_size > bar_size ||
	    pba_off + PCI_MSIX_PBA_SIZE(nr) > bar_size)
		return -EINVAL;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->table = calloc(nr, PCI_MSIX_ENTRY_SIZE);
	m->pba = calloc(PCI_MSIX_PBA_SIZE(nr) / 8, sizeof(uint64_t));
	if (!m->table || !m->pba) {
		ret = -ENOMEM;
		goto fail;
	}
	m->nr = nr;
	if (sink)
		m->sink = *sink;
	for (unsigned int v = 0; v < nr; v++)
		m->table[v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_CTRL] =
			PCI_MSIX_ENTRY_CTRL_MASKBIT;

	pci_put16(&cap[PCI_MSIX_FLAGS], (uint16_t)(nr - 1));
	pci_put32(&cap[PCI_MSIX_TABLE], table_off | bar);
	pci_put32(&cap[PCI_MSIX_PBA], pba_off | bar);
	ret = pci_cap_add(f, PCI_CAP_ID_MSIX, cap, sizeof(cap), &m->cap);
	if (ret)
		goto fail;
	pci_cfg_set_wmask(f, m->cap + PCI_MSIX_FLAGS, wmask, sizeof(wmask));
	f->msix = m;
	return 0;
fail:
	free(m->table);
	free(m->pba);
	free(m);
	return ret;
}

void pci_msix_free(struct pci_func *f)
{
	if (!f->msix)
		return;
	free(f->msix->table);
	free(f->msix->pba);
	free(f->msix);
	f->msix = NULL;
}

static bool inside(uint64_t off, uint32_t len, uint64_t size)
{
	return len >= 1 && len <= 8 && off < size && len <= size - off;
}

void pci_msix_table_read(struct pci_func *f, uint64_t off, void *data, uint32_t len)
{
	struct pci_msix *m = f->msix;

	if (!m || !inside(off, len, (uint64_t)m->nr * PCI_MSIX_ENTRY_SIZE)) {
		memset(data, 0xFF, len > 8 ? 8 : len);
		return;
	}
	pthread_mutex_lock(&f->lock);
	memcpy(data, &m->table[off], len);
	pthread_mutex_unlock(&f->lock);
}

void pci_msix_table_write(struct pci_func *f, uint64_t off, const void *data, uint32_t len)
{
	struct pci_msix *m = f->msix;
	unsigned int first, last;
	uint8_t before[2 * PCI_MSIX_ENTRY_SIZE];

	if (!m || !inside(off, len, (uint64_t)m->nr * PCI_MSIX_ENTRY_SIZE))
		return;
	/* An access of at most 8 bytes touches at most two entries. */
	first = (unsigned int)(off / PCI_MSIX_ENTRY_SIZE);
	last = (unsigned int)((off + len - 1) / PCI_MSIX_ENTRY_SIZE);
	pthread_mutex_lock(&f->lock);
	memcpy(before, entry(m, first), (last - first + 1) * PCI_MSIX_ENTRY_SIZE);
	memcpy(&m->table[off], data, len);
	for (unsigned int v = first; v <= last; v++) {
		uint8_t *e = &m->table[(size_t)v * PCI_MSIX_ENTRY_SIZE];

		/* Vector control bits 31:1 are reserved: read as zero. */
		e[PCI_MSIX_ENTRY_CTRL] &= PCI_MSIX_ENTRY_CTRL_MASKBIT;
		memset(e + PCI_MSIX_ENTRY_CTRL + 1, 0, 3);
		if (memcmp(before + (v - first) * PCI_MSIX_ENTRY_SIZE, e,
			   PCI_MSIX_ENTRY_SIZE))
			vector_changed(f, v);
	}
	pthread_mutex_unlock(&f->lock);
}

void pci_msix_pba_read(struct pci_func *f, uint64_t off, void *data, uint32_t len)
{
	struct pci_msix *m = f->msix;
	uint8_t *out = data;

	if (!m || !inside(off, len, PCI_MSIX_PBA_SIZE(m->nr))) {
		memset(data, 0xFF, len > 8 ? 8 : len);
		return;
	}
	pthread_mutex_lock(&f->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t byte = off + i;

		out[i] = (uint8_t)(m->pba[byte / 8] >> (8 * (byte % 8)));
	}
	pthread_mutex_unlock(&f->lock);
}

int pci_msix_notify(struct pci_func *f, unsigned int vector)
{
	struct pci_msix *m = f->msix;
	uint16_t ctrl;
	int ret = 0;

	if (!m)
		return -ENODEV;
	if (vector >= m->nr)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	ctrl = pci_msix_control_locked(f);
	if (!(ctrl & PCI_MSIX_FLAGS_ENABLE)) {
		ret = -ENODEV;
	} else if (masked_under(m, ctrl, vector)) {
		set_pending(m, vector, true);
		ret = 1;
	} else {
		send(m, vector);
	}
	pthread_mutex_unlock(&f->lock);
	return ret;
}

void pci_msix_snap(struct pci_func *f, struct snap *s)
{
	struct pci_msix *m = f->msix;
	uint32_t nr;

	if (!m)
		return;
	pthread_mutex_lock(&f->lock);
	nr = m->nr;
	snap_u32(s, "vectors", &nr);
	if (!snap_saving(s) && !snap_failed(s) && nr != m->nr)
		snap_fail(s, "vectors", -EXDEV, "%u MSI-X vectors saved, the function has %u",
			  nr, m->nr);
	snap_bytes(s, "table", m->table, (size_t)m->nr * PCI_MSIX_ENTRY_SIZE);
	snap_bytes(s, "pba", m->pba, PCI_MSIX_PBA_SIZE(m->nr));
	if (!snap_saving(s) && !snap_failed(s))
		for (unsigned int v = 0; v < m->nr; v++)
			vector_changed(f, v);
	pthread_mutex_unlock(&f->lock);
}

/* SPDX-License-Identifier: MIT */
/*
 * A small read-only flattened-device-tree reader: just what the test guests
 * need (memory ranges, reservations, CPU count, bootargs, the MMU node).  Every offset
 * read from the blob is bounds-checked, so a broken FDT gives an error, not
 * a fault.
 */
#include "guest.h"

#define FDT_MAGIC	0xd00dfeedU
#define FDT_BEGIN_NODE	1
#define FDT_END_NODE	2
#define FDT_PROP	3
#define FDT_NOP		4
#define FDT_END		9

enum {
	FDT_ERR_MAGIC = -1,
	FDT_ERR_VERSION = -2,
	FDT_ERR_BOUNDS = -3,
	FDT_ERR_TOKEN = -4,
	FDT_ERR_CELLS = -5,
	FDT_ERR_NULL = -6,
};

const char *fdt_strerror(int err)
{
	switch (err) {
	case FDT_ERR_MAGIC: return "bad magic";
	case FDT_ERR_VERSION: return "unsupported version";
	case FDT_ERR_BOUNDS: return "offset out of bounds";
	case FDT_ERR_TOKEN: return "bad structure token";
	case FDT_ERR_CELLS: return "bad #address-cells/#size-cells or reg";
	case FDT_ERR_NULL: return "no device tree";
	default: return "unknown error";
	}
}

static uint32_t be32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static uint64_t be64(const void *p)
{
	return (uint64_t)be32(p) << 32 | be32((const uint8_t *)p + 4);
}

struct walker {
	const uint8_t *blob;
	uint32_t size;			/* totalsize */
	uint32_t off, end;		/* structure block cursor and end */
	uint32_t strings, strings_size;
};

/* Bytes [off, off+len) lie inside the structure block. */
static bool in_struct(const struct walker *w, uint32_t off, uint32_t len)
{
	return off <= w->end && len <= w->end - off;
}

static int next_u32(struct walker *w, uint32_t *v)
{
	if (!in_struct(w, w->off, 4))
		return FDT_ERR_BOUNDS;
	*v = be32(w->blob + w->off);
	w->off += 4;
	return 0;
}

/* A NUL-terminated string at w->off, then skip it (4-byte aligned). */
static int next_name(struct walker *w, const char **name)
{
	uint32_t off = w->off;

	while (off < w->end && w->blob[off])
		off++;
	if (off >= w->end)
		return FDT_ERR_BOUNDS;
	*name = (const char *)w->blob + w->off;
	w->off = (off + 1 + 3) & ~3U;
	return 0;
}

static const char *prop_name(const struct walker *w, uint32_t nameoff)
{
	uint32_t off = nameoff;

	if (off >= w->strings_size)
		return NULL;
	while (off < w->strings_size && w->blob[w->strings + off])
		off++;
	if (off >= w->strings_size)
		return NULL;
	return (const char *)w->blob + w->strings + nameoff;
}

/* "memory" or "memory@...": likewise for "cpu". */
static bool node_is(const char *name, const char *base)
{
	size_t n = strlen(base);

	return !strncmp(name, base, n) && (name[n] == '\0' || name[n] == '@');
}

static uint64_t read_cells(const uint8_t *p, uint32_t cells)
{
	return cells == 2 ? be64(p) : cells == 1 ? be32(p) : 0;
}

static int add_reg(struct fdt_info *info, const uint8_t *reg, uint32_t len)
{
	uint32_t ac = info->addr_cells, sc = info->size_cells;
	uint32_t entry = (ac + sc) * 4;

	if (ac < 1 || ac > 2 || sc > 2 || len % entry)
		return FDT_ERR_CELLS;
	for (uint32_t off = 0; off < len; off += entry) {
		struct mem_range r = {
			.base = read_cells(reg + off, ac),
			.size = read_cells(reg + off + ac * 4, sc),
		};

		if (!r.size)
			continue;
		if (info->n_mem == FDT_MAX_MEM) {
			info->truncated = true;
			break;
		}
		info->mem[info->n_mem++] = r;
	}
	return 0;
}

static int parse_rsvmap(const struct walker *w, uint32_t off,
			struct fdt_info *info)
{
	for (;; off += 16) {
		if (off > w->size || w->size - off < 16)
			return FDT_ERR_BOUNDS;
		struct mem_range r = {
			.base = be64(w->blob + off),
			.size = be64(w->blob + off + 8),
		};

		if (!r.base && !r.size)
			return 0;
		if (info->n_rsv == FDT_MAX_RSV) {
			info->truncated = true;
			return 0;
		}
		info->rsv[info->n_rsv++] = r;
	}
}

/* /minivmm-mmu properties seen so far (a bit each). */
enum {
	MMU_SEEN_COMPAT = 1 << 0,
	MMU_SEEN_MODE = 1 << 1,
	MMU_SEEN_FILL = 1 << 2,
	MMU_SEEN_MAILBOX = 1 << 3,
	MMU_SEEN_POOL = 1 << 4,
	MMU_SEEN_POOL_FREE = 1 << 5,
	MMU_SEEN_BOOT_ROOT = 1 << 6,
	MMU_SEEN_PORT = 1 << 7,
	MMU_SEEN_NEEDED = MMU_SEEN_COMPAT | MMU_SEEN_MODE | MMU_SEEN_MAILBOX |
			  MMU_SEEN_POOL | MMU_SEEN_POOL_FREE | MMU_SEEN_BOOT_ROOT |
			  MMU_SEEN_PORT,
};

struct node_state {
	int depth;
	bool memory, chosen, cpus, mmu;	/* which depth-1 node we are in */
	unsigned int mmu_seen;		/* MMU_SEEN_* */
	bool memory_type;		/* device_type = "memory" */
	const uint8_t *reg;		/* the depth-1 node's reg */
	uint32_t reg_len;
};

/* A string property: len covers the value and its NUL. */
static bool prop_str_is(const uint8_t *val, uint32_t len, const char *want)
{
	size_t n = strlen(want);

	return len == n + 1 && !memcmp(val, want, n + 1);
}

static void mmu_bad(struct fdt_mmu *m, const char *why)
{
	if (!m->bad)
		m->bad = why;
}

/* One property of /minivmm-mmu; sizes are fixed by the protocol. */
static void mmu_prop(struct node_state *st, const char *name,
		     const uint8_t *val, uint32_t len, struct fdt_mmu *m)
{
	if (!strcmp(name, "compatible")) {
		st->mmu_seen |= MMU_SEEN_COMPAT;
		if (!prop_str_is(val, len, "minivmm,mmu"))
			mmu_bad(m, "compatible is not \"minivmm,mmu\"");
	} else if (!strcmp(name, "mode")) {
		st->mmu_seen |= MMU_SEEN_MODE;
		m->shadow = prop_str_is(val, len, "shadow");
		if (!m->shadow && !prop_str_is(val, len, "tdp"))
			mmu_bad(m, "mode is neither \"tdp\" nor \"shadow\"");
	} else if (!strcmp(name, "fill")) {
		st->mmu_seen |= MMU_SEEN_FILL;
		m->lazy = prop_str_is(val, len, "lazy");
		if (!m->lazy && !prop_str_is(val, len, "eager"))
			mmu_bad(m, "fill is neither \"eager\" nor \"lazy\"");
	} else if (!strcmp(name, "mailbox") || !strcmp(name, "pool")) {
		bool mb = name[0] == 'm';

		st->mmu_seen |= mb ? MMU_SEEN_MAILBOX : MMU_SEEN_POOL;
		if (len != 16) {
			mmu_bad(m, "mailbox/pool is not <addr size> in 2+2 cells");
			return;
		}
		*(mb ? &m->mailbox : &m->pool) = be64(val);
		*(mb ? &m->mailbox_size : &m->pool_size) = be64(val + 8);
	} else if (!strcmp(name, "pool-free") || !strcmp(name, "boot-root")) {
		bool pf = name[0] == 'p';

		st->mmu_seen |= pf ? MMU_SEEN_POOL_FREE : MMU_SEEN_BOOT_ROOT;
		if (len != 8) {
			mmu_bad(m, "pool-free/boot-root is not a 2-cell address");
			return;
		}
		*(pf ? &m->pool_free : &m->boot_root) = be64(val);
	} else if (!strcmp(name, "io-port")) {
		st->mmu_seen |= MMU_SEEN_PORT;
		if (len != 4)
			mmu_bad(m, "io-port is not one cell");
		else
			m->io_port = be32(val);
	}
}

/* The node is complete and self-consistent: what mmu.c relies on. */
static void mmu_check(const struct node_state *st, struct fdt_info *info)
{
	struct fdt_mmu *m = &info->mmu;
	uint64_t pool_end = m->pool + m->pool_size;

	if ((st->mmu_seen & MMU_SEEN_NEEDED) != MMU_SEEN_NEEDED)
		mmu_bad(m, "a required property is missing");
	else if ((m->mailbox | m->pool | m->pool_size | m->pool_free) &
		 (PAGE_SIZE_4K - 1) || m->mailbox_size < PAGE_SIZE_4K)
		mmu_bad(m, "mailbox or pool not page-granular");
	else if (!m->pool_size || pool_end < m->pool)
		mmu_bad(m, "empty or wrapping pool");
	else if (m->pool_free < m->pool || m->pool_free > pool_end)
		mmu_bad(m, "pool-free outside the pool");
}

static void begin_node(struct node_state *st, const char *name,
		       struct fdt_info *info)
{
	st->depth++;
	if (st->depth == 2) {
		st->memory = node_is(name, "memory");
		st->chosen = !strcmp(name, "chosen");
		st->cpus = !strcmp(name, "cpus");
		st->mmu = !strcmp(name, "minivmm-mmu");
		if (st->mmu) {
			info->has_mmu = true;
			st->mmu_seen = 0;
		}
		st->memory_type = false;
		st->reg = NULL;
	} else if (st->depth == 3 && st->cpus && node_is(name, "cpu")) {
		info->n_cpus++;
	}
}

static int end_node(struct node_state *st, struct fdt_info *info)
{
	int err = 0;

	if (st->depth == 2 && (st->memory || st->memory_type) && st->reg)
		err = add_reg(info, st->reg, st->reg_len);
	if (st->depth == 2 && st->mmu)
		mmu_check(st, info);
	if (st->depth == 2)
		st->memory = st->chosen = st->cpus = st->mmu = st->memory_type = false;
	st->depth--;
	return err;
}

static void prop(struct node_state *st, const char *name, const uint8_t *val,
		 uint32_t len, struct fdt_info *info)
{
	if (st->depth == 1 && len == 4) {
		if (!strcmp(name, "#address-cells"))
			info->addr_cells = be32(val);
		else if (!strcmp(name, "#size-cells"))
			info->size_cells = be32(val);
	} else if (st->depth == 2 && st->mmu) {
		mmu_prop(st, name, val, len, &info->mmu);
	} else if (st->depth == 2) {
		if (!strcmp(name, "reg")) {
			st->reg = val;
			st->reg_len = len;
		} else if (!strcmp(name, "device_type")) {
			st->memory_type = len == 7 && !memcmp(val, "memory", 7);
		} else if (st->chosen && !strcmp(name, "bootargs") && len) {
			uint32_t n = len < FDT_MAX_BOOTARGS ? len : FDT_MAX_BOOTARGS;

			memcpy(info->bootargs, val, n);
			info->bootargs[n - 1] = '\0';
		}
	}
}

static int walk(struct walker *w, struct fdt_info *info)
{
	struct node_state st = { 0 };
	const char *name;
	uint32_t tok, len, nameoff;
	int err;

	for (;;) {
		if ((err = next_u32(w, &tok)))
			return err;
		switch (tok) {
		case FDT_BEGIN_NODE:
			if ((err = next_name(w, &name)))
				return err;
			begin_node(&st, name, info);
			break;
		case FDT_END_NODE:
			if (st.depth <= 0)
				return FDT_ERR_TOKEN;
			if ((err = end_node(&st, info)))
				return err;
			break;
		case FDT_PROP:
			if ((err = next_u32(w, &len)) || (err = next_u32(w, &nameoff)))
				return err;
			if (!in_struct(w, w->off, len))
				return FDT_ERR_BOUNDS;
			name = prop_name(w, nameoff);
			if (!name)
				return FDT_ERR_BOUNDS;
			prop(&st, name, w->blob + w->off, len, info);
			w->off = (w->off + len + 3) & ~3U;
			break;
		case FDT_NOP:
			break;
		case FDT_END:
			return st.depth == 0 ? 0 : FDT_ERR_TOKEN;
		default:
			return FDT_ERR_TOKEN;
		}
	}
}

int fdt_parse(const void *fdt, struct fdt_info *info)
{
	const uint8_t *h = fdt;

	memset(info, 0, sizeof(*info));
	info->addr_cells = 2;	/* the spec's defaults */
	info->size_cells = 1;
	if (!fdt)
		return FDT_ERR_NULL;
	if (be32(h) != FDT_MAGIC)
		return FDT_ERR_MAGIC;

	uint32_t size = be32(h + 4), off_struct = be32(h + 8);
	uint32_t off_strings = be32(h + 12), off_rsv = be32(h + 16);
	uint32_t version = be32(h + 20), size_strings = be32(h + 32);
	uint32_t size_struct = be32(h + 36);

	if (version < 17)
		return FDT_ERR_VERSION;
	if (size < 40 || off_struct > size || size_struct > size - off_struct ||
	    off_strings > size || size_strings > size - off_strings)
		return FDT_ERR_BOUNDS;

	struct walker w = {
		.blob = h, .size = size,
		.off = off_struct, .end = off_struct + size_struct,
		.strings = off_strings, .strings_size = size_strings,
	};
	int err = parse_rsvmap(&w, off_rsv, info);

	return err ? err : walk(&w, info);
}

uint64_t fdt_ram_bytes(const struct fdt_info *info)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < info->n_mem; i++)
		total += info->mem[i].size;
	return total;
}

uint64_t fdt_ram_top(const struct fdt_info *info)
{
	uint64_t top = 0;

	for (unsigned int i = 0; i < info->n_mem; i++)
		if (info->mem[i].base + info->mem[i].size > top)
			top = info->mem[i].base + info->mem[i].size;
	return top;
}

const struct fdt_info *fdt_info_or_die(const char *who, const void *fdt)
{
	static struct fdt_info info;
	int err = fdt_parse(fdt, &info);

	if (err) {
		printf("%s: bad device tree at %p (%s)\n", who, fdt,
		       fdt_strerror(err));
		guest_exit(GUEST_EXIT_CONTRACT);
	}
	if (!info.n_mem) {
		printf("%s: device tree has no /memory nodes\n", who);
		guest_exit(GUEST_EXIT_CONTRACT);
	}
	return &info;
}

/* SPDX-License-Identifier: MIT */
/*
 * Guest symbols for the profiler: from an ELF file's .symtab (a vmlinux, a
 * test guest) or a System.map, sorted by address, looked up by the last
 * symbol at or below an address.  Pure: unit-tested on buffers.
 */
#ifndef MINIVMM_SYMBOLS_H
#define MINIVMM_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

struct symbol {
	uint64_t addr;
	uint64_t size; /* 0: unknown (up to the next symbol) */
	const char *name;
};

struct symbols {
	struct symbol *v;
	size_t n;
	char *names; /* storage for every name */
};

/* From an ELF64 image or a System.map text (whichever buf is): 0, or
 * -EINVAL when buf is neither or has no function symbols, -ENOMEM. */
int symbols_parse(const uint8_t *buf, size_t len, struct symbols *out);
/* The file at path; -errno when it cannot be read. */
int symbols_load(const char *path, struct symbols *out);
void symbols_free(struct symbols *s);

/* The symbol covering addr, or NULL (below every symbol, past a sized
 * symbol's end, or more than 1 MiB past an unsized one). */
const struct symbol *symbols_find(const struct symbols *s, uint64_t addr);

#endif

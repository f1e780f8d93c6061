// SPDX-License-Identifier: MIT
#include "profile/symbols.h"

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "boot/loader.h"

/* An unsized symbol (System.map) covers at most this much. */
#define UNSIZED_REACH (1ULL << 20)

static int add(struct symbols *s, size_t *cap, uint64_t addr, uint64_t size, size_t name_off)
{
	if (s->n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 1024;
		struct symbol *v = realloc(s->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		*cap = ncap;
	}
	/* name holds an offset into names until the end (names may move). */
	s->v[s->n++] = (struct symbol){ .addr = addr, .size = size,
					.name = (const char *)(uintptr_t)name_off };
	return 0;
}

static int by_addr(const void *a, const void *b)
{
	const struct symbol *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (x->size < y->size) - (x->size > y->size); /* sized first */
}

static int finish(struct symbols *s)
{
	if (!s->n)
		return -EINVAL;
	for (size_t i = 0; i < s->n; i++)
		s->v[i].name = s->names + (uintptr_t)s->v[i].name;
	qsort(s->v, s->n, sizeof(*s->v), by_addr);
	return 0;
}

static int parse_elf(const uint8_t *buf, size_t len, struct symbols *s)
{
	const Elf64_Ehdr *eh = (const void *)buf;
	const Elf64_Shdr *sh;
	size_t cap = 0;

	if (len < sizeof(*eh) || eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shentsize != sizeof(*sh) ||
	    eh->e_shoff > len || (uint64_t)eh->e_shnum * sizeof(*sh) > len - eh->e_shoff)
		return -EINVAL;
	sh = (const void *)(buf + eh->e_shoff);
	for (unsigned int i = 0; i < eh->e_shnum; i++) {
		const Elf64_Shdr *st = &sh[i], *strs;
		const Elf64_Sym *syms;
		size_t nsyms;

		if (st->sh_type != SHT_SYMTAB || st->sh_link >= eh->e_shnum ||
		    st->sh_offset > len || st->sh_size > len - st->sh_offset)
			continue;
		strs = &sh[st->sh_link];
		if (strs->sh_offset > len || strs->sh_size > len - strs->sh_offset || !strs->sh_size)
			continue;
		free(s->names);
		s->names = malloc(strs->sh_size + 1);
		if (!s->names)
			return -ENOMEM;
		memcpy(s->names, buf + strs->sh_offset, strs->sh_size);
		s->names[strs->sh_size] = '\0';
		syms = (const void *)(buf + st->sh_offset);
		nsyms = st->sh_size / sizeof(*syms);
		for (size_t j = 0; j < nsyms; j++) {
			unsigned int type = ELF64_ST_TYPE(syms[j].st_info);

			if ((type != STT_FUNC && type != STT_NOTYPE) || !syms[j].st_value ||
			    syms[j].st_shndx == SHN_UNDEF || syms[j].st_shndx == SHN_ABS ||
			    syms[j].st_name >= strs->sh_size || !s->names[syms[j].st_name])
				continue;
			if (add(s, &cap, syms[j].st_value, syms[j].st_size, syms[j].st_name))
				return -ENOMEM;
		}
		return finish(s);
	}
	return -EINVAL;
}

/* "ffffffff81000000 T _stext" lines; text symbols only (t, T, w, W). */
static int parse_map(const uint8_t *buf, size_t len, struct symbols *s)
{
	size_t cap = 0, used = 0;
	const char *p = (const char *)buf, *end = p + len;

	s->names = malloc(len + 1);
	if (!s->names)
		return -ENOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *q = p;
		const char *e = nl ? nl : end;
		uint64_t addr = 0;
		int digits = 0;
		char type;

		for (; q < e && digits < 17; q++, digits++) {
			int d = *q >= '0' && *q <= '9' ? *q - '0' :
				*q >= 'a' && *q <= 'f' ? *q - 'a' + 10 :
				*q >= 'A' && *q <= 'F' ? *q - 'A' + 10 : -1;

			if (d < 0)
				break;
			addr = addr << 4 | (uint64_t)d;
		}
		if (!digits || digits > 16 || q + 3 > e || q[0] != ' ' || q[2] != ' ') {
			if (s->n == 0 && used == 0 && p == (const char *)buf)
				return -EINVAL; /* not a System.map at all */
			p = e + 1;
			continue;
		}
		type = q[1];
		q += 3;
		if (strchr("tTwW", type) && q < e && addr) {
			size_t n = (size_t)(e - q);

			if (n && q[n - 1] == '\r')
				n--;
			memcpy(s->names + used, q, n);
			s->names[used + n] = '\0';
			if (add(s, &cap, addr, 0, used))
				return -ENOMEM;
			used += n + 1;
		}
		p = e + 1;
	}
	return finish(s);
}

int symbols_parse(const uint8_t *buf, size_t len, struct symbols *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	err = len >= 4 && !memcmp(buf, ELFMAG, SELFMAG) ? parse_elf(buf, len, out)
						       : parse_map(buf, len, out);
	if (err)
		symbols_free(out);
	return err;
}

int symbols_load(const char *path, struct symbols *out)
{
	uint8_t *buf;
	size_t len;
	int err = loader_read_file(path, &buf, &len);

	memset(out, 0, sizeof(*out));
	if (err)
		return err;
	err = symbols_parse(buf, len, out);
	free(buf);
	return err;
}

void symbols_free(struct symbols *s)
{
	free(s->v);
	free(s->names);
	memset(s, 0, sizeof(*s));
}

const struct symbol *symbols_find(const struct symbols *s, uint64_t addr)
{
	size_t lo = 0, hi = s->n;
	const struct symbol *sym;

	while (lo < hi) { /* the first symbol above addr */
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	sym = &s->v[lo - 1];
	/* Among symbols at that address, prefer one whose size covers addr. */
	while (lo > 1 && s->v[lo - 2].addr == sym->addr && sym->size == 0 && s->v[lo - 2].size) {
		sym = &s->v[lo - 2];
		lo--;
	}
	if (sym->size ? addr - sym->addr >= sym->size : addr - sym->addr >= UNSIZED_REACH)
		return NULL;
	return sym;
}

// SPDX-License-Identifier: MIT
#include "boot/loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abi/board.h"
#include "base/log.h"

int loader_read_file(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	uint8_t *p;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int err = -errno;

		log_err("cannot open '%s': %s", path, strerror(errno));
		return err;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size == 0 ||
	    (uint64_t)st.st_size > LOADER_MAX_FILE) {
		log_err("'%s' is not a regular, non-empty file of at most %llu MiB", path,
			LOADER_MAX_FILE >> 20);
		close(fd);
		return -EINVAL;
	}
	p = malloc((size_t)st.st_size);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			log_err("cannot read '%s': %s", path, r ? strerror(errno) : "file shrank");
			free(p);
			close(fd);
			return -EIO;
		}
		got += (size_t)r;
	}
	close(fd);
	*buf = p;
	*len = got;
	return 0;
}

/* The ELF header, if buf holds a well-formed little-endian ELF64 x86-64
 * executable whose program header table lies inside the file. */
static const Elf64_Ehdr *elf64_header(const uint8_t *buf, size_t len)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;

	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    eh->e_phoff % _Alignof(Elf64_Phdr) ||
	    eh->e_phoff > len || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff)
		return NULL;
	return eh;
}

/* The note (name, type) in the PT_NOTE segment ph: its descriptor, or
 * NULL.  Every header and size is checked against the file. */
static const uint8_t *find_note(const uint8_t *buf, size_t len, const Elf64_Phdr *ph,
				const char *want, uint32_t type, uint32_t *desc_len)
{
	uint64_t off = ph->p_offset, end;
	size_t want_sz = strlen(want) + 1;

	if (off % _Alignof(Elf64_Nhdr) || off > len || ph->p_filesz > len - off)
		return NULL;
	end = off + ph->p_filesz;
	while (end - off >= sizeof(Elf64_Nhdr)) {
		const Elf64_Nhdr *n = (const Elf64_Nhdr *)(buf + off);
		uint64_t name_sz = (n->n_namesz + 3ULL) & ~3ULL;
		uint64_t desc_sz = (n->n_descsz + 3ULL) & ~3ULL;
		const char *name = (const char *)(n + 1);

		if (name_sz + desc_sz > end - off - sizeof(*n))
			return NULL;
		if (n->n_type == type && n->n_namesz == want_sz && !memcmp(name, want, want_sz)) {
			*desc_len = n->n_descsz;
			return (const uint8_t *)name + name_sz;
		}
		off += sizeof(*n) + name_sz + desc_sz;
	}
	return NULL;
}

static int has_minivmm_note(const uint8_t *buf, size_t len, const Elf64_Phdr *ph)
{
	uint32_t dl;

	return find_note(buf, len, ph, MINIVMM_NOTE_NAME, MINIVMM_NOTE_TEST_GUEST, &dl) != NULL;
}

int loader_elf_note(const uint8_t *buf, size_t len, const char *name, uint32_t type,
		    const uint8_t **desc, uint32_t *desc_len)
{
	const Elf64_Ehdr *eh = elf64_header(buf, len);
	const Elf64_Phdr *ph;

	if (!eh)
		return -EINVAL;
	ph = (const Elf64_Phdr *)(buf + eh->e_phoff);
	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		const uint8_t *d;

		if (ph[i].p_type != PT_NOTE)
			continue;
		d = find_note(buf, len, &ph[i], name, type, desc_len);
		if (d) {
			*desc = d;
			return 0;
		}
	}
	return -ENOENT;
}

bool loader_is_bzimage(const uint8_t *buf, size_t len)
{
	return len >= 0x206 && !memcmp(buf + 0x202, "HdrS", 4);
}

enum image_kind loader_probe(const uint8_t *buf, size_t len)
{
	const Elf64_Ehdr *eh = elf64_header(buf, len);

	if (eh) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(buf + eh->e_phoff);

		for (unsigned int i = 0; i < eh->e_phnum; i++)
			if (ph[i].p_type == PT_NOTE && has_minivmm_note(buf, len, &ph[i]))
				return IMAGE_TEST_GUEST;
		return IMAGE_ELF_OTHER;
	}
	if (loader_is_bzimage(buf, len))
		return IMAGE_BZIMAGE;
	if (len >= SELFMAG && !memcmp(buf, ELFMAG, SELFMAG))
		return IMAGE_ELF_BAD;
	return IMAGE_UNKNOWN;
}

bool loader_guest_range_ok(const struct mem_map *mem, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		len = 1;
	if (gpa > UINT64_MAX - len + 1)
		return false;
	for (;;) {
		const struct mem_slot *s = mem_find_slot(mem, gpa);
		uint64_t n;

		if (!s || s->kind != MEM_RAM)	/* kernels load into RAM only */
			return false;
		n = s->size - (gpa - s->gpa);
		if (n >= len)
			return true;
		gpa += n;
		len -= n;
	}
}

int loader_guest_copy(const struct mem_map *mem, uint64_t gpa, const void *src,
		      uint64_t len)
{
	const uint8_t *from = src;

	if (len == 0)
		return 0;
	if (!loader_guest_range_ok(mem, gpa, len))
		return -EFAULT;
	while (len) {
		const struct mem_slot *s = mem_find_slot(mem, gpa);
		uint64_t n = s->size - (gpa - s->gpa);
		uint8_t *dst;

		if (n > len)
			n = len;
		dst = mem_gpa_to_hva(mem, gpa, n);
		if (from) {
			memcpy(dst, from, n);
			from += n;
		} else {
			memset(dst, 0, n);
		}
		gpa += n;
		len -= n;
	}
	return 0;
}

static int check_segment(const struct mem_map *mem, const Elf64_Phdr *ph, size_t len,
			 const char *what, bool span_slots)
{
	bool fits;

	if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset ||
	    ph->p_filesz > ph->p_memsz) {
		log_err("%s: a segment lies outside the file (truncated image?)", what);
		return -EINVAL;
	}
	if (ph->p_paddr < BOARD_GUEST_LOAD_MIN) {
		log_err("%s: segment at 0x%llx is below 1 MiB, where the boot structures live",
			what, (unsigned long long)ph->p_paddr);
		return -EINVAL;
	}
	fits = span_slots ? loader_guest_range_ok(mem, ph->p_paddr, ph->p_memsz)
			  : mem_gpa_to_hva(mem, ph->p_paddr, ph->p_memsz) != NULL;
	if (!fits) {
		log_err("%s: segment [0x%llx, +0x%llx) does not fit in %s "
			"(is -m large enough?)", what, (unsigned long long)ph->p_paddr,
			(unsigned long long)ph->p_memsz, span_slots ? "RAM" : "one RAM slot");
		return -EINVAL;
	}
	return 0;
}

static bool entry_in_exec_segment(const Elf64_Ehdr *eh, const Elf64_Phdr *ph)
{
	for (unsigned int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X) &&
		    eh->e_entry >= ph[i].p_paddr && eh->e_entry - ph[i].p_paddr < ph[i].p_memsz)
			return true;
	return false;
}

int loader_load_elf(const struct mem_map *mem, const uint8_t *buf, size_t len,
		    const char *what, bool span_slots, struct loaded_image *out)
{
	const Elf64_Ehdr *eh = elf64_header(buf, len);
	const Elf64_Phdr *ph;
	unsigned int loadable = 0;

	if (!eh) {
		log_err("%s: not a valid ELF64 x86-64 executable", what);
		return -EINVAL;
	}
	ph = (const Elf64_Phdr *)(buf + eh->e_phoff);
	/* Check everything before writing anything. */
	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		int err;

		if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
			continue;
		err = check_segment(mem, &ph[i], len, what, span_slots);
		if (err)
			return err;
		loadable++;
	}
	if (!loadable) {
		log_err("%s: no loadable segments", what);
		return -EINVAL;
	}
	/* Identity-mapped at entry: e_entry is a physical address. */
	if (!entry_in_exec_segment(eh, ph)) {
		log_err("%s: entry point 0x%llx is not inside an executable segment", what,
			(unsigned long long)eh->e_entry);
		return -EINVAL;
	}
	out->start = UINT64_MAX;
	out->end = 0;
	out->nr_segs = 0;
	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		/* Checked above: neither copy can fail. */
		if (loader_guest_copy(mem, p->p_paddr, buf + p->p_offset, p->p_filesz) ||
		    loader_guest_copy(mem, p->p_paddr + p->p_filesz, NULL,
				      p->p_memsz - p->p_filesz))
			return -EFAULT;
		if (p->p_paddr < out->start)
			out->start = p->p_paddr;
		if (p->p_paddr + p->p_memsz > out->end)
			out->end = p->p_paddr + p->p_memsz;
		if (out->nr_segs < LOADER_MAX_SEGMENTS)
			out->segs[out->nr_segs++] = (struct loader_segment){
				.vaddr = p->p_vaddr, .paddr = p->p_paddr, .size = p->p_memsz };
	}
	out->entry = eh->e_entry;
	return 0;
}

int loader_load_test_guest(const struct mem_map *mem, const uint8_t *buf, size_t len,
			   const char *what, struct loaded_image *out)
{
	return loader_load_elf(mem, buf, len, what, false, out);
}

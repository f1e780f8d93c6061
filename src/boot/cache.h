/* SPDX-License-Identifier: MIT */
/*
 * The boot cache: kernels and initrds minivmm decompressed on the host,
 * kept under $XDG_CACHE_HOME/minivmm (default ~/.cache/minivmm) and found
 * again by the SHA-256 of the file's bytes, so the next boot of the same
 * file skips the decompression (an xz kernel: hundreds of milliseconds).
 * One file per entry: a header (magic, output length, CRC-32 of the
 * output, a description) and the output; written to a temporary file and
 * renamed, so a crash leaves no half entry; the least recently used
 * entries go when the directory exceeds its size limit.  A cache that
 * cannot be used is skipped, never an error: the boot decompresses.
 */
#ifndef MINIVMM_BOOT_CACHE_H
#define MINIVMM_BOOT_CACHE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BOOT_CACHE_DEFAULT_MAX (1ULL << 30)

struct boot_cache {
	char dir[PATH_MAX]; /* "" when the cache is off */
	uint64_t max_bytes;
};

/* On when enabled and a directory can be made; off otherwise. */
void boot_cache_open(struct boot_cache *c, bool enabled, uint64_t max_bytes);

/* One entry: kind ("kernel", "initrd") and the input's bytes name it. */
struct boot_cache_key {
	char path[PATH_MAX];
};

void boot_cache_key(const struct boot_cache *c, const char *kind, const uint8_t *in,
		    size_t len, struct boot_cache_key *key);

/* 1 on a hit (*out malloc'd, at most max_out bytes; note filled), 0 on a
 * miss (a damaged entry is removed). */
int boot_cache_get(const struct boot_cache *c, const struct boot_cache_key *key,
		   size_t max_out, uint8_t **out, size_t *out_len, char *note, size_t note_size);

/* Store out (note: a short description for the log); 0, or -errno. */
int boot_cache_put(const struct boot_cache *c, const struct boot_cache_key *key,
		   const uint8_t *out, size_t out_len, const char *note);

#endif

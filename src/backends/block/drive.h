/* SPDX-License-Identifier: MIT */
/*
 * QEMU's -drive spelling, parsed into a plain struct (no I/O):
 *   file=IMG,if=virtio[,format=raw][,readonly=on|off]
 *     [,cache=none|writeback|unsafe][,aio=io_uring|threads][,serial=STR][,id=ID]
 * A ",," inside a value is a literal comma, as in QEMU.
 */
#ifndef MINIVMM_BACKENDS_BLOCK_DRIVE_H
#define MINIVMM_BACKENDS_BLOCK_DRIVE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define DRIVE_SERIAL_MAX 20   /* bytes: the virtio-blk ID string */
#define DRIVE_ID_MAX     31

enum drive_cache {
	DRIVE_CACHE_WRITEBACK,  /* page cache; flush = fdatasync */
	DRIVE_CACHE_NONE,       /* O_DIRECT; flush = fdatasync */
	DRIVE_CACHE_UNSAFE,     /* page cache; flushes are ignored */
};

enum drive_aio {
	DRIVE_AIO_IO_URING,
	DRIVE_AIO_THREADS,
};

struct drive_config {
	char file[PATH_MAX];
	bool readonly;
	bool format_given;      /* format=raw was spelled out: no probing */
	enum drive_cache cache;
	enum drive_aio aio;
	bool aio_given;         /* aio= was spelled out: no silent fallback */
	char serial[DRIVE_SERIAL_MAX + 1];
	char id[DRIVE_ID_MAX + 1];
};

/*
 * Parses spec into cfg (defaults: writeback, io_uring, read-write).
 * 0, or -EINVAL with a one-line message in err (err_len bytes, may be 0),
 * or logged with log_err when err is NULL.
 */
int drive_parse(const char *spec, struct drive_config *cfg, char *err, size_t err_len);

const char *drive_cache_name(enum drive_cache cache);
const char *drive_aio_name(enum drive_aio aio);

#endif

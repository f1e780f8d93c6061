/* SPDX-License-Identifier: MIT */
/*
 * Where the gdb stub listens, in QEMU's -gdb spellings:
 *   tcp:HOST:PORT   HOST a name or address ([::1] for IPv6), empty for
 *                   127.0.0.1; PORT 0 picks a free port
 *   unix:PATH       a Unix socket (a stale socket at PATH is replaced)
 * and -s, which is tcp:127.0.0.1:1234.
 */
#ifndef MINIVMM_DEBUG_GDB_LISTEN_H
#define MINIVMM_DEBUG_GDB_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#define GDB_DEFAULT_LISTEN "tcp:127.0.0.1:1234"

struct gdb_listen {
	bool is_unix;
	char host[256];    /* tcp */
	char port[8];      /* tcp, decimal 0..65535 */
	char path[108];    /* unix: sockaddr_un's sun_path */
};

/* 0, or -EINVAL with the reason in why (for the usage error). */
int gdb_listen_parse(const char *spec, struct gdb_listen *out, char *why, size_t why_len);

/* A listening socket (close-on-exec); -errno with one line logged.  The
 * address it really listens on (the port when 0 was asked) goes to where. */
int gdb_listen_open(const struct gdb_listen *l, char *where, size_t where_len);

#endif

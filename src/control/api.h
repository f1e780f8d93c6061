/* SPDX-License-Identifier: MIT */
/*
 * The control socket (--api-sock PATH): a Unix stream socket, mode 0600,
 * speaking one JSON object per line each way, in the spirit of QEMU's QMP:
 *
 *   -> {"execute": "snapshot", "arguments": {"dir": "/tmp/s"}, "id": 7}
 *   <- {"return": {...}, "id": 7}
 *   <- {"error": {"class": "GenericError", "desc": "..."}, "id": 7}
 *
 * The server is served by whoever polls api_server_fd() (the VM's main
 * thread) and never blocks: every client is non-blocking, a line is at most
 * API_LINE_MAX bytes (a longer one gets an error and the client is
 * dropped), replies a client does not read are bounded too, and at most
 * API_MAX_CLIENTS are connected.  Nothing a client sends can stop the VMM.
 */
#ifndef MINIVMM_CONTROL_API_H
#define MINIVMM_CONTROL_API_H

#include <stddef.h>

#include <jansson.h>

#define API_LINE_MAX      (64u << 10)
#define API_OUT_MAX       (4u << 20)
#define API_MAX_CLIENTS   16

struct api_handlers {
	/* Run one command: a new reference to its "return" value, or NULL
	 * with a one-line reason in why.  args is an object or NULL. */
	json_t *(*execute)(void *ctx, const char *cmd, json_t *args, char *why, size_t why_len);
	void *ctx;
};

struct api_server;

/* Listen on path (an existing socket file there is replaced; anything else
 * is an error).  0 or -errno, logged. */
int api_server_create(const char *path, const struct api_handlers *h, struct api_server **out)
	__attribute__((warn_unused_result));
/* One descriptor to poll for POLLIN; then call api_server_dispatch. */
int api_server_fd(const struct api_server *srv);
void api_server_dispatch(struct api_server *srv);
/* Close every client and the socket, and remove the socket file. */
void api_server_destroy(struct api_server *srv);

/* One request line to one reply line (malloc'd, no newline): the whole
 * protocol without sockets, for the unit tests. */
char *api_handle_line(const struct api_handlers *h, const char *line, size_t len);

/* `minivmm ctl PATH COMMAND [JSON]`: one request, the reply's value on
 * stdout; exit status 0, 1 (an error reply or no VMM), 2 (usage). */
int api_ctl_main(int argc, char **argv);

#endif

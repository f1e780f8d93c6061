// SPDX-License-Identifier: MIT
/* The control socket's server side (control/api.h). */
#include "control/api.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"

struct api_client {
	int fd;
	char *in;                 /* a partial line */
	size_t in_len;
	char *out;                /* replies not yet sent */
	size_t out_len, out_off;
	bool closing;             /* after an error reply: input is discarded */
	bool shut;                /* ... and the reply sent (SHUT_WR) */
};

struct api_server {
	struct api_handlers h;
	int listen_fd;
	int epoll_fd;
	char path[108];
	struct api_client clients[API_MAX_CLIENTS];
	struct log_ratelimit rl;
};

static char *reply_error(json_t *id, const char *cls, const char *desc)
{
	json_t *r = json_pack("{s:{s:s,s:s}}", "error", "class", cls, "desc", desc);
	char *s;

	if (r && id)
		json_object_set(r, "id", id);
	s = r ? json_dumps(r, JSON_COMPACT) : NULL;
	json_decref(r);
	return s;
}

char *api_handle_line(const struct api_handlers *h, const char *line, size_t len)
{
	json_t *req, *id, *args, *ret, *r;
	const char *cmd;
	json_error_t jerr;
	char why[512], *s;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req) {
		snprintf(why, sizeof(why), "not JSON: %s (column %d)", jerr.text, jerr.column);
		return reply_error(NULL, "ParseError", why);
	}
	id = json_object_get(req, "id");
	cmd = json_string_value(json_object_get(req, "execute"));
	args = json_object_get(req, "arguments");
	if (!json_is_object(req) || !cmd) {
		s = reply_error(json_is_object(req) ? id : NULL, "BadRequest",
				"expected {\"execute\": COMMAND[, \"arguments\": {...}]}");
		json_decref(req);
		return s;
	}
	if (args && !json_is_object(args)) {
		s = reply_error(id, "BadRequest", "\"arguments\" must be an object");
		json_decref(req);
		return s;
	}
	why[0] = 0;
	ret = h->execute(h->ctx, cmd, args, why, sizeof(why));
	if (!ret) {
		s = reply_error(id, "GenericError", why[0] ? why : "failed");
		json_decref(req);
		return s;
	}
	r = json_pack("{s:o}", "return", ret);
	if (r && id)
		json_object_set(r, "id", id);
	s = r ? json_dumps(r, JSON_COMPACT) : NULL;
	json_decref(r);
	json_decref(req);
	return s;
}

/* ---- clients ------------------------------------------------------------- */

/* Reads spent finishing one hung-up client when the table is full (4 KiB
 * each: more than a Unix socket buffers). */
#define API_REAP_READS 512

static void client_drop(struct api_server *srv, struct api_client *c)
{
	epoll_ctl(srv->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	*c = (struct api_client){ .fd = -1 };
}

static void client_watch(struct api_server *srv, struct api_client *c)
{
	struct epoll_event ev = {
		.events = EPOLLIN | (c->out_len > c->out_off ? EPOLLOUT : 0),
		.data.ptr = c,
	};

	epoll_ctl(srv->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Queue text and a newline; false when the client reads too little. */
static bool client_queue(struct api_client *c, const char *text)
{
	size_t n = strlen(text), pending = c->out_len - c->out_off;
	char *out;

	if (pending + n + 1 > API_OUT_MAX)
		return false;
	out = malloc(pending + n + 1);
	if (!out)
		return false;
	if (pending)
		memcpy(out, c->out + c->out_off, pending);
	memcpy(out + pending, text, n);
	out[pending + n] = '\n';
	free(c->out);
	c->out = out;
	c->out_len = pending + n + 1;
	c->out_off = 0;
	return true;
}

static bool client_flush(struct api_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
		c->out_off += (size_t)n;
	}
	return true;
}

static bool client_reply(struct api_server *srv, struct api_client *c, char *text)
{
	bool ok = text && client_queue(c, text);

	free(text);
	if (!ok && log_ratelimit_ok(&srv->rl, "control socket"))
		log_warn("control socket: a client does not read its replies; dropped");
	return ok;
}

/* Every complete line in c->in. */
static bool client_lines(struct api_server *srv, struct api_client *c)
{
	size_t start = 0;
	char *nl;

	while ((nl = memchr(c->in + start, '\n', c->in_len - start))) {
		size_t len = (size_t)(nl - (c->in + start));

		if (len && !client_reply(srv, c, api_handle_line(&srv->h, c->in + start, len)))
			return false;
		start += len + 1;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	if (c->in_len >= API_LINE_MAX) {
		client_reply(srv, c, reply_error(NULL, "BadRequest", "line too long"));
		c->closing = true;
		c->in_len = 0;
	}
	return true;
}

static void client_event(struct api_server *srv, struct api_client *c, uint32_t events)
{
	bool alive = true;

	if ((events & EPOLLIN) && c->closing) {
		/* Discard what a client that was told off still sends, so that it
		 * can read the reply before it sees the end of the stream. */
		char scratch[4096];
		ssize_t n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);

		alive = n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
	} else if (events & EPOLLIN) {
		ssize_t n = recv(c->fd, c->in + c->in_len, API_LINE_MAX - c->in_len, MSG_DONTWAIT);

		if (n > 0) {
			c->in_len += (size_t)n;
			alive = client_lines(srv, c);
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			alive = false;
		}
	}
	if (alive)
		alive = client_flush(c);
	if (!alive) {
		client_drop(srv, c);
		return;
	}
	if (c->closing && !c->shut && c->out_off == c->out_len) {
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
	client_watch(srv, c);
}

/*
 * A full table may still hold clients that have hung up but whose end of
 * stream has not been read yet (a flooding client leaves up to a socket
 * buffer of input behind it). Finish those now, so that a client that
 * closed its connection never makes a new one be told "busy".
 */
static void reap_hung_up(struct api_server *srv)
{
	for (unsigned int i = 0; i < API_MAX_CLIENTS; i++) {
		struct api_client *c = &srv->clients[i];
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN | POLLRDHUP };

		if (c->fd < 0 || poll(&pfd, 1, 0) != 1 || !(pfd.revents & (POLLRDHUP | POLLHUP)))
			continue;
		/* Bounded: at most API_REAP_READS reads per hung-up client. */
		for (unsigned int n = 0; n < API_REAP_READS && c->fd >= 0; n++)
			client_event(srv, c, EPOLLIN);
	}
}

static void accept_one(struct api_server *srv)
{
	int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct api_client *c = NULL;
	struct epoll_event ev = { .events = EPOLLIN };

	if (fd < 0)
		return;
	for (int pass = 0; pass < 2 && !c; pass++) {
		if (pass)
			reap_hung_up(srv);
		for (unsigned int i = 0; i < API_MAX_CLIENTS && !c; i++)
			if (srv->clients[i].fd < 0)
				c = &srv->clients[i];
	}
	if (c)
		c->in = malloc(API_LINE_MAX);
	if (!c || !c->in) {
		static const char busy[] =
			"{\"error\":{\"class\":\"Busy\",\"desc\":\"too many clients\"}}\n";

		if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			(void)0;
		close(fd);
		return;
	}
	c->fd = fd;
	ev.data.ptr = c;
	if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, fd, &ev))
		client_drop(srv, c);
}

void api_server_dispatch(struct api_server *srv)
{
	struct epoll_event evs[API_MAX_CLIENTS + 1];
	int n = epoll_wait(srv->epoll_fd, evs, API_MAX_CLIENTS + 1, 0);

	bool accept = false;

	/* Clients first: one that hung up frees its slot for a new one. */
	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr == srv)
			accept = true;
		else if (((struct api_client *)evs[i].data.ptr)->fd >= 0)
			client_event(srv, evs[i].data.ptr, evs[i].events);
	}
	if (accept)
		accept_one(srv);
}

int api_server_fd(const struct api_server *srv)
{
	return srv->epoll_fd;
}

int api_server_create(const char *path, const struct api_handlers *h, struct api_server **out)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	struct api_server *srv;
	struct stat st;
	int err;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_err("--api-sock %s: path too long for a Unix socket", path);
		return -ENAMETOOLONG;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("--api-sock %s: exists and is not a socket", path);
			return -EEXIST;
		}
		unlink(path);
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->h = *h;
	srv->epoll_fd = -1;
	snprintf(srv->path, sizeof(srv->path), "%s", path);
	for (unsigned int i = 0; i < API_MAX_CLIENTS; i++)
		srv->clients[i].fd = -1;
	strcpy(addr.sun_path, path);
	srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->listen_fd < 0 || fchmod(srv->listen_fd, 0600) ||
	    bind(srv->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    chmod(path, 0600) || listen(srv->listen_fd, 8))
		goto fail;
	srv->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	ev.data.ptr = srv;
	if (srv->epoll_fd < 0 || epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, srv->listen_fd, &ev))
		goto fail;
	*out = srv;
	return 0;
fail:
	err = -errno;
	log_err("--api-sock %s: %s", path, strerror(errno));
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->epoll_fd >= 0)
		close(srv->epoll_fd);
	free(srv);
	return err;
}

void api_server_destroy(struct api_server *srv)
{
	if (!srv)
		return;
	for (unsigned int i = 0; i < API_MAX_CLIENTS; i++)
		if (srv->clients[i].fd >= 0)
			client_drop(srv, &srv->clients[i]);
	close(srv->listen_fd);
	close(srv->epoll_fd);
	unlink(srv->path);
	free(srv);
}

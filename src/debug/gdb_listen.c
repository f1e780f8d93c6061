// SPDX-License-Identifier: MIT
/* The gdb stub's listening socket (gdb_listen.h). */
#include "debug/gdb_listen.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"

__attribute__((format(printf, 3, 4)))
static int bad(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_tcp(const char *s, struct gdb_listen *out, char *why, size_t why_len)
{
	const char *colon, *host = s;
	size_t host_len;
	char *end;
	unsigned long port;

	if (*s == '[') {	/* [IPv6]:PORT */
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return bad(why, why_len, "'%s': expected [ADDRESS]:PORT", s);
		host = s + 1;
		host_len = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return bad(why, why_len, "'tcp:%s': expected tcp:HOST:PORT", s);
		host_len = (size_t)(colon - s);
	}
	if (host_len >= sizeof(out->host))
		return bad(why, why_len, "host name too long (%zu bytes, at most %zu)", host_len,
			   sizeof(out->host) - 1);
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port > 65535 || colon[1] == '-' || colon[1] == '+')
		return bad(why, why_len, "'%s' is not a port number (0-65535)", colon + 1);
	memcpy(out->host, host, host_len);
	out->host[host_len] = 0;
	if (!host_len)
		snprintf(out->host, sizeof(out->host), "127.0.0.1");
	snprintf(out->port, sizeof(out->port), "%lu", port);
	return 0;
}

int gdb_listen_parse(const char *spec, struct gdb_listen *out, char *why, size_t why_len)
{
	memset(out, 0, sizeof(*out));
	if (!strncmp(spec, "tcp:", 4))
		return parse_tcp(spec + 4, out, why, why_len);
	if (!strncmp(spec, "unix:", 5)) {
		const char *path = spec + 5;

		if (!*path)
			return bad(why, why_len, "'%s': expected unix:PATH", spec);
		if (strlen(path) >= sizeof(out->path))
			return bad(why, why_len, "socket path too long (%zu bytes, at most %zu)",
				   strlen(path), sizeof(out->path) - 1);
		out->is_unix = true;
		snprintf(out->path, sizeof(out->path), "%s", path);
		return 0;
	}
	return bad(why, why_len, "'%s' is not tcp:HOST:PORT or unix:PATH", spec);
}

static int open_unix(const struct gdb_listen *l, char *where, size_t where_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, err;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", l->path);
	/* Replace a socket left behind by an earlier run, nothing else. */
	if (lstat(l->path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(l->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1)) {
		err = -errno;
		log_err("gdb: cannot listen on unix:%s: %s", l->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return err;
	}
	snprintf(where, where_len, "unix:%s", l->path);
	return fd;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int open_tcp(const struct gdb_listen *l, char *where, size_t where_len)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai, *a;
	int fd = -1, err, one = 1;

	err = getaddrinfo(l->host, l->port, &hints, &ai);
	if (err) {
		log_err("gdb: cannot listen on tcp:%s:%s: %s", l->host, l->port, gai_strerror(err));
		return -EINVAL;
	}
	err = -EADDRNOTAVAIL;
	for (a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 1)) {
			err = -errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		log_err("gdb: cannot listen on tcp:%s:%s: %s", l->host, l->port, strerror(-err));
		return err;
	}
	snprintf(where, where_len, "tcp:%s%s%s:%d", strchr(l->host, ':') ? "[" : "", l->host,
		 strchr(l->host, ':') ? "]" : "", bound_port(fd));
	return fd;
}

int gdb_listen_open(const struct gdb_listen *l, char *where, size_t where_len)
{
	return l->is_unix ? open_unix(l, where, where_len) : open_tcp(l, where, where_len);
}

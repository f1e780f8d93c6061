// SPDX-License-Identifier: MIT
/* `minivmm ctl PATH COMMAND [JSON]`: the control socket's client, so shell
 * scripts need neither socat nor a JSON library (control/api.h). */
#include "control/api.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CTL_TIMEOUT_MS 600000   /* a snapshot of a large guest takes a while */

static int usage(void)
{
	fputs("usage: minivmm ctl SOCKET COMMAND [ARGUMENTS-JSON]\n"
	      "commands: status, pause, resume, stats, snapshot {\"dir\": DIR}, quit,\n"
	      "          send-console {\"data\": TEXT}, inject-nmi\n", stderr);
	return 2;
}

static int connect_to(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One reply line (malloc'd), or NULL. */
static char *read_line(int fd)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);

	while (buf) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		char *nl;

		if (poll(&p, 1, CTL_TIMEOUT_MS) <= 0)
			break;
		if (len + 1 >= cap) {
			char *b = cap < API_OUT_MAX ? realloc(buf, cap * 2) : NULL;

			if (!b)
				break;
			buf = b;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = 0;
		nl = strchr(buf, '\n');
		if (nl) {
			*nl = 0;
			return buf;
		}
	}
	free(buf);
	return NULL;
}

int api_ctl_main(int argc, char **argv)
{
	json_t *req, *args = NULL, *reply, *err;
	json_error_t jerr;
	char *line, *text;
	int fd, status = 1;

	if (argc < 3 || argc > 4 || argv[1][0] == '-')
		return usage();
	if (argc == 4) {
		args = json_loads(argv[3], 0, &jerr);
		if (!json_is_object(args)) {
			fprintf(stderr, "minivmm ctl: the arguments must be a JSON object: %s\n",
				args ? "not an object" : jerr.text);
			json_decref(args);
			return 2;
		}
	}
	req = json_pack("{s:s}", "execute", argv[2]);
	if (args)
		json_object_set_new(req, "arguments", args);
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	fd = connect_to(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "minivmm ctl: cannot reach %s: %s\n", argv[1], strerror(-fd));
		free(text);
		return 1;
	}
	if (!text || send_all(fd, text, strlen(text)) || send_all(fd, "\n", 1)) {
		fprintf(stderr, "minivmm ctl: cannot send to %s\n", argv[1]);
		free(text);
		close(fd);
		return 1;
	}
	free(text);
	line = read_line(fd);
	close(fd);
	reply = line ? json_loads(line, 0, &jerr) : NULL;
	free(line);
	if (!json_is_object(reply)) {
		fprintf(stderr, "minivmm ctl: no reply from %s\n", argv[1]);
	} else if ((err = json_object_get(reply, "error"))) {
		fprintf(stderr, "minivmm ctl: %s\n",
			json_string_value(json_object_get(err, "desc")) ?: "error");
	} else {
		text = json_dumps(json_object_get(reply, "return"),
				  JSON_INDENT(1) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		if (text)
			printf("%s\n", text);
		free(text);
		status = 0;
	}
	json_decref(reply);
	return status;
}

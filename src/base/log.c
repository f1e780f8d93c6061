// SPDX-License-Identifier: MIT
#include "base/log.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

static FILE *log_sink;
static enum log_level log_level = LOG_INFO;

void log_set_level(enum log_level level)
{
	log_level = level;
}

void log_set_sink(FILE *sink)
{
	log_sink = sink;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = {
		[LOG_ERROR] = "", [LOG_WARN] = "warning: ",
		[LOG_INFO] = "", [LOG_DEBUG] = "debug: ",
	};
	FILE *out = log_sink ? log_sink : stderr;
	char line[1024];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line so lines from different threads never mix. */
	fprintf(out, "minivmm: %s%s\n", prefix[level], line);
	fflush(out);
}

bool log_ratelimit_ok(struct log_ratelimit *rl, const char *what)
{
	unsigned int n = atomic_fetch_add(&rl->count, 1);

	if (n < rl->burst)
		return true;
	if (n == rl->burst)
		log_warn("further %s messages suppressed", what);
	return false;
}

const char *log_shown(const char *s, char out[LOG_SHOWN_MAX + 4])
{
	size_t i;

	for (i = 0; s[i] && i < LOG_SHOWN_MAX; i++)
		out[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	strcpy(out + i, s[i] ? "..." : "");
	return out;
}

int log_refusal(char *buf, size_t buf_len, const char *prefix, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!buf)
		log_err("%s: %s", prefix, line);
	else if (buf_len)
		snprintf(buf, buf_len, "%s: %s", prefix, line);
	return -EINVAL;
}

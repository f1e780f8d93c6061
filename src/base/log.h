/* SPDX-License-Identifier: MIT */
/*
 * Logging to one sink (stderr by default).  Every message is one line
 * prefixed with "minivmm: ".  The guest console owns stdout.
 */
#ifndef MINIVMM_LOG_H
#define MINIVMM_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
void log_set_sink(FILE *sink);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * Rate limiting for anything a guest can trigger: the first `burst`
 * occurrences are logged, then one "further ... suppressed" line.
 */
struct log_ratelimit {
	atomic_uint count;
	unsigned int burst;
};

#define LOG_RATELIMIT_INIT(b) { .count = 0, .burst = (b) }

/* Returns true when this occurrence should be logged. */
bool log_ratelimit_ok(struct log_ratelimit *rl, const char *what);

/* A user-given value as a message may quote it: printable (others become
 * '?') and at most LOG_SHOWN_MAX bytes, then "...". */
#define LOG_SHOWN_MAX 40
const char *log_shown(const char *s, char out[LOG_SHOWN_MAX + 4]);

/* A parser's one-line refusal "PREFIX: message": into buf (buf_len bytes,
 * may be 0) when buf is given, else logged with log_err.  -EINVAL. */
int log_refusal(char *buf, size_t buf_len, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif

// SPDX-License-Identifier: MIT
/*
 * The -drive parser.  Options are key=value pairs separated by commas; in a
 * value ",," stands for one comma (QEMU's escaping), so a value ends at the
 * first comma that is not doubled.  Anything surprising is refused rather
 * than guessed: unknown keys, repeated keys, empty options (stray or
 * trailing commas), options without '=', and values too long for their
 * field.
 */
#include "backends/block/drive.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"

#define DRIVE_KEY_MAX 16      /* longer than any known key */

enum drive_key { KEY_FILE, KEY_IF, KEY_FORMAT, KEY_READONLY, KEY_CACHE, KEY_AIO,
		 KEY_SERIAL, KEY_ID, NR_KEYS };

static const char *const drive_keys[NR_KEYS] = {
	[KEY_FILE] = "file", [KEY_IF] = "if", [KEY_FORMAT] = "format",
	[KEY_READONLY] = "readonly", [KEY_CACHE] = "cache", [KEY_AIO] = "aio",
	[KEY_SERIAL] = "serial", [KEY_ID] = "id",
};

static const char *const cache_names[] = {
	[DRIVE_CACHE_WRITEBACK] = "writeback", [DRIVE_CACHE_NONE] = "none",
	[DRIVE_CACHE_UNSAFE] = "unsafe",
};

static const char *const aio_names[] = {
	[DRIVE_AIO_IO_URING] = "io_uring", [DRIVE_AIO_THREADS] = "threads",
};

struct drive_err {
	char *buf;
	size_t len;
};

#define drive_fail(e, ...) log_refusal((e)->buf, (e)->len, "-drive", __VA_ARGS__)

static int pick(const char *const *names, int n, const char *v)
{
	for (int i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], v))
			return i;
	return -1;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "on", "yes", "true" };
	static const char *const no[] = { "off", "no", "false" };

	if (pick(yes, 3, v) >= 0)
		*out = true;
	else if (pick(no, 3, v) >= 0)
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static bool valid_serial(const char *v)
{
	for (; *v; v++)
		if (*v < 0x20 || *v > 0x7e)
			return false;
	return true;
}

/* QEMU's id rule: a letter, then letters, digits, '-', '.', '_'. */
static bool valid_id(const char *v)
{
	if (!isalpha((unsigned char)*v))
		return false;
	for (; *v; v++)
		if (!isalnum((unsigned char)*v) && !strchr("-._", *v))
			return false;
	return true;
}

static int set_enum(struct drive_err *e, const char *key, const char *v,
		    const char *const *names, int n, const char *accepted, int *out)
{
	char q[LOG_SHOWN_MAX + 4];
	int i = pick(names, n, v);

	if (i < 0)
		return drive_fail(e, "%s=%s is not supported (%s)", key, log_shown(v, q), accepted);
	*out = i;
	return 0;
}

static int set_option(struct drive_err *e, enum drive_key k, const char *v,
		      size_t vlen, struct drive_config *cfg)
{
	char q[LOG_SHOWN_MAX + 4];
	int r = 0, i = 0;

	switch (k) {
	case KEY_FILE:
		if (!*v)
			return drive_fail(e, "file= is empty");
		if (vlen >= sizeof(cfg->file))
			return drive_fail(e, "file= is longer than %zu bytes", sizeof(cfg->file) - 1);
		memcpy(cfg->file, v, vlen + 1);
		return 0;
	case KEY_IF:
		if (strcmp(v, "virtio"))
			return drive_fail(e, "if=%s is not supported (only if=virtio)", log_shown(v, q));
		return 0;
	case KEY_FORMAT:
		if (strcmp(v, "raw"))
			return drive_fail(e, "format=%s is not supported: minivmm reads raw images "
					  "only; convert with qemu-img convert -O raw", log_shown(v, q));
		cfg->format_given = true;
		return 0;
	case KEY_READONLY:
		if (parse_bool(v, &cfg->readonly))
			return drive_fail(e, "readonly=%s: expected on or off", log_shown(v, q));
		return 0;
	case KEY_CACHE:
		r = set_enum(e, "cache", v, cache_names, 3, "none, writeback or unsafe", &i);
		cfg->cache = r ? cfg->cache : (enum drive_cache)i;
		return r;
	case KEY_AIO:
		r = set_enum(e, "aio", v, aio_names, 2, "io_uring or threads", &i);
		cfg->aio = r ? cfg->aio : (enum drive_aio)i;
		cfg->aio_given = true;
		return r;
	case KEY_SERIAL:
		if (vlen > DRIVE_SERIAL_MAX)
			return drive_fail(e, "serial= is longer than %d bytes", DRIVE_SERIAL_MAX);
		if (!valid_serial(v))
			return drive_fail(e, "serial= must be printable ASCII");
		memcpy(cfg->serial, v, vlen + 1);
		return 0;
	case KEY_ID:
		if (vlen > DRIVE_ID_MAX || !valid_id(v))
			return drive_fail(e, "id=%s: expected a letter, then letters, digits, "
					  "'-', '.' or '_' (at most %d)", log_shown(v, q), DRIVE_ID_MAX);
		memcpy(cfg->id, v, vlen + 1);
		return 0;
	case NR_KEYS:
		break;
	}
	return -EINVAL;
}

/*
 * Copies the value starting at *p into val (undoubling ",,"), leaving *p at
 * the separating comma or the end.  -E2BIG when it does not fit.
 */
static int take_value(const char **p, char *val, size_t size, size_t *len)
{
	const char *s = *p;
	size_t n = 0;

	while (*s && !(s[0] == ',' && s[1] != ',')) {
		if (n + 1 >= size)
			return -E2BIG;
		val[n++] = *s;
		s += (s[0] == ',') ? 2 : 1;
	}
	val[n] = '\0';
	*len = n;
	*p = s;
	return 0;
}

static int parse_one(struct drive_err *e, const char **p, char *val, size_t val_size,
		     unsigned int *seen, struct drive_config *cfg)
{
	char q[LOG_SHOWN_MAX + 4], key[DRIVE_KEY_MAX + 1];
	size_t klen = strcspn(*p, "=,"), vlen;
	int k;

	if (klen == 0)
		return drive_fail(e, (**p == '=') ? "an option has no name" :
				  "empty option (stray or trailing comma?)");
	snprintf(key, sizeof(key), "%.*s", (int)(klen < DRIVE_KEY_MAX ? klen : DRIVE_KEY_MAX), *p);
	if ((*p)[klen] != '=')
		return drive_fail(e, "option '%s' has no value (expected key=value)",
				  log_shown(key, q));
	k = (klen <= DRIVE_KEY_MAX) ? pick(drive_keys, NR_KEYS, key) : -1;
	if (k < 0)
		return drive_fail(e, "unknown option '%s' (known: file, if, format, readonly, "
				  "cache, aio, serial, id)", log_shown(key, q));
	if (*seen & (1u << k))
		return drive_fail(e, "option '%s' is given twice", key);
	*seen |= 1u << k;
	*p += klen + 1;
	if (take_value(p, val, val_size, &vlen))
		return drive_fail(e, "the value of '%s' is too long", key);
	return set_option(e, (enum drive_key)k, val, vlen, cfg);
}

int drive_parse(const char *spec, struct drive_config *cfg, char *err, size_t err_len)
{
	struct drive_err e = { err, err_len };
	char val[PATH_MAX + 2];     /* one more than file= takes */
	unsigned int seen = 0;
	const char *p = spec;
	int r;

	if (err && err_len)
		err[0] = '\0';
	memset(cfg, 0, sizeof(*cfg));
	cfg->cache = DRIVE_CACHE_WRITEBACK;
	cfg->aio = DRIVE_AIO_IO_URING;
	if (!spec || !*spec)
		return drive_fail(&e, "empty drive description (expected file=IMG,if=virtio)");
	for (;;) {
		r = parse_one(&e, &p, val, sizeof(val), &seen, cfg);
		if (r)
			return r;
		if (!*p)
			break;
		p++;            /* the separating comma */
	}
	if (!(seen & (1u << KEY_FILE)))
		return drive_fail(&e, "missing file=IMG");
	if (!(seen & (1u << KEY_IF)))
		return drive_fail(&e, "missing if=virtio (QEMU's default, if=ide, is not emulated)");
	return 0;
}

const char *drive_cache_name(enum drive_cache cache)
{
	return (unsigned int)cache < 3 ? cache_names[cache] : "?";
}

const char *drive_aio_name(enum drive_aio aio)
{
	return (unsigned int)aio < 2 ? aio_names[aio] : "?";
}

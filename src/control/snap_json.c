// SPDX-License-Identifier: MIT
#include "control/snap_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *node(struct snap *s)
{
	return s->node;
}

static void put(struct snap *s, const char *name, json_t *v)
{
	if (!v || json_object_set_new(node(s), name, v))
		snap_fail(s, name, -ENOMEM, "out of memory");
}

/* The field, or NULL with the error latched. */
static json_t *get(struct snap *s, const char *name, json_type type)
{
	json_t *v = json_object_get(node(s), name);

	if (!v)
		snap_fail(s, name, -ENOENT, "missing from the snapshot");
	else if (json_typeof(v) != type) {
		snap_fail(s, name, -EINVAL, "has the wrong type");
		v = NULL;
	}
	return v;
}

static void do_u64(struct snap *s, const char *name, uint64_t *v)
{
	char buf[24], *end;
	const char *str;
	json_t *j;

	if (snap_saving(s)) {
		snprintf(buf, sizeof(buf), "0x%" PRIx64, *v);
		put(s, name, json_string(buf));
		return;
	}
	j = get(s, name, JSON_STRING);
	if (!j)
		return;
	str = json_string_value(j);
	errno = 0;
	if (strncmp(str, "0x", 2) || !str[2] || strlen(str) > 18) {
		snap_fail(s, name, -EINVAL, "not a 0x-prefixed 64-bit number");
		return;
	}
	*v = strtoull(str + 2, &end, 16);
	if (*end || errno)
		snap_fail(s, name, -EINVAL, "not a 0x-prefixed 64-bit number");
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void do_bytes(struct snap *s, const char *name, void *buf, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t *b = buf;
	const char *str;
	json_t *j;

	if (snap_saving(s)) {
		char *hex = malloc(2 * len + 1);

		if (!hex) {
			snap_fail(s, name, -ENOMEM, "out of memory");
			return;
		}
		for (size_t i = 0; i < len; i++) {
			hex[2 * i] = digits[b[i] >> 4];
			hex[2 * i + 1] = digits[b[i] & 15];
		}
		hex[2 * len] = 0;
		put(s, name, json_stringn(hex, 2 * len));
		free(hex);
		return;
	}
	j = get(s, name, JSON_STRING);
	if (!j)
		return;
	str = json_string_value(j);
	if (json_string_length(j) != 2 * len) {
		snap_fail(s, name, -EINVAL, "holds %zu bytes, %zu expected",
			  json_string_length(j) / 2, len);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(str[2 * i]), lo = hexval(str[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			snap_fail(s, name, -EINVAL, "not lowercase hex");
			return;
		}
		b[i] = (uint8_t)(hi << 4 | lo);
	}
}

static size_t do_bytes_len(struct snap *s, const char *name)
{
	json_t *j = get(s, name, JSON_STRING);

	if (j && json_string_length(j) % 2) {
		snap_fail(s, name, -EINVAL, "odd number of hex digits");
		return 0;
	}
	return j ? json_string_length(j) / 2 : 0;
}

static bool do_enter(struct snap *s, const char *name, struct snap *child)
{
	json_t *o;

	if (snap_saving(s)) {
		o = json_object();
		if (!o || json_object_set_new(node(s), name, o)) {
			snap_fail(s, name, -ENOMEM, "out of memory");
			return false;
		}
	} else {
		o = get(s, name, JSON_OBJECT);
		if (!o)
			return false;
	}
	child->node = o;
	return true;
}

static void do_leave(struct snap *child)
{
	(void)child;    /* the parent holds the reference */
}

static const struct snap_ops json_ops = {
	.u64 = do_u64, .bytes = do_bytes, .bytes_len = do_bytes_len,
	.enter = do_enter, .leave = do_leave,
};

void snap_json_save(struct snap *root, struct snap_status *st, json_t *obj)
{
	*st = (struct snap_status){ .saving = true };
	*root = (struct snap){ .ops = &json_ops, .node = obj, .st = st };
}

void snap_json_load(struct snap *root, struct snap_status *st, json_t *obj)
{
	*st = (struct snap_status){ .saving = false };
	*root = (struct snap){ .ops = &json_ops, .node = obj, .st = st };
}

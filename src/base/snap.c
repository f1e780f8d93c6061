// SPDX-License-Identifier: MIT
/* The typed front of struct snap: range checks on load, the error latch. */
#include "base/snap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

void snap_fail(struct snap *s, const char *name, int err, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (s->st->err)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->st->err = err ? err : -EINVAL;
	if (snprintf(s->st->why, sizeof(s->st->why), "%s%s%s: %s", s->path,
		     s->path[0] && name ? "." : "", name ? name : "", msg) >= (int)sizeof(s->st->why))
		s->st->why[sizeof(s->st->why) - 1] = 0; /* truncated: still one line */
}

void snap_u64(struct snap *s, const char *name, uint64_t *v)
{
	if (!s->st->err)
		s->ops->u64(s, name, v);
}

/* Load-side range check shared by the narrow types. */
static bool narrow(struct snap *s, const char *name, uint64_t *x, uint64_t max)
{
	snap_u64(s, name, x);
	if (s->st->err)
		return false;
	if (*x > max) {
		snap_fail(s, name, -ERANGE, "0x%llx is out of range (at most 0x%llx)",
			  (unsigned long long)*x, (unsigned long long)max);
		return false;
	}
	return true;
}

void snap_u32(struct snap *s, const char *name, uint32_t *v)
{
	uint64_t x = *v;

	if (narrow(s, name, &x, UINT32_MAX))
		*v = (uint32_t)x;
}

void snap_u16(struct snap *s, const char *name, uint16_t *v)
{
	uint64_t x = *v;

	if (narrow(s, name, &x, UINT16_MAX))
		*v = (uint16_t)x;
}

void snap_u8(struct snap *s, const char *name, uint8_t *v)
{
	uint64_t x = *v;

	if (narrow(s, name, &x, UINT8_MAX))
		*v = (uint8_t)x;
}

void snap_bool(struct snap *s, const char *name, bool *v)
{
	uint64_t x = *v;

	if (narrow(s, name, &x, 1))
		*v = x != 0;
}

void snap_uint(struct snap *s, const char *name, unsigned int *v, unsigned int limit)
{
	uint64_t x = *v;

	if (limit && narrow(s, name, &x, limit - 1))
		*v = (unsigned int)x;
}

void snap_bytes(struct snap *s, const char *name, void *buf, size_t len)
{
	if (!s->st->err)
		s->ops->bytes(s, name, buf, len);
}

size_t snap_bytes_len(struct snap *s, const char *name)
{
	return s->st->err ? 0 : s->ops->bytes_len(s, name);
}

bool snap_enter(struct snap *s, const char *name, struct snap *child)
{
	if (s->st->err)
		return false;
	*child = (struct snap){ .ops = s->ops, .st = s->st };
	if (snprintf(child->path, sizeof(child->path), "%s%s%s", s->path, s->path[0] ? "." : "",
		     name) >= (int)sizeof(child->path))
		child->path[sizeof(child->path) - 1] = 0;
	return s->ops->enter(s, name, child);
}

void snap_leave(struct snap *child)
{
	child->ops->leave(child);
}

/* SPDX-License-Identifier: MIT */
/*
 * Saving and restoring state with one function per component.
 *
 * A component (a device, a vCPU, the in-kernel irqchip) describes its state
 * once, field by field, in a function that takes a struct snap: while a
 * snapshot is taken each call copies the field into the document, while one
 * is restored each call copies it back.  The same function serves both
 * directions, so what is saved and what is restored cannot drift apart.
 *
 *	static void uart_visit(struct uart *u, struct snap *s)
 *	{
 *		snap_u8(s, "ier", &u->ier);
 *		snap_bytes(s, "rx", u->rx, sizeof(u->rx));
 *	}
 *
 * The document behind it is the implementation's (control/snap_json.c
 * writes JSON).  The first error (a field missing from the document, a
 * value out of range, a component refusing what it read) is latched with a
 * message naming the field; every later call does nothing, so components
 * check snap_failed() only where they act on what they read.
 */
#ifndef MINIVMM_BASE_SNAP_H
#define MINIVMM_BASE_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snap;

struct snap_ops {
	/* Every value is carried as a u64 or as bytes. */
	void (*u64)(struct snap *s, const char *name, uint64_t *v);
	/* Loading: the document must hold exactly len bytes. */
	void (*bytes)(struct snap *s, const char *name, void *buf, size_t len);
	/* Loading: how many bytes the document holds for name (0 when absent,
	 * and then the error is latched). */
	size_t (*bytes_len)(struct snap *s, const char *name);
	/* A named child object (created when saving). */
	bool (*enter)(struct snap *s, const char *name, struct snap *child);
	void (*leave)(struct snap *child);
};

/* Shared by every node of one document. */
struct snap_status {
	bool saving;
	int err;            /* 0, or the first -errno */
	char why[256];      /* the first error, naming the field */
};

struct snap {
	const struct snap_ops *ops;
	void *node;         /* the implementation's object */
	char path[96];      /* "vcpu0.lapic": for messages */
	struct snap_status *st;
};

static inline bool snap_saving(const struct snap *s)
{
	return s->st->saving;
}

static inline bool snap_failed(const struct snap *s)
{
	return s->st->err != 0;
}

/* Latch an error (the first one wins): "<path>.<name>: <message>". */
void snap_fail(struct snap *s, const char *name, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

void snap_u64(struct snap *s, const char *name, uint64_t *v);
void snap_u32(struct snap *s, const char *name, uint32_t *v);
void snap_u16(struct snap *s, const char *name, uint16_t *v);
void snap_u8(struct snap *s, const char *name, uint8_t *v);
void snap_bool(struct snap *s, const char *name, bool *v);
/* An unsigned int that must stay below limit when loaded. */
void snap_uint(struct snap *s, const char *name, unsigned int *v, unsigned int limit);
void snap_bytes(struct snap *s, const char *name, void *buf, size_t len);
/* Loading: the byte count the document holds for name (see ops). */
size_t snap_bytes_len(struct snap *s, const char *name);
/* A child object; false (error latched) when it cannot be entered.  Pair
 * every successful snap_enter with snap_leave. */
bool snap_enter(struct snap *s, const char *name, struct snap *child);
void snap_leave(struct snap *child);

#endif

/* SPDX-License-Identifier: MIT */
/* Small helpers every layer may use. */
#ifndef MINIVMM_BASE_UTIL_H
#define MINIVMM_BASE_UTIL_H

#include <stddef.h>

/* Elements of an array (not of a pointer: the compiler refuses those). */
#define ARRAY_SIZE(a) \
	(sizeof(a) / sizeof((a)[0]) + \
	 0 * sizeof(struct { int not_an_array : !__builtin_types_compatible_p( \
		__typeof__(a), __typeof__(&(a)[0])); }))

/* The structure that contains member *ptr. */
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#endif

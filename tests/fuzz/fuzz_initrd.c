// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: initrd_unpack (src/boot/initrd.c) on arbitrary bytes,
 * output capped at 8 MiB.  Invariants: no crash or sanitizer report; on
 * success the output is within the cap and either absent (the file goes
 * to the kernel untouched, with a reason) or a whole newc archive run
 * (starts with a cpio magic, 4-byte aligned length).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot/initrd.h"

#define CAP (8u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct initrd_unpacked u;
	uint8_t *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	if (initrd_unpack(copy, size, CAP, "fuzz", &u) == 0) {
		if (u.data && (u.len > CAP || u.len % 4 || u.len < 6 || memcmp(u.data, "07070", 5)))
			abort();
		if (!u.data && !u.why_untouched[0])
			abort();
		free(u.data);
	}
	free(copy);
	return 0;
}

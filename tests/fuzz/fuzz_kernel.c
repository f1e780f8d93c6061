// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: a kernel file (and, from the input's second half, an
 * initrd) through the real Linux load path -- format probing, the bzImage
 * setup header, the ELF loader, host-side decompression with its caps, PVH
 * notes, initrd unpacking and placement, the command line -- into 64 MiB of
 * guest RAM.  Invariants: no crash or sanitizer report; on success, every
 * address the loader reports lies inside guest RAM.
 * Input: [1 byte flags][kernel bytes][0xFE 0xED 0xFA 0xCE][initrd bytes].
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot/linux_boot.h"
#include "fake_mem.h"

static const uint8_t split[4] = { 0xFE, 0xED, 0xFA, 0xCE };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mem_map mem;
	static int ready;
	struct linux_boot_in in = { .cmdline = "console=ttyS0", .nr_vcpus = 2, .what = "fuzz" };
	struct linux_boot_out out;
	const uint8_t *sep;
	uint8_t *kernel, *initrd = NULL;
	size_t klen;

	if (!ready) {
		if (fake_mem_init(&mem, "single", 64ULL << 20))
			abort();
		ready = 1;
	}
	if (size < 1)
		return 0;
	in.host_decompress = !(data[0] & 1);
	in.pvh = data[0] & 2;
	data++;
	size--;
	sep = memmem(data, size, split, sizeof(split));
	klen = sep ? (size_t)(sep - data) : size;
	/* Exact-size copies: ASan sees any read past the end. */
	kernel = malloc(klen ? klen : 1);
	memcpy(kernel, data, klen);
	in.kernel = kernel;
	in.kernel_len = klen;
	if (sep) {
		size_t ilen = size - klen - sizeof(split);

		initrd = malloc(ilen ? ilen : 1);
		memcpy(initrd, sep + sizeof(split), ilen);
		in.initrd = initrd;
		in.initrd_len = ilen;
	}
	if (linux_boot_load(&mem, &in, &out) == 0) {
		uint64_t ram = 64ULL << 20;

		if (out.entry >= ram || out.boot_params >= ram || out.kernel_end > ram ||
		    out.initrd_start + out.initrd_size > ram)
			abort();
	}
	free(kernel);
	free(initrd);
	return 0;
}

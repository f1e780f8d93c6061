/* SPDX-License-Identifier: MIT */
/*
 * Watches the guest's console output for failure patterns minivmm can
 * explain better than the guest can.  Today: on PVM hosts a stock Linux
 * kernel's init dies at its first system call ("segfault at <entry> ip
 * <entry>" in kernel text), because SYSCALL from guest user space does not
 * reach guest ring 0 there (docs/booting-linux.md).
 */
#ifndef MINIVMM_GUEST_WATCH_H
#define MINIVMM_GUEST_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_watch {
	bool host_is_pvm;
	bool syscall_reported;
	size_t len;
	char line[256];
};

/* Feed console bytes; returns true when this call reported something. */
bool guest_watch_feed(struct guest_watch *w, const uint8_t *buf, size_t len);

/* The pattern test on one complete line (exposed for the unit tests). */
bool guest_watch_is_syscall_fault(const char *line);

#endif

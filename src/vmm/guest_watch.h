/* SPDX-License-Identifier: MIT */
/*
 * Watches the guest's console output for failure patterns minivmm can
 * explain better than the guest can, and for the lines that open a Linux
 * boot's phases.  Failures: on PVM hosts a stock Linux kernel's init dies
 * at its first system call ("segfault at <entry> ip <entry>" in kernel
 * text), because SYSCALL from guest user space does not reach guest ring 0
 * there (docs/booting-linux.md).  Phases (--stats counts exits per phase):
 * everything before the console's "Linux version" line (the kernel's own
 * decompressor, early set-up while printk still buffers), the kernel up to
 * "Run /init as init process", then init and user space.
 */
#ifndef MINIVMM_GUEST_WATCH_H
#define MINIVMM_GUEST_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum boot_phase { BOOT_PHASE_EARLY, BOOT_PHASE_KERNEL, BOOT_PHASE_INIT, BOOT_PHASES };

struct guest_watch {
	bool host_is_pvm;
	bool linux_phases;           /* follow a Linux boot's phases */
	enum boot_phase phase;       /* the current one */
	bool syscall_reported;
	size_t len;
	char line[256];
};

/* Feed console bytes; returns true when this call reported something. */
bool guest_watch_feed(struct guest_watch *w, const uint8_t *buf, size_t len);

/* The pattern test on one complete line (exposed for the unit tests). */
bool guest_watch_is_syscall_fault(const char *line);
/* The phase a console line opens, or -1. */
int guest_watch_line_phase(const char *line);
/* "early", "kernel", "init". */
const char *boot_phase_name(enum boot_phase phase);

#endif

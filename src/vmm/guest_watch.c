// SPDX-License-Identifier: MIT
#include "vmm/guest_watch.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"

/* Linux: "init[1]: segfault at ffffffff81200040 ip ffffffff81200040 ..." —
 * the faulting address is the instruction itself, in the kernel half. */
bool guest_watch_is_syscall_fault(const char *line)
{
	const char *p = strstr(line, "segfault at ");
	uint64_t at, ip;

	if (!p || sscanf(p, "segfault at %" SCNx64 " ip %" SCNx64, &at, &ip) != 2)
		return false;
	return at == ip && at >= 0xffff800000000000ULL;
}

int guest_watch_line_phase(const char *line)
{
	const char *run = strstr(line, "Run /");

	if (strstr(line, "Linux version "))
		return BOOT_PHASE_KERNEL;
	if (run && strstr(run, " as init process"))
		return BOOT_PHASE_INIT;
	return -1;
}

const char *boot_phase_name(enum boot_phase phase)
{
	static const char *const names[BOOT_PHASES] = { "early", "kernel", "init" };

	return phase < BOOT_PHASES ? names[phase] : "?";
}

static bool check_line(struct guest_watch *w)
{
	w->line[w->len] = '\0';
	if (w->linux_phases) {
		int p = guest_watch_line_phase(w->line);

		if (p > (int)w->phase)
			w->phase = (enum boot_phase)p;
	}
	if (!w->host_is_pvm || w->syscall_reported || !guest_watch_is_syscall_fault(w->line))
		return false;
	w->syscall_reported = true;
	log_err("the guest's first system call failed: on PVM hosts SYSCALL from guest user "
		"space does not reach the guest kernel; boot a kernel with minivmm's "
		"workaround (guests/linux/patches) or use a VMX/SVM host");
	return true;
}

bool guest_watch_feed(struct guest_watch *w, const uint8_t *buf, size_t len)
{
	bool reported = false;

	/* Nothing left to recognise: keep the console path free of it. */
	if ((!w->host_is_pvm || w->syscall_reported) &&
	    (!w->linux_phases || w->phase == BOOT_PHASE_INIT))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n' || buf[i] == '\r') {
			reported |= check_line(w);
			w->len = 0;
		} else if (w->len < sizeof(w->line) - 1) {
			w->line[w->len++] = (char)buf[i];
		}
	}
	return reported;
}

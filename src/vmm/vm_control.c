// SPDX-License-Identifier: MIT
/* The control socket's commands and --snapshot-on (vmm/vm_control.h). */
#include "vmm/vm_control.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "control/api.h"
#include "vmm/vm_snapshot.h"

static json_t *cmd_status(struct vm *vm)
{
	json_t *devs = json_pack("[s,s,s,s,s]", "com1", "i8042", "debug-exit", "post",
				 "pci-host");
	unsigned int nfn = vm_pci_nr_functions(vm->pci);

	if (nfn)
		json_array_append_new(devs, json_sprintf("virtio-pci x%u", nfn));
	return json_pack("{s:s,s:f,s:i,s:I,s:o,s:s?}",
			 "state", vm->api_paused ? "paused" : "running",
			 "uptime-s", (double)(now_ns() - vm->start_ns) / 1e9,
			 "vcpus", (int)vm->nr_vcpus, "ram-size", (json_int_t)vm->cfg->ram_size,
			 "devices", devs, "restored-from", vm->cfg->restore_dir);
}

static json_t *cmd_snapshot(struct vm *vm, json_t *args, char *why, size_t why_len)
{
	const char *dir = json_string_value(json_object_get(args, "dir"));
	struct vm_snapshot_result r;

	if (!dir || !dir[0]) {
		snprintf(why, why_len, "snapshot needs {\"dir\": DIRECTORY}");
		return NULL;
	}
	if (vm_snapshot_save(vm, dir, &r, why, why_len))
		return NULL;
	return json_pack("{s:s,s:I,s:f}", "dir", dir, "memory-bytes", (json_int_t)r.data_bytes,
			 "paused-ms", (double)r.save_ns / 1e6);
}

static json_t *cmd_send_console(struct vm *vm, json_t *args, char *why, size_t why_len)
{
	json_t *data = json_object_get(args, "data");
	size_t len = json_string_length(data), n;

	if (!json_is_string(data)) {
		snprintf(why, why_len, "send-console needs {\"data\": TEXT}");
		return NULL;
	}
	n = console_inject(&vm->console, (const uint8_t *)json_string_value(data), len);
	if (n < len) {
		snprintf(why, why_len, "the console's input queue is full: %zu of %zu bytes "
			 "queued", n, len);
		return NULL;
	}
	return json_pack("{s:I}", "queued", (json_int_t)n);
}

static json_t *execute(void *ctx, const char *cmd, json_t *args, char *why, size_t why_len)
{
	struct vm *vm = ctx;

	if (!strcmp(cmd, "status"))
		return cmd_status(vm);
	if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume")) {
		bool pause = !strcmp(cmd, "pause");

		if (vm->gdb) {
			snprintf(why, why_len, "gdb controls the vCPUs of this VM");
			return NULL;
		}
		if (pause && !vm->api_paused)
			vm_pause(vm);
		else if (!pause && vm->api_paused)
			vm_resume(vm);
		vm->api_paused = pause;
		return json_object();
	}
	if (!strcmp(cmd, "stats")) {
		json_t *st;

		/* KVM's per-vCPU statistics are read through vCPU ioctls, which
		 * wait for a vCPU in KVM_RUN (a halted guest: forever): the
		 * vCPUs step out for the moment it takes. */
		if (!vm->api_paused)
			vm_pause(vm);
		st = vm_stats_json(vm, 0);
		if (!vm->api_paused)
			vm_resume(vm);
		return st;
	}
	if (!strcmp(cmd, "snapshot"))
		return cmd_snapshot(vm, args, why, why_len);
	if (!strcmp(cmd, "send-console"))
		return cmd_send_console(vm, args, why, why_len);
	if (!strcmp(cmd, "inject-nmi")) {
		/* As QEMU's inject-nmi on x86: to the first vCPU.  KVM_NMI is a
		 * vCPU ioctl: the vCPUs step out for it. */
		int err;

		if (!vm->api_paused)
			vm_pause(vm);
		err = vcpu_inject_nmi(&vm->vcpus[0]);
		if (!vm->api_paused)
			vm_resume(vm);
		if (err) {
			snprintf(why, why_len, "KVM_NMI: %s", strerror(-err));
			return NULL;
		}
		return json_object();
	}
	if (!strcmp(cmd, "quit")) {
		vm_request_stop(vm, VM_STOP_USER_QUIT, 0, "quit through the control socket");
		return json_object();
	}
	snprintf(why, why_len, "unknown command '%.64s' (status, pause, resume, stats, "
		 "snapshot, send-console, inject-nmi, quit)", cmd);
	return NULL;
}

int vm_control_create(struct vm *vm)
{
	struct api_handlers h = { .execute = execute, .ctx = vm };

	if (!vm->cfg->api_sock)
		return 0;
	return api_server_create(vm->cfg->api_sock, &h, &vm->api);
}

void vm_control_destroy(struct vm *vm)
{
	api_server_destroy(vm->api);
	vm->api = NULL;
}

void vm_control_console(struct vm *vm, const uint8_t *buf, size_t len)
{
	const char *marker = vm->cfg->snapshot_marker;
	size_t mlen = marker ? strlen(marker) : 0;
	uint64_t one = 1;

	if (!mlen || vm->marker_fired)
		return;
	/* The last mlen bytes of the current line; the snapshot is taken once
	 * the line that holds the marker is complete. */
	for (size_t i = 0; i < len && !vm->marker_fired; i++) {
		if (buf[i] == '\n' || buf[i] == '\r') {
			vm->marker_len = 0;
			if (!vm->marker_seen)
				continue;
			vm->marker_fired = true;
			if (write(vm->snap_fd, &one, sizeof(one)) < 0)
				log_warn("--snapshot-on: cannot signal the main thread");
			continue;
		}
		if (vm->marker_seen)
			continue;
		if (vm->marker_len == mlen) {
			memmove(vm->marker_win, vm->marker_win + 1, mlen - 1);
			vm->marker_len--;
		}
		vm->marker_win[vm->marker_len++] = (char)buf[i];
		if (vm->marker_len == mlen && !memcmp(vm->marker_win, marker, mlen))
			vm->marker_seen = true;
	}
}

void vm_control_snapshot_on(struct vm *vm)
{
	struct vm_snapshot_result r;
	char why[512];

	if (vm_snapshot_save(vm, vm->cfg->snapshot_dir, &r, why, sizeof(why))) {
		log_err("--snapshot-on: %s", why);
		vm_request_stop(vm, VM_STOP_ERROR, VM_EXIT_SETUP_FAILED, "the snapshot failed");
		return;
	}
	if (vm->cfg->snapshot_exit)
		vm_request_stop(vm, VM_STOP_USER_QUIT, 0, "snapshot taken (--snapshot-and-exit)");
}

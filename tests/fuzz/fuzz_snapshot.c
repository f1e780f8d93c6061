// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: what a snapshot's state document and a control-socket
 * client hand to minivmm.  The first byte picks the surface:
 *  - even: the rest is one control-socket line (api_handle_line), answered
 *    by a handler that echoes its arguments;
 *  - odd: the rest is a state document, loaded (control/snap_json.c) into
 *    a UART and an i8042 as a restore would, then saved again.
 * Invariants: no crash or sanitizer report; every line gets one reply that
 * is a JSON object with "return" or "error"; a document either loads
 * completely or reports an error naming a field, and a UART that loaded
 * still answers every register.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "control/api.h"
#include "control/snap_json.h"
#include "devices/i8042.h"
#include "devices/uart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *echo(void *ctx, const char *cmd, json_t *args, char *why, size_t len)
{
	(void)ctx;
	if (!strcmp(cmd, "fail")) {
		snprintf(why, len, "failed on purpose");
		return NULL;
	}
	return args ? json_incref(args) : json_object();
}

static void line(const uint8_t *data, size_t size)
{
	struct api_handlers h = { .execute = echo };
	char *reply = api_handle_line(&h, (const char *)data, size);
	json_t *r;

	if (!reply)
		abort();
	r = json_loads(reply, 0, NULL);
	if (!json_is_object(r) || (!json_object_get(r, "return") && !json_object_get(r, "error")))
		abort();
	json_decref(r);
	free(reply);
}

static void document(const uint8_t *data, size_t size)
{
	struct uart *u = uart_create("fuzz", NULL, NULL);
	struct i8042 *k = i8042_create(NULL);
	json_t *doc = json_loadb((const char *)data, size, 0, NULL);
	struct snap_status st;
	struct snap root, child;
	json_t *out;
	uint8_t v;

	if (doc && u && k) {
		snap_json_load(&root, &st, doc);
		if (snap_enter(&root, "com1", &child)) {
			uart_snap(u, &child);
			snap_leave(&child);
		}
		if (snap_enter(&root, "i8042", &child)) {
			i8042_snap(k, &child);
			snap_leave(&child);
		}
		if (st.err && !st.why[0])
			abort(); /* an error must say what */
		for (uint64_t reg = 0; reg < 8; reg++)
			uart_device(u)->ops->read(uart_device(u), reg, &v, 1);
		out = json_object();
		snap_json_save(&root, &st, out);
		uart_snap(u, &root);
		if (st.err)
			abort(); /* saving never fails */
		json_decref(out);
	}
	json_decref(doc);
	if (u)
		device_destroy(uart_device(u));
	if (k) {
		device_destroy(i8042_data_device(k));
		device_destroy(i8042_cmd_device(k));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;

	if (!quiet) {
		log_set_sink(fopen("/dev/null", "w"));
		quiet = 1;
	}
	if (size < 1)
		return 0;
	if (data[0] & 1)
		document(data + 1, size - 1);
	else
		line(data + 1, size - 1);
	return 0;
}

// SPDX-License-Identifier: MIT
/* The snapshot document (base/snap.h over control/snap_json.c), the
 * snapshot directory's checks (control/snapdir.c), a device's state through
 * both directions (the UART), and the control socket's protocol without a
 * socket (api_handle_line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/api.h"
#include "control/snap_json.h"
#include "control/snapdir.h"
#include "devices/pci/host.h"
#include "devices/pci/msix.h"
#include "devices/uart.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/rng.h"
#include "fake_mem.h"
#include "quiet_log.h"

struct thing {
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;
	bool e;
	uint8_t blob[5];
	uint64_t inner;
};

static void visit(struct thing *t, struct snap *s)
{
	struct snap child;

	snap_u8(s, "a", &t->a);
	snap_u16(s, "b", &t->b);
	snap_u32(s, "c", &t->c);
	snap_u64(s, "d", &t->d);
	snap_bool(s, "e", &t->e);
	snap_bytes(s, "blob", t->blob, sizeof(t->blob));
	if (snap_enter(s, "child", &child)) {
		snap_u64(&child, "inner", &t->inner);
		snap_leave(&child);
	}
}

static json_t *saved(const struct thing *t)
{
	struct thing copy = *t;
	struct snap_status st;
	struct snap root;
	json_t *doc = json_object();

	snap_json_save(&root, &st, doc);
	visit(&copy, &root);
	assert_int_equal(st.err, 0);
	return doc;
}

static int load(json_t *doc, struct thing *t, char *why)
{
	struct snap_status st;
	struct snap root;

	snap_json_load(&root, &st, doc);
	visit(t, &root);
	strcpy(why, st.why);
	return st.err;
}

static const struct thing sample = {
	.a = 0xAB, .b = 0xBEEF, .c = 0xDEADBEEF, .d = 0xFFFFFFFF81000000ull, .e = true,
	.blob = { 0, 1, 0x7F, 0x80, 0xFF }, .inner = 42,
};

static void test_round_trip(void **state)
{
	json_t *doc = saved(&sample);
	struct thing t = { 0 };
	char why[256];

	(void)state;
	assert_string_equal(json_string_value(json_object_get(doc, "d")), "0xffffffff81000000");
	assert_string_equal(json_string_value(json_object_get(doc, "blob")), "00017f80ff");
	assert_int_equal(load(doc, &t, why), 0);
	assert_memory_equal(&t, &sample, sizeof(t));
	json_decref(doc);
}

/* Each damage: the error names the field. */
static void test_load_errors(void **state)
{
	static const struct { const char *key, *value, *msg; } cases[] = {
		{ "a", "0x100", "a: 0x100 is out of range" },
		{ "e", "0x2", "e: 0x2 is out of range" },
		{ "b", "12", "b: not a 0x-prefixed" },
		{ "c", "0x12345678901234567", "c: not a 0x-prefixed" },
		{ "blob", "0001", "blob: holds 2 bytes, 5 expected" },
		{ "blob", "00017f80fg", "blob: not lowercase hex" },
	};
	struct thing t;
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *doc = saved(&sample);

		json_object_set_new(doc, cases[i].key, json_string(cases[i].value));
		assert_int_not_equal(load(doc, &t, why), 0);
		assert_non_null(strstr(why, cases[i].msg));
		json_decref(doc);
	}
	{
		json_t *doc = saved(&sample);

		json_object_del(json_object_get(doc, "child"), "inner");
		assert_int_not_equal(load(doc, &t, why), 0);
		assert_string_equal(why, "child.inner: missing from the snapshot");
		json_object_set_new(doc, "child", json_integer(1));
		assert_int_not_equal(load(doc, &t, why), 0);
		assert_string_equal(why, "child: has the wrong type");
		json_decref(doc);
	}
}

/* Variable-length byte fields: their length comes from the document, and
 * an odd number of hex digits, a missing field or another type is refused. */
static void test_bytes_len(void **state)
{
	struct snap_status st;
	struct snap root;
	json_t *doc = json_object();

	(void)state;
	json_object_set_new(doc, "ok", json_string("00ff10"));
	json_object_set_new(doc, "odd", json_string("00f"));
	json_object_set_new(doc, "num", json_integer(3));
	snap_json_load(&root, &st, doc);
	assert_int_equal(snap_bytes_len(&root, "ok"), 3);
	assert_int_equal(st.err, 0);
	assert_int_equal(snap_bytes_len(&root, "odd"), 0);
	assert_non_null(strstr(st.why, "odd: odd number of hex digits"));
	snap_json_load(&root, &st, doc);
	assert_int_equal(snap_bytes_len(&root, "num"), 0);
	assert_non_null(strstr(st.why, "num: has the wrong type"));
	snap_json_load(&root, &st, doc);
	assert_int_equal(snap_bytes_len(&root, "gone"), 0);
	assert_non_null(strstr(st.why, "gone: missing"));
	json_decref(doc);
}

static void device_write(struct device *d, uint64_t off, const uint8_t *v, uint32_t len)
{
	d->ops->write(d, off, v, len);
}

static void device_read(struct device *d, uint64_t off, uint8_t *v, uint32_t len)
{
	d->ops->read(d, off, v, len);
}

/* The UART's registers and FIFO go through a document into another UART. */
static void test_uart(void **state)
{
	struct uart *a = uart_create("a", NULL, NULL), *b = uart_create("b", NULL, NULL);
	struct device *da = uart_device(a), *db = uart_device(b);
	struct snap_status st;
	struct snap root;
	json_t *doc = json_object();
	uint8_t v;

	(void)state;
	v = 0x83;
	device_write(da, UART_LCR, &v, 1);	/* DLAB */
	v = 0x0C;
	device_write(da, UART_DLL, &v, 1);
	v = 0x03;
	device_write(da, UART_LCR, &v, 1);
	v = 0x01;
	device_write(da, UART_FCR, &v, 1);
	v = 0x5A;
	device_write(da, UART_SCR, &v, 1);
	assert_int_equal(uart_receive(a, (const uint8_t *)"xyz", 3), 3);
	snap_json_save(&root, &st, doc);
	uart_snap(a, &root);
	assert_int_equal(st.err, 0);
	snap_json_load(&root, &st, doc);
	uart_snap(b, &root);
	assert_int_equal(st.err, 0);
	device_read(db, UART_SCR, &v, 1);
	assert_int_equal(v, 0x5A);
	device_read(db, UART_LCR, &v, 1);
	assert_int_equal(v, 0x03);
	for (const char *p = "xyz"; *p; p++) {
		device_read(db, UART_LSR, &v, 1);
		assert_true(v & UART_LSR_DR);
		device_read(db, UART_RBR, &v, 1);
		assert_int_equal(v, *p);
	}
	device_read(db, UART_LSR, &v, 1);
	assert_false(v & UART_LSR_DR);
	json_decref(doc);
	device_destroy(da);
	device_destroy(db);
}

/* ---- a virtio-pci function behind the host bridge, both ways -------------- */

struct pci_side {
	struct mem_map mem;
	struct pci_host *host;
	struct virtio_rng *rng;
	struct virtio_pci *vp;
	unsigned int msis;
};

static ssize_t fill_aa(void *ctx, void *buf, size_t len)
{
	memset(buf, 0xAA, len);
	return (ssize_t)len;
}

static uint64_t zero_clock(void *ctx)
{
	return 0;
}

static void no_arm(void *ctx, uint64_t delay_ns)
{
}

static void count_msi(void *ctx, unsigned int vector, const struct msi_msg *msg)
{
	((struct pci_side *)ctx)->msis++;
}

static void side_make(struct pci_side *p)
{
	struct virtio_rng_params rp = {
		.queue_size = 4, .entropy = { .fill = fill_aa },
		.clock = { .now_ns = zero_clock }, .wakeup = { .arm = no_arm },
	};
	struct msi_sink msi = { .send = count_msi, .ctx = p };

	memset(p, 0, sizeof(*p));
	assert_int_equal(fake_mem_init_slots(&p->mem, 0, 0x20000, 1, false), 0);
	rp.mem = &p->mem;
	p->host = pci_host_create(0xF0000000, 0xF8000000, &p->mem);
	assert_non_null(p->host);
	assert_int_equal(virtio_rng_create(&rp, &p->rng), 0);
	p->vp = virtio_pci_create(virtio_rng_dev(p->rng), NULL, &msi);
	assert_non_null(p->vp);
	assert_int_equal(pci_host_add(p->host, virtio_pci_func(p->vp), 3), 0);
}

static void side_free(struct pci_side *p)
{
	struct virtio_dev *d = virtio_rng_dev(p->rng);

	virtio_pci_destroy(p->vp);
	d->ops->destroy(d);
	pci_host_destroy(p->host);
	fake_mem_destroy(&p->mem);
}

static uint32_t cfg_rw(struct pci_side *p, uint32_t reg, uint32_t v, uint32_t len, bool write)
{
	struct device *cfg = pci_host_cfg_device(p->host);
	uint32_t addr = pci_cfg_addr(0, 3, 0, reg & ~3u), out = 0;

	cfg->ops->write(cfg, 0, &addr, 4);
	if (write)
		cfg->ops->write(cfg, 4 + (reg & 3), &v, len);
	else
		cfg->ops->read(cfg, 4 + (reg & 3), &out, len);
	return out;
}

static uint64_t bar_rw(struct pci_side *p, uint64_t off, uint64_t v, uint32_t len, bool write)
{
	struct device *win = pci_host_mmio_device(p->host);
	uint64_t bar = (cfg_rw(p, 0x10, 0, 4, false) & ~0xFu) |
		       (uint64_t)cfg_rw(p, 0x14, 0, 4, false) << 32, out = 0;

	if (write)
		win->ops->write(win, bar - 0xF0000000 + off, &v, len);
	else
		win->ops->read(win, bar - 0xF0000000 + off, &out, len);
	return out;
}

static uint8_t msix_cap(struct pci_side *p)
{
	for (uint8_t c = (uint8_t)cfg_rw(p, PCI_CAP_PTR, 0, 1, false); c;
	     c = (uint8_t)cfg_rw(p, c + 1, 0, 1, false))
		if (cfg_rw(p, c, 0, 1, false) == PCI_CAP_ID_MSIX)
			return c;
	fail_msg("no MSI-X capability");
	return 0;
}

#define COMMON(f) (VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_##f)

static void side_bring_up(struct pci_side *p)
{
	uint8_t cap = msix_cap(p);

	cfg_rw(p, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2, true);
	cfg_rw(p, cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2, true);
	/* vector 1: address and data in the table (BAR 0 at VIRTIO_PCI_MSIX_OFF) */
	bar_rw(p, VIRTIO_PCI_MSIX_OFF + 16, 0xFEE00000, 4, true);
	bar_rw(p, VIRTIO_PCI_MSIX_OFF + 24, 0x4041, 4, true);
	bar_rw(p, COMMON(STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1, true);
	bar_rw(p, COMMON(GFSELECT), 1, 4, true);
	bar_rw(p, COMMON(GF), 1, 4, true);   /* VERSION_1 */
	bar_rw(p, COMMON(STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	       VIRTIO_STATUS_FEATURES_OK, 1, true);
	bar_rw(p, COMMON(MSIX), 0, 2, true);
	bar_rw(p, COMMON(Q_SELECT), 0, 2, true);
	bar_rw(p, COMMON(Q_SIZE), 4, 2, true);
	bar_rw(p, COMMON(Q_MSIX), 1, 2, true);
	bar_rw(p, COMMON(Q_DESC), 0x10000, 8, true);
	bar_rw(p, COMMON(Q_AVAIL), 0x10100, 8, true);
	bar_rw(p, COMMON(Q_USED), 0x10200, 8, true);
	bar_rw(p, COMMON(Q_ENABLE), 1, 2, true);
	bar_rw(p, COMMON(STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	       VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK, 1, true);
}

static void pci_visit(struct pci_side *p, struct snap *root)
{
	struct snap child;

	if (snap_enter(root, "pci", &child)) {
		pci_host_snap(p->host, &child);
		snap_leave(&child);
	}
	if (snap_enter(root, "virtio", &child)) {
		virtio_pci_snap(p->vp, &child);
		snap_leave(&child);
	}
}

static void test_pci_virtio_round_trip(void **state)
{
	struct pci_side a, b, c;
	struct snap_status st;
	struct snap root;
	json_t *doc = json_object(), *n;

	side_make(&a);
	side_make(&b);
	side_bring_up(&a);
	snap_json_save(&root, &st, doc);
	pci_visit(&a, &root);
	assert_int_equal(st.err, 0);
	snap_json_load(&root, &st, doc);
	pci_visit(&b, &root);
	if (st.err)
		fail_msg("load: %s", st.why);
	/* The restored function answers as the saved one: configuration
	 * space, the BAR where it was, the transport's registers, MSI-X. */
	assert_int_equal(cfg_rw(&b, PCI_COMMAND, 0, 2, false) & 6, 6);
	assert_int_equal(cfg_rw(&b, msix_cap(&b) + PCI_MSIX_FLAGS, 0, 2, false) &
			 PCI_MSIX_FLAGS_ENABLE, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(bar_rw(&b, COMMON(STATUS), 0, 1, false), 0x0F);
	assert_int_equal(bar_rw(&b, COMMON(Q_SELECT), 0, 2, false), 0);
	assert_int_equal(bar_rw(&b, COMMON(Q_DESC), 0, 8, false), 0x10000);
	assert_int_equal(bar_rw(&b, COMMON(Q_USED), 0, 8, false), 0x10200);
	assert_int_equal(bar_rw(&b, COMMON(Q_ENABLE), 0, 2, false), 1);
	assert_int_equal(bar_rw(&b, COMMON(Q_MSIX), 0, 2, false), 1);
	assert_int_equal(bar_rw(&b, VIRTIO_PCI_MSIX_OFF + 24, 0, 4, false), 0x4041);
	bar_rw(&b, COMMON(GFSELECT), 1, 4, true);
	assert_int_equal(bar_rw(&b, COMMON(GF), 0, 4, false), 1);

	/* A document whose function has another number of MSI-X vectors is
	 * refused, naming the field. */
	side_make(&c);
	n = json_object_get(json_object_get(doc, "virtio"), "msix");
	assert_non_null(json_object_get(n, "vectors"));
	/* The document spells numbers as the snapshot writer does. */
	if (json_is_string(json_object_get(n, "vectors")))
		json_object_set_new(n, "vectors", json_string("0x63"));
	else
		json_object_set_new(n, "vectors", json_integer(99));
	snap_json_load(&root, &st, doc);
	pci_visit(&c, &root);
	assert_int_equal(st.err, -EXDEV);
	assert_non_null(strstr(st.why, "vectors"));
	json_decref(doc);
	side_free(&a);
	side_free(&b);
	side_free(&c);
}

static char tmpdir[64];

static void path(char *out, const char *name)
{
	snprintf(out, 200, "%s/%s", tmpdir, name);
}

static int write_snapshot(const char *dir, json_t *doc)
{
	char tmp[256], why[256];
	int err = snapdir_begin(dir, tmp, sizeof(tmp), why, sizeof(why));

	if (!err)
		err = snapdir_write_state(tmp, doc, why, sizeof(why));
	if (!err)
		err = snapdir_commit(dir, tmp, why, sizeof(why));
	return err;
}

static json_t *valid_doc(void)
{
	return json_pack("{s:s,s:i,s:s}", "format", SNAPSHOT_FORMAT, "version", SNAPSHOT_VERSION,
			 "x", "y");
}

static void test_snapdir(void **state)
{
	char dir[200], file[240], why[256];
	json_t *doc = valid_doc(), *got = NULL;
	FILE *f;

	(void)state;
	strcpy(tmpdir, "/tmp/minivmm-snapdir-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	path(dir, "s");
	assert_int_equal(write_snapshot(dir, doc), 0);
	assert_int_equal(snapdir_read_state(dir, &got, why, sizeof(why)), 0);
	assert_string_equal(json_string_value(json_object_get(got, "x")), "y");
	json_decref(got);
	/* A newer snapshot replaces the older one at the same path. */
	json_object_set_new(doc, "x", json_string("z"));
	assert_int_equal(write_snapshot(dir, doc), 0);
	assert_int_equal(snapdir_read_state(dir, &got, why, sizeof(why)), 0);
	assert_string_equal(json_string_value(json_object_get(got, "x")), "z");
	json_decref(got);
	/* One changed byte. */
	snprintf(file, sizeof(file), "%s/%s", dir, SNAPSHOT_STATE);
	f = fopen(file, "r+");
	assert_non_null(f);
	fseek(f, 5, SEEK_SET);
	fputc('#', f);
	fclose(f);
	assert_int_equal(snapdir_read_state(dir, &got, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "checksum"));
	/* Another format version. */
	json_object_set_new(doc, "version", json_integer(SNAPSHOT_VERSION + 1));
	assert_int_equal(write_snapshot(dir, doc), 0);
	assert_int_equal(snapdir_read_state(dir, &got, why, sizeof(why)), -EPROTO);
	/* Not a snapshot at all; and something else in the way is kept. */
	assert_int_equal(snapdir_read_state(tmpdir, &got, why, sizeof(why)), -ENOENT);
	path(dir, "other");
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(file, sizeof(file), "%s/keep", dir);
	f = fopen(file, "w");
	fclose(f);
	assert_int_equal(write_snapshot(dir, doc), -EEXIST);
	assert_int_equal(access(file, F_OK), 0);
	json_decref(doc);
	assert_int_equal(system("rm -rf /tmp/minivmm-snapdir-*"), 0);
}

static json_t *echo_execute(void *ctx, const char *cmd, json_t *args, char *why, size_t len)
{
	(void)ctx;
	if (!strcmp(cmd, "echo"))
		return args ? json_incref(args) : json_object();
	snprintf(why, len, "unknown command '%s'", cmd);
	return NULL;
}

static void expect_reply(const char *line, const char *want)
{
	struct api_handlers h = { .execute = echo_execute };
	char *got = api_handle_line(&h, line, strlen(line));

	assert_non_null(got);
	if (!strstr(got, want))
		fail_msg("'%s' -> '%s', expected '%s' in it", line, got, want);
	free(got);
}

static void test_api_lines(void **state)
{
	(void)state;
	expect_reply("{\"execute\":\"echo\",\"arguments\":{\"a\":1},\"id\":7}",
		     "{\"return\":{\"a\":1},\"id\":7}");
	expect_reply("{\"execute\":\"echo\"}", "{\"return\":{}}");
	expect_reply("{\"execute\":\"nope\",\"id\":\"x\"}", "unknown command 'nope'");
	expect_reply("{\"execute\":\"nope\",\"id\":\"x\"}", "\"id\":\"x\"");
	expect_reply("not json", "ParseError");
	expect_reply("[1,2]", "BadRequest");
	expect_reply("{\"execute\":5}", "BadRequest");
	expect_reply("{\"execute\":\"echo\",\"arguments\":[1]}", "must be an object");
	expect_reply("{\"execute\":\"echo\",\"execute\":\"echo\"}", "ParseError");
	expect_reply("\"\\u0000\"", "ParseError");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_bytes_len),
		cmocka_unit_test(test_uart),
		cmocka_unit_test(test_pci_virtio_round_trip),
		cmocka_unit_test(test_snapdir),
		cmocka_unit_test(test_api_lines),
	};

	return cmocka_run_group_tests(tests, quiet_log_setup, quiet_log_teardown);
}

// SPDX-License-Identifier: MIT
/*
 * Snapshots of a whole VM and restoring them (docs/snapshots.md): guest
 * memory as one sparse file per slot, and one state document that each
 * component fills through base/snap.h (cpu/cpu_state.h for KVM, the device
 * models for themselves).
 */
#include "vmm/vm_snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "control/snap_json.h"
#include "control/snapdir.h"
#include "cpu/cpu_state.h"
#include "devices/i8042.h"
#include "devices/uart.h"

#ifndef MINIVMM_VERSION
#define MINIVMM_VERSION "unknown"
#endif

/* ---- the machine: what a restore must build before state goes in ------ */

static const char *const protocol_names[] = {
	[BOOT_TEST_GUEST] = "test-guest", [BOOT_LINUX] = "linux",
};

static json_t *drives_json(const struct vm_config *cfg)
{
	json_t *list = json_array();

	for (unsigned int i = 0; list && i < cfg->nr_drives; i++) {
		const struct drive_config *d = &cfg->drives[i];

		json_array_append_new(list, json_pack("{s:s,s:b,s:b,s:s,s:s,s:b,s:s,s:s}",
			"file", d->file, "readonly", d->readonly, "format-given", d->format_given,
			"cache", drive_cache_name(d->cache), "aio", drive_aio_name(d->aio),
			"aio-given", d->aio_given, "serial", d->serial, "id", d->id));
	}
	return list;
}

/* The drives as the snapshot's machine had them (-drive, in order). */
static int drives_from_json(json_t *list, struct vm_config *cfg)
{
	size_t n = json_array_size(list);

	if (!json_is_array(list) || n > CONFIG_MAX_DRIVES)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		struct drive_config *d = &cfg->drives[i];
		const char *file, *cache, *aio, *serial, *id;
		int ro, fmt, aio_given;

		if (json_unpack(json_array_get(list, i), "{s:s,s:b,s:b,s:s,s:s,s:b,s:s,s:s}",
				"file", &file, "readonly", &ro, "format-given", &fmt, "cache", &cache,
				"aio", &aio, "aio-given", &aio_given, "serial", &serial, "id", &id) ||
		    strlen(file) >= sizeof(d->file) || strlen(serial) >= sizeof(d->serial) ||
		    strlen(id) >= sizeof(d->id))
			return -EBADMSG;
		memset(d, 0, sizeof(*d));
		strcpy(d->file, file);
		strcpy(d->serial, serial);
		strcpy(d->id, id);
		d->readonly = ro;
		d->format_given = fmt;
		d->aio_given = aio_given;
		d->cache = !strcmp(cache, drive_cache_name(DRIVE_CACHE_NONE)) ? DRIVE_CACHE_NONE :
			   !strcmp(cache, drive_cache_name(DRIVE_CACHE_UNSAFE)) ?
			   DRIVE_CACHE_UNSAFE : DRIVE_CACHE_WRITEBACK;
		d->aio = !strcmp(aio, drive_aio_name(DRIVE_AIO_THREADS)) ? DRIVE_AIO_THREADS :
			 DRIVE_AIO_IO_URING;
	}
	cfg->nr_drives = (unsigned int)n;
	return 0;
}

static json_t *nics_json(const struct vm_config *cfg)
{
	json_t *list = json_array();

	for (unsigned int i = 0; list && i < cfg->nr_nics; i++) {
		const struct nic_config *nic = &cfg->nics[i];
		const uint8_t *m = nic->mac;
		char spec[1024] = "", mac[18];

		for (unsigned int j = 0; j < cfg->nr_netdevs; j++)
			if (!strcmp(cfg->netdevs[j].id, nic->netdev) &&
			    netdev_format(&cfg->netdevs[j], spec, sizeof(spec)))
				spec[0] = '\0';
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
			 m[3], m[4], m[5]);
		json_array_append_new(list, json_pack("{s:s,s:s}", "netdev", spec, "mac", mac));
	}
	return list;
}

/* The snapshot's NICs, each on its netdev unless the restore's command line
 * gave one with the same id (new host forwards for this copy, another tap). */
static int nics_from_json(json_t *list, struct vm_config *cfg, char *why, size_t why_len)
{
	unsigned int given = cfg->nr_netdevs;
	size_t n = json_array_size(list);

	if (!list)
		return 0;          /* a snapshot without networking */
	if (!json_is_array(list) || n > CONFIG_MAX_NICS)
		return -EBADMSG;
	cfg->nr_nics = 0;
	for (size_t i = 0; i < n; i++) {
		struct nic_config *nic = &cfg->nics[cfg->nr_nics];
		struct netdev_config nd;
		const char *spec, *mac;
		bool overridden = false;
		char dev[64];

		if (json_unpack(json_array_get(list, i), "{s:s,s:s}", "netdev", &spec, "mac", &mac) ||
		    netdev_parse(spec, &nd, NULL, 0))
			return -EBADMSG;
		snprintf(dev, sizeof(dev), "netdev=%s,mac=%s", nd.id, mac);
		if (nic_device_parse(dev, nic, NULL, 0))
			return -EBADMSG;
		cfg->nr_nics++;
		for (unsigned int j = 0; j < given; j++)
			overridden |= !strcmp(cfg->netdevs[j].id, nd.id);
		if (!overridden) {
			if (cfg->nr_netdevs == CONFIG_MAX_NICS)
				return -EBADMSG;
			cfg->netdevs[cfg->nr_netdevs++] = nd;
		}
	}
	for (unsigned int j = 0; j < given; j++) {
		bool used = false;

		for (unsigned int i = 0; i < cfg->nr_nics; i++)
			used |= !strcmp(cfg->nics[i].netdev, cfg->netdevs[j].id);
		if (!used) {
			snprintf(why, why_len, "-netdev %s: the snapshot's machine has no NIC on it",
				 cfg->netdevs[j].id);
			return -EINVAL;
		}
	}
	return 0;
}

static json_t *machine_json(const struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	char layout[64];

	mem_layout_name(&cfg->layout, layout, sizeof(layout));
	return json_pack("{s:I,s:i,s:s,s:s,s:s,s:s,s:I,s:s,s:b,s:s?,s:o,s:I,s:I,s:o}",
			 "ram-size", (json_int_t)cfg->ram_size, "vcpus", (int)vm->nr_vcpus,
			 "mem-layout", layout, "mem-backing", mem_backing_name(cfg->backing),
			 "protocol", protocol_names[vm->boot.protocol],
			 "mmu", cfg->mmu == MMU_SHADOW ? "shadow" : "tdp",
			 "pt-pool", (json_int_t)cfg->pt_pool_size,
			 "console", cfg->console == CONSOLE_VIRTIO ? "virtio" : "serial",
			 "virtio-rng", cfg->virtio_rng, "kernel", cfg->kernel,
			 "drives", drives_json(cfg), "rng-max-bytes", (json_int_t)cfg->rng_max_bytes,
			 "rng-period-ms", (json_int_t)cfg->rng_period_ms, "nics", nics_json(cfg));
}

int vm_snapshot_machine(json_t *doc, struct vm_config *cfg, enum boot_protocol *protocol,
			char *why, size_t why_len)
{
	const char *by = json_string_value(json_object_get(doc, "minivmm"));

	/* Device models may change what their state means between versions
	 * without the document's shape changing: only the same minivmm. */
	if (!by || strcmp(by, MINIVMM_VERSION)) {
		snprintf(why, why_len, "the snapshot was taken by minivmm %s, this is minivmm %s",
			 by ? by : "(unknown)", MINIVMM_VERSION);
		return -EPROTO;
	}

	json_t *m = json_object_get(doc, "machine");
	const char *layout = NULL, *backing = NULL, *proto = NULL, *mmu = NULL, *console = NULL;
	json_int_t ram = 0, pool = 0, rng_bytes = 0, rng_ms = 0;
	json_t *drives = NULL;
	int vcpus = 0, rng = 0, err;
	json_error_t jerr;

	if (json_unpack_ex(m, &jerr, 0, "{s:I,s:i,s:s,s:s,s:s,s:s,s:I,s:s,s:b,s:o,s:I,s:I}",
			   "ram-size", &ram, "vcpus", &vcpus, "mem-layout", &layout,
			   "mem-backing", &backing, "protocol", &proto, "mmu", &mmu,
			   "pt-pool", &pool, "console", &console, "virtio-rng", &rng,
			   "drives", &drives, "rng-max-bytes", &rng_bytes,
			   "rng-period-ms", &rng_ms)) {
		snprintf(why, why_len, "the snapshot's machine: %s", jerr.text);
		return -EBADMSG;
	}
	if (ram <= 0 || vcpus < 1 || vcpus > CONFIG_MAX_VCPUS || pool < 0 || rng_bytes < 0 ||
	    rng_ms < 0 || rng_ms > UINT32_MAX || drives_from_json(drives, cfg) ||
	    mem_layout_parse(layout, &cfg->layout) || mem_backing_parse(backing, &cfg->backing)) {
		snprintf(why, why_len, "the snapshot's machine is not valid");
		return -EBADMSG;
	}
	cfg->ram_size = (uint64_t)ram;
	cfg->nr_vcpus = (unsigned int)vcpus;
	cfg->pt_pool_size = (uint64_t)pool;
	cfg->mmu = strcmp(mmu, "shadow") ? MMU_TDP : MMU_SHADOW;
	cfg->console = strcmp(console, "virtio") ? CONSOLE_SERIAL : CONSOLE_VIRTIO;
	cfg->virtio_rng = rng;
	cfg->rng_max_bytes = (uint64_t)rng_bytes;
	cfg->rng_period_ms = (uint32_t)rng_ms;
	err = nics_from_json(json_object_get(m, "nics"), cfg, why, why_len);
	if (err) {
		if (err == -EBADMSG)
			snprintf(why, why_len, "the snapshot's network devices are not valid");
		return err;
	}
	/* Memory comes back as private mappings of the snapshot's files,
	 * whatever backed it before. */
	cfg->backing = MEM_BACKING_ANON;
	*protocol = strcmp(proto, "linux") ? BOOT_TEST_GUEST : BOOT_LINUX;
	return 0;
}

/* ---- saving ------------------------------------------------------------ */

/* Why this VM's state cannot be captured faithfully, or NULL. */
static const char *refusal(const struct vm *vm)
{
	if (vm->cfg->mmu == MMU_SHADOW)
		return "--mmu=shadow: minivmm's shadow page tables are not part of a snapshot";
	if (vm->gdb)
		return "a gdb stub is attached";
	return NULL;
}

static int save_memory(struct vm *vm, const char *tmp, json_t *list, uint64_t *data,
		       char *why, size_t why_len)
{
	*data = 0;
	for (unsigned int i = 0; i < vm->mem.nr_slots; i++) {
		const struct mem_slot *s = &vm->mem.slots[i];
		char name[32], path[4096 + 32];
		uint64_t bytes;
		int fd, err;

		snprintf(name, sizeof(name), "mem-%u.raw", s->id);
		snprintf(path, sizeof(path), "%s/%s", tmp, name);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		err = fd < 0 ? -errno : mem_slot_save(s, fd, &bytes);
		if (fd >= 0 && close(fd) && !err)
			err = -errno;
		if (err) {
			snprintf(why, why_len, "cannot write %s: %s", path, strerror(-err));
			return err;
		}
		*data += bytes;
		if (json_array_append_new(list, json_pack("{s:i,s:I,s:I,s:s,s:b,s:s,s:I}",
				"slot", (int)s->id, "gpa", (json_int_t)s->gpa,
				"size", (json_int_t)s->size, "kind", mem_kind_name(s->kind),
				"readonly", s->readonly, "file", name, "data", (json_int_t)bytes)))
			return -ENOMEM;
	}
	return 0;
}

/* KVM and the devices, in one direction or the other, through s.  The
 * order matters for loading: the VM's interrupt controllers, PIT and clock,
 * then every vCPU (its local APIC among them), then the devices, whose
 * loading has side effects on all of those: they drive again the
 * interrupt lines they hold high, program MSI routes and ioeventfds, and
 * virtio devices look at their queues once (which may complete requests
 * and interrupt a vCPU). */
static int visit_state(struct vm *vm, struct snap *s)
{
	struct snap dev, child;
	char name[16];

	if (snap_enter(s, "vm", &child)) {
		kvm_vm_state_snap(&vm->kvm, &child);
		snap_leave(&child);
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		snprintf(name, sizeof(name), "vcpu%u", i);
		if (snap_enter(s, name, &child)) {
			vcpu_state_snap(&vm->vcpus[i], &vm->kvm, vm->cpuid, &child);
			snap_leave(&child);
		}
	}
	if (snap_enter(s, "devices", &dev)) {
		if (snap_enter(&dev, "com1", &child)) {
			uart_snap(vm->com1, &child);
			snap_leave(&child);
		}
		if (snap_enter(&dev, "i8042", &child)) {
			i8042_snap(vm->kbc, &child);
			snap_leave(&child);
		}
		if (snap_enter(&dev, "pci", &child)) {
			vm_pci_snap(vm->pci, &child);
			snap_leave(&child);
		}
		snap_leave(&dev);
	}
	return s->st->err;
}

static json_t *new_doc(struct vm *vm)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	return json_pack("{s:s,s:i,s:s,s:s,s:s,s:o,s:[]}", "format", SNAPSHOT_FORMAT,
			 "version", SNAPSHOT_VERSION, "minivmm", MINIVMM_VERSION,
			 "created", when, "host-paging", host_paging_name(vm->kvm.paging),
			 "machine", machine_json(vm), "memory");
}

/* With the vCPUs paused. */
static int save_paused(struct vm *vm, const char *dir, struct vm_snapshot_result *res,
		       char *why, size_t why_len)
{
	char tmp[4096];
	struct snap_status st;
	struct snap root;
	json_t *doc = new_doc(vm);
	int err;

	if (!doc) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	err = snapdir_begin(dir, tmp, sizeof(tmp), why, why_len);
	if (err)
		goto out;
	err = save_memory(vm, tmp, json_object_get(doc, "memory"), &res->data_bytes, why,
			  why_len);
	if (!err) {
		snap_json_save(&root, &st, doc);
		err = visit_state(vm, &root);
		if (err)
			snprintf(why, why_len, "%s", st.why);
	}
	if (!err)
		err = snapdir_write_state(tmp, doc, why, why_len);
	if (!err)
		err = snapdir_commit(dir, tmp, why, why_len);
	if (err)
		snapdir_abort(tmp);
out:
	json_decref(doc);
	return err;
}

int vm_snapshot_save(struct vm *vm, const char *dir, struct vm_snapshot_result *res,
		     char *why, size_t why_len)
{
	const char *no = refusal(vm);
	uint64_t t0 = now_ns(), t1;
	bool was_paused = vm->api_paused;
	int err;

	memset(res, 0, sizeof(*res));
	if (no) {
		snprintf(why, why_len, "cannot snapshot this VM: %s", no);
		return -ENOTSUP;
	}
	if (!was_paused)
		vm_pause(vm);
	t1 = now_ns();
	/* Nothing moves while memory is written: the I/O thread stops, every
	 * disk request in flight completes (its used-ring entry and interrupt
	 * are then part of the snapshot) and the images are flushed. */
	evloop_stop(vm->io);
	err = vm_pci_quiesce(vm->pci);
	if (err)
		snprintf(why, why_len, "flushing the disk images failed: %s", strerror(-err));
	else
		err = save_paused(vm, dir, res, why, why_len);
	res->save_ns = now_ns() - t1;
	if (evloop_start(vm->io, "minivmm-io"))
		vm_request_stop(vm, VM_STOP_ERROR, VM_EXIT_SETUP_FAILED,
				"cannot restart the I/O thread after the snapshot");
	if (!was_paused)
		vm_resume(vm);
	res->total_ns = now_ns() - t0;
	if (!err)
		log_info("snapshot: %s (%.1f MiB of guest memory written, %.1f ms paused)", dir,
			 (double)res->data_bytes / (1 << 20), (double)(now_ns() - t1) / 1e6);
	return err;
}

/* ---- restoring ----------------------------------------------------------- */

int vm_restore_memory(struct vm *vm, char *why, size_t why_len)
{
	json_t *list = json_object_get(vm->restore_doc, "memory");
	size_t n = json_array_size(list);

	if (n != vm->mem.nr_slots) {
		snprintf(why, why_len, "the snapshot holds %zu memory slots, the machine has %u",
			 n, vm->mem.nr_slots);
		return -EBADMSG;
	}
	for (unsigned int i = 0; i < vm->mem.nr_slots; i++) {
		const struct mem_slot *s = &vm->mem.slots[i];
		json_int_t gpa = -1, size = -1;
		int id = -1;
		const char *file = NULL, *kind = NULL;
		char path[4096];
		struct stat st;
		int fd, err;

		if (json_unpack(json_array_get(list, i), "{s:i,s:I,s:I,s:s,s:s}", "slot", &id,
				"gpa", &gpa, "size", &size, "kind", &kind, "file", &file) ||
		    (unsigned int)id != s->id || (uint64_t)gpa != s->gpa || (uint64_t)size != s->size ||
		    strcmp(kind, mem_kind_name(s->kind)) || strchr(file, '/')) {
			snprintf(why, why_len, "the snapshot's memory slot %u does not match the "
				 "machine", i);
			return -EBADMSG;
		}
		snprintf(path, sizeof(path), "%s/%s", vm->cfg->restore_dir, file);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size != s->size) {
			snprintf(why, why_len, "%s: %s", path, fd < 0 ? strerror(errno) :
				 "not the slot's size (truncated?)");
			if (fd >= 0)
				close(fd);
			return -EBADMSG;
		}
		err = mem_slot_map_file(s, fd);
		close(fd);	/* the mapping keeps the file */
		if (err) {
			snprintf(why, why_len, "cannot map %s: %s", path, strerror(-err));
			return err;
		}
	}
	return 0;
}

int vm_restore_state(struct vm *vm, char *why, size_t why_len)
{
	struct snap_status st;
	struct snap root;
	int err;

	snap_json_load(&root, &st, vm->restore_doc);
	err = visit_state(vm, &root);
	if (err)
		snprintf(why, why_len, "%s", st.why);
	return err;
}

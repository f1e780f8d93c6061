// SPDX-License-Identifier: MIT
#include "control/snapdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sha256.h"

static void hex32(const uint8_t d[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[64] = 0;
}

static void digest_hex(const void *buf, size_t len, char out[65])
{
	struct sha256 s;
	uint8_t d[32];

	sha256_init(&s);
	sha256_update(&s, buf, len);
	sha256_final(&s, d);
	hex32(d, out);
}

int snapdir_begin(const char *dir, char *tmp, size_t tmp_len, char *why, size_t why_len)
{
	if ((size_t)snprintf(tmp, tmp_len, "%s.tmp-%d", dir, (int)getpid()) >= tmp_len) {
		snprintf(why, why_len, "%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	snapdir_abort(tmp);	/* a leftover of a crashed run with our pid */
	if (mkdir(tmp, 0700)) {
		int err = -errno;

		snprintf(why, why_len, "cannot create %s: %s", tmp, strerror(errno));
		return err;
	}
	return 0;
}

static int write_file(const char *dir, const char *name, const void *buf, size_t len,
		      char *why, size_t why_len)
{
	char path[4096];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	errno = 0;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	if (fd >= 0 && close(fd) && !err)
		err = -errno;
	if (err)
		snprintf(why, why_len, "cannot write %s: %s", path, strerror(-err));
	return err;
}

int snapdir_write_state(const char *tmp, json_t *doc, char *why, size_t why_len)
{
	char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
	char hex[65], line[128];
	size_t len;
	int err;

	if (!text) {
		snprintf(why, why_len, "cannot encode the state: out of memory");
		return -ENOMEM;
	}
	len = strlen(text);
	digest_hex(text, len, hex);
	err = write_file(tmp, SNAPSHOT_STATE, text, len, why, why_len);
	free(text);
	snprintf(line, sizeof(line), "%s  %s\n", hex, SNAPSHOT_STATE);
	if (!err)
		err = write_file(tmp, SNAPSHOT_SUM, line, strlen(line), why, why_len);
	return err;
}

static bool is_snapshot(const char *dir)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, SNAPSHOT_STATE);
	return access(path, F_OK) == 0;
}

void snapdir_abort(const char *tmp)
{
	DIR *d = opendir(tmp);
	struct dirent *e;
	char path[4096];

	if (!d)
		return;
	/* Only our own flat directory: plain files, no recursion. */
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(tmp);
}

int snapdir_commit(const char *dir, const char *tmp, char *why, size_t why_len)
{
	char old[4096];

	if (rename(tmp, dir) == 0)
		return 0;
	if (errno != EEXIST && errno != ENOTEMPTY && errno != EISDIR && errno != ENOTDIR)
		goto fail;
	/* Something is there: an older snapshot is replaced, nothing else. */
	if (!is_snapshot(dir)) {
		snprintf(why, why_len, "%s exists and is not a minivmm snapshot", dir);
		return -EEXIST;
	}
	snprintf(old, sizeof(old), "%s.old-%d", dir, (int)getpid());
	if (rename(dir, old))
		goto fail;
	if (rename(tmp, dir)) {
		int err = -errno;

		(void)rename(old, dir);
		snprintf(why, why_len, "cannot move the snapshot to %s: %s", dir, strerror(-err));
		return err;
	}
	snapdir_abort(old);
	return 0;
fail:
	snprintf(why, why_len, "cannot move the snapshot to %s: %s", dir, strerror(errno));
	return -errno;
}

/* Up to max bytes of dir/name, NUL-terminated (malloc'd). */
static int read_file(const char *dir, const char *name, size_t max, char **out, size_t *len)
{
	char path[4096];
	struct stat st;
	char *buf;
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		err = -ENOMEM;
	else if (read(fd, buf, (size_t)st.st_size) != st.st_size)
		err = -EIO;
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[st.st_size] = 0;
	*out = buf;
	*len = (size_t)st.st_size;
	return 0;
}

static int check_doc(json_t *doc, const char *dir, char *why, size_t why_len)
{
	const char *format = json_string_value(json_object_get(doc, "format"));
	json_t *version = json_object_get(doc, "version");

	if (!json_is_object(doc) || !format || strcmp(format, SNAPSHOT_FORMAT)) {
		snprintf(why, why_len, "%s: not a minivmm snapshot", dir);
		return -EBADMSG;
	}
	if (!json_is_integer(version) || json_integer_value(version) != SNAPSHOT_VERSION) {
		snprintf(why, why_len, "%s: snapshot format version %lld, this minivmm reads "
			 "version %d", dir, json_is_integer(version) ?
			 (long long)json_integer_value(version) : -1LL, SNAPSHOT_VERSION);
		return -EPROTO;
	}
	return 0;
}

int snapdir_read_state(const char *dir, json_t **doc, char *why, size_t why_len)
{
	char *text = NULL, *sum = NULL, hex[65];
	size_t len, sum_len;
	json_error_t jerr;
	int err;

	err = read_file(dir, SNAPSHOT_SUM, 256, &sum, &sum_len);
	if (err == -ENOENT || err == -ENOTDIR) {
		snprintf(why, why_len, "%s: not a snapshot (no %s)", dir, SNAPSHOT_SUM);
		return -ENOENT;
	}
	if (!err)
		err = read_file(dir, SNAPSHOT_STATE, SNAPSHOT_STATE_MAX, &text, &len);
	if (err) {
		snprintf(why, why_len, "%s: cannot read the snapshot's state: %s", dir,
			 strerror(-err));
		free(sum);
		return err == -ENOENT ? -EBADMSG : err;
	}
	digest_hex(text, len, hex);
	if (sum_len < 64 || memcmp(sum, hex, 64)) {
		snprintf(why, why_len, "%s: %s does not match its checksum (damaged or truncated)",
			 dir, SNAPSHOT_STATE);
		err = -EBADMSG;
		goto out;
	}
	*doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*doc) {
		snprintf(why, why_len, "%s: %s: line %d: %s", dir, SNAPSHOT_STATE, jerr.line,
			 jerr.text);
		err = -EBADMSG;
		goto out;
	}
	err = check_doc(*doc, dir, why, why_len);
	if (err) {
		json_decref(*doc);
		*doc = NULL;
	}
out:
	free(text);
	free(sum);
	return err;
}

// SPDX-License-Identifier: MIT
#include "boot/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/log.h"
#include "base/sha256.h"

#define MAGIC "MVMBC001"

struct entry_header {
	char magic[8];
	uint64_t out_len;
	uint32_t crc;
	uint32_t reserved;
	char note[64];
};

static bool make_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) && errno != EEXIST)
		return false;
	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

void boot_cache_open(struct boot_cache *c, bool enabled, uint64_t max_bytes)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char base[PATH_MAX];

	c->dir[0] = '\0';
	c->max_bytes = max_bytes;
	if (!enabled || !max_bytes)
		return;
	/* XDG: a relative $XDG_CACHE_HOME is invalid and must be ignored. */
	if (xdg && xdg[0] == '/')
		snprintf(base, sizeof(base), "%s", xdg);
	else if (home && home[0] == '/' &&
		 (size_t)snprintf(base, sizeof(base), "%s/.cache", home) < sizeof(base))
		;
	else
		return;
	if (!make_dir(base) ||
	    (size_t)snprintf(c->dir, sizeof(c->dir), "%s/minivmm", base) >= sizeof(c->dir) - 80 ||
	    !make_dir(c->dir))
		c->dir[0] = '\0';
}

void boot_cache_key(const struct boot_cache *c, const char *kind, const uint8_t *in,
		    size_t len, struct boot_cache_key *key)
{
	struct sha256 s;
	uint8_t d[32];
	char hex[65];

	key->path[0] = '\0';
	if (!c->dir[0])
		return;
	sha256_init(&s);
	sha256_update(&s, kind, strlen(kind) + 1);
	sha256_update(&s, in, len);
	sha256_final(&s, d);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	if ((size_t)snprintf(key->path, sizeof(key->path), "%s/%s-%s", c->dir, kind, hex) >=
	    sizeof(key->path))
		key->path[0] = '\0';
}

/* All of len bytes read (or written), through short counts and EINTR. */
static bool transfer_all(int fd, void *buf, size_t len, bool write_)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = write_ ? write(fd, p, len) : read(fd, p, len);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool read_all(int fd, void *buf, size_t len)
{
	return transfer_all(fd, buf, len, false);
}

static bool write_all(int fd, const void *buf, size_t len)
{
	return transfer_all(fd, (void *)buf, len, true);
}

static uint32_t crc_of(const uint8_t *p, size_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);

	while (len) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

		crc = crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)crc;
}

int boot_cache_get(const struct boot_cache *c, const struct boot_cache_key *key,
		   size_t max_out, uint8_t **out, size_t *out_len, char *note, size_t note_size)
{
	struct entry_header h = { .magic = "" };
	struct stat st;
	uint8_t *buf = NULL;
	bool ok = false;
	int fd;

	if (!c->dir[0] || !key->path[0])
		return 0;
	fd = open(key->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    (uint64_t)st.st_size >= sizeof(h) && read_all(fd, &h, sizeof(h)) &&
	    !memcmp(h.magic, MAGIC, 8) && h.out_len == (uint64_t)st.st_size - sizeof(h) &&
	    h.out_len <= max_out && (buf = malloc(h.out_len ? h.out_len : 1)) &&
	    read_all(fd, buf, h.out_len) && crc_of(buf, h.out_len) == h.crc)
		ok = true;
	if (ok)
		futimens(fd, NULL); /* most recently used */
	close(fd);
	if (!ok) {
		free(buf);
		/* Damaged (or too large for this guest): a damaged one goes. */
		if (!(h.out_len > max_out && !memcmp(h.magic, MAGIC, 8)))
			unlink(key->path);
		return 0;
	}
	h.note[sizeof(h.note) - 1] = '\0';
	snprintf(note, note_size, "%s", h.note);
	*out = buf;
	*out_len = h.out_len;
	return 1;
}

struct cached_file {
	char name[96];
	off_t size;
	struct timespec mtime;
};

static int by_age(const void *a, const void *b)
{
	const struct cached_file *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	return (x->mtime.tv_nsec > y->mtime.tv_nsec) - (x->mtime.tv_nsec < y->mtime.tv_nsec);
}

/* Remove the least recently used entries until the total fits. */
static void evict(const struct boot_cache *c, const char *keep)
{
	struct cached_file *files = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *e;
	DIR *d = opendir(c->dir);
	int dfd;

	if (!d)
		return;
	dfd = dirfd(d);
	while ((e = readdir(d))) {
		struct stat st;

		if ((strncmp(e->d_name, "kernel-", 7) && strncmp(e->d_name, "initrd-", 7)) ||
		    strlen(e->d_name) >= sizeof(files[0].name) ||
		    fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			struct cached_file *m = realloc(files, (cap = cap ? 2 * cap : 32) * sizeof(*m));

			if (!m)
				break;
			files = m;
		}
		snprintf(files[n].name, sizeof(files[n].name), "%s", e->d_name);
		files[n].size = st.st_size;
		files[n].mtime = st.st_mtim;
		total += (uint64_t)st.st_size;
		n++;
	}
	qsort(files, n, sizeof(*files), by_age);
	for (size_t i = 0; i < n && total > c->max_bytes; i++) {
		if (!strcmp(files[i].name, keep))
			continue;
		if (!unlinkat(dfd, files[i].name, 0))
			total -= (uint64_t)files[i].size;
	}
	free(files);
	closedir(d);
}

int boot_cache_put(const struct boot_cache *c, const struct boot_cache_key *key,
		   const uint8_t *out, size_t out_len, const char *note)
{
	struct entry_header h = { .out_len = out_len, .crc = crc_of(out, out_len) };
	char tmp[PATH_MAX + 16];
	const char *base;
	int fd, err = 0;

	if (!c->dir[0] || !key->path[0])
		return 0;
	if (out_len + sizeof(h) > c->max_bytes)
		return -EFBIG;
	memcpy(h.magic, MAGIC, 8);
	snprintf(h.note, sizeof(h.note), "%s", note ? note : "");
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", c->dir) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	if (!write_all(fd, &h, sizeof(h)) || !write_all(fd, out, out_len))
		err = -(errno ? errno : EIO);
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, key->path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	base = strrchr(key->path, '/');
	evict(c, base ? base + 1 : key->path);
	return 0;
}

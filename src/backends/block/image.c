// SPDX-License-Identifier: MIT
/*
 * Disk images: raw files and block devices.  Other formats are recognised
 * by their magic only to be refused with the command that converts them.
 *
 * Locking follows QEMU's rule (not its byte layout): a read-write user is
 * exclusive, read-only users share.  The lock is an open-file-description
 * lock, so it belongs to this descriptor (two opens in one process
 * conflict, as two processes do) and goes away when the descriptor is
 * closed, even if the process dies.
 */
#include "backends/block/image.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

#define IMAGE_SECTOR     512u
#define IMAGE_PROBE_SIZE 4096u

struct image_magic {
	const char *name;
	unsigned int offset;
	const char *bytes;
	unsigned int len;
};

static const struct image_magic image_magics[] = {
	{ "qcow2", 0, "QFI\xfb", 4 },            /* qcow version 1 too */
	{ "QED", 0, "QED\0", 4 },
	{ "VMDK", 0, "KDMV", 4 },
	{ "VMDK descriptor", 0, "# Disk DescriptorFile", 21 },
	{ "VDI", 0x40, "\x7f\x10\xda\xbe", 4 },  /* 0xbeda107f, little-endian */
	{ "VHDX", 0, "vhdxfile", 8 },
	{ "VHD", 0, "conectix", 8 },             /* dynamic VHD: footer copy at 0 */
	{ "LUKS", 0, "LUKS\xba\xbe", 6 },
};

static int open_error(const struct drive_config *cfg, int err)
{
	const char *f = cfg->file;

	switch (err) {
	case ENOENT:
		log_err("drive file=%s: no such file", f);
		break;
	case EACCES:
	case EPERM:
		log_err("drive file=%s: permission denied (opening it %s)", f,
			cfg->readonly ? "read-only" : "read-write; readonly=on may do");
		break;
	case EISDIR:
		log_err("drive file=%s: is a directory", f);
		break;
	case EROFS:
		log_err("drive file=%s: read-only file system (use readonly=on)", f);
		break;
	case EINVAL:
		if (cfg->cache == DRIVE_CACHE_NONE) {
			log_err("drive file=%s: the file system refuses O_DIRECT (cache=none); "
				"use cache=writeback", f);
			break;
		}
		/* fall through */
	default:
		log_err("drive file=%s: %s", f, strerror(err));
		break;
	}
	return -err;
}

static int image_lock(struct block_image *img)
{
	struct flock fl = {
		.l_type = img->readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
	};

	if (fcntl(img->fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES) {
		log_err("drive file=%s: image is in use by another process (it holds a "
			"conflicting lock)", img->path);
		return -EBUSY;
	}
	/* Some network file systems have no locks: go on, as QEMU does. */
	log_warn("drive file=%s: cannot lock the image (%s); going on without a lock",
		 img->path, strerror(errno));
	return 0;
}

static int image_size(struct block_image *img, const struct stat *st)
{
	uint64_t size = (uint64_t)st->st_size;

	if (img->blockdev && ioctl(img->fd, BLKGETSIZE64, &size) < 0) {
		log_err("drive file=%s: cannot read the device size: %s", img->path,
			strerror(errno));
		return -errno;
	}
	if (size == 0) {
		log_err("drive file=%s: the image is empty", img->path);
		return -EINVAL;
	}
	if (size % IMAGE_SECTOR) {
		log_err("drive file=%s: size %llu is not a multiple of %u bytes "
			"(qemu-img resize -f raw can round it up)", img->path,
			(unsigned long long)size, IMAGE_SECTOR);
		return -EINVAL;
	}
	img->size = size;
	return 0;
}

/* The smallest O_DIRECT read the file accepts, trying 512 up to 4096. */
static unsigned int probe_dio_align(int fd)
{
	unsigned int align = 0;
	void *buf;

	if (posix_memalign(&buf, IMAGE_PROBE_SIZE, IMAGE_PROBE_SIZE))
		return 0;
	for (unsigned int a = IMAGE_SECTOR; a <= IMAGE_PROBE_SIZE && !align; a *= 2)
		if (pread(fd, buf, a, 0) >= 0)
			align = a;
	free(buf);
	return align;
}

static int image_dio_align(struct block_image *img)
{
	struct statx stx;
	int lbs;

	if (img->blockdev && ioctl(img->fd, BLKSSZGET, &lbs) == 0 && lbs > 0) {
		img->logical_block = img->mem_align = (unsigned int)lbs;
	} else if (statx(img->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
		   (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		img->logical_block = stx.stx_dio_offset_align;
		img->mem_align = stx.stx_dio_mem_align ? stx.stx_dio_mem_align : 1;
	} else {
		img->logical_block = img->mem_align = probe_dio_align(img->fd);
	}
	if (img->logical_block < IMAGE_SECTOR || img->logical_block > IMAGE_PROBE_SIZE ||
	    (img->logical_block & (img->logical_block - 1)) ||
	    (img->mem_align & (img->mem_align - 1))) {
		log_err("drive file=%s: no usable O_DIRECT alignment (cache=none); "
			"use cache=writeback", img->path);
		return -EINVAL;
	}
	return 0;
}

/* Refuses images whose first bytes name another format, unless the user
 * said format=raw (then a guest that wrote such bytes can still boot). */
static int image_probe_format(struct block_image *img, bool format_given)
{
	const struct image_magic *m = NULL;
	unsigned char *buf;
	ssize_t n;

	if (posix_memalign((void **)&buf, IMAGE_PROBE_SIZE, IMAGE_PROBE_SIZE))
		return -ENOMEM;
	n = pread(img->fd, buf, IMAGE_PROBE_SIZE, 0);
	if (n < 0) {
		log_err("drive file=%s: cannot read the image: %s", img->path, strerror(errno));
		free(buf);
		return -errno;
	}
	for (size_t i = 0; i < sizeof(image_magics) / sizeof(image_magics[0]) && !m; i++)
		if (image_magics[i].offset + image_magics[i].len <= (size_t)n &&
		    !memcmp(buf + image_magics[i].offset, image_magics[i].bytes,
			    image_magics[i].len))
			m = &image_magics[i];
	free(buf);
	if (!m)
		return 0;
	if (format_given) {
		log_warn("drive file=%s: looks like a %s image, but format=raw was given: "
			 "the guest sees its raw bytes", img->path, m->name);
		return 0;
	}
	log_err("drive file=%s: is a %s image; minivmm reads raw images only: convert it "
		"with qemu-img convert -O raw %s %s.raw", img->path, m->name, img->path,
		img->path);
	return -EINVAL;
}

/* Punching a hole past the end (size kept) tells whether the file system
 * can discard at all, without touching data. */
static bool image_can_discard(const struct block_image *img)
{
	if (img->readonly)
		return false;
	if (img->blockdev)
		return true;
	return fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			 (off_t)img->size, IMAGE_PROBE_SIZE) == 0;
}

static int image_check(struct block_image *img, const struct drive_config *cfg)
{
	struct stat st;
	int r, fl;

	if (fstat(img->fd, &st) < 0)
		return open_error(cfg, errno);
	if (S_ISDIR(st.st_mode))
		return open_error(cfg, EISDIR);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		log_err("drive file=%s: not a regular file or block device", img->path);
		return -EINVAL;
	}
	img->blockdev = S_ISBLK(st.st_mode);
	/* O_NONBLOCK only kept open() from hanging on a FIFO. */
	fl = fcntl(img->fd, F_GETFL);
	if (fl < 0 || fcntl(img->fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return open_error(cfg, errno);
	r = image_lock(img);
	if (!r)
		r = image_size(img, &st);
	if (!r && img->direct)
		r = image_dio_align(img);
	if (!r)
		r = image_probe_format(img, cfg->format_given);
	return r;
}

int image_open(const struct drive_config *cfg, struct block_image *img)
{
	int flags = O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int r;

	*img = (struct block_image){
		.fd = -1,
		.readonly = cfg->readonly,
		.direct = cfg->cache == DRIVE_CACHE_NONE,
		.unsafe = cfg->cache == DRIVE_CACHE_UNSAFE,
		.logical_block = IMAGE_SECTOR,
		.mem_align = 1,
	};
	flags |= cfg->readonly ? O_RDONLY : O_RDWR;
	flags |= img->direct ? O_DIRECT : 0;
	img->path = strdup(cfg->file);
	if (!img->path)
		return -ENOMEM;
	img->fd = open(cfg->file, flags);
	if (img->fd < 0) {
		r = open_error(cfg, errno);
		image_close(img);
		return r;
	}
	r = image_check(img, cfg);
	if (r) {
		image_close(img);
		return r;
	}
	img->can_discard = image_can_discard(img);
	return 0;
}

void image_close(struct block_image *img)
{
	if (img->fd >= 0)
		close(img->fd);
	img->fd = -1;
	free(img->path);
	img->path = NULL;
}

// SPDX-License-Identifier: MIT
/*
 * Disk images and both block backends, on real files in a temporary
 * directory: the refusals at open, locking, and every request type through
 * io_uring (own thread and poll mode) and the thread pool.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/block/backend.h"
#include "backends/block/req.h"
#include "base/log.h"

#define KiB 1024u
#define IMG_SIZE (1024u * KiB)

enum kind { URING, URING_POLL, THREADS };
static enum kind kinds[] = { URING, URING_POLL, THREADS };

static char dir[64];
static char *log_buf;
static size_t log_len;
static FILE *log_f;

/* ---- files and logs ---------------------------------------------------- */

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + off / 512 + 1);
}

static const char *path_of(const char *name)
{
	static char p[128];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static void make_file(const char *path, uint64_t size, const void *head, size_t head_len)
{
	uint8_t *buf = malloc(size ? size : 1);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

	assert_non_null(buf);
	assert_true(fd >= 0);
	for (uint64_t i = 0; i < size; i++)
		buf[i] = pattern(i);
	if (head)
		memcpy(buf, head, head_len);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
}

static void capture_log(void)
{
	log_f = open_memstream(&log_buf, &log_len);
	log_set_sink(log_f);
}

/* The captured log contains `what`, in one line. */
static void assert_logged(const char *what)
{
	fflush(log_f);
	if (!strstr(log_buf, what))
		fail_msg("log '%s' lacks '%s'", log_buf, what);
	fclose(log_f);
	free(log_buf);
	log_buf = NULL;
	capture_log();
}

static struct drive_config config(const char *path, bool ro, enum drive_cache cache)
{
	struct drive_config cfg = { .readonly = ro, .cache = cache };

	snprintf(cfg.file, sizeof(cfg.file), "%s", path);
	return cfg;
}

static int open_image(const char *path, bool ro, enum drive_cache cache, struct block_image *img)
{
	struct drive_config cfg = config(path, ro, cache);

	return image_open(&cfg, img);
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/var/tmp/minivmm-blk-XXXXXX");
	assert_non_null(mkdtemp(dir));
	chmod(dir, 0755);
	capture_log();
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	log_set_sink(NULL);
	fclose(log_f);
	free(log_buf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- image_open -------------------------------------------------------- */

static void expect_refused(const char *path, bool ro, int err, const char *what)
{
	struct block_image img;

	assert_int_equal(open_image(path, ro, DRIVE_CACHE_WRITEBACK, &img), err);
	assert_int_equal(img.fd, -1);
	assert_logged(what);
}

static void test_image_errors(void **state)
{
	struct block_image img;

	expect_refused(path_of("missing.img"), false, -ENOENT, "missing.img: no such file");
	mkdir(path_of("adir"), 0755);
	expect_refused(path_of("adir"), false, -EISDIR, "is a directory");
	expect_refused(path_of("adir"), true, -EISDIR, "is a directory");
	make_file(path_of("odd.img"), 1000, NULL, 0);
	expect_refused(path_of("odd.img"), false, -EINVAL, "size 1000 is not a multiple of 512");
	make_file(path_of("empty.img"), 0, NULL, 0);
	expect_refused(path_of("empty.img"), true, -EINVAL, "empty");
	assert_int_equal(mkfifo(path_of("fifo"), 0644), 0);
	expect_refused(path_of("fifo"), true, -EINVAL, "not a regular file or block device");

	make_file(path_of("ok.img"), 4096, NULL, 0);
	assert_int_equal(open_image(path_of("ok.img"), false, DRIVE_CACHE_WRITEBACK, &img), 0);
	assert_true(img.fd >= 0);
	assert_int_equal(img.size, 4096);
	assert_false(img.readonly);
	assert_false(img.direct);
	assert_int_equal(img.logical_block, 512);
	image_close(&img);
	assert_int_equal(img.fd, -1);
}

static void test_image_formats(void **state)
{
	static const struct { const char *name; size_t off; const char *magic; size_t len; } f[] = {
		{ "qcow2", 0, "QFI\xfb\0\0\0\3", 8 },
		{ "QED", 0, "QED\0", 4 },
		{ "VMDK", 0, "KDMV", 4 },
		{ "VMDK descriptor", 0, "# Disk DescriptorFile\n", 22 },
		{ "VDI", 0x40, "\x7f\x10\xda\xbe", 4 },
		{ "VHDX", 0, "vhdxfile", 8 },
		{ "VHD", 0, "conectix", 8 },
	};
	struct drive_config cfg;
	struct block_image img;
	uint8_t head[512];

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		memset(head, 0, sizeof(head));
		memcpy(head + f[i].off, f[i].magic, f[i].len);
		make_file(path_of("fmt.img"), 64 * KiB, head, sizeof(head));
		expect_refused(path_of("fmt.img"), false, -EINVAL, "qemu-img convert -O raw");
		cfg = config(path_of("fmt.img"), true, DRIVE_CACHE_WRITEBACK);
		assert_int_equal(image_open(&cfg, &img), -EINVAL);
		assert_logged(f[i].name);
		/* format=raw spelled out: a warning, and the raw bytes. */
		cfg.format_given = true;
		assert_int_equal(image_open(&cfg, &img), 0);
		image_close(&img);
		assert_logged("format=raw was given");
	}
}

static void test_image_unreadable(void **state)
{
	pid_t pid;
	int status;

	make_file(path_of("secret.img"), 4096, NULL, 0);
	chmod(path_of("secret.img"), 0);
	if (geteuid() != 0) {
		expect_refused(path_of("secret.img"), true, -EACCES, "permission denied");
		return;
	}
	/* root reads anything: become nobody in a child to see the refusal. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct block_image img;

		log_set_sink(NULL);
		if (setgid(65534) || setuid(65534))
			_exit(2);
		_exit(open_image(path_of("secret.img"), true, DRIVE_CACHE_WRITEBACK, &img) ==
		      -EACCES ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_image_locking(void **state)
{
	const char *p = path_of("locked.img");
	struct block_image rw, ro1, ro2, tmp;

	make_file(p, 64 * KiB, NULL, 0);
	/* A writer excludes everyone, even in the same process. */
	assert_int_equal(open_image(p, false, DRIVE_CACHE_WRITEBACK, &rw), 0);
	assert_int_equal(open_image(p, false, DRIVE_CACHE_WRITEBACK, &tmp), -EBUSY);
	assert_logged("image is in use by another process");
	assert_int_equal(open_image(p, true, DRIVE_CACHE_WRITEBACK, &tmp), -EBUSY);
	assert_logged("image is in use by another process");
	image_close(&rw);
	/* Readers share, and exclude a writer. */
	assert_int_equal(open_image(p, true, DRIVE_CACHE_WRITEBACK, &ro1), 0);
	assert_int_equal(open_image(p, true, DRIVE_CACHE_NONE, &ro2), 0);
	assert_int_equal(open_image(p, false, DRIVE_CACHE_WRITEBACK, &tmp), -EBUSY);
	assert_logged("in use");
	image_close(&ro1);
	assert_int_equal(open_image(p, false, DRIVE_CACHE_WRITEBACK, &tmp), -EBUSY);
	image_close(&ro2);
	assert_int_equal(open_image(p, false, DRIVE_CACHE_WRITEBACK, &rw), 0);
	image_close(&rw);
}

static void test_image_direct(void **state)
{
	struct block_image img;

	make_file(path_of("direct.img"), 64 * KiB, NULL, 0);
	assert_int_equal(open_image(path_of("direct.img"), false, DRIVE_CACHE_NONE, &img), 0);
	assert_true(img.direct);
	assert_true(img.logical_block >= 512 && img.logical_block <= 4096);
	assert_int_equal(img.logical_block & (img.logical_block - 1), 0);
	assert_true(img.mem_align >= 1 && img.mem_align <= 4096);
	assert_int_equal(fcntl(img.fd, F_GETFL) & O_DIRECT, O_DIRECT);
	image_close(&img);
}

/* ---- requests through a backend ---------------------------------------- */

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int pending;
};

struct tio {
	struct block_io io;
	struct waiter *w;
	int64_t result;
	bool completed;
};

static void tio_done(struct block_io *io, int64_t result)
{
	struct tio *t = (struct tio *)io;

	pthread_mutex_lock(&t->w->lock);
	if (t->completed)
		t->result = INT64_MIN;          /* done twice: fails the check */
	else
		t->result = result;
	t->completed = true;
	t->w->pending--;
	pthread_cond_broadcast(&t->w->cond);
	pthread_mutex_unlock(&t->w->lock);
}

static struct waiter waiter = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0
};

static unsigned int pending(void)
{
	unsigned int n;

	pthread_mutex_lock(&waiter.lock);
	n = waiter.pending;
	pthread_mutex_unlock(&waiter.lock);
	return n;
}

/* Waits until nothing is pending (poll mode: runs the completions). */
static void wait_all(struct block_backend *b)
{
	int fd = block_backend_poll_fd(b);

	if (fd >= 0) {
		while (pending()) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			assert_true(poll(&p, 1, 10000) == 1);
			block_backend_process(b);
		}
		return;
	}
	pthread_mutex_lock(&waiter.lock);
	while (waiter.pending)
		pthread_cond_wait(&waiter.cond, &waiter.lock);
	pthread_mutex_unlock(&waiter.lock);
}

static int queue(struct block_backend *b, struct tio *t, enum block_op op, uint64_t off,
		 uint64_t len, const struct iovec *iov, unsigned int nr)
{
	int e;

	*t = (struct tio){
		.io = { .op = op, .offset = off, .len = len, .iov = iov, .nr_iov = nr,
			.done = tio_done },
		.w = &waiter,
	};
	pthread_mutex_lock(&waiter.lock);
	waiter.pending++;
	pthread_mutex_unlock(&waiter.lock);
	e = block_submit(b, &t->io);
	if (e) {
		pthread_mutex_lock(&waiter.lock);
		waiter.pending--;
		pthread_mutex_unlock(&waiter.lock);
	}
	return e;
}

/* One request, waited for: its result. */
static int64_t do_io(struct block_backend *b, enum block_op op, uint64_t off, uint64_t len,
		     const struct iovec *iov, unsigned int nr)
{
	struct tio t;
	int e = queue(b, &t, op, off, len, iov, nr);

	if (e)
		return e;
	block_flush_queue(b);
	wait_all(b);
	assert_true(t.completed);
	return t.result;
}

static struct block_backend *make_backend(enum kind k, struct block_image *img)
{
	struct block_backend_opts opts = { .poll_mode = k == URING_POLL };
	struct block_backend *b = NULL;
	int e = k == THREADS ? block_threads_create(img, &opts, &b) :
		block_uring_create(img, &opts, &b);

	assert_int_equal(e, 0);
	assert_int_equal(img->fd, -1);
	assert_int_equal(block_backend_poll_fd(b) >= 0, k == URING_POLL);
	return b;
}

static struct block_backend *open_backend(enum kind k, const char *name, uint64_t size,
					  bool ro, enum drive_cache cache)
{
	struct block_image img;

	make_file(path_of(name), size, NULL, 0);
	assert_int_equal(open_image(path_of(name), ro, cache, &img), 0);
	return make_backend(k, &img);
}

/* The file's bytes [off, off+len) as another descriptor reads them. */
static void assert_file_bytes(const char *name, uint64_t off, const uint8_t *want, size_t len)
{
	uint8_t *got = malloc(len);
	int fd = open(path_of(name), O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, got, len, (off_t)off), (ssize_t)len);
	assert_memory_equal(got, want, len);
	close(fd);
	free(got);
}

static void test_read_write_iovecs(void **state)
{
	enum kind k = *(enum kind *)*state;
	struct block_backend *b = open_backend(k, "rw.img", IMG_SIZE, false,
					       DRIVE_CACHE_WRITEBACK);
	uint8_t src[4001], dst[4001];
	struct iovec w[3] = { { src, 1 }, { src + 1, 1000 }, { src + 1001, 3000 } };
	struct iovec r[4] = { { dst, 7 }, { dst + 7, 0 }, { dst + 7, 2990 }, { dst + 2997, 1004 } };

	assert_int_equal(b->size, IMG_SIZE);
	assert_false(b->readonly);
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 13 + 5);
	/* Unaligned offset and lengths: fine without O_DIRECT. */
	assert_int_equal(do_io(b, BLOCK_WRITE, 777, 4001, w, 3), 4001);
	assert_int_equal(do_io(b, BLOCK_READ, 777, 4001, r, 4), 4001);
	assert_memory_equal(src, dst, sizeof(src));
	assert_file_bytes("rw.img", 777, src, sizeof(src));
	/* The bytes around were left alone. */
	assert_int_equal(do_io(b, BLOCK_READ, 770, 7, r, 1), 7);
	for (int i = 0; i < 7; i++)
		assert_int_equal(dst[i], pattern(770 + i));
	assert_int_equal(do_io(b, BLOCK_FLUSH, 0, 0, NULL, 0), 0);
	assert_int_equal(block_drain(b), 0);
	block_destroy(b);
}

static void assert_zeroes(struct block_backend *b, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);
	struct iovec v = { buf, len };

	memset(buf, 0xEE, len);
	assert_int_equal(do_io(b, BLOCK_READ, off, len, &v, 1), (int64_t)len);
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			fail_msg("byte %zu of [%llu, +%zu) is %#x", i, (unsigned long long)off,
				 len, buf[i]);
	free(buf);
}

static void discard_and_zero(struct block_backend *b, const char *name)
{
	uint8_t edge[2];
	struct iovec v = { edge, 1 };

	assert_true(b->can_write_zeroes);
	assert_int_equal(do_io(b, BLOCK_WRITE_ZEROES, 4096 + 3, 9000, NULL, 0), 0);
	assert_zeroes(b, 4096 + 3, 9000);
	/* Neighbours intact. */
	assert_int_equal(do_io(b, BLOCK_READ, 4096 + 2, 1, &v, 1), 1);
	assert_int_equal(edge[0], pattern(4096 + 2));
	assert_int_equal(do_io(b, BLOCK_READ, 4096 + 3 + 9000, 1, &v, 1), 1);
	assert_int_equal(edge[0], pattern(4096 + 3 + 9000));
	/* More zeroes than one fallback write carries. */
	assert_int_equal(do_io(b, BLOCK_WRITE_ZEROES, 64 * KiB, 2 * 1024 * KiB + 512, NULL, 0),
			 0);
	assert_zeroes(b, 64 * KiB, 2 * 1024 * KiB + 512);

	if (b->can_discard) {
		assert_int_equal(do_io(b, BLOCK_DISCARD, 2 * 1024 * KiB + 64 * KiB + 4096,
				       64 * KiB, NULL, 0), 0);
		assert_zeroes(b, 2 * 1024 * KiB + 64 * KiB + 4096, 64 * KiB);
	}
	assert_int_equal(block_drain(b), 0);
	(void)name;
}

static void test_discard_write_zeroes(void **state)
{
	enum kind k = *(enum kind *)*state;
	struct block_backend *b = open_backend(k, "dz.img", 4 * IMG_SIZE, false,
					       DRIVE_CACHE_WRITEBACK);

	assert_true(b->can_discard);            /* ext4 and friends punch holes */
	discard_and_zero(b, "dz.img");
	block_destroy(b);
}

/* tmpfs has no FALLOC_FL_ZERO_RANGE: write-zeroes falls back to writes. */
static void test_write_zeroes_fallback(void **state)
{
	enum kind k = *(enum kind *)*state;
	char path[64];
	struct block_image img;
	struct block_backend *b;

	snprintf(path, sizeof(path), "/dev/shm/minivmm-blk-%d.img", (int)getpid());
	if (access("/dev/shm", W_OK)) {
		skip();
		return;
	}
	make_file(path, 4 * IMG_SIZE, NULL, 0);
	assert_int_equal(open_image(path, false, DRIVE_CACHE_UNSAFE, &img), 0);
	unlink(path);
	b = make_backend(k, &img);
	discard_and_zero(b, path);
	/* Twice: the second time straight to the writes. */
	discard_and_zero(b, path);
	block_destroy(b);
}

#define NR_MANY 256
#define MANY_LEN 4096

static void test_many_in_flight(void **state)
{
	enum kind k = *(enum kind *)*state;
	struct block_backend *b = open_backend(k, "many.img", NR_MANY * MANY_LEN, false,
					       DRIVE_CACHE_WRITEBACK);
	static uint8_t bufs[NR_MANY][MANY_LEN];
	static struct tio t[NR_MANY];
	struct iovec v[NR_MANY];

	/* Reverse order, all queued before one flush_queue. */
	for (int i = NR_MANY - 1; i >= 0; i--) {
		memset(bufs[i], i + 1, MANY_LEN);
		v[i] = (struct iovec){ bufs[i], MANY_LEN };
		assert_int_equal(queue(b, &t[i], BLOCK_WRITE, (uint64_t)i * MANY_LEN, MANY_LEN,
				       &v[i], 1), 0);
	}
	block_flush_queue(b);
	wait_all(b);
	for (int i = 0; i < NR_MANY; i++) {
		assert_int_equal(t[i].result, MANY_LEN);
		memset(bufs[i], 0, MANY_LEN);
		assert_int_equal(queue(b, &t[i], BLOCK_READ, (uint64_t)i * MANY_LEN, MANY_LEN,
				       &v[i], 1), 0);
	}
	block_flush_queue(b);
	wait_all(b);
	for (int i = 0; i < NR_MANY; i++) {
		assert_int_equal(t[i].result, MANY_LEN);
		assert_int_equal(bufs[i][0], (uint8_t)(i + 1));
		assert_int_equal(bufs[i][MANY_LEN - 1], (uint8_t)(i + 1));
	}
	block_destroy(b);
}

struct submitter {
	struct block_backend *b;
	int first;
	struct tio t[NR_MANY / 4];
	uint8_t buf[NR_MANY / 4][512];
	struct iovec v[NR_MANY / 4];
};

static void *submit_thread(void *arg)
{
	struct submitter *s = arg;

	for (int i = 0; i < NR_MANY / 4; i++) {
		uint64_t sector = (uint64_t)(s->first + i);

		memset(s->buf[i], (int)sector, 512);
		s->v[i] = (struct iovec){ s->buf[i], 512 };
		if (queue(s->b, &s->t[i], BLOCK_WRITE, sector * 512, 512, &s->v[i], 1))
			return (void *)1;
		block_flush_queue(s->b);
	}
	return NULL;
}

/* Four threads submit at once and exit, their requests perhaps still in
 * flight (io_uring cancels those; the backend reissues them); drain returns
 * after every done. */
static void test_concurrent_submit_and_drain(void **state)
{
	enum kind k = *(enum kind *)*state;
	struct block_backend *b = open_backend(k, "conc.img", NR_MANY * 512, false,
					       DRIVE_CACHE_WRITEBACK);
	static struct submitter s[4];
	pthread_t th[4];
	void *ret;

	for (int i = 0; i < 4; i++) {
		s[i].b = b;
		s[i].first = i * (NR_MANY / 4);
		assert_int_equal(pthread_create(&th[i], NULL, submit_thread, &s[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	if (k == URING_POLL)            /* this thread is the event loop */
		wait_all(b);
	assert_int_equal(block_drain(b), 0);
	assert_int_equal(pending(), 0);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < NR_MANY / 4; j++)
			assert_int_equal(s[i].t[j].result, 512);
	for (int i = 0; i < NR_MANY; i++) {
		uint8_t want[512];

		memset(want, i, sizeof(want));
		assert_file_bytes("conc.img", (uint64_t)i * 512, want, sizeof(want));
	}
	block_destroy(b);
}

/* drain alone (no waiting of ours) sees every request through. */
static void test_drain(void **state)
{
	enum kind k = *(enum kind *)*state;
	struct block_backend *b = open_backend(k, "drain.img", 64 * MANY_LEN, false,
					       DRIVE_CACHE_WRITEBACK);
	static uint8_t buf[MANY_LEN];
	static struct tio t[64];
	struct iovec v = { buf, sizeof(buf) };

	memset(buf, 0xA5, sizeof(buf));
	for (int i = 0; i < 64; i++)
		assert_int_equal(queue(b, &t[i], i % 8 ? BLOCK_WRITE : BLOCK_FLUSH,
				       (uint64_t)i * MANY_LEN, i % 8 ? MANY_LEN : 0,
				       i % 8 ? &v : NULL, i % 8 ? 1 : 0), 0);
	assert_int_equal(block_drain(b), 0);   /* also pushes the queue */
	assert_int_equal(pending(), 0);
	for (int i = 0; i < 64; i++)
		assert_int_equal(t[i].result, i % 8 ? MANY_LEN : 0);
	assert_file_bytes("drain.img", 63 * MANY_LEN, buf, sizeof(buf));
	/* destroy with requests in flight completes them first. */
	for (int i = 0; i < 8; i++)
		assert_int_equal(queue(b, &t[i], BLOCK_READ, 0, MANY_LEN, &v, 1), 0);
	block_flush_queue(b);
	block_destroy(b);
	assert_int_equal(pending(), 0);
	assert_int_equal(t[7].result, MANY_LEN);
}

/* Poll mode as the VM runs it: an event-loop thread processes completions
 * while another thread (a vCPU resetting the device) drains.  Every request
 * completes exactly once and drain neither hangs nor races the loop. */
struct loop_arg {
	struct block_backend *b;
	atomic_bool stop;
};

static void *loop_thread(void *arg)
{
	struct loop_arg *a = arg;
	int fd = block_backend_poll_fd(a->b);

	while (!atomic_load(&a->stop)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 5) == 1)
			block_backend_process(a->b);
	}
	return NULL;
}

static void test_poll_drain_beside_loop(void **state)
{
	struct block_backend *b = open_backend(URING_POLL, "loop.img", 64 * MANY_LEN, false,
					       DRIVE_CACHE_WRITEBACK);
	static uint8_t buf[MANY_LEN];
	static struct tio t[64];
	struct iovec v = { buf, sizeof(buf) };
	struct loop_arg a = { .b = b };
	pthread_t th;

	(void)state;
	memset(buf, 0x5A, sizeof(buf));
	assert_int_equal(pthread_create(&th, NULL, loop_thread, &a), 0);
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 64; i++)
			assert_int_equal(queue(b, &t[i], i & 1 ? BLOCK_WRITE : BLOCK_READ,
					       (uint64_t)i * MANY_LEN, MANY_LEN, &v, 1), 0);
		block_flush_queue(b);
		assert_int_equal(block_drain(b), 0);
		assert_int_equal(pending(), 0);
		for (int i = 0; i < 64; i++)
			assert_int_equal(t[i].result, MANY_LEN);
	}
	atomic_store(&a.stop, true);
	pthread_join(th, NULL);
	block_destroy(b);
}

static void test_readonly(void **state)
{
	enum kind k = *(enum kind *)*state;
	struct block_backend *b = open_backend(k, "ro.img", 64 * KiB, true,
					       DRIVE_CACHE_WRITEBACK);
	uint8_t buf[512];
	struct iovec v = { buf, sizeof(buf) };
	struct tio t;

	assert_true(b->readonly);
	assert_false(b->can_discard);
	assert_false(b->can_write_zeroes);
	assert_int_equal(queue(b, &t, BLOCK_WRITE, 0, 512, &v, 1), -EROFS);
	assert_int_equal(queue(b, &t, BLOCK_DISCARD, 0, 512, NULL, 0), -EROFS);
	assert_int_equal(queue(b, &t, BLOCK_WRITE_ZEROES, 0, 512, NULL, 0), -EROFS);
	assert_int_equal(do_io(b, BLOCK_READ, 512, 512, &v, 1), 512);
	assert_int_equal(buf[0], pattern(512));
	assert_int_equal(do_io(b, BLOCK_FLUSH, 0, 0, NULL, 0), 0);
	assert_int_equal(block_drain(b), 0);
	block_destroy(b);
}

static void test_direct(void **state)
{
	enum kind k = *(enum kind *)*state;
	struct block_backend *b = open_backend(k, "odirect.img", IMG_SIZE, false,
					       DRIVE_CACHE_NONE);
	unsigned int lb = b->logical_block;
	uint8_t *buf = NULL, *back = NULL;
	struct iovec w[2], r[1];
	struct tio t;

	assert_int_equal(posix_memalign((void **)&buf, 4096, 8 * lb), 0);
	assert_int_equal(posix_memalign((void **)&back, 4096, 8 * lb), 0);
	for (unsigned int i = 0; i < 8 * lb; i++)
		buf[i] = (uint8_t)(i ^ 0x3C);
	w[0] = (struct iovec){ buf, 3 * lb };
	w[1] = (struct iovec){ buf + 3 * lb, 5 * lb };
	r[0] = (struct iovec){ back, 8 * lb };
	assert_int_equal(do_io(b, BLOCK_WRITE, 16 * lb, 8 * lb, w, 2), 8 * lb);
	assert_int_equal(do_io(b, BLOCK_READ, 16 * lb, 8 * lb, r, 1), 8 * lb);
	assert_memory_equal(buf, back, 8 * lb);
	assert_int_equal(do_io(b, BLOCK_FLUSH, 0, 0, NULL, 0), 0);
	assert_int_equal(do_io(b, BLOCK_WRITE_ZEROES, 16 * lb, lb, NULL, 0), 0);
	assert_int_equal(do_io(b, BLOCK_DISCARD, 17 * lb, lb, NULL, 0), 0);
	/* Off the alignment: refused at submit, never half-done. */
	r[0] = (struct iovec){ back, lb - 1 };
	assert_int_equal(queue(b, &t, BLOCK_READ, 0, lb - 1, r, 1), -EINVAL);
	r[0] = (struct iovec){ back, lb };
	assert_int_equal(queue(b, &t, BLOCK_READ, 1, lb, r, 1), -EINVAL);
	assert_int_equal(queue(b, &t, BLOCK_DISCARD, lb, 100, NULL, 0), -EINVAL);
	if (b->mem_align > 1) {
		r[0] = (struct iovec){ back + 1, lb };
		assert_int_equal(queue(b, &t, BLOCK_READ, 0, lb, r, 1), -EINVAL);
	}
	assert_int_equal(block_drain(b), 0);
	block_destroy(b);
	free(buf);
	free(back);
}

/* The image shrinks behind our back: a read across the new end returns
 * what is there (the first transfer is short, the rest meets EOF). */
static void test_short_read_past_eof(void **state)
{
	enum kind k = *(enum kind *)*state;
	struct block_backend *b = open_backend(k, "shrink.img", 64 * KiB, false,
					       DRIVE_CACHE_WRITEBACK);
	uint8_t buf[16 * KiB];
	struct iovec v[3] = { { buf, 5000 }, { buf + 5000, 3000 }, { buf + 8000, 8384 } };

	assert_int_equal(truncate(path_of("shrink.img"), 40000), 0);
	memset(buf, 0xEE, sizeof(buf));
	assert_int_equal(do_io(b, BLOCK_READ, 32 * KiB, sizeof(buf), v, 3), 40000 - 32 * KiB);
	for (size_t i = 0; i < 40000 - 32 * KiB; i++)
		assert_int_equal(buf[i], pattern(32 * KiB + i));
	assert_int_equal(buf[40000 - 32 * KiB], 0xEE);
	/* Wholly past the end: 0 bytes. */
	assert_int_equal(do_io(b, BLOCK_READ, 48 * KiB, sizeof(buf), v, 3), 0);
	block_destroy(b);
}

static void test_bad_requests(void **state)
{
	enum kind k = *(enum kind *)*state;
	struct block_backend *b = open_backend(k, "bad.img", 64 * KiB, false,
					       DRIVE_CACHE_WRITEBACK);
	uint8_t buf[1024];
	struct iovec v[2] = { { buf, 512 }, { buf + 512, 512 } };
	struct tio t;

	assert_int_equal(queue(b, &t, BLOCK_READ, 0, 1000, v, 2), -EINVAL);  /* len != sum */
	assert_int_equal(queue(b, &t, BLOCK_READ, 0, 0, v, 0), -EINVAL);
	assert_int_equal(queue(b, &t, BLOCK_READ, 0, 1024, NULL, 2), -EINVAL);
	assert_int_equal(queue(b, &t, BLOCK_READ, 64 * KiB - 512, 1024, v, 2), -EINVAL);
	assert_int_equal(queue(b, &t, BLOCK_WRITE, UINT64_MAX - 100, 1024, v, 2), -EINVAL);
	assert_int_equal(queue(b, &t, BLOCK_DISCARD, 64 * KiB, 512, NULL, 0), -EINVAL);
	assert_int_equal(queue(b, &t, BLOCK_WRITE_ZEROES, 0, 0, NULL, 0), -EINVAL);
	assert_int_equal(queue(b, &t, (enum block_op)99, 0, 512, v, 1), -EINVAL);
	assert_int_equal(queue(b, &t, BLOCK_READ, 0, 512, v, IOV_MAX + 1), -EINVAL);
	t.io = (struct block_io){ .op = BLOCK_FLUSH };                        /* no done */
	assert_int_equal(block_submit(b, &t.io), -EINVAL);
	/* The whole image in one request is fine. */
	assert_int_equal(do_io(b, BLOCK_WRITE_ZEROES, 0, 64 * KiB, NULL, 0), 0);
	assert_int_equal(pending(), 0);
	block_destroy(b);
}

/* ---- the shared request arithmetic -------------------------------------- */

static void test_req_advance(void **state)
{
	uint8_t buf[100];
	const struct iovec v[3] = { { buf, 10 }, { buf + 10, 0 }, { buf + 10, 90 } };
	struct block_io io = { .op = BLOCK_READ, .offset = 1000, .len = 100, .iov = v,
			       .nr_iov = 3, .done = tio_done };
	struct blk_req *r = blk_req_new(&io);

	assert_non_null(r);
	assert_true(blk_req_transfers(r));
	/* 4 bytes: the rest starts inside the first iovec, in a copy. */
	assert_int_equal(blk_req_advance(r, 4), 1);
	assert_int_equal(r->pos, 1004);
	assert_int_equal(r->nr_iov, 3);
	assert_ptr_equal(r->iov[0].iov_base, buf + 4);
	assert_int_equal(r->iov[0].iov_len, 6);
	assert_int_equal(v[0].iov_len, 10);                 /* the caller's are untouched */
	/* 6 more: the first and the empty one are gone. */
	assert_int_equal(blk_req_advance(r, 6), 1);
	assert_int_equal(r->nr_iov, 1);
	assert_ptr_equal(r->iov[0].iov_base, buf + 10);
	assert_int_equal(blk_req_advance(r, 89), 1);
	assert_int_equal(r->iov[0].iov_len, 1);
	assert_int_equal(blk_req_advance(r, 2), -EIO);      /* more than asked */
	assert_int_equal(blk_req_advance(r, 1), 0);
	assert_int_equal(blk_req_result(r), 100);
	blk_req_free(r);

	/* End of file: a read completes short, a write fails. */
	r = blk_req_new(&io);
	assert_int_equal(blk_req_advance(r, 30), 1);
	assert_int_equal(blk_req_advance(r, 0), 0);
	assert_int_equal(blk_req_result(r), 30);
	blk_req_free(r);
	io.op = BLOCK_WRITE;
	r = blk_req_new(&io);
	assert_int_equal(blk_req_advance(r, 0), -EIO);
	blk_req_free(r);

	/* Zeroes in chunks of at most BLK_ZERO_IOVS * BLK_ZERO_BUF. */
	io = (struct block_io){ .op = BLOCK_WRITE_ZEROES, .offset = 0, .len = 3 * 1024 * KiB + 7,
				.done = tio_done };
	r = blk_req_new(&io);
	assert_false(blk_req_transfers(r));
	blk_req_start_zeroing(r);
	assert_true(blk_req_transfers(r));
	assert_int_equal(r->nr_iov, BLK_ZERO_IOVS);
	assert_int_equal(blk_req_advance(r, 1024 * KiB), 1);
	assert_int_equal(blk_req_advance(r, 1024 * KiB - 1), 1);  /* a short one */
	assert_int_equal(blk_req_advance(r, 1024 * KiB), 1);
	assert_int_equal(r->nr_iov, 1);
	assert_int_equal(r->iov[0].iov_len, 8);
	assert_int_equal(blk_req_advance(r, 8), 0);
	assert_int_equal(blk_req_result(r), 0);
	blk_req_free(r);
}

/* ---- io_uring unavailable ---------------------------------------------- */

/* In a child: io_uring_setup fails with `err` (a seccomp filter). */
static int forbid_io_uring(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned int)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return (int)syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static int child_open(int err, bool aio_given)
{
	struct drive_config cfg = config(path_of("nouring.img"), false, DRIVE_CACHE_WRITEBACK);
	struct block_backend *b;
	struct block_image img;
	int e;

	log_set_sink(fopen(path_of("child.log"), "a"));
	if (forbid_io_uring(err))
		return 10;
	assert_int_equal(image_open(&cfg, &img), 0);
	e = block_uring_create(&img, NULL, &b);
	image_close(&img);
	if (e != -ENOSYS)
		return 11;
	cfg.aio_given = aio_given;
	e = block_backend_open(&cfg, NULL, &b);
	if (aio_given)
		return e == -ENOSYS ? 0 : 12;
	if (e)
		return 13;
	/* The thread pool took over. */
	e = do_io(b, BLOCK_FLUSH, 0, 0, NULL, 0) == 0 ? 0 : 14;
	block_destroy(b);
	return e;
}

static void test_uring_unavailable(void **state)
{
	static const int errs[] = { ENOSYS, EPERM };
	char buf[4096];
	FILE *child_log;
	size_t len;

	make_file(path_of("nouring.img"), 64 * KiB, NULL, 0);
	for (int i = 0; i < 4; i++) {
		int status;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0)
			_exit(child_open(errs[i / 2], i % 2));
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	child_log = fopen(path_of("child.log"), "r");
	assert_non_null(child_log);
	len = fread(buf, 1, sizeof(buf) - 1, child_log);
	buf[len] = '\0';
	fclose(child_log);
	assert_non_null(strstr(buf, "io_uring is unavailable (Function not implemented)"));
	assert_non_null(strstr(buf, "io_uring is unavailable (Operation not permitted)"));
	assert_non_null(strstr(buf, "using aio=threads instead"));
}

static void test_backend_open(void **state)
{
	struct drive_config cfg = config(path_of("open.img"), false, DRIVE_CACHE_WRITEBACK);
	struct block_backend *b, *b2;

	make_file(cfg.file, 64 * KiB, NULL, 0);
	cfg.aio = DRIVE_AIO_THREADS;
	assert_int_equal(block_backend_open(&cfg, NULL, &b), 0);
	assert_string_equal(b->path, cfg.file);
	/* The lock lives as long as the backend. */
	cfg.aio = DRIVE_AIO_IO_URING;
	assert_int_equal(block_backend_open(&cfg, NULL, &b2), -EBUSY);
	assert_logged("in use");
	block_destroy(b);
	assert_int_equal(block_backend_open(&cfg, NULL, &b2), 0);
	block_destroy(b2);
}

#define FOR_EACH_KIND(t) \
	cmocka_unit_test_prestate(t, &kinds[URING]), \
	cmocka_unit_test_prestate(t, &kinds[URING_POLL]), \
	cmocka_unit_test_prestate(t, &kinds[THREADS])

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_errors),
		cmocka_unit_test(test_image_formats),
		cmocka_unit_test(test_image_unreadable),
		cmocka_unit_test(test_image_locking),
		cmocka_unit_test(test_image_direct),
		cmocka_unit_test(test_req_advance),
		FOR_EACH_KIND(test_read_write_iovecs),
		FOR_EACH_KIND(test_discard_write_zeroes),
		FOR_EACH_KIND(test_write_zeroes_fallback),
		FOR_EACH_KIND(test_many_in_flight),
		FOR_EACH_KIND(test_concurrent_submit_and_drain),
		FOR_EACH_KIND(test_drain),
		FOR_EACH_KIND(test_readonly),
		FOR_EACH_KIND(test_direct),
		FOR_EACH_KIND(test_short_read_past_eof),
		FOR_EACH_KIND(test_bad_requests),
		cmocka_unit_test(test_poll_drain_beside_loop),
		cmocka_unit_test(test_uring_unavailable),
		cmocka_unit_test(test_backend_open),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

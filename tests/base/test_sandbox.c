// SPDX-License-Identifier: MIT
/*
 * The seccomp allow-lists (base/sandbox.h), each case in a forked child
 * that confines itself and then does something: what the role allows
 * works, a call outside it kills the child with status 159 and one line
 * naming the role and the call — also when the call comes from a device
 * model's path (a UART whose output sink opens a file, as a compromised
 * or buggy device would) — and log mode lets it through.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/kvm.h>

#include "base/sandbox.h"
#include "devices/bus.h"
#include "devices/uart.h"

struct outcome {
	int status;          /* exit status, or 128 + signal */
	char err[1024];      /* the child's stderr */
};

static void mark_violation(void)
{
	static const char m[] = "[hook ran]\n";
	ssize_t r = write(STDERR_FILENO, m, sizeof(m) - 1);

	(void)r;
}

/* Run fn in a child that first prepares mode and enters role; the child
 * leaves with _exit (no atexit handlers: a sanitizer's exit-time scan is
 * not what is being tested). */
static struct outcome run(enum sandbox_mode mode, enum sandbox_role role, void (*fn)(void))
{
	struct outcome o = { 0 };
	int pipefd[2];
	pid_t pid;
	ssize_t n, got = 0;
	int st;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		if (sandbox_prepare(mode, SANDBOX_NET_USER, mark_violation) || sandbox_enter(role))
			_exit(90);
		fn();
		_exit(0);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], o.err + got, sizeof(o.err) - 1 - (size_t)got)) > 0)
		got += n;
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	o.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return o;
}

static void expect_killed(const struct outcome *o, const char *role, const char *call)
{
	char want[128];

	snprintf(want, sizeof(want), "the %s thread made a system call outside its allow-list: %s (",
		 role, call);
	if (o->status != SANDBOX_EXIT_STATUS || !strstr(o->err, want))
		fail_msg("status %d, stderr: %s (wanted %s)", o->status, o->err, want);
	assert_non_null(strstr(o->err, "[hook ran]"));
	/* One line from the sandbox, then the hook's. */
	assert_ptr_equal(strchr(o->err, '\n'), strstr(o->err, "\n[hook ran]"));
}

/* ---- what the children do ------------------------------------------------- */

static int kick_fd = -1;   /* an eventfd made before the child confines itself */
static bool talks_to_kvm;  /* every role but the profiler's */

static void everyday_work(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	uint64_t one = 1, v = 0;
	char buf[16];
	struct timespec ts;
	void *mem;

	/* Memory, locks, time, entropy, a kick through an eventfd. */
	mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || mprotect(mem, 4096, PROT_READ) || munmap(mem, 1 << 20))
		_exit(10);
	pthread_mutex_lock(&m);
	pthread_mutex_unlock(&m);
	if (clock_gettime(CLOCK_MONOTONIC, &ts) || getrandom(buf, sizeof(buf), 0) != sizeof(buf))
		_exit(11);
	if (write(kick_fd, &one, 8) != 8 || read(kick_fd, &v, 8) != 8 || v != 1)
		_exit(12);
	/* A KVM request a running VM makes, on a descriptor that is not
	 * KVM's: the filter lets it through, the kernel says EBADF. */
	if (talks_to_kvm && (ioctl(-1, KVM_RUN, 0) != -1 || errno != EBADF))
		_exit(13);
	_exit(0);
}

static void make_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	_exit(fd >= 0 ? 0 : 20);
}

static void exec_shell(void)
{
	char *const argv[] = { "/bin/sh", "-c", "true", NULL };

	execve("/bin/sh", argv, NULL);
	_exit(21);
}

static void executable_memory(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	_exit(p == MAP_FAILED ? 22 : 23);
}

static void create_vm(void)
{
	ioctl(-1, KVM_CREATE_VM, 0);
	_exit(24);
}

/* A device on the vCPU's path whose output sink opens a file at run time. */
static void sink_opens(void *ctx, const uint8_t *buf, size_t len)
{
	int fd = open("/etc/hostname", O_RDONLY);

	if (fd >= 0)
		close(fd);
}

static struct bus pio;

static void device_path(void)
{
	uint8_t byte = 'A';

	/* The bus and the UART were built before the child confined itself,
	 * as a VM's are: the guest's OUT to the transmit register reaches
	 * the sink. */
	bus_access(&pio, 0x3F8, &byte, 1, true);
	_exit(25);
}

static void *thread_body(void *arg)
{
	return arg;
}

static void main_starts_thread(void)
{
	pthread_t t;
	void *r = NULL;

	/* clone3 is answered ENOSYS, glibc falls back to clone(CLONE_THREAD). */
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		_exit(30);
	if (pthread_create(&t, NULL, thread_body, (void *)7) || pthread_join(t, &r) || r != (void *)7)
		_exit(31);
	/* The main thread may write files (snapshots, reports). */
	if (open("/dev/null", O_WRONLY) < 0)
		_exit(32);
	_exit(0);
}

static void main_forks(void)
{
	pid_t pid = (pid_t)syscall(SYS_fork);

	_exit(pid < 0 ? 33 : 34);
}

/* What libslirp does on the I/O thread: a UDP socket, its pending size
 * (FIONREAD), /etc/resolv.conf read-only. */
static void io_does_slirp_work(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0), n = -1;

	if (fd < 0 || ioctl(fd, FIONREAD, &n) || n != 0)
		_exit(42);
	close(fd);
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0)
		_exit(43);
	close(fd);
	_exit(0);
}

static void io_reads_resolv_conf(void)
{
	int fd = open("/dev/null", O_RDONLY);

	if (fd < 0)
		_exit(40);
	close(fd);
	open("/dev/null", O_WRONLY);   /* only reading: killed here */
	_exit(41);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_roles_have_lists(void **state)
{
	unsigned int ioctls, calls[SANDBOX_ROLES];

	assert_int_equal(sandbox_prepare(SANDBOX_ON, SANDBOX_NET_USER, NULL), 0);
	for (int r = 0; r < SANDBOX_ROLES; r++) {
		calls[r] = sandbox_allowed((enum sandbox_role)r, &ioctls);
		assert_true(calls[r] > 20);
		print_message("seccomp allow-list: %-8s %3u system calls, %2u ioctl requests\n",
			      sandbox_role_name((enum sandbox_role)r), calls[r], ioctls);
	}
	assert_true(calls[SANDBOX_VCPU] < calls[SANDBOX_IO]);
	assert_true(calls[SANDBOX_IO] < calls[SANDBOX_MAIN]);
	sandbox_release();
	assert_int_equal(sandbox_allowed(SANDBOX_MAIN, NULL), 0);
	/* Off builds nothing and confines nothing. */
	assert_int_equal(sandbox_prepare(SANDBOX_OFF, 0, NULL), 0);
	assert_int_equal(sandbox_allowed(SANDBOX_VCPU, NULL), 0);
	assert_int_equal(sandbox_enter(SANDBOX_VCPU), 0);
}

static void test_allowed_work_goes_on(void **state)
{
	kick_fd = eventfd(0, 0);
	assert_true(kick_fd >= 0);
	for (int r = 0; r < SANDBOX_ROLES; r++) {
		struct outcome o;

		talks_to_kvm = r != SANDBOX_PROFILE;
		o = run(SANDBOX_ON, (enum sandbox_role)r, everyday_work);

		if (o.status != 0)
			fail_msg("%s: status %d, stderr: %s", sandbox_role_name((enum sandbox_role)r),
				 o.status, o.err);
	}
	close(kick_fd);
}

static void test_forbidden_calls_stop(void **state)
{
	struct outcome o = run(SANDBOX_ON, SANDBOX_VCPU, make_socket);

	expect_killed(&o, "vCPU", "socket");
	o = run(SANDBOX_ON, SANDBOX_CONSOLE, exec_shell);
	expect_killed(&o, "console", "execve");
	o = run(SANDBOX_ON, SANDBOX_BLOCK, executable_memory);
	expect_killed(&o, "disk", "mmap");
	o = run(SANDBOX_ON, SANDBOX_IO, create_vm);
	expect_killed(&o, "I/O", "ioctl");
	o = run(SANDBOX_ON, SANDBOX_MAIN, main_forks);
	expect_killed(&o, "main", "fork");
	o = run(SANDBOX_ON, SANDBOX_IO, io_reads_resolv_conf);
	expect_killed(&o, "I/O", "openat");
}

static void test_device_path_is_stopped(void **state)
{
	struct byte_sink out = { .write = sink_opens };
	struct irq_line irq = { 0 };
	struct uart *u = uart_create("com1", &irq, &out);
	struct outcome o;

	assert_non_null(u);
	bus_init(&pio, "pio");
	assert_int_equal(bus_insert(&pio, 0x3F8, 8, uart_device(u)), 0);
	o = run(SANDBOX_ON, SANDBOX_VCPU, device_path);
	expect_killed(&o, "vCPU", "openat");
	/* Unconfined, the same path simply runs. */
	o = run(SANDBOX_OFF, SANDBOX_VCPU, device_path);
	assert_int_equal(o.status, 25);
	bus_destroy(&pio);
	device_destroy(uart_device(u));
}

static void test_io_serves_slirp(void **state)
{
	struct outcome o = run(SANDBOX_ON, SANDBOX_IO, io_does_slirp_work);

	if (o.status != 0)
		fail_msg("status %d, stderr: %s", o.status, o.err);
	/* Without -netdev user the same is outside the I/O thread's list. */
	o = run(SANDBOX_ON, SANDBOX_VCPU, io_does_slirp_work);
	expect_killed(&o, "vCPU", "socket");
}

static void test_main_keeps_threads_and_files(void **state)
{
	struct outcome o = run(SANDBOX_ON, SANDBOX_MAIN, main_starts_thread);

	if (o.status != 0)
		fail_msg("status %d, stderr: %s", o.status, o.err);
}

static void test_log_mode_lets_through(void **state)
{
	struct outcome o = run(SANDBOX_LOG, SANDBOX_VCPU, make_socket);

	assert_int_equal(o.status, 0);
	assert_null(strstr(o.err, "allow-list"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles_have_lists),
		cmocka_unit_test(test_allowed_work_goes_on),
		cmocka_unit_test(test_forbidden_calls_stop),
		cmocka_unit_test(test_device_path_is_stopped),
		cmocka_unit_test(test_io_serves_slirp),
		cmocka_unit_test(test_main_keeps_threads_and_files),
		cmocka_unit_test(test_log_mode_lets_through),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

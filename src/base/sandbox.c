// SPDX-License-Identifier: MIT
/* Per-thread seccomp allow-lists (base/sandbox.h). */
#include "base/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

/* ---- the lists ------------------------------------------------------------ */

/* Every thread: memory, time, signals and kicks, waiting, I/O on
 * descriptors it already has. */
static const char *const base_calls[] = {
	"read", "write", "readv", "writev", "close", "futex", "munmap", "madvise", "mremap",
	"brk", "exit", "exit_group", "rt_sigreturn", "rt_sigprocmask", "sigaltstack",
	"clock_gettime", "clock_nanosleep", "nanosleep", "gettimeofday", "time", "getpid",
	"gettid", "tgkill", "sched_yield", "restart_syscall", "poll", "ppoll", "epoll_wait",
	"epoll_pwait", "epoll_ctl", "fcntl", "fstat", "newfstatat", "lseek", "getrandom",
	"rseq", "timerfd_settime", "timerfd_gettime", "io_uring_enter", "sendto", "sendmsg",
	"recvfrom", "recvmsg",
};

/* The main thread: the control socket's clients, snapshots and reports
 * (files under paths fixed at set-up), restarting the I/O thread after a
 * snapshot (a thread inherits this list, so it holds the I/O thread's
 * too: see add_role), teardown. */
static const char *const main_calls[] = {
	"openat", "mkdirat", "mkdir", "renameat", "renameat2", "rename", "unlinkat", "unlink",
	"ftruncate", "fallocate", "fsync", "fdatasync", "msync", "pread64", "pwrite64",
	"preadv", "pwritev", "getdents64", "accept4", "accept", "shutdown", "getsockopt",
	"setsockopt", "getsockname", "getpeername", "flock", "fchmod", "umask", "readlink",
	"readlinkat", "statx", "faccessat", "faccessat2", "access", "dup", "dup3",
	"set_robust_list", "rt_sigaction", "rmdir", "getcwd", "linkat", "chmod",
	"sched_getaffinity",   /* a new thread's start under AddressSanitizer */
};

/* Disks: the thread pool's transfers and the I/O thread's poll mode. */
static const char *const block_calls[] = {
	"pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2", "fdatasync",
	"fsync", "fallocate",
};

/* libslirp: it opens sockets for the guest's connections, and reads
 * /etc/resolv.conf (read-only; see allow_read_only_open). */
static const char *const slirp_calls[] = {
	"socket", "connect", "bind", "listen", "accept", "accept4", "setsockopt",
	"getsockopt", "getsockname", "getpeername", "shutdown",
};

static const char *const gdb_calls[] = {
	"accept4", "accept", "shutdown", "setsockopt", "getsockopt", "getpeername",
};

/* What a running VM asks of KVM, and nothing that builds one. */
static const unsigned long kvm_ioctls[] = {
	KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_GET_FPU,
	KVM_SET_FPU, KVM_GET_XSAVE, KVM_GET_XSAVE2, KVM_SET_XSAVE, KVM_GET_XCRS, KVM_GET_MSRS,
	KVM_SET_MSRS, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_TRANSLATE,
	KVM_SET_GUEST_DEBUG, KVM_NMI, KVM_SET_USER_MEMORY_REGION, KVM_SET_GSI_ROUTING,
	KVM_IRQFD, KVM_IOEVENTFD, KVM_IRQ_LINE, KVM_IRQ_LINE_STATUS, KVM_SIGNAL_MSI,
	KVM_CHECK_EXTENSION, KVM_GET_MSR_INDEX_LIST, KVM_GET_TSC_KHZ, KVM_GET_CLOCK,
	KVM_GET_LAPIC, KVM_GET_DEBUGREGS, KVM_GET_MP_STATE, KVM_GET_IRQCHIP, KVM_GET_PIT2,
	KVM_GET_CPUID2, KVM_GET_STATS_FD,
};

/* The terminal: its size, and the raw mode put back at the end (also from
 * the SIGSYS handler, on any thread). */
static const unsigned long tty_ioctls[] = { TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ };

/* ---- state ---------------------------------------------------------------- */

/* System call numbers below this are named and counted (x86-64 has ~460). */
#define NR_CALLS 512

struct role_filter {
	struct sock_fprog prog;
	unsigned int ioctls;            /* requests allowed */
	uint64_t allowed[NR_CALLS / 64]; /* system calls allowed, by number */
};

static struct {
	bool prepared;
	enum sandbox_mode mode;
	struct role_filter roles[SANDBOX_ROLES];
	void (*on_violation)(void);
	char *names[NR_CALLS];       /* syscall names, for the SIGSYS line */
} sb;

static __thread int this_role = -1;

static const char *const role_names[SANDBOX_ROLES] = {
	[SANDBOX_MAIN] = "main", [SANDBOX_VCPU] = "vCPU", [SANDBOX_IO] = "I/O",
	[SANDBOX_CONSOLE] = "console", [SANDBOX_BLOCK] = "disk", [SANDBOX_GDB] = "gdb",
	[SANDBOX_PROFILE] = "profiler",
};

const char *sandbox_role_name(enum sandbox_role role)
{
	return role < SANDBOX_ROLES ? role_names[role] : "unknown";
}

enum sandbox_mode sandbox_default_mode(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return SANDBOX_OFF;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return SANDBOX_OFF;
#else
	return SANDBOX_ON;
#endif
#else
	return SANDBOX_ON;
#endif
}

/* ---- building ------------------------------------------------------------- */

/* Note that role rf allows system call nr (for sandbox_allowed). */
static void count_call(struct role_filter *rf, int nr)
{
	if (nr >= 0 && nr < NR_CALLS)
		rf->allowed[nr / 64] |= 1ull << (nr % 64);
}

static int allow_names(scmp_filter_ctx ctx, const char *const *names, size_t n,
		       struct role_filter *rf)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		int err;

		if (nr == __NR_SCMP_ERROR)
			continue;       /* not a call on this architecture */
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (err && err != -EEXIST)
			return err;
		count_call(rf, nr);
	}
	return 0;
}

static int allow_ioctls(scmp_filter_ctx ctx, const unsigned long *reqs, size_t n,
			struct role_filter *rf)
{
	for (size_t i = 0; i < n; i++) {
		/* The kernel takes the request as 32 bits: compare those, so a
		 * caller's sign extension changes nothing. */
		int err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
					   SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, reqs[i]));

		if (err && err != -EEXIST)
			return err;
		rf->ioctls++;
	}
	count_call(rf, SCMP_SYS(ioctl));
	return 0;
}

/* mmap and mprotect, never executable. */
static int allow_memory(scmp_filter_ctx ctx, struct role_filter *rf)
{
	int err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				   SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));

	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	count_call(rf, SCMP_SYS(mmap));
	count_call(rf, SCMP_SYS(mprotect));
	return err;
}

/* openat for reading only (libslirp's /etc/resolv.conf). */
static int allow_read_only_open(scmp_filter_ctx ctx, struct role_filter *rf)
{
	count_call(rf, SCMP_SYS(openat));
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY));
}

/* The main thread starts threads (the I/O thread again after a snapshot):
 * clone for threads only, clone3 answered ENOSYS so glibc falls back to
 * clone, whose flags a filter can see; the new thread then enters its own
 * filter (prctl, seccomp). */
static int allow_threads(scmp_filter_ctx ctx, struct role_filter *rf)
{
	int err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				   SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));

	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				       SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				       SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 1,
				       SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER));
	count_call(rf, SCMP_SYS(clone));
	count_call(rf, SCMP_SYS(prctl));
	count_call(rf, SCMP_SYS(seccomp));
	return err;
}

static int add_io(scmp_filter_ctx ctx, unsigned int features, struct role_filter *rf)
{
	static const unsigned long tap_ioctls[] = { TUNSETOFFLOAD };
	/* libslirp sizes every UDP datagram (DNS replies) with FIONREAD. */
	static const unsigned long slirp_ioctls[] = { FIONREAD };
	int err = allow_names(ctx, block_calls, ARRAY_SIZE(block_calls), rf);

	if (!err && (features & SANDBOX_NET_USER)) {
		err = allow_names(ctx, slirp_calls, ARRAY_SIZE(slirp_calls), rf);
		if (!err)
			err = allow_ioctls(ctx, slirp_ioctls, 1, rf);
		if (!err)
			err = allow_read_only_open(ctx, rf);
	}
	if (!err && (features & SANDBOX_NET_TAP))
		err = allow_ioctls(ctx, tap_ioctls, 1, rf);
	return err;
}

static int add_role(scmp_filter_ctx ctx, enum sandbox_role role, unsigned int features,
		    struct role_filter *rf)
{
	int err = allow_names(ctx, base_calls, ARRAY_SIZE(base_calls), rf);

	if (!err)
		err = allow_memory(ctx, rf);
	if (!err)
		err = allow_ioctls(ctx, tty_ioctls, ARRAY_SIZE(tty_ioctls), rf);
	if (!err && role != SANDBOX_PROFILE)
		err = allow_ioctls(ctx, kvm_ioctls, ARRAY_SIZE(kvm_ioctls), rf);
	if (err)
		return err;
	switch (role) {
	case SANDBOX_MAIN:
		err = allow_names(ctx, main_calls, ARRAY_SIZE(main_calls), rf);
		if (!err)
			err = allow_threads(ctx, rf);
		if (!err)   /* what a restarted I/O thread inherits */
			err = add_io(ctx, features, rf);
		break;
	case SANDBOX_IO:
		err = add_io(ctx, features, rf);
		break;
	case SANDBOX_BLOCK:
		err = allow_names(ctx, block_calls, ARRAY_SIZE(block_calls), rf);
		break;
	case SANDBOX_GDB:
		err = allow_names(ctx, gdb_calls, ARRAY_SIZE(gdb_calls), rf);
		break;
	default:
		break;
	}
	return err;
}

/* libseccomp 2.5 exports BPF to a descriptor only: through a memfd. */
static int export_prog(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	int fd = memfd_create("minivmm-seccomp", MFD_CLOEXEC), err;
	off_t size;
	void *buf = NULL;

	if (fd < 0)
		return -errno;
	err = seccomp_export_bpf(ctx, fd);
	size = err ? -1 : lseek(fd, 0, SEEK_END);
	if (!err && (size <= 0 || size % sizeof(struct sock_filter)))
		err = -EINVAL;
	if (!err) {
		buf = malloc((size_t)size);
		if (!buf || pread(fd, buf, (size_t)size, 0) != size)
			err = buf ? -EIO : -ENOMEM;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	prog->filter = buf;
	prog->len = (unsigned short)(size / sizeof(struct sock_filter));
	return 0;
}

/* ---- the violation -------------------------------------------------------- */

static void put(const char *s)
{
	ssize_t r = write(STDERR_FILENO, s, strlen(s));

	(void)r;
}

static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	int nr = si->si_syscall;
	char num[16];
	int i = (int)sizeof(num) - 1;
	unsigned int v = nr < 0 ? 0 : (unsigned int)nr;

	num[i] = 0;
	do
		num[--i] = (char)('0' + v % 10);
	while ((v /= 10) && i > 0);
	put("minivmm: seccomp: the ");
	put(this_role >= 0 ? role_names[this_role] : "unconfined");
	put(" thread made a system call outside its allow-list: ");
	put(nr >= 0 && nr < (int)ARRAY_SIZE(sb.names) && sb.names[nr] ? sb.names[nr] : "?");
	put(" (");
	put(num + i);
	put("); stopping (--seccomp=log lets it through and logs it)\n");
	if (sb.on_violation)
		sb.on_violation();
	_exit(SANDBOX_EXIT_STATUS);
}

/* ---- the interface -------------------------------------------------------- */

int sandbox_prepare(enum sandbox_mode mode, unsigned int features, void (*on_violation)(void))
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	int err = 0;

	sandbox_release();
	sb.mode = mode;
	if (mode == SANDBOX_OFF)
		return 0;
	sb.on_violation = on_violation;
	for (int nr = 0; nr < (int)ARRAY_SIZE(sb.names); nr++)
		sb.names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	for (int r = 0; r < SANDBOX_ROLES && !err; r++) {
		scmp_filter_ctx ctx = seccomp_init(mode == SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP);

		if (!ctx) {
			err = -ENOMEM;
			break;
		}
		err = add_role(ctx, (enum sandbox_role)r, features, &sb.roles[r]);
		if (!err)
			err = export_prog(ctx, &sb.roles[r].prog);
		seccomp_release(ctx);
	}
	if (!err && mode == SANDBOX_ON && sigaction(SIGSYS, &sa, NULL))
		err = -errno;
	if (err) {
		log_err("seccomp: cannot build the allow-lists: %s (--seccomp=off runs without)",
			strerror(-err));
		sandbox_release();
		return err;
	}
	sb.prepared = true;
	return 0;
}

int sandbox_enter(enum sandbox_role role)
{
	if (!sb.prepared || sb.mode == SANDBOX_OFF || role >= SANDBOX_ROLES)
		return 0;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &sb.roles[role].prog)) {
		int err = -errno;

		log_err("seccomp: the %s thread cannot enter its allow-list: %s",
			role_names[role], strerror(-err));
		return err;
	}
	this_role = (int)role;
	return 0;
}

void sandbox_release(void)
{
	for (int r = 0; r < SANDBOX_ROLES; r++) {
		free(sb.roles[r].prog.filter);
		sb.roles[r] = (struct role_filter){ 0 };
	}
	for (size_t i = 0; i < ARRAY_SIZE(sb.names); i++) {
		free(sb.names[i]);
		sb.names[i] = NULL;
	}
	sb.prepared = false;
}

unsigned int sandbox_allowed(enum sandbox_role role, unsigned int *ioctls)
{
	unsigned int calls = 0;

	if (ioctls)
		*ioctls = 0;
	if (role >= SANDBOX_ROLES || !sb.prepared)
		return 0;
	if (ioctls)
		*ioctls = sb.roles[role].ioctls;
	for (unsigned int i = 0; i < ARRAY_SIZE(sb.roles[role].allowed); i++)
		calls += (unsigned int)__builtin_popcountll(sb.roles[role].allowed[i]);
	return calls;
}

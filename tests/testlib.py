# SPDX-License-Identifier: MIT
"""What the Python test runners share (tests/guest/*.py, tests/linux/*.py):
meson's skip status, the /dev/kvm check, the test kernel's files, sanitizer
settings for the minivmm processes they start, and running a command with
expectations on its status and output.

Import it with a path relative to the script:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
    import testlib
"""

import os
import re
import subprocess
import sys
import time

SKIP = 77  # meson's "skipped" status; never used to hide a failure

# Under -Db_sanitize=address,undefined, a report must end minivmm with a
# status no test expects: UBSan would otherwise print and carry on, and a
# sanitizer's default exit status (1) is also minivmm's "cannot build the
# VM".  abort_on_error turns both into SIGABRT.  Settings already in the
# environment win (a developer may want others).
SANITIZER_DEFAULTS = {
    'ASAN_OPTIONS': 'abort_on_error=1',
    'UBSAN_OPTIONS': 'halt_on_error=1:abort_on_error=1:print_stacktrace=1',
}


def fatal_sanitizers():
    """Make sanitizer reports fatal in every process started from here on."""
    for name, value in SANITIZER_DEFAULTS.items():
        os.environ.setdefault(name, value)


def skip(msg):
    """Print why, and leave with meson's skip status."""
    print(f'skip: {msg}')
    sys.exit(SKIP)


def kvm_problem():
    """None when /dev/kvm can be opened read-write, else why not."""
    if not os.path.exists('/dev/kvm'):
        return '/dev/kvm does not exist'
    if not os.access('/dev/kvm', os.R_OK | os.W_OK):
        return '/dev/kvm is not readable and writable by this user'
    try:
        os.close(os.open('/dev/kvm', os.O_RDWR))
    except OSError as e:
        return f'/dev/kvm cannot be opened ({e.strerror})'
    return None


def kvm_usable():
    return kvm_problem() is None


def need_linux_files(linux_dir, names):
    """Skip unless every file of `names` is in linux_dir, where
    guests/linux/build.sh puts the test kernel (it is not built by meson)."""
    missing = [n for n in names if not os.path.exists(os.path.join(linux_dir, n))]
    if missing:
        skip(f'no test kernel in {linux_dir} ({", ".join(missing)} missing): '
             'build it with guests/linux/build.sh (scripts/test.sh does)')


class Failure(Exception):
    """A check failed; the message says what and shows the output."""


def expect(cond, what, out='', err='', tail=2000):
    """Raise Failure(what, with the last `tail` characters of out and err)."""
    if not cond:
        raise Failure(f'{what}\n--- stdout ---\n{out[-tail:]}\n--- stderr ---\n{err[-tail:]}')


def run(cmd, timeout=60, stdin=subprocess.DEVNULL):
    """Run cmd to its end; (status, stdout, stderr) as text."""
    p = subprocess.run(cmd, stdin=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


MARKER = re.compile(r"^MINIVMM-MARKER (\w+)=(.*?)\r?$", re.M)


def boot_linux(cmd, timeout, stdin_text=None, runner=None):
    """Boots a Linux guest to its end (it reboots, minivmm exits):
    (completed process with text output, seconds, {marker: value}), or
    (None, seconds, {}) after printing FAIL and the console's tail when it
    does not end within timeout.  runner(), when given, runs cmd instead
    (it raises subprocess.TimeoutExpired the same way)."""
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.time()
    try:
        p = runner() if runner else subprocess.run(cmd, input=stdin_text,
                           stdin=subprocess.DEVNULL if stdin_text is None else None,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        print(f"FAIL: no reboot within {timeout:.0f} s\n--- console tail ---\n{out[-3000:]}")
        return None, time.time() - t0, {}
    return p, time.time() - t0, dict(MARKER.findall(p.stdout))


def verdict(problems, console, pass_line):
    """Exit status of a boot test: 1 after listing the problems and the
    console's tail, else 0 after pass_line."""
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        print("--- console tail ---\n" + console[-3000:])
        return 1
    print("PASS: " + pass_line)
    return 0


def expect_run(cmd, status, stdout=(), stderr=(), timeout=60, what=None):
    """Run cmd; its status must be `status`, every string of stdout must be
    in its output and every string of stderr in its messages (ignoring
    case).  Returns (stdout, stderr)."""
    what = what or ' '.join(cmd)
    st, out, err = run(cmd, timeout)
    expect(st == status, f'{what}: status {st}, expected {status}', out, err)
    for s in stdout:
        expect(s in out, f'stdout lacks {s!r}', out, err)
    for s in stderr:
        expect(s.lower() in err.lower(), f'stderr lacks {s!r}', out, err)
    return out, err


def run_checks(fn, label):
    """Call fn(); 0 when it returns, 1 (after saying why) when a check
    fails or a command times out."""
    try:
        fn()
    except Failure as e:
        print(f'FAIL{label}: {e}')
        return 1
    except subprocess.TimeoutExpired as e:
        print(f'FAIL{label}: timed out: {e}')
        return 1
    return 0


def pvm_tls_crash(out):
    """Whether console output out shows the known PVM-host TLS crash of
    user space with 2 vCPUs (docs/booting-linux.md, "Known issue: TLS with
    2 vCPUs"): a busybox process faults at 0 right after reading its TLS
    pointer through %fs (code "64 48 8b 00 <48> 8b 00": mov %fs:(%rax),%rax,
    then the load that faults).  A later process leaves /proc unmounted;
    when it is init itself, the kernel panics."""
    if not os.path.exists("/sys/module/kvm_pvm"):
        return False
    crash = re.search(r"^\w+\[\d+\]: segfault at 0 ip [0-9a-f]+ .* in busybox", out, re.M)
    if crash and "can't open /proc/" not in out:
        crash = re.search(r"^init\[1\]: segfault at 0 ip [0-9a-f]+ .* in busybox", out, re.M) \
            and re.search(r"^Code: .* 64 48 8b 00 <48> 8b 00 ", out, re.M) \
            and "Attempted to kill init!" in out
    return bool(crash)

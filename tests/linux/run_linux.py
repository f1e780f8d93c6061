#!/usr/bin/env python3
"""Boot the Linux test kernel (guests/linux/build.sh) under minivmm and check
the markers its /init prints:

  run_linux.py --vmm MINIVMM --linux DIR --kernel bzImage|vmlinux
               [--smp N] [-m SIZE_MIB] [--append STR] [--shell-input TEXT]
               [--expect REGEX]... [--timeout S] [-- extra minivmm args]

Checks: exit status 0 (the guest's `reboot -f` with reboot=k resets through
the i8042), kernel version, CPU count == --smp, MemTotal within 10% of -m
(minus what the kernel keeps), the command line round trip, initrd mounted.
Exits 77 (skip) when /dev/kvm is unusable or the kernel was not built.
"""
import argparse
import os
import re
import select
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testlib  # noqa: E402


def run_with_late_input(cmd, text, after, timeout):
    """subprocess.run, but stdin gets `text` only once stdout matched `after`."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    chunks, err = [], []
    t_err = threading.Thread(target=lambda: err.append(p.stderr.read()), daemon=True)
    t_err.start()
    deadline = time.time() + timeout
    sent = False
    fd = p.stdout.fileno()
    while True:
        left = deadline - time.time()
        if left <= 0:
            p.kill()
            p.wait()
            raise subprocess.TimeoutExpired(cmd, timeout, output=b"".join(chunks))
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if r:
            d = os.read(fd, 65536)
            if not d:
                break
            chunks.append(d)
        if not sent and re.search(after, b"".join(chunks).decode(errors="replace"), re.M):
            p.stdin.write((text or "").encode())
            p.stdin.close()
            sent = True
    p.wait()
    t_err.join(10)
    return subprocess.CompletedProcess(cmd, p.returncode,
                                       b"".join(chunks).decode(errors="replace"),
                                       (err[0] if err else b"").decode(errors="replace"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--linux", required=True, help="directory with bzImage, vmlinux, initramfs")
    ap.add_argument("--kernel", default="bzImage")
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("-m", type=int, default=128, help="MiB")
    ap.add_argument("--append", default="")
    ap.add_argument("--shell-input", default=None)
    ap.add_argument("--input-after", default=None,
                    help="send --shell-input only once the console matches this regex "
                         "(Linux drops hvc0 input that arrives before /init opens it)")
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()

    testlib.fatal_sanitizers()
    if not testlib.kvm_usable():
        testlib.skip(testlib.kvm_problem())
    kernel = os.path.join(a.linux, a.kernel)
    initrd = os.path.join(a.linux, "initramfs.cpio")
    if not os.path.exists(initrd):
        initrd += ".gz"
    testlib.need_linux_files(a.linux, [a.kernel, os.path.basename(initrd), "kernel.version"])
    version = open(os.path.join(a.linux, "kernel.version")).read().strip()
    console = "hvc0" if "--console=virtio" in a.extra else "ttyS0"
    append = f"console={console} reboot=k panic=-1 minivmm.test=ok {a.append}".strip()
    cmd = [a.vmm, "-m", f"{a.m}M", "-smp", str(a.smp), "-kernel", kernel,
           "-initrd", initrd, "-append", append] + a.extra
    runner = None
    if a.input_after:
        def runner():
            return run_with_late_input(cmd, a.shell_input, a.input_after, a.timeout)
    p, dt, markers = testlib.boot_linux(cmd, a.timeout, a.shell_input, runner)
    if p is None:
        return 1
    out, err = p.stdout, p.stderr
    first = re.search(r"^Linux version", out, re.M)
    print(f"booted in {dt:.1f} s, status {p.returncode}, markers {markers}")
    problems = []
    if p.returncode != 0:
        problems.append(f"exit status {p.returncode}, expected 0")
    # hvc0 registers late; a tiny kernel's log buffer has dropped the
    # first lines by the time they are replayed to it.
    if not first and console != "hvc0":
        problems.append("no 'Linux version' line on the console")
    if markers.get("kernel") != version:
        problems.append(f"kernel={markers.get('kernel')!r}, expected {version!r}")
    if markers.get("cpus") != str(a.smp):
        problems.append(f"cpus={markers.get('cpus')!r}, expected {a.smp}")
    try:
        mem_kb = int(markers.get("memtotal_kb", "0"))
        if not (a.m * 1024 * 0.80 <= mem_kb <= a.m * 1024):
            problems.append(f"MemTotal {mem_kb} kB is not within 80-100% of {a.m} MiB")
    except ValueError:
        problems.append(f"memtotal_kb={markers.get('memtotal_kb')!r}")
    if append not in markers.get("cmdline", ""):
        problems.append(f"cmdline={markers.get('cmdline')!r} does not contain {append!r}")
    if markers.get("initrd") != "ok":
        problems.append("initrd marker missing")
    for rx in a.expect:   # the console, then minivmm's own messages (--stats)
        if not re.search(rx, out, re.M) and not re.search(rx, err, re.M):
            problems.append(f"console and stderr lack /{rx}/")
    if problems and testlib.pvm_tls_crash(out):
        # docs/booting-linux.md, "Known issue: TLS with 2 vCPUs".
        print("skip: the known PVM-host TLS crash of user space hit this boot:\n  " +
              "\n  ".join(problems))
        return testlib.SKIP
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        print(f"--- console tail ---\n{out[-4000:]}\n--- minivmm stderr ---\n{err[-3000:]}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

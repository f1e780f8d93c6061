#!/usr/bin/env python3
"""minivmm's boot cache with the test kernel (src/boot/cache.c): the first
start decompresses the bzImage's payload and an xz initrd and keeps both
under $XDG_CACHE_HOME/minivmm; the second says it took the initrd from the
cache; --no-cache neither reads nor writes it; a damaged entry is dropped
and the file decompressed again.  Each start is stopped (SIGTERM) once the
initrd line is printed: nothing here needs the guest to boot.

  run_cache.py --vmm MINIVMM --linux DIR
Exits 77 (skip) when /dev/kvm is unusable or the kernel was not built.
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testlib  # noqa: E402


def start(vmm, linux, initrd, cache_home, extra=()):
    """minivmm's stderr up to the initrd line (then SIGTERM), and its status."""
    cmd = [vmm, "-m", "256M", "-kernel", os.path.join(linux, "bzImage"), "-initrd", initrd,
           "-append", "console=ttyS0"] + list(extra)
    env = dict(os.environ, XDG_CACHE_HOME=cache_home)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                         text=True, errors="replace")
    lines, deadline = [], time.time() + 120
    for line in p.stderr:
        lines.append(line.rstrip("\n"))
        if "of cpio" in line or time.time() > deadline:
            break
    p.send_signal(signal.SIGTERM)
    _, rest = p.communicate(timeout=60)
    lines += rest.splitlines()
    return p.returncode, lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--linux", required=True)
    a = ap.parse_args()

    testlib.fatal_sanitizers()
    if not testlib.kvm_usable():
        testlib.skip(testlib.kvm_problem())
    testlib.need_linux_files(a.linux, ["bzImage", "initramfs.cpio"])
    problems = []
    with tempfile.TemporaryDirectory(prefix="minivmm-cache-") as tmp:
        initrd = os.path.join(tmp, "initrd.xz")
        with open(initrd, "wb") as f:
            f.write(subprocess.run(["xz", "--check=crc32", "-3", "-c",
                                    os.path.join(a.linux, "initramfs.cpio")],
                                   stdout=subprocess.PIPE, check=True).stdout)
        home = os.path.join(tmp, "cache")
        cdir = os.path.join(home, "minivmm")

        def entries():
            return sorted(os.listdir(cdir)) if os.path.isdir(cdir) else []

        def initrd_line(lines):
            return next((l for l in lines if "of cpio" in l), None)

        runs = [("first", []), ("second", []), ("--no-cache", ["--no-cache"])]
        seen = {}
        for name, extra in runs:
            if name == "--no-cache":
                before = entries()
            st, lines = start(a.vmm, a.linux, initrd, home, extra)
            line = initrd_line(lines)
            print(f"{name}: status {st}: {line}")
            seen[name] = line or ""
            if line is None:
                problems.append(f"{name} start: no initrd line:\n  " + "\n  ".join(lines[-10:]))
            if name == "first":
                got = entries()
                print(f"cache entries: {got}")
                if not any(e.startswith("kernel-") for e in got) or \
                   not any(e.startswith("initrd-") for e in got):
                    problems.append(f"after the first start the cache holds {got}")
            if name == "--no-cache" and entries() != before:
                problems.append("--no-cache changed the cache")
        if "(from the cache)" in seen["first"]:
            problems.append("the first start claims a cache hit")
        if "(from the cache)" not in seen["second"]:
            problems.append("the second start did not take the initrd from the cache")
        if "(from the cache)" in seen["--no-cache"]:
            problems.append("--no-cache read the cache")
        # Damage the initrd entry: dropped, decompressed again, stored again.
        ent = next((e for e in entries() if e.startswith("initrd-")), None)
        if ent:
            path = os.path.join(cdir, ent)
            with open(path, "r+b") as f:
                f.seek(-100, os.SEEK_END)
                f.write(b"\xff" * 8)
            st, lines = start(a.vmm, a.linux, initrd, home)
            line = initrd_line(lines) or ""
            print(f"damaged entry: status {st}: {line}")
            if "(from the cache)" in line or "unpacked on the host" not in line:
                problems.append(f"damaged entry: {line!r}")
            st, lines = start(a.vmm, a.linux, initrd, home)
            if "(from the cache)" not in (initrd_line(lines) or ""):
                problems.append("the entry was not stored again after the damaged one")
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        return 1
    print("PASS: boot cache: stored, hit, bypassed, damaged entry replaced")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run the hostile virtio-blk guest (guests/virtio_blk.c) against fresh raw
images and check minivmm from the outside.

Usage: test_virtio_blk.py MINIVMM GUEST_ELF VARIANT [--timeout S]

Two 1 MiB images are made in a temporary directory, every byte set to the
pattern the guest knows (bg_byte() in guests/vblk/vblk.h): drive 1 is
read-write (with a serial), drive 2 readonly=on.  The guest drives both,
writes a pattern from a seed at a sector chosen here, then attacks the
device.  Checks: minivmm's exit status is 0 (the guest's verdict), no
sanitizer report, one "ok" line per hostile case, the first warnings
minivmm prints for them, and afterwards the read-write image holds the
pattern exactly at that sector and the host's bytes everywhere else while
the read-only image is unchanged (minivmm flushes at the stop).
Exits 0, 1 with an explanation, or 77 (skip) without /dev/kvm.
"""

import argparse
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testlib  # noqa: E402
from testlib import expect  # noqa: E402

IMAGE_SIZE = 1 << 20
SECTOR = 512
BIG_LEN = 8192  # what the guest writes (BIG_LEN in vblk.h)

# Each variant: extra minivmm arguments, -drive options for both drives.
VARIANTS = {
    "default": ([], ""),
    "chunks2M": (["--mem-layout=chunks:2M"], ""),
    "split3584M": (["-m", "3584M", "--mem-layout=split"], ""),
    "threads": ([], ",aio=threads"),
    "cache-none": ([], ",cache=none"),
}

# Warnings minivmm prints for the first cases (before its rate limits).
WARNINGS = [
    r"driver accepted features 0x[0-9a-f]+ that were not offered",
    r"kick of queue 0 dropped \(device not active\)",
    r"size 12 is not a power of two",
    r"used ring \[0x[0-9a-f]+, \+0x106\) is not guest RAM",
]
SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
                       r"runtime error:", re.I)


def bg_image(size):
    """Byte o is (s*0x9E + (o%512)*7 + (s>>8)*13 + 0x5A) & 0xFF, s = o//512."""
    rows = [bytes((b + 7 * i) & 0xFF for i in range(SECTOR)) for b in range(256)]
    return b"".join(rows[(s * 0x9E + (s >> 8) * 13 + 0x5A) & 0xFF] for s in range(size // SECTOR))


def pattern(seed):
    return bytes(((i * 13) ^ seed ^ (i >> 8)) & 0xFF for i in range(BIG_LEN))


def first_diff(a, b):
    return next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))


def run(vmm, guest, variant, timeout, tmp):
    extra, opts = VARIANTS[variant]
    rng = random.Random()
    seed = rng.randrange(256)
    sectors = IMAGE_SIZE // SECTOR
    # 4 KiB aligned; the guest reads 32 sectors from rsector, writes 16 at
    # wsector: keep them apart so the reads always see the host's bytes.
    wsector = rng.randrange(64, sectors - 16, 8)
    rsector = rng.choice([s for s in range(0, sectors - 32, 8)
                          if s + 32 <= wsector or s >= wsector + 16])
    serial = "minivmm-vblk-%07x" % rng.randrange(1 << 28)   # all 20 bytes
    # The guest bounds each wait in TSC cycles: a quarter of the test's
    # time at 1 GHz (a few seconds on faster clocks).
    wait = int(timeout / 4 * 1e9)
    bg = bg_image(IMAGE_SIZE)
    rw, ro = os.path.join(tmp, "rw.img"), os.path.join(tmp, "ro.img")
    for path in (rw, ro):
        with open(path, "wb") as f:
            f.write(bg)
    cmd = [vmm, "-kernel", guest] + extra + [
        "-drive", f"file={rw},if=virtio,serial={serial}{opts}",
        "-drive", f"file={ro},if=virtio,readonly=on{opts}",
        "-append", f"serial={serial} seed={seed} rsector={rsector} wsector={wsector} "
                   f"cap={sectors} wait={wait}"]
    print("$ " + " ".join(cmd))
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        raise testlib.Failure(f"minivmm still running after {timeout:g} s\n{out[-3000:]}")
    out = p.stdout.decode("utf-8", "replace").replace("\r\n", "\n")
    err = p.stderr.decode("utf-8", "replace")
    status = p.returncode
    what = f"status {status}" + (f" ({signal.Signals(-status).name})" if status < 0 else "")
    expect(not SANITIZER.search(err), "a sanitizer report", out, err, 6000)
    expect(status == 0, f"minivmm: {what}, expected 0 (the guest's verdict)", out, err, 6000)
    m = re.search(r"^vblk: PASS: (\d+) hostile cases", out, re.M)
    expect(m, "no PASS line from the guest", out, err)
    ok_cases = re.findall(r"^vblk: case (\S+): ok ", out, re.M)
    expect(len(ok_cases) == int(m.group(1)) and len(set(ok_cases)) == len(ok_cases),
           f"{len(ok_cases)} distinct 'ok' case lines for {m.group(1)} cases", out, err)
    expect(not re.search(r"FAIL", out), "a FAIL line", out, err)
    for rx in WARNINGS:
        expect(re.search(rx, err), f"stderr lacks /{rx}/", out, err)

    with open(rw, "rb") as f:
        got = f.read()
    want = bytearray(bg)
    at = wsector * SECTOR
    want[at:at + BIG_LEN] = pattern(seed)
    expect(len(got) == IMAGE_SIZE, f"read-write image is now {len(got)} bytes")
    if got != bytes(want):
        i = first_diff(got, want)
        raise testlib.Failure(f"read-write image differs at byte {i} (sector {i // SECTOR}; "
                              f"pattern at sector {wsector}): 0x{got[i]:02x}, expected "
                              f"0x{want[i]:02x}")
    with open(ro, "rb") as f:
        ro_hash = hashlib.sha256(f.read()).hexdigest()
    expect(ro_hash == hashlib.sha256(bg).hexdigest(), "the read-only image changed")
    print(f"PASS {variant}: {m.group(1)} cases; pattern (seed {seed}) at sector {wsector}, "
          f"rest of both images as written")
    print("\n".join(ln for ln in out.splitlines() if not ln.startswith("vblk: case ")))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("vmm")
    ap.add_argument("guest")
    ap.add_argument("variant", choices=sorted(VARIANTS))
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    testlib.fatal_sanitizers()
    if not testlib.kvm_usable():
        testlib.skip(testlib.kvm_problem())
    # Not /tmp: a tmpfs there would refuse cache=none (O_DIRECT).
    tmp = tempfile.mkdtemp(prefix="minivmm-vblk-", dir="/var/tmp")
    try:
        return testlib.run_checks(lambda: run(a.vmm, a.guest, a.variant, a.timeout, tmp),
                                  f" {a.variant}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

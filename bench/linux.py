#!/usr/bin/env python3
"""Linux boot benchmark: the test kernel (guests/linux/build.sh) booted by
minivmm and by its peers, timed from process start to the kernel's first
console line ("Linux version") and to the init marker.  Medians of --runs.

  bench/linux.py [--build DIR] [--linux DIR] [--runs N] [--timeout S] [--no-qemu]

Goal: minivmm's bzImage to the first console line <= 0.1x QEMU's time on this
host; where both reach init, <= 0.5x QEMU to init.  A peer that stops (QEMU
stops for good at the first instruction KVM cannot emulate on PVM hosts) is
reported as "did not boot", with the reason.
"""
import argparse
import os
import select
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRST = b"Linux version"
INIT = b"MINIVMM-MARKER kernel="
# A peer that prints these has stopped for good (QEMU pauses the VM and waits).
STOPPED = (b"emulation failure", b"KVM internal error")


def boot(cmd, timeout):
    """Returns (t_first, t_init, why): times in s or None."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    buf, t_first, t_init, why = b"", None, None, ""
    try:
        while time.perf_counter() - t0 < timeout:
            r, _, _ = select.select([p.stdout], [], [], 1.0)
            if not r:
                if p.poll() is not None:
                    break
                continue
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            now = time.perf_counter() - t0
            if t_first is None and FIRST in buf:
                t_first = now
            if INIT in buf:
                t_init = now
                break
            if any(m in buf for m in STOPPED):
                line = next(l for l in buf.decode(errors="replace").splitlines()
                            if "emulation failure" in l or "internal error" in l)
                why = f"stopped after {now:.1f} s: {line.strip()[:120]}"
                break
        else:
            why = f"no init marker within {timeout:.0f} s"
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
    if t_init is None and not why:
        tail = buf.decode(errors="replace").strip().splitlines()[-3:]
        why = "stopped: " + " | ".join(tail)[-300:]
    return t_first, t_init, why


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x):
    return f"{x:8.1f} s" if x is not None else "    n/a  "


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--linux", default=os.path.join(ROOT, "build", "linux"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--no-qemu", action="store_true")
    a = ap.parse_args()

    vmm = os.path.join(a.build, "src", "minivmm")
    L = a.linux
    initrd = os.path.join(L, "initramfs.cpio")
    if not os.path.exists(initrd):
        initrd += ".gz"
    # earlyprintk: the first line leaves as soon as the kernel prints it,
    # for every peer alike (without it printk buffers until the console
    # driver registers, seconds of emulated ring 0 later on PVM hosts).
    append = "console=ttyS0 earlyprintk=serial,ttyS0 reboot=k panic=-1"
    base = ["-m", "256M", "-initrd", initrd, "-append", append]
    configs = [
        ("minivmm bzImage (host decompression)", [vmm, "-kernel", os.path.join(L, "bzImage")] + base),
        ("minivmm bzImage --no-host-decompress",
         [vmm, "-kernel", os.path.join(L, "bzImage"), "--no-host-decompress"] + base),
        ("minivmm vmlinux", [vmm, "-kernel", os.path.join(L, "vmlinux")] + base),
    ]
    qemu = shutil.which("qemu-system-x86_64")
    if qemu and not a.no_qemu:
        configs.append(("QEMU -enable-kvm bzImage",
                        [qemu, "-enable-kvm", "-cpu", "host,-arch-capabilities", "-nographic",
                         "-no-reboot", "-m", "256M", "-kernel", os.path.join(L, "bzImage"),
                         "-initrd", initrd, "-append", append]))
    print(f"Linux boot, {a.runs} runs each, median; kernel {open(os.path.join(L, 'kernel.version')).read().strip()}")
    results = {}
    for name, cmd in configs:
        firsts, inits, whys = [], [], []
        for _ in range(a.runs):
            f, i, why = boot(cmd, a.timeout)
            firsts.append(f)
            inits.append(i)
            whys.append(why)
            if i is None and f is None and name.startswith("QEMU"):
                break  # a peer that cannot boot here need not be retried
        results[name] = (med(firsts), med(inits))
        status = "" if any(inits) else f"  did not boot: {whys[0]}"
        print(f"  {name:40s} first line {fmt(med(firsts))}   init {fmt(med(inits))}{status}")
    if not qemu:
        print("  QEMU: not installed (apt-get install qemu-system-x86 to compare)")
    print("  kvmtool: not measured by this script (build it from source to compare)")
    mine = results[configs[0][0]]
    peer = results.get("QEMU -enable-kvm bzImage")
    if peer and peer[0] and mine[0]:
        r = mine[0] / peer[0]
        print(f"\nbzImage to first console line: {r:.3f}x QEMU (goal <= 0.1x) {'OK' if r <= 0.1 else 'MISSED'}")
    if peer and peer[1] and mine[1]:
        r = mine[1] / peer[1]
        print(f"bzImage to init: {r:.3f}x QEMU (goal <= 0.5x) {'OK' if r <= 0.5 else 'MISSED'}")
    elif peer:
        print("bzImage to init: QEMU did not boot to init on this host; no ratio")


if __name__ == "__main__":
    main()

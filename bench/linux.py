#!/usr/bin/env python3
"""Linux boot benchmark: minivmm and QEMU side by side in one run, on the
same kernel, initramfs and command line.

The kernel is the peer variant of the test kernel (guests/linux/build.sh
--peer: the int3 self-test and the fwait in fpu__drop avoided, so that QEMU,
which stops at the first instruction KVM cannot emulate on PVM hosts, boots
it too).  Every configuration is booted --runs times, round-robin (so a
change in the machine's load hits all of them alike), and timed from
process start to the console's "Linux version", "Run /init" and the init
marker.  Per configuration: median and min-max; per minivmm configuration:
the ratio to QEMU + qboot on the same initramfs.

  bench/linux.py [--build DIR] [--linux-peer DIR] [--runs N] [--timeout S]
                 [--no-qemu] [--only SUBSTRING]

QEMU comes from Debian (bash scripts/setup.sh --bench installs it; bench/run.sh
does that first).  Goal (issue 11): minivmm to the init marker <= 0.30x QEMU's time with the
gzip initramfs.  minivmm unpacks the initramfs on the host and (PVM hosts)
tells the kernel not to use SMAP and POPCNT; the command line below already
carries the clearcpuid= that QEMU needs, which covers both, so the command
lines are identical.
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
# noxsave for both: QEMU stops at the guest's first xrstor on PVM hosts
# (minivmm completes it, and adds clearcpuid=321,323 instead when the user
# did not say noxsave; docs/booting-linux.md, "XSAVE and vector registers").
APPEND = ("console=ttyS0 reboot=k panic=-1 noxsave "
          "clearcpuid=308,288,158,306,298,151,297,580")
MARKS = [("version", b"Linux version"), ("run_init", b"Run /init"),
         ("init", b"MINIVMM-MARKER initrd=ok")]
# A peer that prints these has stopped for good (QEMU pauses the VM).
STOPPED = (b"emulation failure", b"KVM internal error")
QBOOT = "/usr/share/qemu/qboot.rom"


def boot(cmd, timeout):
    """{mark: seconds} for the marks seen, and why it stopped early ('')."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    buf, seen, why = b"", {}, ""
    try:
        while True:
            now = time.perf_counter() - t0
            if now > timeout:
                why = f"no init marker within {timeout:.0f} s"
                break
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
            for name, pat in MARKS:
                if name not in seen and pat in buf:
                    seen[name] = now
            if "init" in seen:
                break
            if any(m in buf for m in STOPPED):
                line = next(l for l in buf.decode(errors="replace").splitlines()
                            if "emulation failure" in l or "internal error" in l)
                why = f"stopped after {now:.1f} s: {line.strip()[:100]}"
                break
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
    if "init" not in seen and not why:
        tail = buf.decode(errors="replace").strip().splitlines()[-2:]
        why = "stopped: " + " | ".join(tail)[-200:]
    return seen, why


def fmt(xs):
    if not xs:
        return "      n/a       "
    return f"{statistics.median(xs):6.1f} ({min(xs):5.1f}-{max(xs):5.1f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--linux-peer", default=os.path.join(ROOT, "build", "linux-peer"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--only", action="append", default=[],
                    help="run only configurations whose name contains this")
    a = ap.parse_args()

    vmm = os.path.join(a.build, "src", "minivmm")
    L = a.linux_peer
    need = ("bzImage", "vmlinux", "initramfs.cpio", "initramfs.cpio.gz", "kernel.version")
    if not all(os.path.exists(os.path.join(L, f)) for f in need):
        print(f"building the peer kernel into {L} (guests/linux/build.sh --peer, cached)",
              flush=True)
        subprocess.run(["bash", os.path.join(ROOT, "guests", "linux", "build.sh"), "--peer", L],
                       check=True)
    bz, vml = os.path.join(L, "bzImage"), os.path.join(L, "vmlinux")
    gz, raw = os.path.join(L, "initramfs.cpio.gz"), os.path.join(L, "initramfs.cpio")

    def mv(kernel, initrd, *extra):
        return [vmm, "-m", "256M", "-smp", "1", "-kernel", kernel, "-initrd", initrd,
                "-append", APPEND] + list(extra)

    configs = [
        ("minivmm bzImage, gzip initrd", mv(bz, gz), "qemu qboot, gzip initrd"),
        ("minivmm vmlinux, gzip initrd", mv(vml, gz), "qemu qboot, gzip initrd"),
        ("minivmm vmlinux via PVH, gzip initrd", mv(vml, gz, "--boot-protocol=pvh"),
         "qemu qboot, gzip initrd"),
        ("minivmm bzImage, gzip initrd, guest unpacks",
         mv(bz, gz, "--no-host-decompress"), "qemu qboot, gzip initrd"),
        ("minivmm bzImage, uncompressed initrd", mv(bz, raw), "qemu qboot, uncompressed initrd"),
    ]
    qemu = shutil.which("qemu-system-x86_64")
    if qemu and not a.no_qemu:
        def qm(initrd, *bios):
            return [qemu, "-enable-kvm", "-cpu", "host,-arch-capabilities", "-nographic",
                    "-no-reboot", "-m", "256M", "-smp", "1", *bios, "-kernel", bz,
                    "-initrd", initrd, "-append", APPEND]
        qb = ["-bios", QBOOT] if os.path.exists(QBOOT) else []
        configs += [("qemu qboot, gzip initrd", qm(gz, *qb), None),
                    ("qemu default firmware, gzip initrd", qm(gz), None),
                    ("qemu qboot, uncompressed initrd", qm(raw, *qb), None)]
    if a.only:
        configs = [c for c in configs if any(o in c[0] for o in a.only)]

    version = open(os.path.join(L, "kernel.version")).read().strip()
    print(f"Linux boot to init, {a.runs} runs round-robin; kernel {version} (peer variant), "
          f"-m 256M -smp 1\ncommand line: {APPEND}\n", flush=True)
    times = {c[0]: {m: [] for m, _ in MARKS} for c in configs}
    why = {}
    for r in range(a.runs):
        for name, cmd, _ in configs:
            if name in why and not any(times[name].values()):
                continue  # a peer that cannot boot here is not retried
            seen, w = boot(cmd, a.timeout)
            for m, t in seen.items():
                times[name][m].append(t)
            if w:
                why[name] = w
            print(f"  run {r + 1}: {name:45s} " +
                  "  ".join(f"{m} {seen[m]:6.1f}" for m, _ in MARKS if m in seen) +
                  (f"  [{w}]" if w else ""), flush=True)

    print(f"\n{'seconds: median (min-max)':45s} {'Linux version':>20s} {'Run /init':>20s}"
          f" {'init marker':>20s}")
    for name, _, _ in configs:
        t = times[name]
        print(f"{name:45s} " + " ".join(f"{fmt(t[m]):>20s}" for m, _ in MARKS) +
              (f"  did not boot: {why[name]}" if name in why and not t["init"] else ""))
    if not qemu or a.no_qemu:
        print("\nQEMU not run (apt-get install qemu-system-x86, or drop --no-qemu): no ratios")
        return 0
    print("\nratio minivmm / QEMU + qboot, same initrd (median of each):")
    verdict = 0
    for name, _, peer in configs:
        if not peer or peer not in times:
            continue
        cells = []
        for m, _ in MARKS:
            mine, theirs = times[name][m], times[peer][m]
            cells.append(f"{statistics.median(mine) / statistics.median(theirs):6.3f}x"
                         if mine and theirs else "   n/a ")
        print(f"  {name:45s} " + "  ".join(f"{m} {c}" for (m, _), c in zip(MARKS, cells)))
    mine, theirs = times[configs[0][0]]["init"], times.get(configs[0][2], {}).get("init")
    if mine and theirs:
        r = statistics.median(mine) / statistics.median(theirs)
        ok = r <= 0.30
        print(f"\nGoal: bzImage + gzip initrd to the init marker <= 0.30x QEMU + qboot: "
              f"{r:.3f}x {'MET' if ok else 'MISSED'}")
        verdict = 0 if ok else 1
    return verdict


if __name__ == "__main__":
    sys.exit(main())

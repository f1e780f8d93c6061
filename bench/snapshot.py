#!/usr/bin/env python3
"""Snapshot and restore benchmark (issue 8, docs/snapshots.md), in one run:

  1. cold boot of the test kernel to its MINIVMM-READY line (init waits for
     commands on the console), and the VMM's RSS then;
  2. a snapshot of that guest through the control socket: the request's
     round trip, the time the vCPUs were paused, the size on disk;
  3. restore, --runs times: from process start to the first console byte
     answering a command written to stdin at once (`echo`, a shell
     built-in: no guest fork; it prints an empty line), and the VMM's RSS
     then (copy-on-write keeps the snapshot's pages in the page cache,
     shared, until written); minivmm's own part (machine built, state
     loaded) from its log line.  The guest's part dominates on PVM hosts:
     init's `read` built-in takes one byte per system call, ~4 ms each in
     emulated ring 0, so every character of the command costs that.

Ratios: cold boot / restore, and restore against the goals: <= 50 ms, and
<= 2x Firecracker's load-latency baseline for a 2-vCPU 256 MiB microVM
(9 ms on m5d.metal, host 4.14: tests/integration_tests/performance/
test_snapshot_perf.py in firecracker-microvm/firecracker; that figure is
the LoadSnapshot API call alone, without the guest answering).

  bench/snapshot.py [--build DIR] [--linux DIR] [--runs N] [--smp N] [-m SIZE]
"""
import argparse
import json
import os
import re
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APPEND = "console=ttyS0 reboot=k panic=-1 minivmm.ready=1"
FIRECRACKER_LOAD_MS = 9.0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def read_until(p, needle, timeout):
    """Read p's stdout until needle (b"": any byte); when it appeared (or None)."""
    buf, end = b"", time.time() + timeout
    fd = p.stdout.fileno()
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            continue
        d = os.read(fd, 65536)
        if not d:
            return None
        buf += d
        if needle in buf and buf:
            return time.perf_counter()
    return None


def api(path, cmd, **args):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    req = {"execute": cmd}
    if args:
        req["arguments"] = args
    s.sendall(json.dumps(req).encode() + b"\n")
    buf = b""
    while b"\n" not in buf:
        buf += s.recv(65536)
    s.close()
    return json.loads(buf)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--linux", default=None)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("-m", default="256M")
    a = ap.parse_args()
    vmm = os.path.join(a.build, "src", "minivmm")
    linux = a.linux or os.path.join(a.build, "linux")
    if not os.path.isfile(os.path.join(linux, "bzImage")):
        sys.exit(f"no test kernel in {linux}: bash guests/linux/build.sh {linux}")
    with tempfile.TemporaryDirectory(prefix="minivmm-snapbench-") as tmp:
        sock, snap = os.path.join(tmp, "api"), os.path.join(tmp, "ready")
        t0 = time.perf_counter()
        p = subprocess.Popen([vmm, "-m", a.m, "-smp", str(a.smp), "-kernel",
                              os.path.join(linux, "bzImage"), "-initrd",
                              os.path.join(linux, "initramfs.cpio.gz"), "-append", APPEND,
                              "--api-sock", sock], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        t_ready = read_until(p, b"MINIVMM-READY", 600)
        if t_ready is None:
            sys.exit("the cold boot never printed MINIVMM-READY")
        boot_s = t_ready - t0
        time.sleep(0.5)	# let init reach its read
        boot_rss = rss_kib(p.pid)
        t1 = time.perf_counter()
        r = api(sock, "snapshot", dir=snap)
        snap_ms = (time.perf_counter() - t1) * 1e3
        if "return" not in r:
            sys.exit(f"snapshot failed: {r}")
        api(sock, "quit")
        p.wait(timeout=60)
        disk_kib = sum(os.stat(os.path.join(snap, f)).st_blocks // 2 for f in os.listdir(snap))

        lat, rss, own = [], [], []
        for i in range(a.runs):
            t0 = time.perf_counter()
            q = subprocess.Popen([vmm, "--restore", snap], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            q.stdin.write(b"echo\n")
            q.stdin.flush()
            t = read_until(q, b"", 60)
            if t is None:
                q.kill()
                sys.exit(f"restore {i}: no answer")
            lat.append((t - t0) * 1e3)
            rss.append(rss_kib(q.pid))
            _, err = q.communicate(b"reboot -f\n", timeout=60)
            m = re.search(rb"state loaded in ([0-9.]+) ms", err)
            if m:
                own.append(float(m.group(1)))
    med = statistics.median(lat)
    print(f"guest: test kernel, -m {a.m}, -smp {a.smp}; host paging: see minivmm --stats")
    print(f"cold boot to MINIVMM-READY      {boot_s:9.2f} s    VMM RSS {boot_rss / 1024:7.1f} MiB")
    print(f"snapshot (control socket)       {snap_ms:9.1f} ms   vCPUs paused "
          f"{r['return']['paused-ms']:.1f} ms, {r['return']['memory-bytes'] / 2**20:.1f} MiB "
          f"of guest memory, {disk_kib / 1024:.1f} MiB on disk")
    print(f"restore to first output (median of {a.runs})  {med:6.1f} ms   "
          f"(min {min(lat):.1f}, max {max(lat):.1f})   VMM RSS "
          f"{statistics.median(rss) / 1024:7.1f} MiB")
    if own:
        print(f"  of which minivmm (machine built, state loaded): median "
              f"{statistics.median(own):.1f} ms")
    print(f"cold boot / restore             {boot_s * 1e3 / med:9.0f}x")
    print(f"goal restore <= 50 ms           {'met' if med <= 50 else 'MISSED'} ({med / 50:.2f}x)")
    if own:
        load = statistics.median(own)
        print(f"goal <= 2x Firecracker's load ({FIRECRACKER_LOAD_MS:.0f} ms), minivmm's part: "
              f"{'met' if load <= 2 * FIRECRACKER_LOAD_MS else 'MISSED'} "
              f"({load / FIRECRACKER_LOAD_MS:.2f}x its figure; to first output "
              f"{med / FIRECRACKER_LOAD_MS:.1f}x)")
    print(f"goal snapshot of {a.m} <= 1 s   {'met' if snap_ms <= 1000 else 'MISSED'}")


if __name__ == "__main__":
    main()

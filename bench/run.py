#!/usr/bin/env python3
"""minivmm benchmarks: each figure is printed beside a floor measured in the
same run, as a ratio, because these machines are shared and noisy.

  (a) process start -> exit running `hello`: minivmm vs kvm_floor (goal <= 2x)
  (b) port-I/O exits per second with `exits`: minivmm vs kvm_floor (goal >= 0.8x)
  (c) VMM resident memory excluding guest RAM (goal <= 2 MiB)
  (d) --mmu=shadow: one trapped page-table write vs the bare exit round
      trip, both timed by the MMU guest in the same run (goal <= 3x)

Usage: bench/run.py [--build DIR] [--runs N] [--exits N]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} exited {p.returncode}:\n{p.stderr}")
    return dt, p.stdout, p.stderr


def summary(xs):
    return statistics.median(xs), min(xs), max(xs)


def fmt(xs, unit, scale=1.0):
    med, lo, hi = summary(xs)
    return f"{med*scale:9.2f} {unit} ({lo*scale:.2f}-{hi*scale:.2f})"


def cycles(out):
    m = re.search(r"in (\d+) cycles", out)
    if not m:
        sys.exit(f"bench: no cycle count in guest output:\n{out}")
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--exits", type=int, default=50000)
    a = ap.parse_args()

    vmm = os.path.join(a.build, "src", "minivmm")
    floor = os.path.join(a.build, "bench", "kvm_floor")
    hello = os.path.join(a.build, "guests", "hello.elf")
    exits = os.path.join(a.build, "guests", "exits.elf")
    _, _, err = timed([vmm, "-kernel", hello, "--stats"])
    m = re.search(r"host MMU: ([\w+-]+)", err)
    print(f"minivmm benchmarks: {a.runs} runs each, median (min-max); "
          f"host MMU mode: {m.group(1) if m else 'unknown'}")

    # (a) start -> exit
    t_vmm, t_floor = [], []
    for _ in range(a.runs):  # interleave so drift hits both alike
        t_vmm.append(timed([vmm, "-kernel", hello])[0])
        t_floor.append(timed([floor, hello])[0])
    ra = statistics.median(t_vmm) / statistics.median(t_floor)
    print("\n(a) start -> exit, hello guest")
    print(f"    minivmm    {fmt(t_vmm, 'ms', 1e3)}")
    print(f"    kvm_floor  {fmt(t_floor, 'ms', 1e3)}")
    print(f"    ratio      {ra:9.2f}x   (goal <= 2.00x) {'OK' if ra <= 2 else 'MISSED'}")

    # (b) exits per second; the guest counts TSC cycles around its loop only.
    runs_b = max(3, a.runs // 3)
    c_vmm, c_floor, w_vmm = [], [], []
    args = f"count={a.exits}"
    for _ in range(runs_b):
        dt, out, _ = timed([vmm, "-kernel", exits, "-append", args])
        c_vmm.append(cycles(out) / a.exits)
        w_vmm.append(a.exits / dt)
        c_floor.append(cycles(timed([floor, exits, args])[1]) / a.exits)
    rb = statistics.median(c_floor) / statistics.median(c_vmm)
    print(f"\n(b) port-I/O exits ({a.exits} per run, {runs_b} runs)")
    print(f"    minivmm    {fmt(c_vmm, 'TSC cycles/exit', 1)}  ~{statistics.median(w_vmm):.0f} exits/s")
    print(f"    kvm_floor  {fmt(c_floor, 'TSC cycles/exit', 1)}")
    print(f"    ratio      {rb:9.2f}x exits/s of the floor  (goal >= 0.80x) {'OK' if rb >= 0.8 else 'MISSED'}")

    # (c) resident memory outside guest RAM, as reported by minivmm --stats
    kib = []
    for _ in range(3):
        _, _, err = timed([vmm, "-kernel", hello, "--stats"])
        m = re.search(r"excluding guest RAM: (\d+) KiB", err)
        if not m:
            sys.exit("bench: minivmm --stats printed no RSS line")
        kib.append(int(m.group(1)))
    med = statistics.median(kib)
    print("\n(c) VMM resident memory excluding guest RAM")
    print(f"    minivmm    {med:9.0f} KiB ({min(kib)}-{max(kib)})")
    print(f"    ratio      {med / 2048:9.2f}x of the 2 MiB goal  {'OK' if med <= 2048 else 'MISSED'}")

    # (d) shadow MMU: trapped page-table write vs bare exit, same VM run
    mmu = os.path.join(a.build, "guests", "mmu.elf")
    n = 2000
    per = {"exit-rtt": [], "pt-write": [], "pt-unmap-invlpg": []}
    syncs = []
    with tempfile.TemporaryDirectory() as d:
        js = os.path.join(d, "s.json")
        for _ in range(max(3, a.runs // 3)):
            timed([vmm, "--mmu=shadow", "-kernel", mmu, "-append",
                   f"workload=trap-cost iters={n}", "--stats=json", "--stats-file", js])
            with open(js) as f:
                st = json.load(f)
            for ph in st["phases"]:
                if ph["name"] in per:
                    per[ph["name"]].append(ph["cycles"] / ph["ops"])
                if ph["name"] == "pt-unmap-invlpg":
                    sh = ph["shadow"]
                    n_sync = sh["host_syncs"] + sh.get("frame_syncs", 0)
                    syncs.append((sh["host_sync_ns"] + sh.get("frame_sync_ns", 0)) /
                                 max(1, n_sync) / 1e3)
    rd = statistics.median(per["pt-write"]) / statistics.median(per["exit-rtt"])
    print(f"\n(d) --mmu=shadow on host MMU {st['host_mmu']}: {n} operations per phase")
    print(f"    bare exit (outb)        {fmt(per['exit-rtt'], 'TSC cycles', 1)}")
    print(f"    trapped PT write        {fmt(per['pt-write'], 'TSC cycles', 1)}")
    print(f"    ratio                   {rd:9.2f}x the bare exit  (goal <= 3.00x) {'OK' if rd <= 3 else 'MISSED'}")
    print(f"    map+unmap+invlpg        {fmt(per['pt-unmap-invlpg'], 'TSC cycles', 1)}"
          f"  (KVM told about the unmap: median {statistics.median(syncs):.0f} us each)"
          if syncs else "")

    print("\npeers: QEMU and kvmtool cannot load the minivmm test-guest boot protocol "
          "(docs/guest-boot.md), so no peer ratio is printed for these guests.")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Console benchmark: the same chatty Linux boot (the test kernel at the
default log level, every boot message on the console) with the serial
console (ttyS0: one port-I/O exit per byte) and with virtio-console (hvc0:
a whole buffer per kick, no exit at all through the ioeventfd), alternated
in one run.  Reports, per console, the time to the init marker, vCPU exits,
port-I/O exits and console bytes (medians of --runs), and hvc0's ratio to
ttyS0.

  bench/console.py [--build DIR] [--linux DIR] [--runs N] [--timeout S]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INIT = "MINIVMM-MARKER initrd=ok"


def boot(vmm, linux, console, timeout):
    with tempfile.NamedTemporaryFile(suffix=".json") as st:
        cmd = [vmm, "-m", "128M", "-kernel", os.path.join(linux, "bzImage"),
               "-initrd", os.path.join(linux, "initramfs.cpio.gz"),
               "-append", f"console={console} reboot=k panic=-1",
               "--stats=json", "--stats-file", st.name]
        if console == "hvc0":
            cmd.append("--console=virtio")
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, errors="replace")
        t_init, nbytes = None, 0
        for line in p.stdout:
            nbytes += len(line)
            if t_init is None and INIT in line:
                t_init = time.perf_counter() - t0
        p.wait(timeout)
        if p.returncode != 0 or t_init is None:
            sys.exit(f"bench: {' '.join(cmd)}: status {p.returncode}, "
                     f"init {'seen' if t_init else 'not seen'}\n{p.stderr.read()[-2000:]}")
        stats = json.load(open(st.name))
    exits = stats["exits"]
    return {"init_s": t_init, "exits": exits.get("total", sum(
                v for k, v in exits.items() if isinstance(v, int))),
            "io_exits": exits.get("io", 0), "bytes": nbytes}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--linux", default=os.path.join(ROOT, "build", "linux"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()
    vmm = os.path.join(a.build, "src", "minivmm")
    for f in (vmm, os.path.join(a.linux, "bzImage"), os.path.join(a.linux, "initramfs.cpio.gz")):
        if not os.path.exists(f):
            sys.exit(f"bench: {f} is missing (meson build; guests/linux/build.sh)")
    res = {"ttyS0": [], "hvc0": []}
    for r in range(a.runs):
        for console in ("ttyS0", "hvc0"):
            m = boot(vmm, a.linux, console, a.timeout)
            res[console].append(m)
            print(f"run {r + 1} {console:5}: init {m['init_s']:6.1f} s, exits {m['exits']:8d}, "
                  f"port I/O exits {m['io_exits']:7d}, console {m['bytes']} bytes", flush=True)

    def med(console, key):
        return statistics.median(x[key] for x in res[console])

    print(f"\n{'console':8} {'to init (s)':>12} {'vCPU exits':>11} {'port I/O':>9} {'bytes':>7}")
    for c in ("ttyS0", "hvc0"):
        print(f"{c:8} {med(c, 'init_s'):12.1f} {med(c, 'exits'):11.0f} "
              f"{med(c, 'io_exits'):9.0f} {med(c, 'bytes'):7.0f}")
    print(f"hvc0 / ttyS0: time to init {med('hvc0', 'init_s') / med('ttyS0', 'init_s'):.2f}x, "
          f"port-I/O exits {med('hvc0', 'io_exits') / max(1, med('ttyS0', 'io_exits')):.2f}x")


if __name__ == "__main__":
    main()

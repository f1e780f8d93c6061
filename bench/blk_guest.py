#!/usr/bin/env python3
"""Guest-side disk benchmark: the Linux guest reads and writes a 256 MiB raw
virtio disk with dd (O_DIRECT), under minivmm and under QEMU, on the same
peer-variant kernel (guests/linux/build.sh --peer), initramfs, command line
and image, alternated in one run.

Per VMM and transfer: throughput as the guest's dd reports it, and — over
the dd phase only, bracketed by guest markers — vCPU exits per request
(KVM's own per-VM counter in debugfs) and the VMM's CPU time per request
outside its vCPU threads (the device emulation's cost).  Goal (issue 13):
minivmm >= 1.0x QEMU's throughput, with fewer exits per request.

  bench/blk_guest.py [--build DIR] [--linux-peer DIR] [--runs N] [--no-qemu]
"""
import argparse
import glob
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# PVM hosts: features the guest must not use in ring 0 (HOST-KVM-NOTES).
APPEND = ("console=ttyS0 reboot=k panic=-1 noxsave "
          "clearcpuid=308,288,158,306,298,151,297,580 minivmm.run=vda")
DISK_MB = 256
SMALL_MB = 4           # 4 KiB transfers: 1024 requests, each costly in
                       # emulated ring 0 on PVM hosts
# (name, dd block size, MiB moved, direction)
CASES = [("read-1M", "1M", DISK_MB, "read"), ("write-1M", "1M", DISK_MB, "write"),
         ("read-4k", "4k", SMALL_MB, "read"), ("write-4k", "4k", SMALL_MB, "write")]

# busybox dd prints no timing: the guest brackets each transfer with
# /proc/uptime (10 ms resolution) and reports bytes and seconds itself.
RUN_SH = "\n".join(
    [f'echo "MINIVMM-MARKER begin={n}"\n'
     'read t0 _ < /proc/uptime\n'
     + (f"dd if=/dev/vdb of=/dev/null bs={bs} count={mb * 1024 // (1024 if bs == '1M' else 4)} "
        "iflag=direct 2>/dev/null"
        if d == "read" else
        f"dd if=/dev/zero of=/dev/vdb bs={bs} count={mb * 1024 // (1024 if bs == '1M' else 4)} "
        "oflag=direct 2>/dev/null")
     + '\nread t1 _ < /proc/uptime\n'
     + f'echo "MINIVMM-MARKER dd={n} bytes={mb << 20} t0=$t0 t1=$t1"'
     + f'\necho "MINIVMM-MARKER end={n}"'
     for n, bs, mb, d in CASES]) + "\n"

DD = re.compile(r"dd=\S+ bytes=(\d+) t0=([0-9.]+) t1=([0-9.]+)")


def debugfs_exits(pid):
    """KVM's exit count for pid's VM (debugfs), or None."""
    for d in glob.glob(f"/sys/kernel/debug/kvm/{pid}-*"):
        try:
            return int(open(os.path.join(d, "exits")).read())
        except (OSError, ValueError):
            return None
    return None


def io_cpu_s(pid, vcpu_names):
    """CPU seconds of pid's threads that are not vCPU threads."""
    hz = os.sysconf("SC_CLK_TCK")
    total = 0
    for t in glob.glob(f"/proc/{pid}/task/*"):
        try:
            comm = open(os.path.join(t, "comm")).read().strip()
            f = open(os.path.join(t, "stat")).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if re.match(vcpu_names, comm):
            continue
        total += int(f[11]) + int(f[12])     # utime, stime
    return total / hz


def run(cmd, vcpu_names, timeout):
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out, marks, res = b"", {}, {}
    fd = p.stdout.fileno()
    t_end = time.time() + timeout
    while time.time() < t_end:
        r, _, _ = select.select([fd], [], [], 1.0)
        if not r:
            if p.poll() is not None:
                break
            continue
        d = os.read(fd, 65536)
        if not d:
            break
        out += d
        for m in re.finditer(rb"MINIVMM-MARKER (begin|end)=(\S+)", out):
            key = (m.group(1).decode(), m.group(2).decode())
            if key not in marks:
                marks[key] = (debugfs_exits(p.pid), io_cpu_s(p.pid, vcpu_names))
    else:
        p.kill()
    p.wait()
    text = out.decode(errors="replace")
    for n, bs, mb, _ in CASES:
        seg = re.search(rf"begin={n}(.*?)end={n}", text, re.S)
        dd = DD.search(seg.group(1)) if seg else None
        if not dd:
            sys.exit(f"bench: {cmd[0]}: no dd result for {n}\n{text[-3000:]}")
        reqs = mb * 1024 // (1024 if bs == "1M" else 4)
        b, e = marks.get(("begin", n)), marks.get(("end", n))
        exits = (e[0] - b[0]) / reqs if b and e and b[0] is not None and e[0] is not None else None
        cpu = (e[1] - b[1]) / reqs * 1e6 if b and e else None
        secs = max(float(dd.group(3)) - float(dd.group(2)), 0.01)
        res[n] = {"mbs": int(dd.group(1)) / secs / 2**20,
                  "exits": exits, "cpu_us": cpu}
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--linux-peer", default=os.path.join(ROOT, "build", "linux-peer"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--no-qemu", action="store_true")
    a = ap.parse_args()
    vmm = os.path.join(a.build, "src", "minivmm")
    if not os.path.exists(vmm):
        sys.exit(f"bench: no {vmm}: build first")
    if subprocess.run(["bash", os.path.join(ROOT, "guests/linux/build.sh"), "--peer",
                       a.linux_peer]).returncode:
        sys.exit("bench: building the peer kernel failed")
    qemu = shutil.which("qemu-system-x86_64")
    if not a.no_qemu and not qemu:
        sys.exit("bench: qemu-system-x86_64 missing: apt-get install qemu-system-x86 "
                 "(or --no-qemu)")
    if not os.path.isdir("/sys/kernel/debug/kvm"):
        subprocess.run(["mount", "-t", "debugfs", "none", "/sys/kernel/debug"],
                       stderr=subprocess.DEVNULL)
    kernel = os.path.join(a.linux_peer, "bzImage")
    initrd = os.path.join(a.linux_peer, "initramfs.cpio.gz")
    tmp = tempfile.mkdtemp(prefix="minivmm-blkbench-", dir="/var/tmp")
    try:
        d = os.path.join(tmp, "d")
        os.mkdir(d)
        open(os.path.join(d, "run.sh"), "w").write(RUN_SH)
        vda, vdb = os.path.join(tmp, "vda.img"), os.path.join(tmp, "vdb.img")
        subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", d, vda, "16M"], check=True)
        with open(vdb, "wb") as f:
            f.truncate(DISK_MB << 20)
        peers = {"minivmm": (
            [vmm, "-m", "256M", "-kernel", kernel, "-initrd", initrd, "-append", APPEND,
             "-drive", f"file={vda},if=virtio,format=raw",
             "-drive", f"file={vdb},if=virtio,format=raw,aio=io_uring,cache=none"],
            r"^minivmm-vcpu\d+$")}
        if not a.no_qemu:
            peers["qemu"] = (
                # debug-threads=on names the vCPU threads "CPU n/KVM"
                [qemu, "-enable-kvm", "-cpu", "host,-arch-capabilities", "-m", "256M",
                 "-name", "blkbench,debug-threads=on",
                 "-bios", "/usr/share/qemu/qboot.rom", "-nographic", "-no-reboot",
                 "-kernel", kernel, "-initrd", initrd, "-append", APPEND,
                 "-drive", f"file={vda},if=virtio,format=raw",
                 "-drive", f"file={vdb},if=virtio,format=raw,aio=io_uring,cache=none"],
                r"^CPU \d+/KVM$")
        results = {k: [] for k in peers}
        for r in range(a.runs):
            for name, (cmd, vcpus) in peers.items():
                res = run(cmd, vcpus, a.timeout)
                results[name].append(res)
                print(f"run {r + 1} {name:8}: " + ", ".join(
                    f"{n} {v['mbs']:.2f} MB/s" for n, v in res.items()), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(name, case, key):
        xs = [x[case][key] for x in results[name] if x[case][key] is not None]
        return statistics.median(xs) if xs else float("nan")

    print(f"\n{'transfer':9} {'VMM':8} {'MB/s':>7} {'exits/req':>9} {'VMM CPU us/req':>15}")
    for n, *_ in CASES:
        for name in results:
            print(f"{n:9} {name:8} {med(name, n, 'mbs'):7.1f} {med(name, n, 'exits'):9.2f} "
                  f"{med(name, n, 'cpu_us'):15.1f}")
        if "qemu" in results:
            ratio = med("minivmm", n, "mbs") / med("qemu", n, "mbs")
            print(f"{n:9} minivmm/qemu throughput {ratio:.2f}x "
                  f"({'meets' if ratio >= 1.0 else 'misses'} the 1.0x goal)")


if __name__ == "__main__":
    main()

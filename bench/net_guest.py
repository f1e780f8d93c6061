#!/usr/bin/env python3
"""Guest network benchmark: user-mode networking (libslirp behind both) with
host forwards, minivmm against QEMU `-netdev user`, on the same peer-variant
kernel (guests/linux/build.sh --peer), initramfs and command line,
alternated in one run.

The guest takes its address by DHCP and serves three ports; this script,
on the host, times through the forwarded 127.0.0.1 ports:
  host->guest  64 MiB sent to `nc -l > /dev/null`, until the guest closes;
  guest->host  64 MiB read from `dd if=/dev/zero | nc -l`, until EOF;
  latency      200 one-byte round trips to `nc -l -e cat` (median).
Per phase also the vCPU exits (KVM's per-VM debugfs counter) and the VMM's
CPU time outside its vCPU threads, per MiB moved: the device and backend's
cost.  Goal (issue 9): minivmm >= 1.0x QEMU's throughput, <= 1.0x its
latency.

minivmm runs twice: as it comes (-netdev user's default 65520-byte MTU,
offered to the guest with VIRTIO_NET_F_MTU) and with mtu=1500, QEMU's.
Exits per MiB come from KVM's debugfs where the host has them (this PVM
host has none: "nan").

  bench/net_guest.py [--build DIR] [--linux-peer DIR] [--runs N] [--mib N] [--no-qemu]
"""
import argparse
import glob
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# PVM hosts: features the guest must not use in ring 0 (HOST-KVM-NOTES).
APPEND = ("console=ttyS0 reboot=k panic=-1 noxsave "
          "clearcpuid=308,288,158,306,298,151,297,580 minivmm.exec=/t/run.sh")
PORTS = {"sink": 7001, "source": 7002, "echo": 7003}
ROUND_TRIPS = 200

DHCP_SH = """#!/bin/sh
case "$1" in
deconfig) ifconfig "$interface" 0.0.0.0 up ;;
bound|renew)
	ifconfig "$interface" "$ip" netmask "$subnet" up
	set -- $router
	route add default gw "$1" dev "$interface" ;;
esac
"""

RUN_SH = """#!/bin/sh
udhcpc -i eth0 -n -q -t 5 -T 2 -s /t/dhcp.sh >/dev/null || exit 1
nc -l -p {sink} >/dev/null &
sink=$!
dd if=/dev/zero bs=65536 count={blocks} 2>/dev/null | nc -l -p {source} &
source=$!
nc -l -p {echo} -e cat &
echo=$!
# Ready only once all three listen: slirp would reset a connection early.
while [ "$(netstat -ltn | grep -c ':70[0-9][0-9] ')" -lt 3 ]; do sleep 0.1; done
echo "MINIVMM-NET listening"
wait $sink
wait $source
wait $echo
echo "MINIVMM-NET done"
"""


def debugfs_exits(pid):
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
        total += int(f[11]) + int(f[12])
    return total / hz


def connect(port, deadline):
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=60)
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def phase_sink(port, nbytes, deadline):
    s = connect(port, deadline)
    s.settimeout(max(10, deadline - time.time()))
    buf = b"\0" * (1 << 16)
    left = nbytes
    while left:
        left -= s.send(buf[:min(left, len(buf))])
    s.shutdown(socket.SHUT_WR)
    while s.recv(1 << 16):        # the guest's nc closes once it has it all
        pass
    s.close()


def phase_source(port, nbytes, deadline):
    s = connect(port, deadline)
    s.settimeout(max(10, deadline - time.time()))
    got = 0
    while True:
        b = s.recv(1 << 18)
        if not b:
            break
        got += len(b)
    s.close()
    if got != nbytes:
        raise RuntimeError(f"guest->host: {got} bytes, expected {nbytes}")


def phase_echo(port, deadline):
    s = connect(port, deadline)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(60)
    rtts = []
    for _ in range(ROUND_TRIPS):
        t0 = time.perf_counter()
        s.sendall(b"x")
        if s.recv(1) != b"x":
            raise RuntimeError("echo: wrong byte back")
        rtts.append(time.perf_counter() - t0)
    s.close()
    return statistics.median(rtts)


def run(cmd, ports, vcpu_names, mib, timeout):
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out = bytearray()
    ready = threading.Event()

    def reader():
        for line in p.stdout:
            out.extend(line)
            if b"MINIVMM-NET listening" in line:
                ready.set()
    threading.Thread(target=reader, daemon=True).start()
    deadline = time.time() + timeout
    res = {}
    try:
        if not ready.wait(timeout):
            raise RuntimeError("the guest never listened")
        nbytes = mib << 20
        for name, fn in (("host->guest", lambda: phase_sink(ports["sink"], nbytes, deadline)),
                         ("guest->host", lambda: phase_source(ports["source"], nbytes,
                                                              deadline)),
                         ("latency", lambda: phase_echo(ports["echo"], deadline))):
            e0, c0, t0 = debugfs_exits(p.pid), io_cpu_s(p.pid, vcpu_names), time.time()
            v = fn()
            dt = time.time() - t0
            e1, c1 = debugfs_exits(p.pid), io_cpu_s(p.pid, vcpu_names)
            per = mib if name != "latency" else ROUND_TRIPS
            res[name] = {"value": (mib / dt) if name != "latency" else v * 1e6,
                         "exits": (e1 - e0) / per if e0 is not None and e1 is not None
                         else None,
                         "cpu_ms": (c1 - c0) / per * 1e3}
        p.wait(timeout=max(10, deadline - time.time()))
    except Exception as e:
        p.kill()
        p.wait()
        sys.exit(f"bench: {cmd[0]}: {e}\n{out.decode(errors='replace')[-3000:]}"
                 f"\n{p.stderr.read().decode(errors='replace')[-1000:]}")
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--linux-peer", default=os.path.join(ROOT, "build", "linux-peer"))
    ap.add_argument("--runs", type=int, default=3)
    # 64 MiB (the figure) takes about half an hour per transfer
    # with QEMU's 1500-byte frames on a PVM host: 8 by default.
    ap.add_argument("--mib", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=1800)
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
    tmp = tempfile.mkdtemp(prefix="minivmm-netbench-", dir="/var/tmp")
    try:
        t = os.path.join(tmp, "t")
        os.mkdir(t)
        for name, text in (("run.sh", RUN_SH.format(blocks=a.mib * 16, **PORTS)),
                           ("dhcp.sh", DHCP_SH)):
            with open(os.path.join(t, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(t, name), 0o755)
        extra = subprocess.run(["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"], cwd=tmp,
                               input=b"t\nt/run.sh\nt/dhcp.sh\n", stdout=subprocess.PIPE,
                               check=True).stdout
        initrd = os.path.join(tmp, "initrd.cpio")
        with open(initrd, "wb") as f:
            f.write(open(os.path.join(a.linux_peer, "initramfs.cpio"), "rb").read() + extra)
        results = {}
        for r in range(a.runs):
            # minivmm-1500: the same device and backend with QEMU's MTU,
            # so the MTU's share of the difference shows.
            for name in (["minivmm", "minivmm-1500"] +
                         ([] if a.no_qemu else ["qemu"])):
                ports = {k: 0 for k in PORTS}
                for k in ports:
                    s = socket.socket()
                    s.bind(("127.0.0.1", 0))
                    ports[k] = s.getsockname()[1]
                    s.close()
                fwd = ",".join(f"hostfwd=tcp:127.0.0.1:{ports[k]}-:{PORTS[k]}" for k in PORTS)
                if name.startswith("minivmm"):
                    mtu = ",mtu=1500" if name == "minivmm-1500" else ""
                    cmd = [vmm, "-m", "256M", "-kernel", kernel, "-initrd", initrd,
                           "-append", APPEND, "-netdev", f"user,id=n0,{fwd}{mtu}",
                           "-device", "virtio-net-pci,netdev=n0"]
                    vcpus = r"^minivmm-vcpu\d+$"
                else:
                    cmd = [qemu, "-enable-kvm", "-cpu", "host,-arch-capabilities",
                           "-m", "256M", "-name", "netbench,debug-threads=on",
                           "-bios", "/usr/share/qemu/qboot.rom", "-nographic", "-no-reboot",
                           "-kernel", kernel, "-initrd", initrd, "-append", APPEND,
                           "-netdev", f"user,id=n0,{fwd}",
                           "-device", "virtio-net-pci,netdev=n0"]
                    vcpus = r"^CPU \d+/KVM$"
                res = run(cmd, ports, vcpus, a.mib, a.timeout)
                results.setdefault(name, []).append(res)
                print(f"run {r + 1} {name:12}: host->guest {res['host->guest']['value']:.2f} "
                      f"MiB/s, guest->host {res['guest->host']['value']:.2f} MiB/s, "
                      f"latency {res['latency']['value']:.0f} us", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(name, phase, key):
        xs = [x[phase][key] for x in results[name] if x[phase][key] is not None]
        return statistics.median(xs) if xs else float("nan")

    print(f"\n{'phase':12} {'VMM':12} {'value':>12} {'exits/unit':>11} {'VMM CPU ms/unit':>16}")
    for phase, unit in (("host->guest", "MiB/s"), ("guest->host", "MiB/s"),
                        ("latency", "us")):
        for name in results:
            print(f"{phase:12} {name:12} {med(name, phase, 'value'):7.2f} {unit:5}"
                  f"{med(name, phase, 'exits'):11.1f} {med(name, phase, 'cpu_ms'):16.3f}")
        for mine in ("minivmm", "minivmm-1500"):
            if "qemu" not in results:
                break
            ratio = med(mine, phase, "value") / med("qemu", phase, "value")
            better = ratio >= 1.0 if phase != "latency" else ratio <= 1.0
            print(f"{phase:12} {mine}/qemu {ratio:.2f}x "
                  f"({'meets' if better else 'misses'} the "
                  f"{'>=' if phase != 'latency' else '<='} 1.0x goal)")
    print("(units: throughput per MiB, latency per round trip)")


if __name__ == "__main__":
    main()

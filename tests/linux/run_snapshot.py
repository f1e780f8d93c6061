#!/usr/bin/env python3
"""Snapshot and restore with the test kernel (docs/snapshots.md).

Boots once with --snapshot-on MINIVMM-READY DIR --snapshot-and-exit (init
prints the marker with its uptime, then runs console lines as commands),
then restores the snapshot three times in a row and four times at once.
Every restored guest gets its own data through stdin, prints its sha256,
the sha256 of its virtio disk (a read-only image attached before the
snapshot, so the restored virtio-blk device, its queues and MSI-X vectors
must work) and /proc/uptime, and reboots: the digests must be the host's,
the uptime past the snapshot's, the exit status 0.  A restore that changes memory
must leave the snapshot's files as they were (copy-on-write).  The first
restored guest also gets an NMI through the control socket (inject-nmi):
Linux's NMI entry reads its CPU number with lsl, which minivmm completes on
PVM hosts, and the guest must report the NMI and carry on.

  run_snapshot.py --vmm MINIVMM --linux DIR [--smp N] [--virtio-console]
                  [--restores N] [--together N]
--virtio-console: the console on virtio-console (hvc0) and a virtio-rng
device as well, whose restored queues must carry the commands, their
output and 64 bytes of /dev/hwrng.
Exits 77 (skip) when /dev/kvm is unusable or the kernel was not built.
"""
import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testlib  # noqa: E402

# On PVM hosts minivmm adds clocksource=kvm-clock (--snapshot-on): the
# restored guest's clock goes on from the snapshot, which the uptime check
# below would see otherwise only as "not backwards".
APPEND = "console=ttyS0 reboot=k panic=-1 minivmm.ready=1"


def restore_cmd(vmm, snap):
    return [vmm, "--restore", snap]


def commands(token, rng=False):
    return (f"echo {token} | sha256sum\n"
            "sha256sum /dev/vda\n" +
            ("echo HWRNG=$(head -c 64 /dev/hwrng | wc -c)\n" if rng else "") +
            "read -r up _ </proc/uptime; echo \"UPTIME=$up\"\n"
            "reboot -f\n")


def check_restored(name, proc_out, status, token, snap_uptime, problems, disk_sum, rng=False):
    want = hashlib.sha256((token + "\n").encode()).hexdigest()
    if rng and "HWRNG=64" not in proc_out:
        problems.append(f"{name}: 64 bytes of /dev/hwrng were not read")
    if disk_sum + "  /dev/vda" not in proc_out:
        problems.append(f"{name}: the disk's sha256 was not read back (want {disk_sum})")
    m = re.search(r"UPTIME=([0-9.]+)", proc_out)
    if status != 0:
        problems.append(f"{name}: exit status {status}")
    if want not in proc_out:
        problems.append(f"{name}: sha256 of the data not printed (want {want})")
    if not m:
        problems.append(f"{name}: no uptime printed")
    elif float(m.group(1)) < snap_uptime:
        problems.append(f"{name}: uptime {m.group(1)} went back before the snapshot's "
                        f"{snap_uptime}")
    elif float(m.group(1)) > snap_uptime + 300:
        problems.append(f"{name}: uptime {m.group(1)} jumped far past the snapshot's "
                        f"{snap_uptime} (the time on disk counted)")
    print(f"{name}: status {status}, uptime {m.group(1) if m else '?'}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--linux", required=True)
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--virtio-console", action="store_true")
    ap.add_argument("--restores", type=int, default=3)
    ap.add_argument("--together", type=int, default=4)
    a = ap.parse_args()
    rng = a.virtio_console
    append = APPEND.replace("console=ttyS0", "console=hvc0") if rng else APPEND
    devices = ["--console=virtio", "-device", "virtio-rng-pci"] if rng else []

    testlib.fatal_sanitizers()
    if not testlib.kvm_usable():
        testlib.skip(testlib.kvm_problem())
    testlib.need_linux_files(a.linux, ["bzImage", "initramfs.cpio.gz"])
    problems = []
    with tempfile.TemporaryDirectory(prefix="minivmm-snap-") as tmp:
        snap = os.path.join(tmp, "ready")
        disk = os.path.join(tmp, "disk.img")
        data = os.urandom(1 << 20)
        with open(disk, "wb") as f:
            f.write(data)
        disk_sum = hashlib.sha256(data).hexdigest()
        boot = [a.vmm, "-m", "256M", "-smp", str(a.smp),
                "-drive", f"file={disk},if=virtio,format=raw,readonly=on",
                "-kernel", os.path.join(a.linux, "bzImage"),
                "-initrd", os.path.join(a.linux, "initramfs.cpio.gz"), "-append", append,
                "--snapshot-on", "MINIVMM-READY", snap, "--snapshot-and-exit"] + devices
        t0 = time.time()
        r = subprocess.run(boot, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, errors="replace", timeout=600)
        m = re.search(r"MINIVMM-READY uptime=([0-9.]+)", r.stdout)
        print(f"cold boot to the snapshot: {time.time() - t0:.1f} s, status {r.returncode}")
        if r.returncode != 0 or not m or not os.path.isfile(os.path.join(snap, "state.json")):
            if testlib.pvm_tls_crash(r.stdout):
                # docs/booting-linux.md, "Known issue: TLS with 2 vCPUs".
                testlib.skip("the known PVM-host TLS crash of user space hit the cold boot")
            sys.exit(testlib.verdict([f"the snapshot boot failed (status {r.returncode})\n" +
                                      r.stderr[-1500:]], r.stdout, ""))
        snap_uptime = float(m.group(1))
        files = sorted(f for f in os.listdir(snap))
        sums = {f: hashlib.sha256(open(os.path.join(snap, f), "rb").read()).hexdigest()
                for f in files}
        print(f"snapshot: {files}, guest uptime {snap_uptime} s")

        for i in range(a.restores):
            token = f"restore-{i}-{os.urandom(8).hex()}"
            sock = os.path.join(tmp, "api")
            t0 = time.time()
            p = subprocess.Popen(restore_cmd(a.vmm, snap) + (["--api-sock", sock] if i == 0 else []),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, errors="replace")
            if i == 0:
                for _ in range(100):
                    if os.path.exists(sock):
                        break
                    time.sleep(0.05)
                nmi = subprocess.run([a.vmm, "ctl", sock, "inject-nmi"], capture_output=True,
                                     text=True, timeout=60)
                if nmi.returncode != 0:
                    problems.append(f"inject-nmi failed: {nmi.stderr.strip()}")
            out, err = p.communicate(commands(token, rng), timeout=300)
            print(f"restore {i}: {time.time() - t0:.2f} s")
            check_restored(f"restore {i}", out, p.returncode, token, snap_uptime,
                           problems, disk_sum, rng)
            if i == 0 and "NMI received" not in out:
                problems.append("restore 0: the guest did not report the injected NMI")
            if p.returncode != 0:
                print(err[-1500:])

        procs = []
        for i in range(a.together):
            token = f"together-{i}-{os.urandom(8).hex()}"
            p = subprocess.Popen(restore_cmd(a.vmm, snap), stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 errors="replace")
            procs.append((p, token))
        for i, (p, token) in enumerate(procs):
            out, err = p.communicate(commands(token, rng), timeout=600)
            check_restored(f"concurrent restore {i}", out, p.returncode, token, snap_uptime,
                           problems, disk_sum, rng)
            if p.returncode != 0:
                print(err[-1500:])

        for f in files:
            now = hashlib.sha256(open(os.path.join(snap, f), "rb").read()).hexdigest()
            if now != sums[f]:
                problems.append(f"{f} changed: restores must not write the snapshot")
    sys.exit(testlib.verdict(problems, "", f"snapshot (-smp {a.smp}{', virtio console' if rng else ''}) "
                             f"restored {a.restores} time{'s' if a.restores != 1 else ''} in a row "
                             f"and {a.together} at once"))


if __name__ == "__main__":
    main()

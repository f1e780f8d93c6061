#!/usr/bin/env python3
"""Disk tests with the Linux test kernel: ext4 images built on the host with
e2fsprogs (`mke2fs -d`, no mount), a guest that mounts them through
virtio-blk, and the host reading the result back with debugfs and e2fsck.

  run_disk.py --vmm MINIVMM --linux DIR --scenario rw|sigterm|sigkill
              [--drive-opts ',cache=none,aio=threads'] [--timeout S]
              [-- extra minivmm args]

rw:       vda (ext4, read-write) holds data.bin and run.sh; the guest checks
          data.bin's sha256, writes out.txt, syncs; vdb (ext2, readonly=on)
          must mount read-only and refuse a raw write.  The host checks
          out.txt byte for byte (debugfs), that vdb's image is unchanged,
          and that vda is clean (e2fsck -fn).
sigterm / sigkill: the guest writes and syncs before.txt, says so, then
          writes in a loop; the host sends the signal.  SIGTERM must end
          minivmm cleanly (status 143, no crash); after either, the image
          (its journal replayed on a copy) is consistent and holds
          before.txt exactly.

Needs /init's minivmm.run=vda hook (guests/linux/init.sh).  Exits 77
(skip) when /dev/kvm is unusable or the kernel was not built.
"""
import argparse
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testlib  # noqa: E402

MARKER = re.compile(r"^MINIVMM-MARKER (\w+)=(.*?)\r?$", re.M)

# What the guest writes: deterministic, so the host knows every byte.
OUT_LINES = 3000
EXPECTED_OUT = "".join(f"line {i} of minivmm's disk test\n" for i in range(OUT_LINES))

RW_SCRIPT = f"""
set -e
echo "MINIVMM-MARKER data_sha=$(sha256sum data.bin | cut -d' ' -f1)"
i=0
while [ $i -lt {OUT_LINES} ]; do
	echo "line $i of minivmm's disk test"
	i=$((i + 1))
done > out.txt
sync
echo "MINIVMM-MARKER out_written=$(wc -c < out.txt)"
mkdir -p /mnt/vdb
mount -t ext2 -o ro /dev/vdb /mnt/vdb
echo "MINIVMM-MARKER ro_sha=$(sha256sum /mnt/vdb/ro.bin | cut -d' ' -f1)"
if touch /mnt/vdb/new 2>/dev/null; then echo "MINIVMM-MARKER ro_fs_write=succeeded"; \
else echo "MINIVMM-MARKER ro_fs_write=refused"; fi
umount /mnt/vdb
if dd if=/dev/zero of=/dev/vdb bs=512 count=1 2>/dev/null; then \
echo "MINIVMM-MARKER ro_raw_write=succeeded"; \
else echo "MINIVMM-MARKER ro_raw_write=refused"; fi
"""

KILL_SCRIPT = f"""
i=0
while [ $i -lt {OUT_LINES} ]; do
	echo "line $i of minivmm's disk test"
	i=$((i + 1))
done > before.txt
sync
echo "MINIVMM-MARKER synced=1"
n=0
while :; do
	dd if=/dev/zero of=spin.$((n % 4)) bs=4096 count=64 2>/dev/null
	n=$((n + 1))
done
"""


def sh(cmd, what):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    testlib.expect(p.returncode == 0, f"{what}: {' '.join(cmd)} -> {p.returncode}", p.stdout)
    return p.stdout


def make_ext(img, fstype, size_mb, files):
    d = img + ".d"
    os.mkdir(d)
    for name, data in files.items():
        mode = "w" if isinstance(data, str) else "wb"
        with open(os.path.join(d, name), mode) as f:
            f.write(data)
    sh(["mke2fs", "-q", "-F", "-t", fstype, "-d", d, img, f"{size_mb}M"], f"mke2fs {fstype}")


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def debugfs_dump(img, path, tmp):
    out = os.path.join(tmp, "dumped")
    if os.path.exists(out):
        os.unlink(out)
    sh(["debugfs", "-R", f"dump {path} {out}", img], "debugfs dump")
    testlib.expect(os.path.exists(out), f"debugfs found no {path} in {img}")
    with open(out, "rb") as f:
        return f.read()


class Guest:
    """minivmm with the console streamed line by line."""

    def __init__(self, cmd):
        print("$ " + " ".join(cmd), flush=True)
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.out = []
        self.err = b""
        self.markers = {}
        self.cond = threading.Condition()
        self.t_out = threading.Thread(target=self._read_out, daemon=True)
        self.t_err = threading.Thread(target=self._read_err, daemon=True)
        self.t_out.start()
        self.t_err.start()

    def _read_out(self):
        for raw in self.p.stdout:
            line = raw.decode(errors="replace")
            with self.cond:
                self.out.append(line)
                m = MARKER.match(line)
                if m:
                    self.markers[m.group(1)] = m.group(2)
                self.cond.notify_all()

    def _read_err(self):
        self.err = self.p.stderr.read()

    def wait_marker(self, key, timeout):
        with self.cond:
            self.cond.wait_for(lambda: key in self.markers or self.p.poll() is not None,
                               timeout)
            return self.markers.get(key)

    def finish(self, timeout):
        try:
            status = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise testlib.Failure(f"minivmm did not exit within {timeout:.0f} s\n"
                                  f"--- console tail ---\n{self.console()[-3000:]}")
        self.t_out.join(10)
        self.t_err.join(10)
        return status

    def console(self):
        with self.cond:
            return "".join(self.out)

    def stderr(self):
        return self.err.decode(errors="replace")


def base_cmd(a, kernel, initrd, drives, append):
    cmd = [a.vmm, "-m", "128M", "-kernel", kernel, "-initrd", initrd,
           "-append", f"console=ttyS0 reboot=k panic=-1 minivmm.run=vda {append}".strip()]
    for d in drives:
        cmd += ["-drive", d]
    return cmd + a.extra


def scenario_rw(a, kernel, initrd, tmp):
    data = os.urandom(1 << 20)
    ro_data = os.urandom(200 * 1024)
    vda = os.path.join(tmp, "vda.img")
    vdb = os.path.join(tmp, "vdb.img")
    make_ext(vda, "ext4", 64, {"data.bin": data, "run.sh": RW_SCRIPT})
    make_ext(vdb, "ext2", 8, {"ro.bin": ro_data})
    vdb_sha = sha256_file(vdb)
    g = Guest(base_cmd(a, kernel, initrd,
                       [f"file={vda},if=virtio,format=raw,serial=vda-serial{a.drive_opts}",
                        f"file={vdb},if=virtio,format=raw,readonly=on{a.drive_opts}"],
                       a.append))
    status = g.finish(a.timeout)
    out, err = g.console(), g.stderr()
    m = g.markers
    print(f"status {status}, markers {m}")
    testlib.expect(status == 0, f"exit status {status}, expected 0", out, err)
    testlib.expect(m.get("run_status") == "0", f"run.sh status {m.get('run_status')}", out, err)
    testlib.expect(m.get("data_sha") == hashlib.sha256(data).hexdigest(),
                   "the guest read data.bin differently from what the host wrote", out, err)
    testlib.expect(m.get("ro_sha") == hashlib.sha256(ro_data).hexdigest(),
                   "the guest read ro.bin differently", out, err)
    testlib.expect(m.get("ro_fs_write") == "refused", "a file was created on vdb", out, err)
    testlib.expect(m.get("ro_raw_write") == "refused", "a raw write to vdb succeeded", out, err)
    testlib.expect(sha256_file(vdb) == vdb_sha, "the readonly image changed")
    got = debugfs_dump(vda, "/out.txt", tmp)
    testlib.expect(got == EXPECTED_OUT.encode(),
                   f"out.txt in the image differs ({len(got)} bytes, expected "
                   f"{len(EXPECTED_OUT)})", out, err)
    sh(["e2fsck", "-fn", vda], "e2fsck of the image the guest unmounted")


def scenario_kill(a, kernel, initrd, tmp, sig):
    vda = os.path.join(tmp, "vda.img")
    make_ext(vda, "ext4", 64, {"run.sh": KILL_SCRIPT})
    g = Guest(base_cmd(a, kernel, initrd, [f"file={vda},if=virtio,format=raw{a.drive_opts}"],
                       a.append))
    synced = g.wait_marker("synced", a.timeout)
    testlib.expect(synced == "1", "the guest never said it synced", g.console(), g.stderr())
    time.sleep(1.0)          # let the write loop put requests in flight
    g.p.send_signal(sig)
    status = g.finish(120)
    out, err = g.console(), g.stderr()
    print(f"status {status} after {signal.Signals(sig).name}")
    if sig == signal.SIGTERM:
        testlib.expect(status == 128 + signal.SIGTERM,
                       f"exit status {status}, expected {128 + signal.SIGTERM}", out, err)
        testlib.expect("stopped by SIGTERM" in err, "no 'stopped by SIGTERM' line", out, err)
    else:
        testlib.expect(status == -signal.SIGKILL, f"status {status}", out, err)
    for bad in ("AddressSanitizer", "runtime error", "Segmentation"):
        testlib.expect(bad not in err, f"minivmm reported {bad}", out, err)
    # The guest never unmounted: replay its journal on a copy, as the
    # kernel would at the next mount, then the filesystem must be clean.
    copy = os.path.join(tmp, "replayed.img")
    shutil.copyfile(vda, copy)
    p = subprocess.run(["e2fsck", "-fy", copy], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    print(f"e2fsck -fy: status {p.returncode}")
    testlib.expect(p.returncode in (0, 1), f"e2fsck -fy found damage it could not fix "
                   f"(status {p.returncode})", p.stdout)
    sh(["e2fsck", "-fn", copy], "e2fsck -fn after journal replay")
    got = debugfs_dump(copy, "/before.txt", tmp)
    testlib.expect(got == EXPECTED_OUT.encode(),
                   f"before.txt (synced before the signal) differs: {len(got)} bytes", out, err)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--linux", required=True)
    ap.add_argument("--kernel", default="bzImage")
    ap.add_argument("--scenario", choices=["rw", "sigterm", "sigkill"], required=True)
    ap.add_argument("--drive-opts", default="", help="appended to every -drive")
    ap.add_argument("--append", default="")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()

    testlib.fatal_sanitizers()
    if not testlib.kvm_usable():
        testlib.skip(testlib.kvm_problem())
    for tool in ("mke2fs", "debugfs", "e2fsck"):
        testlib.expect(shutil.which(tool) or os.path.exists(f"/usr/sbin/{tool}"),
                       f"{tool} is missing (scripts/setup.sh installs e2fsprogs)")
    os.environ["PATH"] += ":/usr/sbin:/sbin"
    kernel = os.path.join(a.linux, a.kernel)
    initrd = os.path.join(a.linux, "initramfs.cpio")
    if not os.path.exists(initrd):
        initrd += ".gz"
    testlib.need_linux_files(a.linux, [a.kernel, os.path.basename(initrd)])
    # Not /tmp: a tmpfs there would refuse cache=none (O_DIRECT).
    tmp = tempfile.mkdtemp(prefix="minivmm-disk-", dir="/var/tmp")
    try:
        if a.scenario == "rw":
            fn = lambda: scenario_rw(a, kernel, initrd, tmp)  # noqa: E731
        else:
            sig = signal.SIGTERM if a.scenario == "sigterm" else signal.SIGKILL
            fn = lambda: scenario_kill(a, kernel, initrd, tmp, sig)  # noqa: E731
        status = testlib.run_checks(fn, f" ({a.scenario})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if status == 0:
        print("ok")
    return status


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Initrd tests with the Linux test kernel: the guest must end up with
exactly the files of the initrd, whatever its compression, whether minivmm
unpacked it on the host or the kernel did it itself.

  run_initrd.py --vmm MINIVMM --linux DIR --format gzip|xz|zstd|lz4|bzip2|concat
                [--timeout S] [-- extra minivmm args]

The test builds a tree t/ (random binary data, text, an empty file, deep
directories, a symlink, run.sh) and packs it with the real tools: `cpio -o -H
newc` after the test kernel's own initramfs.cpio, then gzip -9 / xz / zstd /
lz4 -l / bzip2.  `concat` is a real distribution initrd's shape: an
uncompressed early archive (t/early.txt, and t/order = "early"), zero
padding, then the gzip-compressed main archive (whose t/order = "late" must
win).  /init (minivmm.exec=/t/run.sh) lists t/ -- type, path, sha256 of each
file, symlink target -- and prints the list's sha256; the host computes the
same from what it packed.  The initrd file must be unchanged afterwards,
and minivmm's stderr must say whether it unpacked the initrd on the host.
Exits 77 (skip) when /dev/kvm is unusable or the kernel was not built.
"""
import argparse
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testlib  # noqa: E402

RUN_SH = """cd /
find t | sort | while read -r f; do
	if [ -L "$f" ]; then echo "L $f $(readlink "$f")"
	elif [ -d "$f" ]; then echo "D $f"
	else echo "F $f $(sha256sum < "$f" | cut -d' ' -f1)"; fi
done > /tmp/tree.list
echo "MINIVMM-MARKER tree_entries=$(wc -l < /tmp/tree.list)"
echo "MINIVMM-MARKER tree_sha=$(sha256sum < /tmp/tree.list | cut -d' ' -f1)"
echo "MINIVMM-MARKER order=$(cat /t/order)"
"""

COMPRESS = {
    "gzip": ["gzip", "-9", "-n", "-c"],
    "xz": ["xz", "--check=crc32", "-6", "-c"],
    "zstd": ["zstd", "-19", "-q", "-c"],
    "lz4": ["lz4", "-l", "-9", "-q", "-c"],
    "bzip2": ["bzip2", "-9", "-c"],
}


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def make_tree(root, order):
    rnd = random.Random(20261203)
    t = os.path.join(root, "t")
    write(os.path.join(t, "run.sh"), RUN_SH.encode(), 0o755)
    write(os.path.join(t, "data", "random.bin"), rnd.randbytes(300 * 1024))
    write(os.path.join(t, "data", "text.txt"),
          "".join(f"line {i}: minivmm initrd test\n" for i in range(5000)).encode())
    write(os.path.join(t, "empty"), b"")
    write(os.path.join(t, "deep", "a", "b", "c", "leaf"), b"leaf\n")
    write(os.path.join(t, "order"), order.encode() + b"\n")
    os.symlink("data/text.txt", os.path.join(t, "link"))


def cpio_of(root):
    """newc archive of root's t/, in sorted order, as the kernel reads it."""
    names = []
    for d, dirs, files in os.walk(os.path.join(root, "t")):
        for n in dirs + files:
            names.append(os.path.relpath(os.path.join(d, n), root))
    names = ["t"] + sorted(names)
    p = subprocess.run(["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"], cwd=root,
                       input="\n".join(names).encode() + b"\n", stdout=subprocess.PIPE,
                       check=True)
    return p.stdout


def listing(trees):
    """What run.sh prints for the union of trees (later ones win)."""
    entries = {}
    for root in trees:
        for d, dirs, files in os.walk(os.path.join(root, "t")):
            for n in dirs + files:
                path = os.path.join(d, n)
                rel = os.path.relpath(path, root)
                if os.path.islink(path):
                    entries[rel] = f"L {rel} {os.readlink(path)}"
                elif os.path.isdir(path):
                    entries[rel] = f"D {rel}"
                else:
                    entries[rel] = f"F {rel} " + hashlib.sha256(open(path, "rb").read()).hexdigest()
    entries["t"] = "D t"
    text = "".join(entries[k] + "\n" for k in sorted(entries))
    return len(entries), hashlib.sha256(text.encode()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--linux", required=True)
    ap.add_argument("--format", required=True, choices=sorted(COMPRESS) + ["concat"])
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()

    testlib.fatal_sanitizers()
    if not testlib.kvm_usable():
        testlib.skip(testlib.kvm_problem())
    testlib.need_linux_files(a.linux, ["bzImage", "initramfs.cpio", "kernel.version"])
    tool = COMPRESS.get(a.format, COMPRESS["gzip"])
    if not shutil.which(tool[0]) or not shutil.which("cpio"):
        testlib.skip(f"{tool[0]} or cpio is not installed (scripts/setup.sh installs them)")
    base = open(os.path.join(a.linux, "initramfs.cpio"), "rb").read()
    host_unpacks = "--no-host-decompress" not in a.extra

    with tempfile.TemporaryDirectory(prefix="minivmm-initrd-") as tmp:
        late, early = os.path.join(tmp, "late"), os.path.join(tmp, "early")
        make_tree(late, "late")
        main_cpio = base + cpio_of(late)
        packed = subprocess.run(tool, input=main_cpio, stdout=subprocess.PIPE, check=True).stdout
        trees = [late]
        if a.format == "concat":
            os.makedirs(os.path.join(early, "t"))
            write(os.path.join(early, "t", "early.txt"), b"from the early archive\n")
            write(os.path.join(early, "t", "order"), b"early\n")
            early_cpio = subprocess.run(
                ["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"], cwd=early,
                input=b"t\nt/early.txt\nt/order\n", stdout=subprocess.PIPE, check=True).stdout
            packed = early_cpio + b"\0" * 512 + packed
            trees = [early, late]
        want_entries, want_sha = listing(trees)
        img = os.path.join(tmp, f"initrd.{a.format}")
        with open(img, "wb") as f:
            f.write(packed)
        img_sha = hashlib.sha256(packed).hexdigest()

        append = "console=ttyS0 reboot=k panic=-1 minivmm.exec=/t/run.sh"
        cmd = [a.vmm, "-m", "256M", "-kernel", os.path.join(a.linux, "bzImage"),
               "-initrd", img, "-append", append] + a.extra
        print(f"initrd: {len(packed)} bytes ({a.format}) holding {len(main_cpio)} bytes of cpio")
        p, dt, markers = testlib.boot_linux(cmd, a.timeout)
        if p is None:
            return 1
        out, err = p.stdout, p.stderr
        print(f"booted in {dt:.1f} s, status {p.returncode}, markers {markers}")
        print("--- minivmm stderr ---\n" + err.strip())
        problems = []
        if p.returncode != 0:
            problems.append(f"exit status {p.returncode}, expected 0")
        if markers.get("run_status") != "0":
            problems.append(f"run.sh status {markers.get('run_status')!r}")
        if markers.get("tree_entries") != str(want_entries):
            problems.append(f"{markers.get('tree_entries')} entries in t/, expected {want_entries}")
        if markers.get("tree_sha") != want_sha:
            problems.append(f"tree_sha {markers.get('tree_sha')}, expected {want_sha}")
        if markers.get("order") != "late":
            problems.append(f"t/order is {markers.get('order')!r}: the archives' order was lost")
        unpacked = re.search(r"unpacked on the host to", err)
        if host_unpacks and not unpacked:
            problems.append("minivmm did not say it unpacked the initrd on the host")
        if not host_unpacks and unpacked:
            problems.append("--no-host-decompress, yet minivmm unpacked the initrd")
        if "Initramfs unpacking failed" in out:
            problems.append("the kernel failed to unpack the initramfs")
        if hashlib.sha256(open(img, "rb").read()).hexdigest() != img_sha:
            problems.append("the initrd file changed")
    return testlib.verdict(problems, out, f"{a.format}: {want_entries} entries, tree sha256 "
                           f"{want_sha[:16]}..., {dt:.1f} s")


if __name__ == "__main__":
    sys.exit(main())

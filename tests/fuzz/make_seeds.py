#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/):
small valid inputs of each shape, so the fuzzers start past the magic
numbers.  The files are committed; run this again after changing it.

  make_seeds.py [OUTDIR]   (default: tests/fuzz/corpus next to this file)
"""
import gzip
import json
import lzma
import os
import struct
import sys

SPLIT = b"\xfe\xed\xfa\xce"


def elf(entry=0x1000000, note=False):
    """ELF64 x86-64 executable: one PT_LOAD of 64 bytes at entry (and a
    PT_NOTE with XEN_ELFNOTE_PHYS32_ENTRY when note)."""
    code = b"\xf4" * 64
    nph = 2 if note else 1
    off = 64 + 56 * nph
    desc = struct.pack("<I", entry)
    n = struct.pack("<III", 4, len(desc), 18) + b"Xen\0" + desc
    eh = (b"\x7fELF\x02\x01\x01" + b"\0" * 9 +
          struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, entry, 64, 0, 0, 64, 56, nph, 64, 0, 0))
    ph = struct.pack("<IIQQQQQQ", 1, 5, off, entry, entry, len(code), len(code), 0x1000)
    body = code
    if note:
        ph += struct.pack("<IIQQQQQQ", 4, 4, off + len(code), 0, 0, len(n), len(n), 4)
        body += n
    return eh + ph + body


def bzimage(payload, init_size=4 << 20):
    setup_sects = 4
    setup = bytearray(512 * (setup_sects + 1))
    pm = bytearray(0x200) + payload          # 64-bit entry at +0x200
    struct.pack_into("<B", setup, 0x1F1, setup_sects)
    struct.pack_into("<I", setup, 0x1F4, (len(pm) + 15) // 16)
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)
    struct.pack_into("<H", setup, 0x200, 0x6AEB)
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x020F)
    struct.pack_into("<B", setup, 0x211, 1)  # LOADED_HIGH
    struct.pack_into("<I", setup, 0x214, 0x100000)
    struct.pack_into("<I", setup, 0x22C, 0x7FFFFFFF)
    struct.pack_into("<I", setup, 0x230, 0x200000)
    struct.pack_into("<B", setup, 0x234, 1)
    struct.pack_into("<H", setup, 0x236, 1)  # XLF_KERNEL_64
    struct.pack_into("<I", setup, 0x238, 2047)
    struct.pack_into("<I", setup, 0x248, 0x200)
    struct.pack_into("<I", setup, 0x24C, len(payload))
    struct.pack_into("<Q", setup, 0x258, 0x1000000)
    struct.pack_into("<I", setup, 0x260, init_size)
    return bytes(setup) + bytes(pm)


def newc(entries):
    out = b""
    for i, (name, mode, data) in enumerate(entries + [("TRAILER!!!", 0, b"")]):
        nb = name.encode() + b"\0"
        hdr = b"070701" + b"".join(b"%08X" % v for v in
                                   (i + 1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        out += hdr + nb
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return out


def net_rings(rx_chains, tx_chains, rx_len=1526):
    """virtio-net fuzz input: the 4096-byte page at 0x1000 holding both
    queues' rings (queue q: descriptors at q*0x400, avail at +0x100, used
    at +0x200), with RX chains of rx_len writable bytes and TX chains of a
    header and a 60-byte frame, all made available."""
    page = bytearray(4096)
    for q, n in ((0, rx_chains), (1, tx_chains)):
        base = q * 0x400
        for i in range(n):
            addr = 0x10000 + q * 0x8000 + i * 0x800
            ln, flags = (rx_len, 2) if q == 0 else (12 + 60, 0)
            struct.pack_into("<QIHH", page, base + 16 * i, addr, ln, flags, 0)
            struct.pack_into("<H", page, base + 0x100 + 4 + 2 * i, i)
        struct.pack_into("<HH", page, base + 0x100, 0, n)
    return bytes(page)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    cpio = newc([("init", 0o100755, b"#!/bin/sh\necho hi\n"), ("etc", 0o40755, b""),
                 ("etc/motd", 0o100644, b"hello\n" * 20)])
    seeds = {
        "kernel": {
            "elf": b"\0" + elf(),
            "elf-pvh": b"\2" + elf(note=True),
            "bzimage-gzip": b"\0" + bzimage(gzip.compress(elf(), mtime=0)),
            "bzimage-xz": b"\0" + bzimage(lzma.compress(elf(), format=lzma.FORMAT_XZ,
                                                        check=lzma.CHECK_CRC32)),
            "bzimage-guest": b"\1" + bzimage(gzip.compress(elf(), mtime=0)),
            "bzimage-initrd": b"\0" + bzimage(gzip.compress(elf(), mtime=0)) + SPLIT +
                              gzip.compress(cpio, mtime=0),
        },
        "initrd": {
            "cpio": cpio,
            "gzip": gzip.compress(cpio, mtime=0),
            "xz": lzma.compress(cpio, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32),
            "concat": cpio + b"\0" * 512 + gzip.compress(cpio, mtime=0),
            "old-style": b"\x1f\x8b" + b"\0" * 30,
        },
        "cli": {
            "linux": b"\0".join([b"-m", b"512M", b"-smp", b"2", b"-kernel", b"bzImage",
                                 b"-initrd", b"initrd.gz", b"-append", b"console=ttyS0"]),
            "drive": b"\0".join([b"-drive", b"file=disk.img,if=virtio,format=raw,cache=none,aio=threads",
                                 b"-device", b"virtio-rng-pci,max-bytes=1024,period=1000"]),
            "layout": b"\0".join([b"--mem-layout", b"chunks:2M", b"--mem-backing", b"memfd",
                                  b"--profile=100", b"--stats=json", b"--cache-size", b"1G"]),
            "net": b"\0".join([b"-netdev", b"user,id=n0,hostfwd=tcp::2222-:22,mtu=1500,restrict=on",
                                b"-device", b"virtio-net-pci,netdev=n0,mac=52:54:00:12:34:57",
                                b"-nic", b"tap,ifname=tap0,script=no"]),
            "mmu": b"\0".join([b"--mmu", b"shadow", b"--shadow-fill=lazy", b"--pt-pool", b"8M",
                               b"--translate", b"0x1000", b"-gdb", b"tcp:127.0.0.1:1234", b"-S"]),
        },
        "snapshot": {
            "status": b"\0" + b'{"execute": "status", "id": 1}',
            "snapshot": b"\0" + b'{"execute": "snapshot", "arguments": {"dir": "/tmp/s"}}',
            "fail": b"\0" + b'{"execute": "fail", "id": [1, {"a": null}]}',
            "state": b"\1" + json.dumps({
                "com1": {"ier": "0x7", "lcr": "0x3", "mcr": "0xb", "scr": "0x0", "dll": "0xc",
                         "dlm": "0x0", "fcr": "0x81", "lsr-err": "0x0", "msr": "0xb0",
                         "thr-ipending": "0x1", "irq-level": "0x0", "listening": "0x1",
                         "rx": "61620000000000000000000000000000", "rx-head": "0x0",
                         "rx-count": "0x2"},
                "i8042": {"ram": "47" + "00" * 31, "outp": "0x3", "ob": "0x0", "obf": "0x0",
                          "last-was-cmd": "0x0", "pending": "0x0"},
            }, sort_keys=True).encode(),
        },
        "virtio_net": {
            # features: MRG_RXBUF|CSUM|GUEST_CSUM|EVENT_IDX; offloads: CSUM
            "tx-rx": b"\x0f\x01" + net_rings(4, 2) + bytes([0, 0, 0, 2, 60, 0, 1, 0, 0,
                                                            2, 0xdc, 0x05]),
            "merge": b"\x01\x00" + net_rings(8, 0, rx_len=256) +
                     bytes([2, 0xe8, 0x03, 1, 0, 0, 2, 0x40, 0x06]),
            "plain": b"\x00\x00" + net_rings(2, 2) + bytes([0, 0, 0, 2, 0xee, 0x05, 4, 0, 0,
                                                            0, 0, 0]),
        },
        "xsave": {
            "x87-sse-avx": struct.pack("<QQ", 7, 7) + bytes(576 + 256),
            "avx512": struct.pack("<QQ", 0xE7, 0xE7) + bytes(24) + struct.pack("<I", 0x1F80) +
                      bytes(512 - 28) + struct.pack("<Q", 0xE7) + bytes(2688 - 520),
        },
    }
    for target, files in seeds.items():
        d = os.path.join(root, target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
    print(f"seeds written under {root}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""End-to-end checks of minivmm's own behaviour (not a guest's): the console
on a real terminal, the layout reports, the device-tree dump, and the exit
statuses for bad input.  One case per invocation:

  test_vmm.py MINIVMM GUEST_DIR CASE

Exits 0 on success, 1 with an explanation on failure, 77 (skip) when a case
needs /dev/kvm and it is unusable.
"""
import json
import os
import pty
import select
import signal
import subprocess
import sys
import tempfile
import termios
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testlib  # noqa: E402
from testlib import expect  # noqa: E402


def expect_run(vmm, args, status, stdout=(), stderr=(), timeout=60):
    return testlib.expect_run([vmm] + args, status, stdout, stderr, timeout,
                              what=f"minivmm {' '.join(args)}")


# ---- cases needing no KVM --------------------------------------------------

def case_usage_errors(vmm, guests):
    expect_run(vmm, ["--frobnicate"], 2, stderr=["unknown option '--frobnicate'"])
    expect_run(vmm, ["-m", "lots"], 2, stderr=["not a memory size"])
    expect_run(vmm, ["-smp", "0"], 2, stderr=["-smp"])
    expect_run(vmm, ["--mem-layout", "chunks:"], 2, stderr=["--mem-layout"])
    expect_run(vmm, ["-kernel"], 2, stderr=["needs a value"])
    expect_run(vmm, ["--mmu=ept"], 2, stderr=["--mmu: 'ept' is not tdp or shadow"])
    expect_run(vmm, ["--shadow-fill=lazy"], 2, stderr=["only applies with --mmu=shadow"])
    expect_run(vmm, ["--mmu=shadow", "--shadow-fill=sometimes"], 2, stderr=["--shadow-fill"])
    expect_run(vmm, ["--mmu=shadow", "-smp", "2"], 2, stderr=["runs one vCPU"])
    expect_run(vmm, ["--pt-pool=3M"], 2, stderr=["--pt-pool"])
    expect_run(vmm, ["--stats=xml"], 2, stderr=["--stats"])
    expect_run(vmm, ["--translate", "0xzz"], 2, stderr=["--translate: '0xzz' is not an address"])
    out, _ = expect_run(vmm, ["--help"], 0)
    expect("--mem-layout" in out and "Ctrl-A x" in out, "help text incomplete", out)
    out, _ = expect_run(vmm, ["--version"], 0)
    expect(out.startswith("minivmm "), "version line", out)


# ---- cases needing KVM -----------------------------------------------------

def case_bad_kernel_files(vmm, guests):
    with tempfile.TemporaryDirectory() as d:
        trunc = os.path.join(d, "trunc.elf")
        with open(os.path.join(guests, "hello.elf"), "rb") as f:
            data = f.read()
        with open(trunc, "wb") as f:
            f.write(data[:100])
        junk = os.path.join(d, "junk")
        with open(junk, "wb") as f:
            f.write(b"not a kernel\n" * 100)
        empty = os.path.join(d, "empty")
        open(empty, "wb").close()
        expect_run(vmm, ["-kernel", os.path.join(d, "missing")], 1, stderr=["cannot open"])
        expect_run(vmm, ["-kernel", trunc], 1, stderr=["truncated or malformed ELF"])
        expect_run(vmm, ["-kernel", junk], 1, stderr=["unrecognised kernel format"])
        expect_run(vmm, ["-kernel", empty], 1, stderr=["not a regular, non-empty file"])
        expect_run(vmm, ["-kernel", d], 1, stderr=["not a regular"])
        # A guest that does not fit in RAM.
        expect_run(vmm, ["-m", "1M"], 2, stderr=["too small"])


def case_show_layout(vmm, guests):
    out, _ = expect_run(vmm, ["-m", "3200M", "--show-layout"], 0,
                        stdout=["memory layout split, backing anon: 3200 MiB of RAM in 2 slots",
                                "0x0000000100000000  0x0000000107ffffff     128 MiB",
                                "guest memory map (e820):"])
    out, _ = expect_run(vmm, ["-m", "3200M", "--mem-layout", "chunks:512M",
                              "--show-layout=json"], 0)
    j = json.loads(out)
    ram = [s for s in j["slots"] if s["kind"] == "ram"]
    expect(j["layout"] == "chunks:512M" and j["nr_ram_slots"] == len(ram) == 7,
           "json slot count", out)
    expect(sum(s["size"] for s in ram) == 3200 << 20, "json slot sizes", out)
    expect(all(a["gpa_end"] < b["gpa"] for a, b in zip(j["slots"], j["slots"][1:])),
           "json slots sorted and disjoint", out)
    expect(ram[6]["gpa"] == 1 << 32, "high chunk starts at 4 GiB", out)
    # A test guest's MMU regions are slots too: the mailbox and the pool
    # (read-only, and the shadow store besides, with --mmu=shadow).
    other = {s["kind"]: s for s in j["slots"] if s["kind"] != "ram"}
    expect(sorted(other) == ["mmu-mailbox", "pt-pool"] and j["nr_slots"] == 9 and
           other["pt-pool"]["flags"] == "rw", "json MMU regions", out)
    out, _ = expect_run(vmm, ["--mmu=shadow", "--show-layout=json"], 0)
    other = {s["kind"]: s for s in json.loads(out)["slots"] if s["kind"] != "ram"}
    expect(sorted(other) == ["mmu-mailbox", "pt-pool", "shadow-store"] and
           other["pt-pool"]["flags"] == "ro", "json MMU regions (shadow)", out)
    usable = sum(e["size"] for e in j["e820"] if e["type"] == "usable")
    # All RAM but the EBDA and the BIOS area below 1 MiB.
    expect(usable == (3200 << 20) - (0xA0000 - 0x9FC00) - (0x100000 - 0xA0000),
           f"e820 usable RAM {usable}", out)
    expect(j["host_mmu"] in ("vmx+ept", "svm+npt", "kvm-shadow", "pvm", "unknown"), "host mmu", out)


def case_compare_layouts(vmm, guests):
    out, _ = expect_run(vmm, ["compare-layouts", "-m", "3200M", "split", "chunks:64M"], 0,
                        stdout=["memory slots                2                 50",
                                "guest memory map (e820)     reference         same"])
    out, _ = expect_run(vmm, ["compare-layouts", "-m", "3200M", "--json", "split", "single"], 2,
                        stderr=["mmio hole"])
    j = json.loads(out)
    expect([l["ok"] for l in j["layouts"]] == [True, False], "refused layout marked", out)


def case_dump_dtb(vmm, guests):
    with tempfile.TemporaryDirectory() as d:
        dtb = os.path.join(d, "vm.dtb")
        expect_run(vmm, ["-m", "3200M", "-smp", "3", "-append", "a=b c", "--dump-dtb", dtb], 0)
        dts = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", dtb], capture_output=True,
                             text=True, check=True).stdout
        for s in ['bootargs = "a=b c";', "memory@0 {", "memory@100000000 {",
                  "reg = <0x00 0x00 0x00 0xc0000000>;", "reg = <0x01 0x00 0x00 0x8000000>;",
                  "cpu@2 {", 'compatible = "ns16550a";', "/memreserve/"]:
            expect(s in dts, f"dts lacks {s!r}", dts)


def case_reset(vmm, guests):
    expect_run(vmm, ["-append", "exit=reset"], 0,
               stdout=["leaving through the i8042 reset line"])
    out, _ = expect_run(vmm, ["-append", "exit=reset"], 0)
    expect("reset was ignored" not in out, "guest ran on after the reset", out)


def case_stats(vmm, guests):
    _, err = expect_run(vmm, ["--stats"], 0,
                        stderr=["run statistics (host MMU:", "exits seen by minivmm",
                                "io ", "KVM statistics, non-zero",
                                "VMM resident memory excluding guest RAM"])
    # JSON into a file, in both MMU modes: the shape `minivmm compare` reads.
    with tempfile.TemporaryDirectory() as d:
        for mode in ("tdp", "shadow"):
            path = os.path.join(d, mode + ".json")
            expect_run(vmm, ["--mmu=" + mode, "--stats=json", "--stats-file", path], 0)
            with open(path) as f:
                st = json.load(f)
            for key in ("host_mmu", "mmu", "tsc_khz", "exits", "kvm_vm", "kvm_vcpu", "phases"):
                expect(key in st, f"{mode}: stats JSON lacks {key!r}: {sorted(st)}")
            expect(st["mmu"] == mode and st["exit_status"] == 0, f"{mode}: {st['mmu']} {st['exit_status']}")
            expect(st["exits"].get("io", 0) > 0, f"{mode}: no io exits counted: {st['exits']}")
            if mode == "shadow":
                sh = st["shadow"]
                expect(sh["root_loads"] == 1 and sh["pages_in_use"] > 0, f"shadow counters: {sh}")
            else:
                expect("shadow" not in st, "tdp run reports shadow counters")
    # --translate: the guest's tables (software walk) beside KVM's view; in
    # shadow mode KVM's CR3 is the shadow root in the store, the guest's
    # root is in the pool, and both must give the same GPA.
    for mode in ("tdp", "shadow"):
        _, err = expect_run(vmm, ["--mmu=" + mode, "-kernel", "builtin:mmu", "-append",
                                  "workload=as-switch switches=16",
                                  "--translate", "0x100000", "--translate", "0x7f0000000000"], 0)
        expect("translate 0x100000 (guest root 0xc02" in err and "ok gpa 0x100000 2M" in err,
               f"{mode}: no guest walk of 0x100000", "", err)
        expect("translate 0x100000: KVM (CR3 0x" + ("d" if mode == "shadow" else "c02") in err
               and "says gpa 0x100000" in err, f"{mode}: KVM's view of 0x100000", "", err)
        expect("page-fault ec 0x0 (not-present" in err and "says not mapped" in err,
               f"{mode}: unmapped address", "", err)


def case_sigint(vmm, guests):
    p = subprocess.Popen([vmm, "-kernel", os.path.join(guests, "bad.elf"), "-append", "mode=loop"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    expect(p.returncode == 130, f"status {p.returncode}, expected 130", out, err)
    expect("stopped by SIGINT" in err, "no SIGINT message", out, err)


def case_drive_errors(vmm, guests):
    """Every way a -drive can be wrong ends with one line naming it and
    status 2, before any guest code runs; a second minivmm on an image in
    use is refused while the first runs (and a readonly user too)."""
    hello = os.path.join(guests, "hello.elf")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        ok = os.path.join(tmp, "ok.img")
        with open(ok, "wb") as f:
            f.truncate(1 << 20)
        odd = os.path.join(tmp, "odd.img")
        with open(odd, "wb") as f:
            f.write(b"\0" * 1000)
        qcow = os.path.join(tmp, "disk.qcow2")
        with open(qcow, "wb") as f:
            f.write(b"QFI\xfb" + b"\0" * 4092)
        cases = [
            (os.path.join(tmp, "missing.img"), "no such file"),
            (tmp, "is a directory"),
            (odd, "is not a multiple of"),
            (qcow, "qemu-img convert"),
        ]
        for path, msg in cases:
            _, err = expect_run(vmm, ["-kernel", hello, "-drive", f"file={path},if=virtio"], 2,
                                stderr=[msg])
            lines = [ln for ln in err.splitlines() if ln.strip()]
            expect(len(lines) == 1, f"{path}: {len(lines)} lines of errors", "", err)
        # The lock: a guest that spins holds ok.img until SIGINT.
        first = subprocess.Popen([vmm, "-kernel", os.path.join(guests, "bad.elf"), "-append",
                                  "mode=loop", "-drive", f"file={ok},if=virtio"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1.0)
            expect(first.poll() is None, "the first minivmm did not keep running")
            for extra in ("", ",readonly=on"):
                expect_run(vmm, ["-kernel", hello, "-drive", f"file={ok},if=virtio{extra}"], 2,
                           stderr=["image is in use"])
        finally:
            first.send_signal(signal.SIGINT)
            out, err = first.communicate(timeout=30)
        expect(first.returncode == 130, f"first minivmm: status {first.returncode}", out, err)
        # Released at exit: the image is usable again.
        expect_run(vmm, ["-kernel", hello, "-drive", f"file={ok},if=virtio"], 0)


def read_until(fd, needle, timeout):
    buf = b""
    end = time.time() + timeout
    while needle not in buf and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def case_tty_console(vmm, guests):
    """On a terminal: raw input reaches the guest, Ctrl-A x quits with 0, and
    the terminal settings are exactly restored."""
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([vmm, "-kernel", os.path.join(guests, "echo.elf")],
                         stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    try:
        got = read_until(master, b"echo: ready", 30)
        expect(b"echo: ready" in got, "echo guest did not start", got.decode(errors="replace"))
        raw = termios.tcgetattr(slave)
        expect(not (raw[3] & termios.ICANON) and not (raw[3] & termios.ECHO),
               "terminal not in raw mode while running")
        os.write(master, b"typed\x01\x01!")  # Ctrl-A Ctrl-A sends one Ctrl-A
        got = read_until(master, b"typed\x01!", 30)
        expect(b"typed\x01!" in got, "typed bytes not echoed", repr(got))
        os.write(master, b"\x01x")
        st = p.wait(timeout=30)
        err = p.stderr.read().decode()
        expect(st == 0, f"Ctrl-A x gave status {st}", "", err)
        after = termios.tcgetattr(slave)
        expect(after == before, "terminal settings not restored")
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
        os.close(slave)


CASES = {
    "usage-errors": (case_usage_errors, False),
    "bad-kernel-files": (case_bad_kernel_files, True),
    "show-layout": (case_show_layout, True),
    "compare-layouts": (case_compare_layouts, True),
    "dump-dtb": (case_dump_dtb, True),
    "reset": (case_reset, True),
    "stats": (case_stats, True),
    "sigint": (case_sigint, True),
    "tty-console": (case_tty_console, True),
    "drive-errors": (case_drive_errors, True),
}


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in CASES:
        sys.exit(f"usage: test_vmm.py MINIVMM GUEST_DIR {{{'|'.join(CASES)}}}")
    vmm, guests, name = sys.argv[1:]
    fn, needs_kvm = CASES[name]
    testlib.fatal_sanitizers()
    if needs_kvm and not testlib.kvm_usable():
        testlib.skip(testlib.kvm_problem())
    if testlib.run_checks(lambda: fn(vmm, guests), f" {name}"):
        sys.exit(1)
    print(f"ok {name}")


if __name__ == "__main__":
    main()

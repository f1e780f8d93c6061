#!/usr/bin/env python3
"""The gdb stub, end to end, with the real gdb in batch mode and a raw RSP
client for what gdb never sends.  One case per invocation:

  test_gdb.py MINIVMM GDBTARGET_ELF CASE

  break      -S on a Unix socket: break at a function by name, continue,
             print variables, write memory, stepi, info registers, detach;
             the guest's output shows the writes
  interrupt  TCP port 0 (the port is read from minivmm's line): a hardware
             breakpoint, a breakpoint and a step in ring-3 code, Ctrl-C
             while the guest spins in ring 3, a step there, kill
  hostile    noise, bad checksums, an overlong packet, run-length and
             escapes, bad packets, packets while running, Ctrl-C, a client
             that vanishes mid-packet, a second client, 'k'
  usage      -S without -gdb, bad -gdb spellings, a socket that cannot listen

Exits 0 on success, 1 with an explanation, 77 (skip) without /dev/kvm or gdb.
"""
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testlib  # noqa: E402
import gdblib  # noqa: E402
from gdblib import Rsp, Vmm, expect_all, frame  # noqa: E402
from testlib import expect  # noqa: E402

TIMEOUT = 60


def symbol(elf, name):
    out = subprocess.run(["nm", elf], stdout=subprocess.PIPE, text=True, check=True).stdout
    m = re.search(rf"^([0-9a-f]+) \w {re.escape(name)}$", out, re.M)
    expect(m, f"no symbol {name} in {elf}", out)
    return int(m.group(1), 16)


def case_break(vmm_path, elf, tmp):
    gdb = gdblib.need_gdb()
    sock = os.path.join(tmp, "gdb.sock")
    vmm = Vmm([vmm_path, "-kernel", elf, "-S", "-gdb", f"unix:{sock}"])
    try:
        vmm.wait_for("err", r"listening on unix:", TIMEOUT)
        out = gdblib.run_gdb(gdb, elf, sock, [
            "break gdb_poke", "continue",
            "print gdb_counter", "print n", "bt",
            "set var gdb_counter = 1000", "set var gdb_message[0] = 80",
            "stepi", "info registers rip", "info threads",
            "print/x $cr0", "print $fs_base", "info registers eflags",
            "delete", "detach"], TIMEOUT)
        status = vmm.finish(TIMEOUT)
    finally:
        vmm.kill()
    expect_all(out, ["Breakpoint 1, gdb_poke (n=10)", "$1 = 42", "$2 = 10",
                     "#0  gdb_poke (n=10)", "re:^rip +0x[0-9a-f]+ +0x[0-9a-f]+ <gdb_poke\\+[1-9]",
                     "Thread 1 (vCPU 0)", "re:^\\$3 = 0x8[0-9a-f]{7}$", "eflags",
                     "[Inferior 1 (Remote target) detached]"], "gdb", vmm.err)
    expect(status == 0, f"minivmm status {status}", vmm.out, vmm.err)
    expect_all(vmm.out, ["round 1 counter=1010", "round 3 counter=1060",
                         "message=Pnchanged"], "the guest's output", vmm.err)
    expect_all(vmm.err, ["client connected", "client detached"], "minivmm's messages")


def case_interrupt(vmm_path, elf, tmp):
    gdb = gdblib.need_gdb()
    vmm = Vmm([vmm_path, "-kernel", elf, "-S", "-gdb", "tcp:127.0.0.1:0", "-append", "spin=1"])
    g = None
    try:
        port = int(vmm.wait_for("err", r"listening on tcp:127\.0\.0\.1:(\d+)", TIMEOUT).group(1))
        _, step3, hw0, _ = gdblib.host_caps(vmm)
        ring3 = step3 or "steps through the guest's #BP and #DB" in vmm.err
        expect(port != 0, "minivmm printed port 0", vmm.out, vmm.err)
        cmds = ["hbreak gdb_poke" if hw0 else "break gdb_poke", "continue",
                "print n", "delete",
                # Ring 3: a breakpoint and a step there.
                "break printf", "continue", "bt", "stepi", "info registers rip cs",
                "delete", "continue",
                # Ctrl-C while the guest spins in ring 3, a step, kill.
                "info registers rip cs", "stepi", "info registers rip",
                "print spins > 0", "kill"]
        g = subprocess.Popen(gdblib.gdb_cmd(gdb, elf, f"127.0.0.1:{port}", cmds),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, errors="replace")
        vmm.wait_for("out", r"^gdbtarget: spinning in ring 3", TIMEOUT)
        time.sleep(0.3)
        g.send_signal(signal.SIGINT)	# gdb sends Ctrl-C (0x03) to the stub
        out, _ = g.communicate(timeout=TIMEOUT)
        print(out, flush=True)
        status = vmm.finish(TIMEOUT)
    finally:
        if g and g.poll() is None:
            g.kill()
        vmm.kill()
    expect_all(out, ["Breakpoint 1, gdb_poke (n=10)", "$1 = 10",
                     "Program received signal SIGINT",
                     "re:^rip +0x[0-9a-f]+ +0x[0-9a-f]+ <main\\+",
                     "re:^cs +0x[0-9a-f]*[37] ",   # ring 3
                     "$2 = 1", "[Inferior 1 (Remote target) killed]"], "gdb", vmm.err)
    if hw0:
        expect("Hardware assisted breakpoint 1" in out, "no hardware breakpoint", out)
    if ring3:
        expect_all(out, ["Breakpoint 2, printf (fmt=", "re:^#1  0x[0-9a-f]+ in main ",
                         "re:^rip +0x[0-9a-f]+ +0x[0-9a-f]+ <printf\\+[1-9]"],
                   "gdb (ring-3 breakpoint and step)", vmm.err)
        expect("Remote failure reply" not in out, "a ring-3 step was refused", out)
    else:
        expect_all(out, ["cannot single-step guest ring 3", "Remote failure reply: E5f"],
                   "gdb (this host cannot step ring 3)")
    expect(status == 0, f"minivmm status {status} after gdb's kill", vmm.out, vmm.err)
    expect_all(vmm.err, ["client killed the VM"], "minivmm's messages")


def hostile_packets(c, msg):
    """Bad input while stopped: NAKs and errors, and the stub still works."""
    c.send(b"noise\r\n\x00\xff+++")
    c.send(b"-")                            # NAK: the last packet again
    expect(c.packet() == b"QC1", "a NAK did not resend the last packet")
    c.send(b"$g#00")                       # wrong checksum
    expect(c.byte() == b"-", "no NAK for a bad checksum")
    c.send(b"$g#zz")
    expect(c.byte() == b"-", "no NAK for a non-hex checksum")
    c.send(frame(b"m" + b"0" * 40000))     # longer than PacketSize
    c.ack()
    expect(c.packet() == b"E01", "overlong packet not refused")
    # A run: "10*!" is "1" "0" and 4 more "0": m100000,4 (the image start).
    plain = c.ask(b"m100000,4")
    expect(re.fullmatch(rb"[0-9a-f]{8}", plain), f"m100000,4 -> {plain!r}")
    expect(c.ask(b"m10*!,4") == plain, "a run-length request reads differently")
    # Escapes: '#', '*' and '!' written into gdb_message with X.
    expect(c.ask(b"X%x,3:}\x03}\x0a!" % msg) == b"OK", "X with escapes refused")
    expect(c.ask(b"m%x,3" % msg) == b"232a21", "X wrote the wrong bytes")
    for bad in [b"m", b"mzz,4", b"M1,2:zz", b"Z0,,", b"vCont;q", b"Hg99", b"P1=",
                b"qXfer:features:read:target.xml:", b"G00", b"X1,ffffffffffffffff:",
                b"m4000000000000,8", b"Z0,4000000000000,1", b"qRcmd,1"]:
        r = c.ask(bad)
        expect(r == b"" or r.startswith(b"E"), f"{bad!r} answered {r!r}")
    # Random bytes inside one packet (no '#' or '$'): a NAK, nothing else.
    rnd = random.Random(7)
    junk = bytes(b for b in (rnd.randrange(256) for _ in range(20000)) if b not in b"#$")
    c.send(b"$" + junk + b"#00")
    expect(c.byte() == b"-", "no NAK for a junk packet")
    expect(c.ask(b"qC") == b"QC1", "the stub is confused after bad input")


def case_hostile(vmm_path, elf, tmp):
    sock = os.path.join(tmp, "gdb.sock")
    msg = symbol(elf, "gdb_message")
    vmm = Vmm([vmm_path, "-kernel", elf, "-S", "-gdb", f"unix:{sock}", "-append", "spin=1"])
    try:
        vmm.wait_for("err", r"listening on unix:", TIMEOUT)
        c = Rsp(sock)
        expect(c.ask(b"?") == b"T05thread:1;", "first stop reply")
        expect(c.ask(b"qC") == b"QC1", "qC")
        hostile_packets(c, msg)
        # Running: packets other than Ctrl-C are ignored (acked only).
        c.send(frame(b"c"))
        c.ack()
        vmm.wait_for("out", r"^gdbtarget: spinning in ring 3", TIMEOUT)
        c.send(frame(b"g"))
        c.ack()
        expect(c.quiet(0.3), "a reply to a packet sent while running")
        c.send(b"\x03")
        expect(c.packet() == b"T02thread:1;", "Ctrl-C did not stop the guest")
        expect(len(c.ask(b"g")) > 1000, "no registers after Ctrl-C")
        # Vanish in the middle of a packet: the guest runs on.
        c.send(b"$m1000,")
        c.close()
        vmm.wait_for("err", r"client disconnected; the guest runs on", TIMEOUT)
        # The next client is taken, and stops the guest again; a second
        # one at the same time is turned away.
        c = Rsp(sock)
        expect(c.ask(b"qfThreadInfo") == b"m1", "second client: thread list")
        other = Rsp(sock)
        try:
            other.ask(b"?")
            expect(False, "a second simultaneous client was served")
        except (EOFError, ConnectionError):
            pass
        other.close()
        vmm.wait_for("err", r"a second client refused", TIMEOUT)
        expect(c.ask(b"qC") == b"QC1", "the first client lost its session")
        c.send(frame(b"k"))
        c.ack()
        status = vmm.finish(TIMEOUT)
    finally:
        vmm.kill()
    expect(status == 0, f"minivmm status {status} after 'k'", vmm.out, vmm.err)
    expect_all(vmm.out, ["message=#*!hanged"], "the guest's output", vmm.err)
    expect_all(vmm.err, ["client killed the VM"], "minivmm's messages")


def case_usage(vmm_path, elf, tmp):
    testlib.expect_run([vmm_path, "-S"], 2, stderr=["-S waits for gdb: give -s or -gdb too"])
    testlib.expect_run([vmm_path, "-gdb", "1234"], 2,
                       stderr=["'1234' is not tcp:HOST:PORT or unix:PATH"])
    testlib.expect_run([vmm_path, "-gdb", "tcp:localhost:70000"], 2,
                       stderr=["is not a port number"])
    out, _ = testlib.expect_run([vmm_path, "--help"], 0)
    expect("-gdb tcp:HOST:PORT" in out and "-S " in out, "--help lacks -gdb / -S", out)
    if not testlib.kvm_usable():
        return
    testlib.expect_run([vmm_path, "-kernel", elf, "-gdb", f"unix:{tmp}/no/such/dir/g.sock"],
                       1, stderr=["gdb: cannot listen on unix:"])
    # -S with no gdb ever coming: a signal still ends minivmm.
    sock = os.path.join(tmp, "wait.sock")
    vmm = Vmm([vmm_path, "-kernel", elf, "-S", "-gdb", f"unix:{sock}"])
    try:
        vmm.wait_for("err", r"listening on unix:", TIMEOUT)
        vmm.p.send_signal(signal.SIGTERM)
        status = vmm.finish(TIMEOUT)
    finally:
        vmm.kill()
    expect(status == 143, f"-S and SIGTERM: status {status}", vmm.out, vmm.err)
    expect(not os.path.exists(sock), "the socket file was left behind")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        testlib.expect_run([vmm_path, "-kernel", elf, "-gdb", f"tcp:127.0.0.1:{port}"],
                           1, stderr=[f"gdb: cannot listen on tcp:127.0.0.1:{port}"])


CASES = {
    "break": (case_break, True),
    "interrupt": (case_interrupt, True),
    "hostile": (case_hostile, True),
    "usage": (case_usage, False),
}


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in CASES:
        sys.exit(f"usage: test_gdb.py MINIVMM GDBTARGET_ELF {{{'|'.join(CASES)}}}")
    vmm, elf, name = sys.argv[1:]
    fn, needs_kvm = CASES[name]
    testlib.fatal_sanitizers()
    if needs_kvm and not testlib.kvm_usable():
        testlib.skip(testlib.kvm_problem())
    with tempfile.TemporaryDirectory() as tmp:
        if testlib.run_checks(lambda: fn(vmm, elf, tmp), f" {name}"):
            sys.exit(1)
    print(f"ok {name}")


if __name__ == "__main__":
    main()

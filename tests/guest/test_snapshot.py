#!/usr/bin/env python3
"""Snapshots, restores and the control socket with the test guests
(docs/snapshots.md).  One case per invocation:

  test_snapshot.py MINIVMM GUEST_DIR CASE

  echo       --snapshot-on "echo: ready" with --snapshot-and-exit; the
             restored guest echoes piped input through its interrupt-driven
             UART (PIC, UART and vCPU state all came back)
  memtest    a snapshot taken through the control socket while memtest
             runs; the restored guest finishes with the same verdict and
             page count as an uninterrupted run
  mmu        the same with the MMU guest in tdp mode: the workloads that run
             after the restore print the uninterrupted run's checksums
  control    every command of --api-sock, `minivmm ctl`, and hostile
             clients (bad JSON, a 1 MiB line, too many clients, a client
             that vanishes) that must not stop the VMM
  damaged    corrupt, truncated, mismatched snapshots and bad restore
             command lines: one line, exit status 2, nothing run
  refused    --mmu=shadow: the snapshot is refused, the VM runs on

Exits 0 on success, 1 with an explanation, 77 (skip) without /dev/kvm.
"""
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testlib  # noqa: E402
from testlib import expect  # noqa: E402


def run(cmd, stdin_text=None, timeout=60):
    return subprocess.run(cmd, input=stdin_text, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, errors="replace",
                          timeout=timeout)


class Client:
    """One control-socket connection: request() sends a line, returns the reply."""

    def __init__(self, path, deadline=10):
        end = time.time() + deadline
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.time() > end:
                    raise
                time.sleep(0.05)
        self.s.settimeout(60)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                return None
            self.buf += d
        l, self.buf = self.buf.split(b"\n", 1)
        return json.loads(l)

    def raw(self, data):
        self.s.sendall(data)
        return self.line()

    def request(self, cmd, **args):
        req = {"execute": cmd}
        if args:
            req["arguments"] = args
        return self.raw(json.dumps(req).encode() + b"\n")

    def close(self):
        self.s.close()


STARTED = []


def start(vmm, args, api):
    """minivmm with a control socket; killed at exit if a check failed."""
    p = subprocess.Popen([vmm, "--api-sock", api] + args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         errors="replace")
    STARTED.append(p)
    return p


def case_echo(vmm, guests):
    with tempfile.TemporaryDirectory(prefix="minivmm-snap-") as d:
        snap = os.path.join(d, "s")
        r = run([vmm, "-kernel", os.path.join(guests, "echo.elf"),
                 "--snapshot-on", "echo: ready", snap, "--snapshot-and-exit"])
        expect(r.returncode == 0, f"snapshot run: status {r.returncode}", r.stdout, r.stderr)
        expect("echo: ready" in r.stdout, "the marker line was not printed whole", r.stdout)
        expect(os.path.isfile(os.path.join(snap, "state.json")), "no snapshot", r.stderr)
        for i in range(2):
            text = f"snapshot {i} says hello"
            r = run([vmm, "--restore", snap], stdin_text=text + "\x04")
            expect(r.returncode == 0, f"restore {i}: status {r.returncode}", r.stdout,
                   r.stderr)
            expect(text in r.stdout and f"echo: {len(text)} bytes" in r.stdout,
                   f"restore {i}: input not echoed", r.stdout, r.stderr)
            expect("echo: ready" not in r.stdout, "the restored guest booted again", r.stdout)


def snapshot_mid_run(vmm, args, d, delay, timeout):
    """Run minivmm args with a control socket, snapshot it after delay
    seconds (it must keep running), let it finish: the snapshot's path and
    the run's output (status checked)."""
    api, snap = os.path.join(d, "api"), os.path.join(d, "mid")
    p = start(vmm, args, api)
    c = Client(api)
    time.sleep(delay)
    r = c.request("snapshot", dir=snap)
    expect("return" in r, f"snapshot refused: {r}")
    st = c.request("status")["return"]
    expect(st["state"] == "running", f"not running after the snapshot: {st}")
    c.close()
    out, err = p.communicate(timeout=timeout)
    expect(p.returncode == 0, f"the snapshotted run: status {p.returncode}", out, err)
    return snap, out


def case_memtest(vmm, guests):
    args = ["-m", "128M", "-kernel", os.path.join(guests, "memtest.elf"),
            "-append", "passes=300"]
    ref = run([vmm] + args, timeout=300)
    want = re.search(r"memtest: PASS \d+ pages checked.*", ref.stdout)
    expect(ref.returncode == 0 and want, "uninterrupted memtest failed", ref.stdout, ref.stderr)
    with tempfile.TemporaryDirectory(prefix="minivmm-snap-") as d:
        snap, out = snapshot_mid_run(vmm, args, d, 1.0, 300)
        expect(want.group(0) in out, "the snapshotted run did not finish as the reference", out)
        r = run([vmm, "--restore", snap], timeout=300)
        expect(r.returncode == 0 and want.group(0) in r.stdout,
               f"restored memtest: status {r.returncode}, want '{want.group(0)}'",
               r.stdout, r.stderr)
        expect("memtest: 1 RAM range" not in r.stdout,
               "the restored guest started from the beginning", r.stdout)


def case_mmu(vmm, guests):
    args = ["-kernel", os.path.join(guests, "mmu.elf"), "--mmu=tdp"]
    ref = run([vmm] + args, timeout=120)
    sums = dict(re.findall(r"mmu: (\S+) checksum=(0x[0-9a-f]+)", ref.stdout))
    expect(ref.returncode == 0 and len(sums) >= 4, "uninterrupted MMU guest", ref.stdout,
           ref.stderr)
    with tempfile.TemporaryDirectory(prefix="minivmm-snap-") as d:
        snap, _ = snapshot_mid_run(vmm, args, d, 0.5, 120)
        r = run([vmm, "--restore", snap], timeout=120)
        got = dict(re.findall(r"mmu: (\S+) checksum=(0x[0-9a-f]+)", r.stdout))
        expect(r.returncode == 0 and "mmu: done" in r.stdout and got,
               f"restored MMU guest: status {r.returncode}", r.stdout, r.stderr)
        for name, value in got.items():
            expect(sums.get(name) == value, f"{name}: checksum {value} after the restore, "
                   f"{sums.get(name)} uninterrupted", r.stdout)


def case_control(vmm, guests):
    with tempfile.TemporaryDirectory(prefix="minivmm-api-") as d:
        api = os.path.join(d, "api")
        p = start(vmm, ["-kernel", os.path.join(guests, "echo.elf")], api)
        c = Client(api)
        expect(oct(os.stat(api).st_mode & 0o777) == "0o600", "socket mode is not 0600")
        st = c.request("status")["return"]
        expect(st["state"] == "running" and st["vcpus"] == 1 and "com1" in st["devices"],
               f"status: {st}")
        # The echo guest waits for input in hlt: statistics must not wait
        # for it (KVM's vCPU ioctls would).
        stats = c.request("stats")["return"]
        expect(stats.get("vcpus") == 1, f"stats while the guest halts: {str(stats)[:300]}")
        expect(c.request("pause") == {"return": {}}, "pause")
        expect(c.request("status")["return"]["state"] == "paused", "not paused")
        expect(c.request("pause") == {"return": {}}, "pause twice")
        stats = c.request("stats")["return"]
        expect("exits" in json.dumps(stats), f"stats: {str(stats)[:300]}")
        expect(c.request("resume") == {"return": {}}, "resume")
        expect(c.request("status")["return"]["state"] == "running", "not running again")
        r = c.request("frobnicate")
        expect(r.get("error", {}).get("class") == "GenericError" and
               "unknown command" in r["error"]["desc"], f"unknown command: {r}")
        expect("error" in c.request("snapshot"), "snapshot without a dir")
        expect("error" in c.request("send-console", data=5), "send-console without text")
        expect(c.raw(b"this is not json\n")["error"]["class"] == "ParseError", "bad JSON")
        expect(c.raw(b"[]\n")["error"]["class"] == "BadRequest", "not an object")
        r = c.raw(b'{"execute": "status", "id": 42}\n')
        expect(r.get("id") == 42, f"id not echoed: {r}")
        # `minivmm ctl`, the shell's client.
        r = run([vmm, "ctl", api, "status"])
        expect(r.returncode == 0 and '"state": "running"' in r.stdout, "ctl status",
               r.stdout, r.stderr)
        r = run([vmm, "ctl", api, "nope"])
        expect(r.returncode == 1 and "unknown command" in r.stderr, "ctl error", r.stdout,
               r.stderr)
        r = run([vmm, "ctl", api, "snapshot", "{not json"])
        expect(r.returncode == 2, "ctl with bad arguments", r.stdout, r.stderr)
        r = run([vmm, "ctl", os.path.join(d, "nothing"), "status"])
        expect(r.returncode == 1 and "cannot reach" in r.stderr, "ctl without a VMM",
               r.stdout, r.stderr)
        # Hostile clients: a 1 MiB line, too many clients, vanishing ones.
        big = Client(api)
        try:
            big.s.sendall(b"x" * (1 << 20))
        except OSError:
            pass
        r = big.line()
        expect(r and "too long" in r["error"]["desc"], f"a 1 MiB line: {r}")
        expect(big.line() is None, "the flooding client stays connected")
        big.close()
        many = [Client(api) for _ in range(20)]
        busy = 0
        for m in many:
            m.s.settimeout(0.5)
            try:
                r = m.line()
                busy += bool(r and r.get("error", {}).get("class") == "Busy")
            except socket.timeout:
                pass
        expect(busy == 20 - 15, f"{busy} clients told busy, expected 5 (16 allowed, 1 in use)")
        for m in many:
            m.close()
        gone = Client(api)
        gone.s.sendall(b'{"execute": "stats"}\n')
        gone.close()
        expect(c.request("status")["return"]["state"] == "running", "VMM hurt by clients")
        # Console input through the socket reaches the guest.
        r = c.request("send-console", data="via socket\x04")
        expect(r["return"]["queued"] == 11,
               "send-console")
        out, err = p.communicate(timeout=60)
        expect(p.returncode == 0 and "via socket" in out and "echo: 10 bytes" in out,
               f"the guest did not echo the socket's input (status {p.returncode})", out, err)
        expect(not os.path.exists(api), "the socket file was left behind")
        # quit
        p = start(vmm, ["-kernel", os.path.join(guests, "echo.elf")], api)
        c = Client(api)
        expect(c.request("quit") == {"return": {}}, "quit")
        p.communicate(timeout=60)
        expect(p.returncode == 0, f"quit: status {p.returncode}")


def rewrite_state(snap, edit):
    path = os.path.join(snap, "state.json")
    doc = json.load(open(path))
    edit(doc)
    text = json.dumps(doc).encode()
    open(path, "wb").write(text)
    open(os.path.join(snap, "state.sha256"), "w").write(
        hashlib.sha256(text).hexdigest() + "  state.json\n")


def case_damaged(vmm, guests):
    with tempfile.TemporaryDirectory(prefix="minivmm-snap-") as d:
        good = os.path.join(d, "good")
        r = run([vmm, "-kernel", os.path.join(guests, "echo.elf"),
                 "--snapshot-on", "echo: ready", good, "--snapshot-and-exit"])
        expect(r.returncode == 0, "snapshot", r.stdout, r.stderr)

        def variant(name, damage, message):
            snap = os.path.join(d, name)
            subprocess.run(["cp", "-a", good, snap], check=True)
            damage(snap)
            r = run([vmm, "--restore", snap], stdin_text="")
            expect(r.returncode == 2 and message in r.stderr and not r.stdout,
                   f"{name}: status {r.returncode}, want 2 and '{message}'", r.stdout, r.stderr)
            expect(len(r.stderr.strip().splitlines()) == 1, f"{name}: more than one line",
                   r.stderr)

        def flip(snap):
            with open(os.path.join(snap, "state.json"), "r+b") as f:
                f.seek(100)
                b = f.read(1)
                f.seek(100)
                f.write(bytes([b[0] ^ 1]))

        def cpuid(doc):
            h = doc["vcpu0"]["cpuid"]
            doc["vcpu0"]["cpuid"] = h[:8] + ("0" if h[8] != "0" else "1") + h[9:]

        def slot(doc):
            doc["memory"][0]["size"] += 4096

        def regs(doc):
            doc["vcpu0"]["regs"] = doc["vcpu0"]["regs"][:-2]

        variant("flipped", flip, "does not match its checksum")
        variant("truncated-state", lambda s: os.truncate(os.path.join(s, "state.json"), 1000),
                "does not match its checksum")
        variant("truncated-memory", lambda s: os.truncate(os.path.join(s, "mem-0.raw"), 4096),
                "truncated")
        variant("no-memory", lambda s: os.unlink(os.path.join(s, "mem-0.raw")),
                "No such file")
        variant("no-sum", lambda s: os.unlink(os.path.join(s, "state.sha256")),
                "not a snapshot")
        variant("version", lambda s: rewrite_state(s, lambda doc: doc.update(version=99)),
                "version 99")
        variant("other-cpu", lambda s: rewrite_state(s, cpuid), "another CPU model")
        variant("other-minivmm", lambda s: rewrite_state(s, lambda doc: doc.update(minivmm="0.0-x")),
                "taken by minivmm 0.0-x")
        variant("other-slots", lambda s: rewrite_state(s, slot), "does not match the machine")
        variant("short-regs", lambda s: rewrite_state(s, regs), "vcpu0.regs")
        variant("no-vcpu", lambda s: rewrite_state(s, lambda doc: doc.pop("vcpu0")),
                "vcpu0: missing")
        r = run([vmm, "--restore", good, "-m", "64M"])
        expect(r.returncode == 2 and "drop -m" in r.stderr, "--restore with -m", r.stderr)
        r = run([vmm, "--restore", os.path.join(d, "nothing")])
        expect(r.returncode == 2 and "not a snapshot" in r.stderr, "missing dir", r.stderr)
        r = run([vmm, "--snapshot-and-exit"])
        expect(r.returncode == 2 and "--snapshot-on" in r.stderr, "--snapshot-and-exit alone")
        r = run([vmm, "--snapshot-on", "x"])
        expect(r.returncode == 2 and "directory is missing" in r.stderr, "no dir", r.stderr)
        # A snapshot into a path that holds something else: refused, kept.
        other = os.path.join(d, "other")
        os.mkdir(other)
        open(os.path.join(other, "keep"), "w").close()
        r = run([vmm, "-kernel", os.path.join(guests, "echo.elf"),
                 "--snapshot-on", "echo: ready", other, "--snapshot-and-exit"])
        expect(r.returncode == 1 and "not a minivmm snapshot" in r.stderr and
               os.listdir(other) == ["keep"] and
               not [f for f in os.listdir(d) if ".tmp-" in f],
               "snapshot over another directory", r.stdout, r.stderr)


def case_refused(vmm, guests):
    with tempfile.TemporaryDirectory(prefix="minivmm-api-") as d:
        api = os.path.join(d, "api")
        p = start(vmm, ["-kernel", os.path.join(guests, "echo.elf"), "--mmu=shadow"], api)
        c = Client(api)
        r = c.request("snapshot", dir=os.path.join(d, "s"))
        expect("error" in r and "--mmu=shadow" in r["error"]["desc"], f"shadow: {r}")
        expect(not os.path.exists(os.path.join(d, "s")), "a refused snapshot left files")
        expect(c.request("send-console", data="\x04") == {"return": {"queued": 1}}, "input")
        out, err = p.communicate(timeout=60)
        expect(p.returncode == 0 and "echo: 0 bytes" in out, "shadow VM after the refusal",
               out, err)


CASES = {
    "echo": case_echo,
    "memtest": case_memtest,
    "mmu": case_mmu,
    "control": case_control,
    "damaged": case_damaged,
    "refused": case_refused,
}


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in CASES:
        sys.exit(f"usage: test_snapshot.py MINIVMM GUEST_DIR {{{'|'.join(CASES)}}}")
    vmm, guests, name = sys.argv[1:]
    testlib.fatal_sanitizers()
    if not testlib.kvm_usable():
        testlib.skip(testlib.kvm_problem())
    failed = testlib.run_checks(lambda: CASES[name](vmm, guests), f" {name}")
    for p in STARTED:
        if p.poll() is None:
            p.kill()
            p.wait()
    if failed:
        sys.exit(1)
    print(f"ok {name}")


if __name__ == "__main__":
    main()

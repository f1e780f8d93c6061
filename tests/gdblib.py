# SPDX-License-Identifier: MIT
"""What the gdb stub's tests share (tests/guest/test_gdb.py,
tests/linux/test_gdb_linux.py): minivmm in the background with its output
collected, the real gdb in batch mode, and a raw RSP client for what gdb
never sends.  Import it after testlib (same directory)."""

import os
import re
import shutil
import socket
import subprocess
import threading
import time

import testlib


def need_gdb():
    """gdb's path; skip (naming scripts/setup.sh) when it is missing."""
    gdb = shutil.which("gdb")
    if not gdb:
        testlib.skip("gdb is not installed (scripts/setup.sh installs it)")
    return gdb


class Vmm:
    """minivmm running in the background; stdout and stderr collected by
    threads so a test can wait for a line while it runs."""

    def __init__(self, cmd):
        print("$ " + " ".join(cmd), flush=True)
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.text = {"out": "", "err": ""}
        self.lock = threading.Lock()
        self.readers = [threading.Thread(target=self._read, args=(s, k), daemon=True)
                        for s, k in ((self.p.stdout, "out"), (self.p.stderr, "err"))]
        for t in self.readers:
            t.start()

    def _read(self, stream, key):
        for chunk in iter(lambda: stream.read1(4096), b""):
            with self.lock:
                self.text[key] += chunk.decode(errors="replace")

    @property
    def out(self):
        with self.lock:
            return self.text["out"]

    @property
    def err(self):
        with self.lock:
            return self.text["err"]

    def wait_for(self, key, regex, timeout, what=None):
        """The first match of regex in stdout ("out") or stderr ("err")."""
        end = time.time() + timeout
        while True:
            with self.lock:
                m = re.search(regex, self.text[key], re.M)
            if m:
                return m
            if time.time() > end or self.p.poll() is not None:
                with self.lock:
                    m = re.search(regex, self.text[key], re.M)
                if m:
                    return m
                testlib.expect(False, f"{what or regex!r}: not seen in {key} "
                               f"(minivmm {'ended' if self.p.poll() is not None else 'running'})",
                               self.out, self.err)
            time.sleep(0.02)

    def finish(self, timeout):
        """Wait for minivmm to end; its exit status."""
        try:
            st = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            testlib.expect(False, f"minivmm did not end within {timeout} s", self.out, self.err)
        for t in self.readers:
            t.join(5)
        return st

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def host_caps(vmm):
    """What minivmm's probe said: (single-step ring 0, ring 3, hardware
    breakpoints ring 0, ring 3), from its start-up line."""
    m = vmm.wait_for("err", r"single-step ring 0 (yes|no), ring 3 (yes|no); hardware "
                     r"breakpoints ring 0 (yes|no), ring 3 (yes|no)", 30, "the probe's line")
    return tuple(g == "yes" for g in m.groups())


def gdb_cmd(gdb, elf, target, commands):
    """gdb -batch with one -ex per command, after loading elf's symbols and
    connecting to target."""
    cmd = [gdb, "-batch", "-nx", "-ex", "set confirm off", "-ex", "set pagination off"]
    if elf:
        cmd += ["-ex", f"file {elf}"]
    cmd += ["-ex", f"target remote {target}"]
    for c in commands:
        cmd += ["-ex", c]
    return cmd


def run_gdb(gdb, elf, target, commands, timeout):
    """Run gdb to its end; its output (stdout and stderr together)."""
    cmd = gdb_cmd(gdb, elf, target, commands)
    print("$ gdb " + " ".join(repr(c) for c in commands), flush=True)
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, errors="replace",
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        testlib.expect(False, f"gdb did not finish within {timeout} s", out)
    print(p.stdout, flush=True)
    return p.stdout


def expect_all(text, needles, what, other=""):
    for n in needles:
        if n.startswith("re:"):
            testlib.expect(re.search(n[3:], text, re.M), f"{what} lacks /{n[3:]}/", text, other)
        else:
            testlib.expect(n in text, f"{what} lacks {n!r}", text, other)


# ---- a raw RSP client ----------------------------------------------------------

def frame(payload):
    """$payload#checksum (payload as bytes, sent as is)."""
    return b"$" + payload + b"#%02x" % (sum(payload) & 0xFF)


class Rsp:
    """What gdb would not send, over a socket: acks are read and checked."""

    def __init__(self, address, timeout=10):
        fam = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(address)
        self.buf = b""

    def send(self, raw):
        self.s.sendall(raw)

    def _fill(self):
        data = self.s.recv(65536)
        if not data:
            raise EOFError("the stub closed the connection")
        self.buf += data

    def byte(self):
        while not self.buf:
            self._fill()
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def packet(self):
        """The next packet's payload, checksum checked, runs expanded."""
        while True:
            b = self.byte()
            if b == b"$":
                break
            testlib.expect(b in b"+-", f"unexpected byte {b!r} between packets")
        raw = b""
        while True:
            b = self.byte()
            if b == b"#":
                break
            raw += b
        cs = self.byte() + self.byte()
        testlib.expect(int(cs, 16) == sum(raw) & 0xFF, f"bad checksum on {raw!r}")
        out = bytearray()
        i = 0
        while i < len(raw):
            if raw[i:i + 1] == b"*":
                out += out[-1:] * (raw[i + 1] - 29)
                i += 2
            else:
                out += raw[i:i + 1]
                i += 1
        return bytes(out)

    def ack(self):
        b = self.byte()
        testlib.expect(b == b"+", f"expected an ack, got {b!r}")

    def ask(self, payload):
        """Send a packet, check the ack, return the reply."""
        self.send(frame(payload))
        self.ack()
        return self.packet()

    def quiet(self, seconds):
        """True when nothing at all arrives for that long."""
        self.s.settimeout(seconds)
        try:
            data = self.s.recv(1)
        except socket.timeout:
            return True
        finally:
            self.s.settimeout(10)
        self.buf += data
        return False

    def close(self):
        self.s.close()

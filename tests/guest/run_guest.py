#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run minivmm on a test guest and check what happened.

Usage: run_guest.py --vmm MINIVMM [checks] -- [minivmm arguments]

Checks: the exit status, regexes that must (or must not) match the guest's
serial output (minivmm's stdout, CRLF folded to LF) and minivmm's own messages
(stderr, matched case-insensitively).  Optionally feeds stdin, and sends a
signal once the guest has printed something.  Exits 0 on success, 1 on
failure (with an explanation), 77 (meson's "skip") when /dev/kvm is unusable,
when a file named by --needs-linux has not been built, or when a requested
memory backing is not available on this host -- in the latter case only
after checking that minivmm says so clearly.
"""

import argparse
import codecs
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import testlib  # noqa: E402
from testlib import skip  # noqa: E402

DEFAULT_RAM = 256 << 20  # BOARD_DEFAULT_RAM
TAIL_LINES = 60


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--vmm', required=True, help='the minivmm executable')
    p.add_argument('--name', default='', help='test name for messages')
    p.add_argument('--timeout', type=float, default=30.0,
                   help='hard limit in seconds (then SIGKILL and fail)')
    p.add_argument('--status', type=int, default=0,
                   help='expected exit status of minivmm')
    p.add_argument('--stdout', action='append', default=[], metavar='RE',
                   help='regex that must match the guest output')
    p.add_argument('--no-stdout', action='append', default=[], metavar='RE',
                   help='regex that must not match the guest output')
    p.add_argument('--stderr', action='append', default=[], metavar='RE',
                   help='regex that must match minivmm\'s messages')
    p.add_argument('--no-stderr', action='append', default=[], metavar='RE',
                   help='regex that must not match minivmm\'s messages')
    src = p.add_mutually_exclusive_group()
    src.add_argument('--stdin-data', metavar='STR',
                     help='bytes for stdin, with Python escapes (\\n, \\x04)')
    src.add_argument('--stdin-file', metavar='PATH', help='file for stdin')
    src.add_argument('--stdin-text', type=int, metavar='N',
                     help='N bytes of generated text, then --stdin-end')
    p.add_argument('--stdin-end', type=lambda s: int(s, 0), default=0x04,
                   help='terminator byte after --stdin-text (default 0x04)')
    p.add_argument('--stdin-when', metavar='RE',
                   help='write stdin only once the guest output matches RE '
                   '(serial input sent before the guest listens may be lost)')
    p.add_argument('--stdin-chunk', type=int, default=0, metavar='N',
                   help='write stdin N bytes at a time ...')
    p.add_argument('--stdin-pause', type=float, default=0.0, metavar='S',
                   help='... pausing S seconds between chunks')
    p.add_argument('--expect-echo', action='store_true',
                   help='the stdin payload must appear verbatim in stdout')
    p.add_argument('--signal', metavar='SIG',
                   help='signal to send (name like TERM, or number)')
    p.add_argument('--signal-when', metavar='RE',
                   help='send it once the guest output matches RE ...')
    p.add_argument('--signal-after', type=float, default=0.5, metavar='S',
                   help='... and S more seconds have passed')
    p.add_argument('--no-kvm-ok', action='store_true',
                   help='run even without /dev/kvm (command-line checks)')
    p.add_argument('--needs-linux', action='append', default=[], metavar='PATH',
                   help='a file of the test kernel (guests/linux/build.sh): '
                   'skip when it has not been built')
    p.add_argument('vmm_args', nargs=argparse.REMAINDER)
    args = p.parse_args()
    if args.vmm_args and args.vmm_args[0] == '--':
        args.vmm_args = args.vmm_args[1:]
    return args


def parse_size(s):
    m = re.fullmatch(r'(\d+)([kKmMgGtT]?)[bB]?', s)
    if not m:
        return None
    shift = {'': 20, 'k': 10, 'm': 20, 'g': 30, 't': 40}[m.group(2).lower()]
    return int(m.group(1)) << shift


def option(vmm_args, name):
    """Value of `name VALUE` or `name=VALUE` in minivmm's arguments."""
    for i, a in enumerate(vmm_args):
        if a == name and i + 1 < len(vmm_args):
            return vmm_args[i + 1]
        if a.startswith(name + '='):
            return a[len(name) + 1:]
    return None


def hugetlb_shortfall(vmm_args):
    """A reason string if hugetlb backing cannot work on this host."""
    if option(vmm_args, '--mem-backing') != 'hugetlb':
        return None
    ram = parse_size(option(vmm_args, '-m') or '') or DEFAULT_RAM
    try:
        with open('/proc/sys/vm/nr_hugepages') as f:
            total = int(f.read())
        info = {}
        with open('/proc/meminfo') as f:
            for line in f:
                k, _, v = line.partition(':')
                info[k] = int(v.split()[0])
        free = info.get('HugePages_Free', 0)
        size = info.get('Hugepagesize', 2048) << 10
    except (OSError, ValueError) as e:
        return f'cannot read the hugetlb configuration ({e})'
    if total == 0:
        return 'no huge pages reserved (/proc/sys/vm/nr_hugepages is 0)'
    if free * size < ram:
        return (f'{free} free huge pages of {size >> 10} KiB are less than '
                f'the {ram >> 20} MiB of guest RAM')
    return None


def stdin_payload(args):
    """(bytes to write, payload expected in the echo or None)."""
    if args.stdin_data is not None:
        data = codecs.decode(args.stdin_data, 'unicode_escape').encode('latin-1')
        return data, data
    if args.stdin_file:
        with open(args.stdin_file, 'rb') as f:
            data = f.read()
        return data, data
    if args.stdin_text is not None:
        words = ('minivmm', 'serial', 'echo', 'interrupt', 'fifo', 'guest',
                 'ring3', 'port', '16550A', 'pic', 'eoi', 'hlt')
        out, n = [], 0
        line_no = 0
        while n < args.stdin_text:
            line = f'{line_no:05d} ' + ' '.join(
                words[(line_no * 7 + k) % len(words)] for k in range(8)) + '\n'
            out.append(line)
            n += len(line)
            line_no += 1
        text = ''.join(out).encode()[:args.stdin_text]
        return text + bytes([args.stdin_end]), text
    return None, None


class Collector(threading.Thread):
    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.data, self.lock = stream, bytearray(), threading.Lock()

    def run(self):
        while True:
            chunk = self.stream.read1(65536)
            if not chunk:
                return
            with self.lock:
                self.data += chunk

    def text(self):
        with self.lock:
            raw = bytes(self.data)
        return raw, raw.decode('utf-8', 'replace').replace('\r\n', '\n')


def feed(proc, out, data, args):
    chunk, pause = args.stdin_chunk, args.stdin_pause
    try:
        while args.stdin_when and not re.search(args.stdin_when, out.text()[1], re.M):
            if proc.poll() is not None:
                return
            time.sleep(0.01)
        step = chunk or len(data) or 1
        for off in range(0, len(data), step):
            proc.stdin.write(data[off:off + step])
            proc.stdin.flush()
            if pause and off + step < len(data):
                time.sleep(pause)
        proc.stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass  # minivmm stopped reading; the checks will tell why


def signum(name):
    if name.isdigit():
        return int(name)
    name = name.upper()
    return getattr(signal, name if name.startswith('SIG') else 'SIG' + name)


def run(args, cmd, stdin_data):
    """Run minivmm; returns (status or None on timeout, stdout, stderr, notes)."""
    notes = []
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    out, err = Collector(proc.stdout), Collector(proc.stderr)
    out.start()
    err.start()
    if stdin_data is not None:
        threading.Thread(target=feed, daemon=True,
                         args=(proc, out, stdin_data, args)).start()
    start = time.monotonic()
    deadline = start + args.timeout
    sig = signum(args.signal) if args.signal else None
    sig_at = None if args.signal_when else start + args.signal_after
    status = None
    while True:
        try:
            status = proc.wait(timeout=0.02)
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if sig is not None:
            if sig_at is None and re.search(args.signal_when, out.text()[1], re.M):
                sig_at = now + args.signal_after
            if sig_at is not None and now >= sig_at:
                notes.append(f'sent {signal.Signals(sig).name} after {now - start:.2f} s')
                proc.send_signal(sig)
                sig = None
        if now >= deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            notes.append(f'TIMEOUT: still running after {args.timeout:g} s, killed')
            if sig is not None and sig_at is None:
                notes.append(f'the guest never printed /{args.signal_when}/, '
                             'so the signal was not sent')
            status = None
            break
    out.join(5)
    err.join(5)
    notes.append(f'ran for {time.monotonic() - start:.2f} s')
    return status, out.text(), err.text(), notes


def describe(status):
    if status is None:
        return 'no status (timed out)'
    if status < 0:
        return f'killed by signal {-status} ({signal.Signals(-status).name}), ' \
               'i.e. minivmm did not handle it'
    return str(status)


def check(args, status, out, err, echo_payload):
    failures = []
    if status != args.status:
        failures.append(f'exit status: expected {args.status}, got {describe(status)}')
    for label, text, flags, must, must_not in (
            ('stdout', out[1], re.M, args.stdout, args.no_stdout),
            ('stderr', err[1], re.M | re.I, args.stderr, args.no_stderr)):
        for rx in must:
            if not re.search(rx, text, flags):
                failures.append(f'{label}: no match for /{rx}/')
        for rx in must_not:
            m = re.search(rx, text, flags)
            if m:
                failures.append(f'{label}: unexpected match for /{rx}/: {m.group(0)!r}')
    if args.expect_echo and echo_payload is not None:
        raw = out[0]
        if echo_payload not in raw:
            # Show where the echo first diverges from what was sent.
            start = raw.find(echo_payload[:32]) if len(echo_payload) >= 32 else -1
            if start < 0:
                failures.append('stdout: the stdin payload was not echoed '
                                '(its first 32 bytes never appear)')
            else:
                got = raw[start:start + len(echo_payload)]
                i = next((k for k in range(min(len(got), len(echo_payload)))
                          if got[k] != echo_payload[k]), min(len(got), len(echo_payload)))
                failures.append(
                    f'stdout: echo differs from stdin at byte {i} of {len(echo_payload)}: '
                    f'sent {echo_payload[i:i + 24]!r}, got {got[i:i + 24]!r}')
    return failures


def tail(label, text):
    lines = text.splitlines()
    shown = lines[-TAIL_LINES:]
    head = f'--- {label} ({len(lines)} lines' + \
        (f', last {len(shown)})' if len(shown) < len(lines) else ')') + ' ---'
    return '\n'.join([head] + shown) if lines else f'--- {label}: (empty) ---'


def main():
    args = parse_args()
    cmd = [args.vmm] + args.vmm_args
    print('$ ' + ' '.join(shlex.quote(c) for c in cmd))

    testlib.fatal_sanitizers()
    for path in args.needs_linux:
        testlib.need_linux_files(os.path.dirname(path), [os.path.basename(path)])
    if not args.no_kvm_ok and not testlib.kvm_usable():
        skip(testlib.kvm_problem())

    shortfall = hugetlb_shortfall(args.vmm_args)
    if shortfall:
        # minivmm must refuse with a clear message; then skip, since the
        # host cannot run the test itself.
        args.status, args.timeout = 1, min(args.timeout, 30)
        status, out, err, notes = run(args, cmd, None)
        failures = []
        if status != 1:
            failures.append(f'exit status: expected 1 (cannot build the VM), '
                            f'got {describe(status)}')
        if not re.search(r'huge ?(page|tlb)', err[1], re.I):
            failures.append('stderr: no message about huge pages')
        if failures:
            print(f'FAIL: {shortfall}, and minivmm did not report it clearly:')
            for f in failures:
                print('  ' + f)
            print(tail('stderr', err[1]))
            return 1
        msg = next((l for l in err[1].splitlines() if re.search('huge', l, re.I)), '')
        skip(f'{shortfall}; minivmm reported: {msg.strip()}')

    stdin_data, echo_payload = stdin_payload(args)
    status, out, err, notes = run(args, cmd, stdin_data)
    failures = check(args, status, out, err, echo_payload)
    for n in notes:
        print(n)
    if failures:
        print(f'FAIL{" " + args.name if args.name else ""}:')
        for f in failures:
            print('  ' + f)
    else:
        print(f'PASS: exit status {status}, ' +
              f'{len(args.stdout) + len(args.stderr)} pattern(s) matched')
    print(tail('guest output (stdout)', out[1]))
    print(tail('minivmm messages (stderr)', err[1]))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())

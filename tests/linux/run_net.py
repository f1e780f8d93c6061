#!/usr/bin/env python3
"""virtio-net with a real Linux guest, all traffic on this machine.

  run_net.py --vmm MINIVMM --linux DIR --scenario user|tap|options
             [--timeout S] [-- extra minivmm args]

user:    -netdev user (libslirp) with a host forward.  The guest gets its
         address from slirp's DHCP server (udhcpc), fetches a 1 MiB file
         from an HTTP server this script runs on 127.0.0.1 (the guest sees
         it at 10.0.2.2) and prints its SHA-256; then it serves `nc -l -p
         7777 -e cat`, and this script sends 1 MiB through the forwarded
         127.0.0.1 port and must get the same bytes back.
tap:     a network namespace made here, a persistent tap with vnet headers
         in it, 192.168.77.1/24 on the host side; the guest takes
         192.168.77.2, pings the host and the same 1 MiB echo runs over the
         tap.  Skipped (77) without CAP_NET_ADMIN, /dev/net/tun or `ip`.
snapshot: boots with -netdev user,id=n0 and no forward, snapshots at the
         console's MINIVMM-READY line, then restores twice, each time with
         -netdev user,id=n0,hostfwd=... on a new port: each restored guest
         takes a lease again and echoes 1 MiB through its own forward.
options: malformed and conflicting network options, a forwarded port that
         is taken: each one line and exit status 2 (no kernel needed).
"""
import argparse
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testlib  # noqa: E402

ECHO_BYTES = 1 << 20
GUEST_PORT = 7777

DHCP_SCRIPT = """#!/bin/sh
# udhcpc's hook: configure the interface, report what slirp said.
case "$1" in
deconfig) ifconfig "$interface" 0.0.0.0 up ;;
bound|renew)
	ifconfig "$interface" "$ip" netmask "$subnet" up
	set -- $router
	route add default gw "$1" dev "$interface"
	# udhcpc's output goes to /dev/null: this line to the console.
	echo "MINIVMM-NET ip=$ip router=$1 dns=$dns" >/dev/console
	;;
esac
"""

ECHO_PART = """
nc -l -p @PORT@ -e cat &
until netstat -ltn | grep -q ':@PORT@ '; do sleep 0.1; done
echo "MINIVMM-NET listening"
wait $!
echo "MINIVMM-NET echo-done"
"""

USER_RUN = """#!/bin/sh
udhcpc -i eth0 -n -q -t 5 -T 2 -s /t/dhcp.sh >/dev/null || { echo "MINIVMM-NET dhcp=failed"; exit 1; }
wget -q -O /tmp/file http://10.0.2.2:@HTTP_PORT@/file || { echo "MINIVMM-NET wget=failed"; exit 1; }
set -- $(sha256sum /tmp/file)
echo "MINIVMM-NET sha256=$1"
""" + ECHO_PART

TAP_RUN = """#!/bin/sh
ifconfig eth0 192.168.77.2 netmask 255.255.255.0 up
if ping -c 3 -W 5 192.168.77.1 >/tmp/ping; then
	echo "MINIVMM-NET ping=ok"
else
	echo "MINIVMM-NET ping=failed"; cat /tmp/ping; exit 1
fi
""" + ECHO_PART


def make_initrd(linux, tmp, run_sh):
    t = os.path.join(tmp, "t")
    os.makedirs(t)
    for name, text in (("run.sh", run_sh), ("dhcp.sh", DHCP_SCRIPT)):
        with open(os.path.join(t, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(t, name), 0o755)
    extra = subprocess.run(["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"], cwd=tmp,
                           input=b"t\nt/run.sh\nt/dhcp.sh\n", stdout=subprocess.PIPE,
                           check=True).stdout
    img = os.path.join(tmp, "initrd.cpio")
    with open(img, "wb") as f:
        f.write(open(os.path.join(linux, "initramfs.cpio"), "rb").read() + extra)
    return img


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Console:
    """minivmm's console, read line by line on a thread."""

    def __init__(self, cmd, stdin_text=None):
        print("$ " + " ".join(cmd), flush=True)
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL if stdin_text is None
                                  else subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, errors="replace")
        if stdin_text is not None:
            # Kept open: the guest's console would see the end of input.
            self.p.stdin.write(stdin_text)
            self.p.stdin.flush()
        self.lines = []
        self.cond = threading.Condition()
        self.err = ""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            if line.startswith("MINIVMM-"):
                print("guest: " + line.rstrip(), flush=True)
            with self.cond:
                self.lines.append(line.rstrip("\r\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)
            self.cond.notify_all()

    def _read_err(self):
        self.err = self.p.stderr.read()

    def wait_for(self, prefix, deadline):
        """The first line starting with prefix, or None (ended, timed out)."""
        with self.cond:
            while True:
                for line in self.lines:
                    if line is None:
                        return None
                    if line.startswith(prefix):
                        return line
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def text(self):
        with self.cond:
            return "\n".join(l for l in self.lines if l is not None)

    def finish(self, deadline):
        try:
            self.p.wait(max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        time.sleep(0.2)
        return self.p.returncode


def echo_once(addr, data, deadline):
    """One connection: send data, read it back.  (bytes back, error)."""
    got = bytearray()
    try:
        s = socket.create_connection(addr, timeout=30)
    except OSError as e:
        return got, e
    s.settimeout(max(5, deadline - time.time()))

    def sender():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    threading.Thread(target=sender, daemon=True).start()
    try:
        while len(got) < len(data):
            b = s.recv(1 << 16)
            if not b:
                break
            got += b
    except OSError as e:
        return got, e
    finally:
        s.close()
    return got, None


def echo_through(addr, deadline):
    """Send ECHO_BYTES to addr, read them back: (ok, detail, seconds)."""
    data = os.urandom(ECHO_BYTES)
    while True:
        t0 = time.time()
        got, err = echo_once(addr, data, deadline)
        dt = time.time() - t0
        # The guest's nc may not listen yet: libslirp accepts on the host
        # at once, then resets when the guest refuses.  Try again.
        if got or time.time() > deadline or not isinstance(
                err, (ConnectionResetError, ConnectionRefusedError, BrokenPipeError)):
            break
        time.sleep(0.5)
    if err:
        return False, f"echo: {err} after {len(got)} bytes", dt
    if bytes(got) != data:
        return False, f"echo: {len(got)} bytes back, {'same' if got == data[:len(got)] else 'different'} data", dt
    return True, f"1 MiB echoed in {dt:.1f} s", dt


class Handler(http.server.BaseHTTPRequestHandler):
    payload = b""

    def do_GET(self):
        if self.path != "/file":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args):
        pass


def scenario_user(a, tmp):
    Handler.payload = os.urandom(1 << 20)
    want = hashlib.sha256(Handler.payload).hexdigest()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    host_port = free_port()
    img = make_initrd(a.linux, tmp, USER_RUN.replace("@HTTP_PORT@", str(httpd.server_address[1]))
                     .replace("@PORT@", str(GUEST_PORT)))
    cmd = [a.vmm, "-m", "256M", "-kernel", os.path.join(a.linux, "bzImage"), "-initrd", img,
           "-append", "console=ttyS0 reboot=k panic=-1 minivmm.exec=/t/run.sh",
           "-netdev", f"user,id=n0,hostfwd=tcp::{host_port}-:{GUEST_PORT}",
           "-device", "virtio-net-pci,netdev=n0", "--stats"] + a.extra
    return run_guest(a, cmd, ("127.0.0.1", host_port), want, httpd)


def run_guest(a, cmd, echo_addr, want_sha, httpd=None, stdin_text=None, lease=True):
    deadline = time.time() + a.timeout
    t0 = time.time()
    c = Console(cmd, stdin_text)
    problems = []
    if want_sha is None and lease:
        ip = c.wait_for("MINIVMM-NET ip=", deadline)
        if not ip or "ip=10.0.2.15 router=10.0.2.2 dns=10.0.2.3" not in ip:
            problems.append(f"lease after the restore: {ip}")
    elif want_sha:
        ip = c.wait_for("MINIVMM-NET ip=", deadline)
        if not ip:
            problems.append("no DHCP lease reported")
        elif "ip=10.0.2.15 router=10.0.2.2 dns=10.0.2.3" not in ip:
            problems.append(f"unexpected lease: {ip}")
        sha = c.wait_for("MINIVMM-NET sha256=", deadline)
        if not sha or sha.split("=", 1)[1] != want_sha:
            problems.append(f"fetched file: {sha}, expected sha256={want_sha}")
    elif not lease:
        ping = c.wait_for("MINIVMM-NET ping=", deadline)
        if ping != "MINIVMM-NET ping=ok":
            problems.append(f"ping: {ping}")
    booted = time.time() - t0
    if not problems and c.wait_for("MINIVMM-NET listening", deadline):
        ok, detail, _ = echo_through(echo_addr, deadline)
        print(detail)
        if not ok:
            problems.append(detail)
        elif not c.wait_for("MINIVMM-NET echo-done", deadline):
            problems.append("the guest's nc did not end")
    elif not problems:
        problems.append("the guest never listened")
    status = c.finish(deadline)
    if httpd:
        httpd.shutdown()
    out = c.text()
    if testlib.pvm_tls_crash(out):
        testlib.skip("the known PVM TLS crash (issue 16) hit this boot")
    markers = dict(testlib.MARKER.findall(out))
    if stdin_text is None and markers.get("run_status") != "0":
        problems.append(f"guest script status {markers.get('run_status')}")
    if status != 0:
        problems.append(f"minivmm exit status {status}: {c.err.strip()[-500:]}")
    for line in c.err.splitlines():
        if "virtio-net" in line or "netdev" in line:
            problems.append(f"warning: {line}")
    print(f"guest ready for traffic after {booted:.1f} s")
    print("\n".join(l for l in c.err.splitlines() if "net" in l.lower()))
    return testlib.verdict(problems, out + "\n--- stderr ---\n" + c.err[-2000:],
                           "the guest's network works through minivmm")


RESTORED_COMMANDS = """udhcpc -i eth0 -n -q -t 5 -T 2 -s /t/dhcp.sh >/dev/null
nc -l -p @PORT@ -e cat & echo "MINIVMM-NET listening"; wait; echo "MINIVMM-NET echo-done"; reboot -f
"""


def scenario_snapshot(a, tmp):
    img = make_initrd(a.linux, tmp, "#!/bin/sh\n")
    snap = os.path.join(tmp, "snap")
    cmd = [a.vmm, "-m", "256M", "-kernel", os.path.join(a.linux, "bzImage"), "-initrd", img,
           "-append", "console=ttyS0 reboot=k panic=-1 minivmm.ready=1",
           "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
           "--snapshot-on", "MINIVMM-READY", snap, "--snapshot-and-exit"] + a.extra
    p, dt, _ = testlib.boot_linux(cmd, a.timeout)
    if p is None:
        return 1
    if testlib.pvm_tls_crash(p.stdout):
        testlib.skip("the known PVM TLS crash (issue 16) hit this boot")
    if p.returncode != 0 or not os.path.exists(os.path.join(snap, "state.json")):
        return testlib.verdict([f"no snapshot (status {p.returncode}): {p.stderr[-500:]}"],
                               p.stdout, "")
    print(f"snapshot taken after {dt:.1f} s")
    for i in range(2):
        port = free_port()
        cmd = [a.vmm, "--restore", snap, "-netdev",
               f"user,id=n0,hostfwd=tcp::{port}-:{GUEST_PORT}", "--stats"]
        r = run_guest(a, cmd, ("127.0.0.1", port), None,
                      stdin_text=RESTORED_COMMANDS.replace("@PORT@", str(GUEST_PORT)))
        if r:
            return r
    # A -netdev that the snapshot's machine has no NIC for is refused.
    st, _, err = testlib.run([a.vmm, "--restore", snap, "-netdev", "user,id=other"])
    if st != 2 or "has no NIC on it" not in err:
        return testlib.verdict([f"restore with an unknown netdev: status {st}, {err[-300:]}"],
                               "", "")
    return 0


def have_net_admin():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return (int(line.split()[1], 16) >> 12) & 1 == 1
    except OSError:
        pass
    return False


def scenario_tap(a, tmp):
    if not os.path.exists("/dev/net/tun"):
        testlib.skip("/dev/net/tun is missing")
    if not have_net_admin() or not shutil.which("ip"):
        testlib.skip("tap needs CAP_NET_ADMIN and iproute2's ip")
    ns = f"minivmm-net-{os.getpid()}"
    setup = [["ip", "netns", "add", ns],
             ["ip", "-n", ns, "tuntap", "add", "dev", "mvtap0", "mode", "tap", "vnet_hdr"],
             ["ip", "-n", ns, "addr", "add", "192.168.77.1/24", "dev", "mvtap0"],
             ["ip", "-n", ns, "link", "set", "mvtap0", "up"],
             ["ip", "-n", ns, "link", "set", "lo", "up"]]
    try:
        for c in setup:
            r = subprocess.run(c, capture_output=True, text=True)
            if r.returncode != 0:
                testlib.skip(f"cannot set up a namespace with a tap: {' '.join(c)}: "
                             f"{r.stderr.strip()}")
        # This script again, inside the namespace, where the tap is.
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__),
                            "--vmm", a.vmm, "--linux", a.linux, "--scenario", "tap-inside",
                            "--timeout", str(a.timeout), "--"] + a.extra)
        return r.returncode
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def scenario_tap_inside(a, tmp):
    img = make_initrd(a.linux, tmp, TAP_RUN.replace("@PORT@", str(GUEST_PORT)))
    cmd = [a.vmm, "-m", "256M", "-kernel", os.path.join(a.linux, "bzImage"), "-initrd", img,
           "-append", "console=ttyS0 reboot=k panic=-1 minivmm.exec=/t/run.sh",
           "-netdev", "tap,id=t0,ifname=mvtap0,script=no", "-device",
           "virtio-net-pci,netdev=t0,mac=52:54:00:00:77:02", "--stats"] + a.extra
    return run_guest(a, cmd, ("192.168.77.2", GUEST_PORT), None, lease=False)


def scenario_options(a, tmp):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    cases = [
        (["-netdev", "socket,id=s0", "-device", "virtio-net-pci,netdev=s0"],
         "unknown network backend 'socket'"),
        (["-netdev", "user,id=n0,hostfwd=tcp:2222-:22", "-device", "virtio-net-pci,netdev=n0"],
         "is not [tcp|udp]"),
        (["-netdev", "user,id=n0"], "no device uses it"),
        (["-device", "virtio-net-pci,netdev=nope"], "no -netdev with id=nope"),
        (["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
          "-device", "virtio-net-pci,netdev=n0"], "2 devices use it"),
        (["-nic", "user,hostfwd=tcp::%d-:22" % port], "cannot listen on the host"),
        (["-nic", "user,model=e1000"], "virtio-net-pci only"),
    ]
    # A tap without the right to it: as we are, or (root) without
    # CAP_NET_ADMIN in the bounding set of minivmm's process.
    no_admin = []
    if have_net_admin() and shutil.which("setpriv"):
        no_admin = ["setpriv", "--bounding-set", "-net_admin", "--"]
    if not have_net_admin() or no_admin:
        cases.append((["-nic", "tap,ifname=mvnope0"], "needs CAP_NET_ADMIN"))
    # The backends open (a port bound, a tap created) only once the VM is
    # built: without /dev/kvm those two refusals cannot be reached.
    skipped = []
    if not testlib.kvm_usable():
        skipped = [c for c in cases if c[0][0] == "-nic" and c[1] != "virtio-net-pci only"]
        cases = [c for c in cases if c not in skipped]
    problems = []
    for args, want in cases:
        pre = no_admin if args[0] == "-nic" and args[1].startswith("tap") else []
        st, out, err = testlib.run(pre + [a.vmm] + args, timeout=60)
        # One line naming the problem (usage errors add the usage hint).
        lines = [l for l in err.splitlines() if l.strip() and not l.startswith("usage:")]
        if st != 2 or want not in err or len(lines) != 1:
            problems.append(f"{' '.join(args)}: status {st}, stderr {err.strip()[:300]!r}")
    taken.close()
    extra = f" ({len(skipped)} more need /dev/kvm: {testlib.kvm_problem()})" if skipped else ""
    return testlib.verdict(problems, "",
                           f"{len(cases)} bad network set-ups refused in one line{extra}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--linux", required=True)
    ap.add_argument("--scenario", choices=["user", "tap", "tap-inside", "snapshot", "options"],
                    required=True)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()

    testlib.fatal_sanitizers()
    if a.scenario == "options":
        return scenario_options(a, None)
    if not testlib.kvm_usable():
        testlib.skip(testlib.kvm_problem())
    testlib.need_linux_files(a.linux, ["bzImage", "initramfs.cpio", "kernel.version"])
    with open(os.path.join(a.linux, "kernel.config")) as f:
        if "CONFIG_VIRTIO_NET=y" not in f.read():
            testlib.skip("the test kernel was built without CONFIG_VIRTIO_NET")
    if not shutil.which("cpio"):
        testlib.skip("cpio is not installed (scripts/setup.sh installs it)")
    with tempfile.TemporaryDirectory(prefix="minivmm-net-") as tmp:
        return {"user": scenario_user, "tap": scenario_tap, "snapshot": scenario_snapshot,
                "tap-inside": scenario_tap_inside}[a.scenario](a, tmp)


if __name__ == "__main__":
    sys.exit(main())

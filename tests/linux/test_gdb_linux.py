#!/usr/bin/env python3
"""gdb on the Linux test kernel, as a kernel developer uses it:

  test_gdb_linux.py --vmm MINIVMM --linux DIR [--smp N] [--timeout S]

minivmm starts the vmlinux with -S on a Unix socket; gdb (batch mode, the
vmlinux's symbols) breaks at start_kernel before the kernel's page tables
map it (the stub translates through the ELF segments minivmm loaded), shows
the backtrace and registers, breaks again at kernel_init (a hardware
breakpoint where the host has them) with every vCPU listed as a thread
(the others still waiting for their start-up IPI there),
then continues until the test kernel's /init reboots: gdb must report the
exit and minivmm must have printed init's markers.  Skips (77) without
/dev/kvm, gdb or the built kernel.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testlib  # noqa: E402
import gdblib  # noqa: E402
from testlib import expect  # noqa: E402


def check(a, tmp):
    gdb = gdblib.need_gdb()
    vmlinux = os.path.join(a.linux, "vmlinux")
    initrd = os.path.join(a.linux, "initramfs.cpio")
    version = open(os.path.join(a.linux, "kernel.version")).read().strip()
    sock = os.path.join(tmp, "gdb.sock")
    vmm = gdblib.Vmm([a.vmm, "-m", "128M", "-smp", str(a.smp), "-kernel", vmlinux,
                      "-initrd", initrd, "-append",
                      "console=ttyS0 reboot=k panic=-1 minivmm.test=ok", "-S",
                      "-gdb", f"unix:{sock}"])
    t0 = time.time()
    try:
        vmm.wait_for("err", r"listening on unix:", 60)
        hw0 = gdblib.host_caps(vmm)[2]
        out = gdblib.run_gdb(gdb, vmlinux, sock, [
            "info registers rip", "break start_kernel", "continue", "bt",
            "info registers rip cs cr3", "x/2i $pc", "delete",
            ("hbreak" if hw0 else "break") + " kernel_init", "continue", "bt",
            "info threads", "delete", "continue"], a.timeout)
        status = vmm.finish(120)
    finally:
        vmm.kill()
    print(f"gdb session and boot: {time.time() - t0:.1f} s", flush=True)
    gdblib.expect_all(out, [
        "re:^rip +0x1000000 ",                        # -S: at the entry
        "re:Breakpoint 1, 0xffffffff8[0-9a-f]+ in start_kernel \\(\\)",
        "re:^#0  0xffffffff8[0-9a-f]+ in start_kernel \\(\\)\n#1 ",
        "re:^rip +0x[0-9a-f]+ +0x[0-9a-f]+ <start_kernel>$",
        "re:^cs +0x10 ",
        "re:[Bb]reakpoint 2, 0x[0-9a-f]+ in kernel_init \\(\\)",
        "re:in kernel_init \\(\\)\n#1 ",
        "[Inferior 1 (Remote target) exited normally]"], "gdb", vmm.err)
    for cpu in range(a.smp):
        expect(f"Thread {cpu + 1} (vCPU {cpu})" in out, f"info threads lacks vCPU {cpu}", out)
    expect(status == 0, f"minivmm status {status}", vmm.out, vmm.err)
    gdblib.expect_all(vmm.out, [f"MINIVMM-MARKER kernel={version}",
                                f"MINIVMM-MARKER cpus={a.smp}"], "the console", vmm.err)
    gdblib.expect_all(vmm.err, ["client closed: the VM has stopped"], "minivmm's messages")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--linux", required=True)
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()
    testlib.fatal_sanitizers()
    if not testlib.kvm_usable():
        testlib.skip(testlib.kvm_problem())
    testlib.need_linux_files(a.linux, ["vmlinux", "initramfs.cpio", "kernel.version"])
    gdblib.need_gdb()
    with tempfile.TemporaryDirectory() as tmp:
        if testlib.run_checks(lambda: check(a, tmp), " gdb-linux"):
            sys.exit(1)
    print("ok gdb-linux")


if __name__ == "__main__":
    main()

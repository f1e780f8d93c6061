#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end check of `minivmm compare`: two MMU workloads of the embedded
MMU guest in tdp and shadow-lazy mode, one rep each, with small sizes, and
every report format.

  test_compare.py MINIVMM

Exits 0 on success, 1 with an explanation on failure, 77 (skip) when
/dev/kvm is unusable.
"""
import csv
import functools
import json
import os
import re
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testlib  # noqa: E402
from testlib import Failure  # noqa: E402

WORKLOADS = ["tlb-4k", "pt-churn"]
MODES = ["tdp", "shadow-lazy"]
# Small enough to run in seconds even where guest page faults are slow (PVM).
APPEND = "ws=4M reads=64K iters=64"

expect = functools.partial(testlib.expect, tail=3000)


def run(vmm, args, timeout):
    return testlib.run([vmm, "compare"] + args, timeout)


def check_usage(vmm):
    # Bad options need no KVM: one line, status 2.
    for args, word in ((["--reps=0"], "--reps"), (["--modes=ept"], "--modes"),
                       (["--frobnicate"], "--frobnicate"), (["--layouts", "nope"], "--layouts")):
        st, out, err = run(vmm, args, 30)
        expect(st == 2, f"compare {' '.join(args)}: status {st}, expected 2", out, err)
        expect(word in err and len(err.strip().splitlines()) == 1,
               f"compare {' '.join(args)}: expected one line naming {word}", out, err)
    st, out, err = run(vmm, ["--help"], 30)
    expect(st == 0 and "--workloads" in out and "--svg" in out, "compare --help", out, err)


def check_run(vmm, d):
    paths = {k: os.path.join(d, "compare." + k) for k in ("csv", "json", "svg")}
    args = ["--reps=1", "--workloads=" + ",".join(WORKLOADS), "--modes=" + ",".join(MODES),
            "-m", "256M", "--append", APPEND,
            "--csv", paths["csv"], "--json=" + paths["json"], "--svg", paths["svg"]]
    st, out, err = run(vmm, args, 600)
    expect(st == 0, f"compare {' '.join(args)}: status {st}", out, err)

    # The table: a header naming the host MMU, both modes for each workload, a ratio.
    host = re.search(r"^minivmm compare: host MMU (\S+), ", out, re.M)
    expect(host, "no header line with the host MMU", out, err)
    host = host.group(1)
    expect(host in ("vmx+ept", "svm+npt", "kvm-shadow", "pvm", "unknown"), f"host MMU {host}", out)
    for w in WORKLOADS:
        expect(re.search(rf"^{re.escape(w)}\s+tdp \(host: {re.escape(host)}\)\s+\d", out, re.M),
               f"no tdp row for {w}", out, err)
        expect(re.search(rf"^{re.escape(w)}\s+shadow-lazy\s+\d.*\s\d+\.\d\dx\s", out, re.M),
               f"no shadow-lazy row with a ratio for {w}", out, err)
    expect("mismatch" not in out, "checksum mismatch reported", out, err)
    if host not in ("vmx+ept", "svm+npt"):
        expect("EPT" not in out and "NPT" not in out, "EPT/NPT named on a host without it", out)

    # CSV: a header and one line per run, every line with as many fields.
    with open(paths["csv"], newline="") as f:
        rows = list(csv.reader(f))
    expect(len(rows) == 1 + len(WORKLOADS) * len(MODES), f"CSV has {len(rows)} lines", out)
    expect(all(len(r) == len(rows[0]) for r in rows), "CSV lines differ in length", out)
    head = rows[0]
    for col in ("layout", "workload", "mode", "rep", "cycles", "time_ms", "checksum"):
        expect(col in head, f"CSV lacks column {col}", ",".join(head))
    expect(any(c.startswith("kvm.") for c in head), "CSV has no KVM statistics", ",".join(head))
    expect(any(c.startswith("shadow.") for c in head), "CSV has no shadow counters", ",".join(head))
    for r in rows[1:]:
        rec = dict(zip(head, r))
        expect(rec["ok"] == "1" and int(rec["cycles"]) > 0, f"CSV run not ok: {r}", out)

    # JSON: every run ok, and one checksum per workload across modes.
    with open(paths["json"]) as f:
        j = json.load(f)
    expect(j.get("ok") is True and j["host_mmu"] == host, "JSON verdict or host", json.dumps(j)[:2000])
    expect(len(j["runs"]) == len(WORKLOADS) * len(MODES), "JSON run count", json.dumps(j)[:2000])
    for w in WORKLOADS:
        sums = {r["checksum"] for r in j["runs"] if r["workload"] == w}
        modes = {r["mode"] for r in j["runs"] if r["workload"] == w and r["ok"]}
        expect(len(sums) == 1 and modes == set(MODES), f"{w}: checksums {sums}, modes {modes}",
               json.dumps(j)[:2000])
    ratios = {(r["workload"], r["mode"]) for r in j["ratios"]}
    expect(ratios == {(w, "shadow-lazy") for w in WORKLOADS}, f"JSON ratios {ratios}",
           json.dumps(j)[:2000])

    # SVG: well-formed XML, an svg root, the title naming the host MMU.
    try:
        root = ET.parse(paths["svg"]).getroot()
    except ET.ParseError as e:
        raise Failure(f"SVG does not parse: {e}")
    expect(root.tag == "{http://www.w3.org/2000/svg}svg", f"SVG root {root.tag}")
    text = " ".join(t for t in root.itertext())
    expect(f"host MMU: {host}" in text and all(w in text for w in WORKLOADS),
           "SVG text lacks the host MMU or a workload", text[:2000])
    expect(len(root.findall("{http://www.w3.org/2000/svg}path")) == len(WORKLOADS) * len(MODES),
           "SVG whisker count", text[:2000])


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    vmm = sys.argv[1]
    testlib.fatal_sanitizers()
    if testlib.run_checks(lambda: check_usage(vmm), ""):
        return 1
    if not testlib.kvm_usable():
        testlib.skip(testlib.kvm_problem())

    def check_in_tmp():
        with tempfile.TemporaryDirectory() as d:
            check_run(vmm, d)
    if testlib.run_checks(check_in_tmp, ""):
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

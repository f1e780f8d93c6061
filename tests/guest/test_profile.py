#!/usr/bin/env python3
"""The guest sampling profiler (--profile) on guests/profile.c, whose time
goes to profile_hot() (ring 3), a tenth of that to profile_warm() and a
little to profile_ring0() (ring 0).  The report must name them in that
order, profile_hot with >= 80% of the samples, ring 0 and ring 3 apart;
--profile-out writes the same counts as folded lines; --profile-symbols
with a file that has no symbols is one clear line, and the report still
comes (by page); bad rates are usage errors.  --timeline writes JSON whose
lines are the guest's console lines in order, with times, exits and the
interval's top function (profile_hot before "profile: done"), and an SVG
that parses, with a row per line.

  test_profile.py MINIVMM PROFILE_ELF
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import testlib  # noqa: E402


def rows(err):
    """{function: (samples, percent, ring)} from the report."""
    out = {}
    for m in re.finditer(r"^\s+(\d+)\s+([\d.]+)%\s+([03])\s+(\S+)$", err, re.M):
        out[m.group(4)] = (int(m.group(1)), float(m.group(2)), m.group(3))
    return out


def main():
    vmm, elf = sys.argv[1], sys.argv[2]
    testlib.fatal_sanitizers()
    if not testlib.kvm_usable():
        testlib.skip(testlib.kvm_problem())

    def check():
        with tempfile.TemporaryDirectory(prefix="minivmm-profile-") as tmp:
            folded = os.path.join(tmp, "prof.folded")
            out, err = testlib.expect_run(
                [vmm, "-kernel", elf, "--profile=1000", "--profile-out", folded], 0,
                stdout=["profile: done"], stderr=["guest profile (1000 Hz per vCPU"],
                timeout=120)
            r = rows(err)
            testlib.expect("profile_hot" in r and "profile_warm" in r,
                           f"the report lacks the hot functions: {r}", out, err)
            hot, warm = r["profile_hot"], r["profile_warm"]
            testlib.expect(hot[1] >= 80.0, f"profile_hot has {hot[1]}% of the samples, "
                           "expected >= 80%", out, err)
            testlib.expect(hot[0] > warm[0] > 0, f"hot {hot} should beat warm {warm}", out, err)
            testlib.expect(hot[2] == "3" and warm[2] == "3", "ring 3 functions shown as ring 0",
                           out, err)
            testlib.expect(r.get("profile_ring0", (0, 0, "0"))[2] == "0" and
                           "profile_ring0" in r, f"no ring-0 samples in profile_ring0: {r}",
                           out, err)
            total = int(re.search(r"(\d+) samples", err).group(1))
            testlib.expect(total >= 500, f"only {total} samples in ~2 s at 1000 Hz", out, err)
            lines = dict(l.rsplit(" ", 1) for l in open(folded).read().splitlines())
            testlib.expect(lines.get("ring3;profile_hot") == str(hot[0]) and
                           lines.get("ring0;profile_ring0") == str(r["profile_ring0"][0]),
                           f"folded file disagrees with the report: {lines}", out, err)
            print(f"report: hot {hot}, warm {warm}, ring0 {r['profile_ring0']}, {total} samples")

            # No symbols: one line, and the report by page.
            junk = os.path.join(tmp, "junk")
            with open(junk, "w") as f:
                f.write("not symbols\n")
            out, err = testlib.expect_run(
                [vmm, "-kernel", elf, "-append", "cycles=200000000", "--profile=200",
                 "--profile-symbols", junk], 0,
                stderr=["--profile-symbols " + junk + ": no symbols", "[user]"], timeout=120)
            # The timeline, with and without samples.
            for prof in (["--profile=500"], []):
                tl = os.path.join(tmp, "tl.json")
                out, err = testlib.expect_run(
                    [vmm, "-kernel", elf, "-append", "cycles=1000000000", "--timeline", tl]
                    + prof, 0, stdout=["profile: done"], timeout=120)
                d = json.load(open(tl))
                console = [l.rstrip("\r") for l in out.splitlines() if l.startswith("profile:")]
                texts = [l["text"] for l in d["lines"]]
                testlib.expect(texts == console, f"timeline lines {texts} != console {console}",
                               out, err)
                ts = [l["t_s"] for l in d["lines"]]
                testlib.expect(ts == sorted(ts) and 0 < ts[-1] <= d["run_s"],
                               f"times {ts}, run {d['run_s']}", out, err)
                testlib.expect(all(l["exits"] >= 1 for l in d["lines"]),
                               "a console line with no exit before it", out, err)
                done = d["lines"][-1]
                if prof:
                    testlib.expect(done["top"] and done["top"][0]["function"] == "profile_hot",
                                   f"'profile: done' interval's top: {done['top']}", out, err)
                else:
                    testlib.expect(d["profile_hz"] is None and done["top"] == [],
                                   "samples in a timeline without --profile", out, err)
                svg = ET.parse(tl + ".svg").getroot()
                rects = [e for e in svg.iter() if e.tag.endswith("rect")]
                testlib.expect(len(rects) == len(texts) + 2, f"{len(rects)} rects for "
                               f"{len(texts)} lines", out, err)
                print(f"timeline {'with' if prof else 'without'} samples: {texts}, {ts}")
            for bad in ["--profile=0", "--profile=abc", "--profile=20000"]:
                testlib.expect_run([vmm, "-kernel", elf, bad], 2, stderr=["--profile"],
                                   timeout=30)
    return testlib.run_checks(check, "")


if __name__ == "__main__":
    sys.exit(main())

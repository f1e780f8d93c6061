#!/usr/bin/env bash
# Quick start 2: set up, build with -Werror, build the Linux test kernel, run
# every test suite (unit, guest, linux), then the unit and guest suites again
# under AddressSanitizer + UBSan, then the fuzz suite (clang, libFuzzer).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

run_suites() { # build-dir, meson-setup-args..., then -- suites
  local dir=$1; shift
  local args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "${args[@]}" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
  fi
  ninja -C "$dir" || return 1
  local suites=()
  for s in "$@"; do suites+=(--suite "$s"); done
  meson test -C "$dir" --print-errorlogs "${suites[@]}"
}

# Give the hugetlb tests a small pool of 2 MiB pages for this run (root
# only), and put the host's setting back afterwards.
hp=/proc/sys/vm/nr_hugepages
if [ -w "$hp" ] && [ "$(cat "$hp")" -lt 192 ]; then
  old_hp=$(cat "$hp")
  echo 192 > "$hp" 2>/dev/null || true
  trap 'echo "$old_hp" > "$hp"' EXIT
fi

status=0
# The Linux test kernel and initramfs (cached: a no-op when nothing changed).
bash guests/linux/build.sh build/linux || status=1
run_suites build-test -Dwerror=true -Dtests=enabled -- unit guest linux || status=1
run_suites build-asan -Dwerror=true -Dtests=enabled -Db_sanitize=address,undefined \
  -Db_lundef=false -Dguest_timeout_scale=3 -- unit guest || status=1
# The libFuzzer targets, a bounded slice (20 s each; bench/fuzz.sh runs
# them for minutes): clang, ASan + UBSan, seeds replayed first.
(export CC=clang; run_suites build-fuzz -Dfuzz=true -Dtests=disabled -Db_sanitize=address,undefined \
  -Db_lundef=false -Dfuzz_seconds=20 -- fuzz) || status=1

# Line coverage of src/ from the unit and guest suites (gcov, gcovr): a
# report, not a gate; the guest-facing files under 90% and the total.
echo "coverage (scripts/coverage.sh; docs/reliability.md):"
bash scripts/coverage.sh build-cov 2>&1 | grep -E '<90%|^TOTAL' || true

# One closing line for CI, counted from meson's own logs.
python3 - build-test build-asan build-fuzz <<'PY'
import json, sys, os
passed = failed = skipped = 0
for d in sys.argv[1:]:
    p = os.path.join(d, "meson-logs", "testlog.json")
    if not os.path.exists(p):
        continue
    for line in open(p):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"): passed += 1
        elif r == "SKIP": skipped += 1
        else: failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status

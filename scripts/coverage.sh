#!/usr/bin/env bash
# Line coverage of minivmm's own code (src/) from the unit and guest
# suites, measured with gcov and summarised by gcovr:
#   scripts/coverage.sh [BUILD_DIR]        (default build-cov)
# Prints one line per source file (lines, covered, percent) and the total,
# writes the same as BUILD_DIR/coverage.txt and BUILD_DIR/coverage.json, and
# marks the files that take guest-controlled data (docs/reliability.md) that
# are below 90%.  Without /dev/kvm the guest suite skips, so the figures are
# the unit tests' alone: say which when quoting them.
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-cov}
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" -Db_coverage=true -Dtests=enabled >"$dir.setup.log" 2>&1 ||
		{ cat "$dir.setup.log"; exit 1; }
fi
ninja -C "$dir" >/dev/null || exit 1
find "$dir" -name '*.gcda' -delete
meson test -C "$dir" --suite unit --suite guest --print-errorlogs >"$dir/coverage-tests.log" 2>&1
tests_status=$?
tail -n 8 "$dir/coverage-tests.log"
gcovr -r . --object-directory "$dir" --filter 'src/' --exclude 'src/.*embed' \
	--json "$dir/coverage.json" >/dev/null 2>&1 ||
	{ echo "coverage: gcovr failed"; exit 1; }
python3 - "$dir/coverage.json" "$dir/coverage.txt" <<'PY'
import json, sys
# Files that parse or act on what a guest, a kernel file or a command line
# controls (docs/reliability.md, "Coverage").
guest_facing = (
    "src/cpu/exit.c", "src/cpu/emulate.c", "src/cpu/vcpu_emulate.c", "src/cpu/xsave.c",
    "src/devices/", "src/mmu/ptw.c", "src/mmu/shadow.c", "src/mmu/shadow_table.c",
    "src/mmu/iovec.c", "src/mmu/memory.c",
    "src/boot/loader.c", "src/boot/linux_boot.c", "src/boot/initrd.c", "src/boot/decompress.c",
    "src/vmm/cli.c", "src/backends/net/netdev.c", "src/backends/block/drive.c",
    "src/control/snap_json.c",
)
data = json.load(open(sys.argv[1]))
rows, tl, tc = [], 0, 0
for f in data["files"]:
    if f["file"].endswith(".h"):
        continue    # a few inline helpers each: counted where they are used
    lines = [l for l in f["lines"] if not l.get("gcovr/noncode")]
    n = len(lines)
    c = sum(1 for l in lines if l["count"] > 0)
    if n == 0:
        continue
    tl += n
    tc += c
    facing = f["file"].startswith(guest_facing)
    rows.append((f["file"], n, c, 100.0 * c / n, facing))
rows.sort()
out = [f"{'file':48} {'lines':>6} {'run':>6} {'cover':>7}"]
for name, n, c, p, facing in rows:
    mark = "  <90% (guest-facing)" if facing and p < 90 else ""
    out.append(f"{name:48} {n:6} {c:6} {p:6.1f}%{mark}")
out.append(f"{'TOTAL':48} {tl:6} {tc:6} {100.0 * tc / tl:6.1f}%")
text = "\n".join(out)
open(sys.argv[2], "w").write(text + "\n")
print(text)
PY
exit $tests_status

#!/usr/bin/env bash
# Build a release tree and run the benchmarks (bench/run.py --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --bench
[ -f build-bench/build.ninja ] || meson setup build-bench --buildtype=release -Dtests=disabled -Dstatic=true >/dev/null
ninja -C build-bench >/dev/null
exec python3 bench/run.py --build build-bench "$@"

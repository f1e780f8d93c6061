#!/usr/bin/env bash
# Quick start 1: set up, build, and boot the embedded demo guest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
exec build/src/minivmm "$@"

#!/usr/bin/env bash
# Install everything minivmm needs to build, test and benchmark on Debian 12.
# Idempotent: does nothing when every package is already installed.
set -euo pipefail

packages=(
  gcc libc6-dev binutils make pkg-config meson ninja-build python3
  linux-libc-dev libfdt-dev liburing-dev libcmocka-dev libjansson-dev
  device-tree-compiler gdb
  e2fsprogs   # the disk tests build and read back ext4 images (mke2fs -d, debugfs)
  cpio xz-utils zstd lz4 bzip2   # the initrd tests pack archives with the real tools
  zlib1g-dev liblzma-dev libzstd-dev liblz4-dev libbz2-dev
  libslirp-dev libglib2.0-dev   # -netdev user (libslirp; glib for its pkg-config and static link)
  iproute2    # the tap test makes a network namespace and a tap (ip netns, ip tuntap)
  clang libclang-rt-14-dev   # the libFuzzer targets (tests/fuzz, the fuzz suite)
  libseccomp-dev   # the per-thread syscall allow-lists (--seccomp)
  gcovr       # the coverage report (scripts/coverage.sh)
)

# --bench: also the peers the benchmarks compare against (bench/linux.py,
# bench/blk_guest.py boot the same kernel under QEMU, with qboot).
if [ "${1:-}" = "--bench" ]; then
  packages+=(qemu-system-x86 qemu-system-data)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"

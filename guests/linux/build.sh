#!/usr/bin/env bash
# Build minivmm's Linux test guest on Debian 12:
#   - a minimal x86-64 kernel from Debian's linux-source-6.1: `make tinyconfig`,
#     then guests/linux/minivmm.config merged on top, then every patch in
#     guests/linux/patches/*.patch applied with `patch -p1` (sorted by name);
#   - a busybox-static initramfs whose /init (guests/linux/init.sh) prints
#     MINIVMM-MARKER lines and reboots.
#
# usage: guests/linux/build.sh [--peer] [OUTDIR]
#   OUTDIR defaults to $MINIVMM_LINUX_OUT, else build/linux under the repo root
#   (build/linux-peer with --peer).
#   --peer (or MINIVMM_LINUX_PEER=1): the peer variant, which QEMU can boot on
#   PVM hosts too: guests/linux/peer-patches/*.patch on top (the int3
#   self-test skipped, the fwait in fpu__drop a nop; README.md says why),
#   with its own cache key.
#   Outputs: bzImage, vmlinux (uncompressed ELF), initramfs.cpio (+ .gz),
#   kernel.version (`uname -r` of the kernel), kernel.config (its .config).
#
# Each half is cached in OUTDIR under a key: the kernel's is this script, the
# config fragment, the patches and the linux-source-6.1 version; the
# initramfs's is this script, init.sh and the busybox-static version. A run
# whose keys match does nothing (and installs nothing). The kernel tree is
# unpacked under OUTDIR/work and removed after a successful build unless
# MINIVMM_LINUX_KEEP_TREE=1.
set -euo pipefail

self=$(realpath "${BASH_SOURCE[0]}")
here=$(dirname "$self")
repo=$(cd "$here/../.." && pwd)
peer=${MINIVMM_LINUX_PEER:-0}
if [ "${1:-}" = --peer ]; then
	peer=1
	shift
fi
if [ "$peer" = 1 ]; then
	out=${1:-${MINIVMM_LINUX_OUT:-$repo/build/linux-peer}}
else
	out=${1:-${MINIVMM_LINUX_OUT:-$repo/build/linux}}
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

fragment=$here/minivmm.config
init_script=$here/init.sh
patch_dir=$here/patches
source_pkg=linux-source-6.1
source_tarball=/usr/src/$source_pkg.tar.xz
busybox_pkg=busybox-static
busybox_bin=/bin/busybox
# Fixed timestamps keep the initramfs and the kernel's version string stable.
epoch=1700000000

# Everything a fresh Debian 12 machine needs for this script.
packages=(
	"$source_pkg" "$busybox_pkg"
	make gcc libc6-dev binutils bc bison flex libelf-dev libssl-dev
	xz-utils tar patch cpio gzip
)

log() { printf 'linux-guest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Installed version of a package, else the version apt would install, else
# "none": lets a CI run with a restored cache skip installing anything.
pkg_version() {
	local v
	v=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null || true)
	if [[ $v == installed\ * ]]; then
		echo "${v#installed }"
		return
	fi
	v=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
	echo "${v:-none}"
}

ensure_packages() {
	local missing=() p sudo=""
	for p in "${packages[@]}"; do
		dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	# Refresh the package lists only when apt does not know what to install.
	if ! $sudo apt-get install -y -q --no-install-recommends --simulate "${missing[@]}" \
		>/dev/null 2>&1; then
		$sudo apt-get update -q
	fi
	$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

patches() {
	local d
	for d in "$patch_dir" $([ "$peer" = 1 ] && echo "$here/peer-patches"); do
		[ -d "$d" ] || continue
		find "$d" -maxdepth 1 -name '*.patch' -type f | LC_ALL=C sort
	done
}

kernel_key() {
	{
		sha256sum <"$self"
		sha256sum <"$fragment"
		local p
		printf 'peer %s\n' "$peer"
		while IFS= read -r p; do
			printf 'patch %s\n' "${p##*/}"
			sha256sum <"$p"
		done < <(patches)
		printf '%s %s\n' "$source_pkg" "$(pkg_version "$source_pkg")"
	} | sha256sum | cut -d' ' -f1
}

initramfs_key() {
	{
		sha256sum <"$self"
		sha256sum <"$init_script"
		printf '%s %s\n' "$busybox_pkg" "$(pkg_version "$busybox_pkg")"
	} | sha256sum | cut -d' ' -f1
}

# up_to_date STAMP KEY OUTPUT...
up_to_date() {
	local stamp=$1 key=$2 f
	shift 2
	[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] || return 1
	for f in "$@"; do [ -s "$f" ] || return 1; done
}

kernel_outputs=("$out/bzImage" "$out/vmlinux" "$out/kernel.version" "$out/kernel.config")
initramfs_outputs=("$out/initramfs.cpio" "$out/initramfs.cpio.gz")

# Every symbol that some Kconfig file declares, one per line.
kconfig_symbols() {
	find . -name 'Kconfig*' -type f -exec \
		awk '$1 == "config" || $1 == "menuconfig" { print $2 }' {} + | LC_ALL=C sort -u
}

# Fails unless every line of the fragment survived into .config: `=` lines
# verbatim, `is not set` lines not enabled. tinyconfig's olddefconfig drops
# options whose dependencies are off without a word, hence this check.
verify_config() {
	local line sym want got bad=0 known
	known=$(kconfig_symbols)
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*)
			sym=${line%%=*}
			want=$line
			;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }
			sym=${sym%% *}
			want=""
			;;
		*) continue ;;
		esac
		if ! grep -qxF "${sym#CONFIG_}" <<<"$known"; then
			log "config: $sym is not a Kconfig symbol of this kernel"
			bad=1
			continue
		fi
		got=$(grep -E "^$sym=|^# $sym is not set" .config || true)
		if [ -n "$want" ] && [ "$got" != "$want" ]; then
			log "config: wanted $want, got ${got:-nothing (a dependency is off)}"
			bad=1
		elif [ -z "$want" ] && [[ $got == "$sym="* ]]; then
			log "config: wanted $sym off, got $got"
			bad=1
		fi
	done <"$fragment"
	[ "$bad" -eq 0 ] || die "the final .config lacks options that $fragment asks for"
	log "config: all $(grep -c '^CONFIG_\|^# CONFIG_.* is not set' "$fragment") fragment lines verified"
}

build_kernel() {
	local work=$out/work tree kmake start secs p
	rm -rf "$work/src"
	mkdir -p "$work/src"
	log "unpacking $source_tarball ($source_pkg $(pkg_version "$source_pkg"))"
	tar -xJf "$source_tarball" -C "$work/src"
	tree=$work/src/$source_pkg
	[ -f "$tree/Makefile" ] || die "$source_tarball did not unpack to $tree"
	cd "$tree"

	while IFS= read -r p; do
		log "applying ${p#"$repo"/}"
		patch -p1 --batch --forward --quiet <"$p" || die "patch ${p##*/} does not apply"
	done < <(patches)

	kmake=(make ARCH=x86_64 KBUILD_BUILD_USER=minivmm KBUILD_BUILD_HOST=minivmm
		"KBUILD_BUILD_TIMESTAMP=$(date -u -d "@$epoch")")
	log "configuring: tinyconfig + ${fragment#"$repo"/}"
	{
		"${kmake[@]}" tinyconfig &&
			scripts/kconfig/merge_config.sh -m .config "$fragment" &&
			"${kmake[@]}" olddefconfig
	} >"$work/kernel-config.log" 2>&1 ||
		{ tail -n 20 "$work/kernel-config.log" >&2; die "configuring failed (log: $work/kernel-config.log)"; }
	verify_config

	log "make -j$(nproc) bzImage vmlinux"
	start=$(date +%s)
	"${kmake[@]}" -j"$(nproc)" bzImage vmlinux >"$work/kernel-build.log" 2>&1 ||
		{ tail -n 40 "$work/kernel-build.log" >&2; die "kernel build failed (log: $work/kernel-build.log)"; }
	secs=$(($(date +%s) - start))
	log "kernel built in ${secs}s on $(nproc) CPU(s)"

	cp arch/x86/boot/bzImage "$out/bzImage.tmp" && mv "$out/bzImage.tmp" "$out/bzImage"
	cp vmlinux "$out/vmlinux.tmp" && mv "$out/vmlinux.tmp" "$out/vmlinux"
	cp .config "$out/kernel.config"
	"${kmake[@]}" -s kernelrelease >"$out/kernel.version"
	cd "$out"
	[ "${MINIVMM_LINUX_KEEP_TREE:-0}" = 1 ] || rm -rf "$work/src"
}

# One newc cpio member without data (device node, directory) or the trailer.
newc_header() { # NAME MODE RDEV_MAJOR RDEV_MINOR INO
	local name=$1 namesize=$((${#1} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		"$5" "$2" 0 0 1 "$epoch" 0 0 0 "$3" "$4" "$namesize" 0
	printf '%s\0' "$name"
	head -c $(((4 - (110 + namesize) % 4) % 4)) /dev/zero
}

build_initramfs() {
	local stage=$out/work/initramfs applet
	rm -rf "$stage"
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc}
	cp "$busybox_bin" "$stage/bin/busybox"
	while IFS= read -r applet; do
		case $applet in */*) ;; *) continue ;; esac # skip linuxrc
		[ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
	done < <("$busybox_bin" --list-full)
	install -m 0755 "$init_script" "$stage/init"
	find "$stage" -exec touch -h -d "@$epoch" {} +

	# /dev/console must exist before /init runs (the kernel opens it for
	# init's stdio), and making the node needs root: instead, append a
	# second archive holding just that node. The kernel unpacks
	# concatenated archives in order.
	{
		(cd "$stage" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
			cpio -o -H newc -R 0:0 --reproducible --quiet)
		newc_header dev/console $((0020600)) 5 1 $((0x7fff0001))
		newc_header 'TRAILER!!!' 0 0 0 0
	} >"$out/initramfs.cpio.tmp"
	# Both forms: the tests boot the plain one, because on hosts where guest
	# ring 0 is emulated (PVM) gunzip in the guest costs ~40 s per boot.
	gzip -9 -n <"$out/initramfs.cpio.tmp" >"$out/initramfs.cpio.gz.tmp"
	mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
	mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
	rm -rf "$stage"
	log "initramfs: $(stat -c %s "$out/initramfs.cpio") bytes ($(stat -c %s "$out/initramfs.cpio.gz") gzipped)"
}

main() {
	exec 9>"$out/.lock"
	flock 9

	local kkey ikey
	kkey=$(kernel_key)
	ikey=$(initramfs_key)
	if up_to_date "$out/.kernel.key" "$kkey" "${kernel_outputs[@]}" &&
		up_to_date "$out/.initramfs.key" "$ikey" "${initramfs_outputs[@]}"; then
		log "up to date: $out ($(cat "$out/kernel.version"))"
		return 0
	fi

	ensure_packages
	# Versions may have changed from apt's candidates to what is installed.
	kkey=$(kernel_key)
	ikey=$(initramfs_key)
	if ! up_to_date "$out/.kernel.key" "$kkey" "${kernel_outputs[@]}"; then
		rm -f "$out/.kernel.key"
		build_kernel
		echo "$kkey" >"$out/.kernel.key"
	fi
	if ! up_to_date "$out/.initramfs.key" "$ikey" "${initramfs_outputs[@]}"; then
		rm -f "$out/.initramfs.key"
		build_initramfs
		echo "$ikey" >"$out/.initramfs.key"
	fi
	log "done: $out ($(cat "$out/kernel.version"))"
	ls -l "$out"/bzImage "$out"/vmlinux "$out"/initramfs.cpio "$out"/initramfs.cpio.gz >&2
}

main

#!/bin/sh
# /init of minivmm's Linux test initramfs (busybox-static); build.sh packs it.
# Prints the MINIVMM-MARKER lines the linux test suite checks, then reboots
# (the VMM exits on the reset), or first runs a console shell when the kernel
# command line has minivmm.shell=1.  With minivmm.run=vdX it mounts /dev/vdX
# at /mnt/vdX, runs its run.sh there and reports run_status= (disk tests);
# with minivmm.exec=PATH it runs the script PATH (shipped in an initrd the
# test built) and reports run_status= the same way.  With minivmm.ready=1
# it prints MINIVMM-READY and then runs each line read from the console
# (the snapshot tests take their snapshot at that line, and every restored
# guest runs the commands its test sends; "reboot -f" ends it).
# Reads /proc with shell built-ins: every fork and system call is guest work.

# On PVM hosts guest user space runs with the host's AVX-512 enabled, and
# those registers are not kept per process there (docs/booting-linux.md,
# "Vector registers"): glibc's string functions must stay on AVX2, whose
# state the kernel does context-switch.  /init is PID 1: exec keeps it.
if [ -z "$GLIBC_TUNABLES" ]; then
	export GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD
	exec /bin/sh "$0" "$@"
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
# DEVTMPFS_MOUNT only covers a block-device root, not an initramfs.
mount -t devtmpfs devtmpfs /dev

cpus=0
while read -r key _; do
	[ "$key" = processor ] && cpus=$((cpus + 1))
done </proc/cpuinfo
memtotal=unknown
while read -r key value _; do
	[ "$key" = MemTotal: ] && memtotal=$value
done </proc/meminfo
read -r cmdline </proc/cmdline

echo "MINIVMM-MARKER kernel=$(uname -r)"
echo "MINIVMM-MARKER cpus=$cpus"
echo "MINIVMM-MARKER memtotal_kb=$memtotal"
echo "MINIVMM-MARKER cmdline=$cmdline"
echo "MINIVMM-MARKER initrd=ok"

case " $cmdline " in
*" minivmm.ready=1 "*)
	stty -echo 2>/dev/null
	read -r up _ </proc/uptime
	echo "MINIVMM-READY uptime=$up"
	while IFS= read -r line; do
		eval "$line"
	done
	;;
*" minivmm.shell=1 "*)
	# cttyhack reopens the real console (ttyS0) so the shell gets job control.
	setsid cttyhack sh
	;;
esac
for arg in $cmdline; do
	case $arg in
	minivmm.run=*)
		dev=${arg#minivmm.run=}
		mkdir -p /mnt/$dev
		mount /dev/$dev /mnt/$dev || mount -o ro /dev/$dev /mnt/$dev
		(cd /mnt/$dev && sh ./run.sh)
		echo "MINIVMM-MARKER run_status=$?"
		sync
		umount /mnt/$dev
		;;
	minivmm.exec=*)
		sh "${arg#minivmm.exec=}"
		echo "MINIVMM-MARKER run_status=$?"
		;;
	esac
done
exec reboot -f

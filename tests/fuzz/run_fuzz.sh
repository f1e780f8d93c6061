#!/usr/bin/env bash
# One fuzz target for the `fuzz` suite: replay the committed seeds, then
# fuzz for SECONDS from a scratch copy of them (the committed corpus is
# never written).  A crash, leak or sanitizer report fails the test and
# leaves the reproducer in the build tree (crash-*; commit it under
# tests/fuzz/corpus/TARGET after the fix).
#   run_fuzz.sh TARGET_EXE SEED_DIR SECONDS
set -uo pipefail
# A UBSan report is a finding, as an ASan one is (not a line in the log).
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
exe=$1 seeds=$2 secs=$3
work=$(mktemp -d /tmp/minivmm-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$seeds/." "$work/"
name=$(basename "$exe")
"$exe" -runs=0 "$seeds" >"$work.replay.log" 2>&1 || { cat "$work.replay.log"; rm -f "$work.replay.log"; exit 1; }
rm -f "$work.replay.log"
"$exe" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -timeout=20 \
	-artifact_prefix="$PWD/$name-" -print_final_stats=1 "$work" 2>&1 |
	grep -E "^#[0-9]+ +(DONE|INITED)|stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|crash-|==[0-9]+==" |
	tail -n 40
exit "${PIPESTATUS[0]}"

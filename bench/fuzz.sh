#!/usr/bin/env bash
# Run every libFuzzer target (tests/fuzz) longer than CI does and print one
# row each: executions, executions per second, corpus size, coverage
# (libFuzzer's cov: edges and ft: features) and findings.
#   bench/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 300, all)
# Builds build-fuzz with clang, ASan and UBSan; the growing corpora stay in
# build-fuzz/corpus/TARGET between runs (seeded from tests/fuzz/corpus);
# a finding leaves build-fuzz/fuzz_TARGET-crash-* behind.
set -uo pipefail
cd "$(dirname "$0")/.."
# A UBSan report is a finding, as an ASan one is.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
secs=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(kernel initrd cli xsave snapshot virtio_net bus shadow)
dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
	CC=clang meson setup "$dir" -Dfuzz=true -Dtests=disabled -Db_sanitize=address,undefined \
		-Db_lundef=false >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; exit 1; }
fi
ninja -C "$dir" >/dev/null || exit 1
printf "%-8s %12s %9s %7s %7s %7s  %s\n" target executions exec/s corpus cov ft findings
status=0
for t in "${targets[@]}"; do
	corpus=$dir/corpus/$t
	mkdir -p "$corpus"
	cp -n tests/fuzz/corpus/$t/* "$corpus/" 2>/dev/null
	log=$dir/fuzz-$t.log
	(cd "$dir" && "./tests/fuzz/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=2048 \
		-max_len=65536 -timeout=20 -print_final_stats=1 -artifact_prefix="fuzz_$t-" \
		"corpus/$t") >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: //p' "$log")
	last=$(grep -E "^#[0-9]+" "$log" | tail -n 1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	findings=$(ls "$dir"/fuzz_"$t"-crash-* "$dir"/fuzz_"$t"-leak-* "$dir"/fuzz_"$t"-timeout-* 2>/dev/null | wc -l)
	[ "$rc" -eq 0 ] || status=1
	printf "%-8s %12s %9s %7s %7s %7s  %s\n" "$t" "${execs:-?}" "$(( ${execs:-0} / secs ))" \
		"$(ls "$corpus" | wc -l)" "${cov:-?}" "${ft:-?}" "$findings"
done
exit $status

#!/usr/bin/env bash
# Runs every fuzz harness (tests/fuzz/*_fuzz.cc) for SECONDS each (default 60), built with clang,
# libFuzzer, ASan and UBSan in build-asan/, from the generated seeds (files flowgraph writes, and
# TF's fixtures when ../shared/fixtures is there) and the regression corpus. Fails on any finding:
# the input is left in build-asan/findings/<harness>/; minimize it (fuzz_<harness> -minimize_crash=1
# -runs=10000 FILE) and add it to tests/fuzz/corpus/<harness>/, which every build replays in ctest.
#
#   bash scripts/fuzz.sh 600              # ten minutes per harness
#   bash scripts/fuzz.sh 30 graph_def     # only the named harnesses
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-60}"
shift || true
build="${FG_FUZZ_BUILD_DIR:-$root/build-asan}"
harnesses=("$@")
if ((${#harnesses[@]} == 0)); then
  for f in "$root"/tests/fuzz/*_fuzz.cc; do h="$(basename "$f" .cc)"; harnesses+=("${h%_fuzz}"); done
fi
targets=(fuzz_make_seeds)
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
bash "$root/scripts/sanitize_build.sh" asan "$build" "${targets[@]}"

"$build/fuzz_make_seeds" "$build/fuzz_seeds" "$root/../shared/fixtures" >/dev/null
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
summary=""
for h in "${harnesses[@]}"; do
  work="$build/fuzz_corpus/$h"; findings="$build/findings/$h"
  mkdir -p "$work" "$findings"
  dirs=("$work" "$build/fuzz_seeds/$h")
  [ -d "$root/tests/fuzz/corpus/$h" ] && dirs+=("$root/tests/fuzz/corpus/$h")
  log="$build/fuzz_$h.log"
  echo "fuzz_$h: ${secs}s"
  if "$build/fuzz_$h" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$findings/" "${dirs[@]}" >"$log" 2>&1; then
    result=ok
  else
    result="FINDING (see $log and $findings)"
    status=1
    tail -n 40 "$log"
  fi
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
  summary+="$(printf '%-20s %12s execs  %s' "$h" "$execs" "$result")"$'\n'
done
echo
echo "harness                     executions  result (${secs}s each)"
printf '%s' "$summary"
exit "$status"

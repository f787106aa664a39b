#!/usr/bin/env bash
# CI's sanitizer jobs (scripts/test.sh runs this after the ordinary build's tests); any finding
# fails the run:
#  1. the unit tests under ASan + UBSan (-fno-sanitize-recover=all), less the programs run on
#     real MNIST (the ordinary build runs those);
#  2. every fuzz harness for FG_CI_FUZZ_SECONDS (default 30) from its seeds and regression corpus,
#     in the same build (scripts/fuzz.sh);
#  3. the threading tests (Session concurrency, the pool, parallel_for, the allocator) under TSan.
# With FG_CI_DEADLINE (seconds since the epoch, set by scripts/test.sh from CI's time budget) a job
# starts only when the time left covers it, and a sanitizer build that cannot finish in time (a
# cold compiler cache on two cores) is stopped: such a job is reported as skipped, loudly, rather
# than running CI past its limit. Without a deadline every job runs to the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
asan="$root/build-asan" tsan="$root/build-tsan"
fuzz_secs="${FG_CI_FUZZ_SECONDS:-30}"
fuzz_targets=(fuzz_make_seeds)
harnesses=0
for f in "$root"/tests/fuzz/*_fuzz.cc; do h="$(basename "$f" .cc)"; fuzz_targets+=("fuzz_${h%_fuzz}"); harnesses=$((harnesses + 1)); done
skipped=()

# Seconds left before the deadline (a large number without one).
left() { if [ -n "${FG_CI_DEADLINE:-}" ]; then echo $((FG_CI_DEADLINE - $(date +%s))); else echo 1000000; fi; }
# fits SECONDS JOB: whether JOB's SECONDS (its run, after its build) still fit; says so when not.
fits() {
  if [ "$(left)" -lt "$1" ]; then
    echo "== SKIPPED (CI time budget): $2 needs ~$1 s, $(left) s are left"
    skipped+=("$2"); return 1
  fi
}
# build JOB RESERVE ARGS...: scripts/sanitize_build.sh ARGS, stopped if it would leave less than
# RESERVE seconds for the job's run. (Called as a condition, so failures exit explicitly.)
build() {
  local job="$1" reserve="$2" status=0; shift 2
  if [ -z "${FG_CI_DEADLINE:-}" ]; then bash "$root/scripts/sanitize_build.sh" "$@" || exit $?; return 0; fi
  local limit=$(($(left) - reserve))
  if [ "$limit" -gt 0 ]; then
    timeout "$limit" bash "$root/scripts/sanitize_build.sh" "$@" || status=$?
    [ "$status" = 0 ] && return 0
    [ "$status" = 124 ] || exit "$status"
  fi
  echo "== SKIPPED (CI time budget): $job's build did not finish with ${reserve} s left for its run"
  skipped+=("$job"); return 1
}

asan_run=420 fuzz_run=$((harnesses * (fuzz_secs + 5))) tsan_run=120
echo "== ASan + UBSan: unit tests"
if fits $((asan_run + 120)) "ASan+UBSan" &&
   build "ASan+UBSan" "$asan_run" asan "$asan" flowgraph_tests "${fuzz_targets[@]}"; then
  # allocator_may_return_null: a request the system cannot satisfy must come back as
  # ResourceExhausted, which the tests check, instead of ASan's report. Death tests re-execute the
  # binary (threadsafe style): a child forked from a process with OpenMP workers would report their
  # blocks as leaks when it exits.
  ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$asan/flowgraph_tests" --gtest_brief=1 --gtest_death_test_style=threadsafe \
    --gtest_filter='-Examples*:ReuseExamples*:*MnistEpoch*:*RealMnist*'

  echo "== ASan + UBSan: fuzzers, ${fuzz_secs}s each"
  if fits "$fuzz_run" "fuzzers"; then
    FG_FUZZ_BUILD_DIR="$asan" bash "$root/scripts/fuzz.sh" "$fuzz_secs"
  fi
fi

echo "== TSan: threading tests"
if fits $((tsan_run + 60)) "TSan" && build "TSan" "$tsan_run" tsan "$tsan" flowgraph_tests; then
  # The OpenMP runtime is not instrumented: its own memory is ignored (ignore_noninstrumented_modules),
  # and the one test that opens an OpenMP region is left out. TSan cannot start threads in a child
  # forked from a threaded process, which is what ForkedChildGetsAPoolOfItsOwn checks.
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1" \
    "$tsan/flowgraph_tests" --gtest_brief=1 --gtest_filter='ParallelFor.*:Allocator.*:Session.*-ParallelFor.InsideAnOpenMpRegionLoopsRunInline:ParallelFor.ForkedChildGetsAPoolOfItsOwn'
fi

if ((${#skipped[@]})); then
  echo "== sanitizer jobs skipped for CI's time budget: ${skipped[*]} (run scripts/sanitize.sh without a deadline)"
else
  echo "== sanitizer jobs: all ran, all clean"
fi

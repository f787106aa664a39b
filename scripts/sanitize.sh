#!/usr/bin/env bash
# CI's sanitizer jobs (scripts/test.sh runs this after the ordinary build's tests); any finding
# fails the run:
#  1. the unit tests under ASan + UBSan (-fno-sanitize-recover=all), less the programs run on
#     real MNIST (the ordinary build runs those);
#  2. every fuzz harness for FG_CI_FUZZ_SECONDS (default 30) from its seeds and regression corpus,
#     in the same build (scripts/fuzz.sh);
#  3. the threading tests (Session concurrency, the pool, parallel_for, the allocator) under TSan.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
asan="$root/build-asan" tsan="$root/build-tsan"
fuzz_targets=(fuzz_make_seeds)
for f in "$root"/tests/fuzz/*_fuzz.cc; do h="$(basename "$f" .cc)"; fuzz_targets+=("fuzz_${h%_fuzz}"); done

echo "== ASan + UBSan: unit tests"
bash "$root/scripts/sanitize_build.sh" asan "$asan" flowgraph_tests "${fuzz_targets[@]}"
# allocator_may_return_null: a request the system cannot satisfy must come back as
# ResourceExhausted, which the tests check, instead of ASan's report.
ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  "$asan/flowgraph_tests" --gtest_brief=1 \
  --gtest_filter='-Examples*:ReuseExamples*:*MnistEpoch*:*RealMnist*'

echo "== ASan + UBSan: fuzzers, ${FG_CI_FUZZ_SECONDS:-30}s each"
FG_FUZZ_BUILD_DIR="$asan" bash "$root/scripts/fuzz.sh" "${FG_CI_FUZZ_SECONDS:-30}"

echo "== TSan: threading tests"
bash "$root/scripts/sanitize_build.sh" tsan "$tsan" flowgraph_tests
# An OpenMP region is libgomp's (not instrumented): the one test that opens one is left out.
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" "$tsan/flowgraph_tests" --gtest_brief=1 \
  --gtest_filter='ParallelFor.*:Allocator.*:Session.*-ParallelFor.InsideAnOpenMpRegionLoopsRunInline'

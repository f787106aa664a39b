#!/usr/bin/env bash
# Configures and builds flowgraph with clang under sanitizers, in its own build directory.
#   bash scripts/sanitize_build.sh asan DIR TARGET...   ASan + UBSan (-fno-sanitize-recover=all)
#                                                       + libFuzzer coverage: the unit tests and
#                                                       the fuzzers link the same objects
#   bash scripts/sanitize_build.sh tsan DIR TARGET...   ThreadSanitizer, the threading tests only
# -O1 -g: sanitizer builds are about finding bugs, and their compile time is CI's budget.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kind="$1"; dir="$2"; shift 2
bash "$root/scripts/install_deps.sh"
if ! dpkg-query -W -f='${Status}' clang 2>/dev/null | grep -q "install ok installed"; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang >/dev/null
fi
# ccache keys objects by the paths on their command lines and, with -g, by the build directory:
# relative to the checkout and without the directory, a clone elsewhere (CI's) reuses these objects.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
case "$kind" in
  asan)
    flags="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all"
    link="-fsanitize=address,undefined"
    extra=(-DFG_FUZZ=ON)
    ;;
  tsan)
    flags="-fsanitize=thread"
    link="-fsanitize=thread"
    # Only the threading tests: Session concurrency, the pool, parallel_for, the allocator.
    extra=(-DFG_FUZZ=OFF "-DFG_TEST_FILES=tests/session_test.cc;tests/parallel_test.cc;tests/allocator_test.cc")
    ;;
  *) echo "usage: sanitize_build.sh asan|tsan DIR TARGET..." >&2; exit 2 ;;
esac
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Sanitize \
  -DCMAKE_CXX_COMPILER=clang++ \
  "-DCMAKE_CXX_FLAGS_SANITIZE=-O1 -g -fno-omit-frame-pointer $flags" \
  "-DCMAKE_EXE_LINKER_FLAGS_SANITIZE=$link" "-DCMAKE_SHARED_LINKER_FLAGS_SANITIZE=$link" \
  -DFG_BUILD_EXAMPLES=OFF -DFG_BUILD_BENCH=OFF -DFG_BUILD_TESTS=ON "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)" --target "$@"

#!/usr/bin/env bash
# Builds everything and runs every test: unit tests (ctest), the examples on real MNIST, an
# out-of-tree consumer of the installed package; with FG_SANITIZERS=1 also the sanitizer jobs
# (scripts/sanitize.sh: ASan+UBSan unit tests, every fuzzer for a bounded time, TSan threading
# tests).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/build.sh"
bash "$root/scripts/get_mnist.sh"
export FG_MNIST_DIR="${FG_MNIST_DIR:-${FG_DATA_DIR:-$HOME/.cache/flowgraph}/mnist}"
export FG_BUILD_DIR="$root/build"
export FG_REQUIRE_MNIST=1
export FG_REQUIRE_GRAPHVIZ=1
bash "$root/scripts/test_install.sh"
(cd "$root/build" && ctest --output-on-failure -j 2 --timeout 1200)
if [ "${FG_SANITIZERS:-0}" = 1 ]; then
  bash "$root/scripts/sanitize.sh"
fi

#!/usr/bin/env bash
# Configures and builds flowgraph in ./build (Release, ccache, Ninja).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/install_deps.sh"
# ccache keys objects by the paths in their command lines; relative to the checkout, a clone in
# another directory (CI's) reuses what this one compiled.
export CCACHE_BASEDIR="$root"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j "$(nproc)" "$@"

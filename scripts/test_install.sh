#!/usr/bin/env bash
# Installs the built library into a scratch prefix and builds + runs a tiny consumer against it
# with find_package(flowgraph), as a user's project would; where the build has dist/ (MPI), a
# data-parallel consumer too, on two ranks. The build is $FG_BUILD_DIR (default ./build).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FG_BUILD_DIR:-$root/build}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$root/tests/consumer" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"
if [ -n "$(find "$work/prefix" -name flowgraphDistTargets.cmake)" ]; then
  [ -x "$work/build/consumer_dist" ] || { echo "test_install: the build has dist/, the consumer found no flowgraph::dist"; exit 1; }
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 bash "$work/build/run_consumer_dist.sh"
fi

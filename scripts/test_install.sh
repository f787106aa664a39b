#!/usr/bin/env bash
# Installs the built library into a scratch prefix and builds + runs a tiny consumer against it
# with find_package(flowgraph), as a user's project would, and runs each installed tool once on
# what the consumer wrote; where the build has dist/ (MPI), a data-parallel consumer too, on two
# ranks. The build is $FG_BUILD_DIR (default ./build).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FG_BUILD_DIR:-$root/build}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$root/tests/consumer" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
mkdir -p "$work/out"
"$work/build/consumer" "$work/out"
bin="$work/prefix/bin" out="$work/out"
fail() { echo "test_install: $*" >&2; exit 1; }
names=$("$bin/inspect_checkpoint" --file_name="$out/model.ckpt" --all_tensor_names) ||
  fail "inspect_checkpoint failed"
grep -qx "tensor_name:  w" <<<"$names" || fail "inspect_checkpoint does not list w: $names"
"$bin/freeze_graph" --input_meta_graph="$out/model.ckpt.meta" --input_checkpoint="$out/model.ckpt" \
  --output_node_names=y --output_graph="$out/frozen.pb" >/dev/null || fail "freeze_graph failed"
"$bin/graph_viz" "$out/frozen.pb" -o "$out/frozen.svg" 2>/dev/null && grep -q "<svg" "$out/frozen.svg" ||
  fail "graph_viz drew no SVG"
"$bin/plot_events" "$out/logs" -o "$out/curves.svg" 2>/dev/null && grep -q "<polyline" "$out/curves.svg" ||
  fail "plot_events drew no curve"
echo "test_install: the installed inspect_checkpoint, freeze_graph, graph_viz and plot_events work"
if [ -n "$(find "$work/prefix" -name flowgraphDistTargets.cmake)" ]; then
  [ -x "$work/build/consumer_dist" ] || { echo "test_install: the build has dist/, the consumer found no flowgraph::dist"; exit 1; }
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 bash "$work/build/run_consumer_dist.sh"
fi

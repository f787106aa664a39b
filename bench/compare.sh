#!/usr/bin/env bash
# flowgraph vs PyTorch 1.13 on the seed's models (issue 6), one command:
#   bench/compare.sh                        # 3 rounds x 3 epochs, all four models, + latency table
#   bench/compare.sh --rounds 2 --epochs 2  # quicker
#   bench/compare.sh --models plain200 batch_norm --frameworks flowgraph libtorch
#   bench/compare.sh --threads 1            # every framework on one thread (per-core efficiency)
#   bench/compare.sh --no-build             # reuse the binaries in build-bench
#   (also: --skip-kernels --skip-latency --quiet-timeout S --max-foreign C --retries N --out FILE)
# Fetches MNIST if missing (scripts/get_mnist.sh), builds flowgraph's benchmarks (build-bench, tests
# off), installs the PyTorch peers from Debian if missing (python3-torch, libtorch-dev,
# libopenblas0), builds the libtorch peer, then runs
# bench/compare.py: each model in turn under flowgraph, PyTorch (Python) and PyTorch (libtorch),
# round after round, and prints markdown tables (results kept in build-bench/compare/*.jsonl).
# PyTorch runs at its best setting here, OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE; flowgraph with
# the environment it is given (export OMP_* before calling to change that).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${FG_BENCH_BUILD:-$ROOT/build-bench}"
build=1
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done
bash "$ROOT/scripts/get_mnist.sh"  # every framework trains on the same IDX files
if [ "$build" = 1 ]; then
  "$ROOT/bench/peers/ensure_torch.sh" python3-torch libtorch-dev libopenblas0
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DFG_BUILD_TESTS=OFF >/dev/null
  ninja -C "$BUILD" -j2 compare_bench session_bench kernels_bench >/dev/null
  cmake -S "$ROOT/bench/peers" -B "$BUILD/peers" -G Ninja >/dev/null
  ninja -C "$BUILD/peers" >/dev/null  # torch_mlp, and gemm_backends (OpenBLAS vs oneDNN SGEMM)
fi
exec /usr/bin/python3 "$ROOT/bench/compare.py" run --build "$BUILD" "${args[@]}"

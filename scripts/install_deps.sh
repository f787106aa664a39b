#!/usr/bin/env bash
# Installs the Debian packages flowgraph builds with, when any is missing (needs root or sudo);
# graphviz is what tools/graph_viz renders pictures with (and its tests check them with).
set -euo pipefail
# Open MPI is optional (dist/, data-parallel training, is skipped without it); CI installs it so that
# ctest runs the MPI tests too.
pkgs=(cmake ninja-build g++ ccache libeigen3-dev libprotobuf-dev protobuf-compiler libleveldb-dev
      libdnnl-dev libgtest-dev libbenchmark-dev libopenmpi-dev openmpi-bin graphviz)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

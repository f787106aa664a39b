#!/usr/bin/env bash
# Installs Debian packages when missing (dpkg is checked first, so a machine that has them never
# touches apt; root or sudo is needed only then). bench/compare.sh calls it with the PyTorch 1.13
# peers: python3-torch (Python, for /usr/bin/python3), libtorch-dev (C++), and libopenblas0.
#
# libopenblas0 matters: libtorch only *recommends* it, and without it libblas.so.3 resolves to
# Debian's reference BLAS (libblas3), whose SGEMM makes PyTorch ~15x slower (24 s instead of
# ~1 s per epoch of the plain MLP) -- not PyTorch's best. With it, PyTorch's GEMMs run on OpenBLAS
# (its pthread build, Debian's default), as in issue 6's anchors.
set -euo pipefail
want=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || want+=("$pkg")
done
[ ${#want[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "ensure_torch: installing ${want[*]} with apt-get" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >&2

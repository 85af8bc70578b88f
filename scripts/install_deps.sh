#!/usr/bin/env bash
# Installs the Debian packages that building and testing flashquad needs.
# Runs apt-get directly as root and through sudo otherwise. Safe to run twice.
# With --npm it installs only npm (and Node.js), which fetching the default corpus needs.
set -euo pipefail

packages=(
  g++ make pkg-config
  libopenblas-openmp-dev   # BLAS built on OpenMP, so BLAS and our kernels share one thread pool
  libcereal-dev            # checkpoint serialization
  libgtest-dev             # unit tests
  nlohmann-json3-dev       # config files, safetensors headers, metrics
  libcli11-dev             # command-line parsing
  libicu-dev               # Unicode normalization, character classes, word segmentation
  gnuplot-nox              # loss-curve plots in the run folder
)

if [ "${1:-}" = "--npm" ]; then
  packages=(npm)
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo_cmd=()
elif command -v sudo >/dev/null 2>&1; then
  sudo_cmd=(sudo)
else
  echo "install_deps: not root and sudo is missing; install as root: apt-get install ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all build packages are installed"
  exit 0
fi

echo "install_deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

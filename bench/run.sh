#!/usr/bin/env bash
# make bench: flashquad vs the PyTorch reference and the sgemm ceiling (see bench/README.md).
# Usage: bench/run.sh [build/flashquad] [build/flashquad_bench]; BENCH_ARGS adds options to
# bench/compare_pytorch.py, e.g. BENCH_ARGS="--only tiny-train --no-torch".
set -euo pipefail
cd "$(dirname "$0")/.."
flashquad=${1:-build/flashquad}
bench_bin=${2:-build/flashquad_bench}
threads=${BENCH_THREADS:-2}
# Debian's python3-torch is only visible to the system interpreter.
python=/usr/bin/python3
[ -x "$python" ] || python=python3
# shellcheck disable=SC2086
"$python" bench/compare_pytorch.py --flashquad "$flashquad" --bench-bin "$bench_bin" \
  --threads "$threads" ${BENCH_ARGS:-}

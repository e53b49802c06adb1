#!/usr/bin/env bash
# Runs the kernel benchmark of docs/PERFORMANCE.md (N = 8192, heads = 8, fp32, one rank):
# head_dim 64 and 128, causal and not; prints the PERFORMANCE lines and saves the full logs.
# Usage: bash tools/bench_kernels.sh [OUTDIR [--set key=value ...]]   (needs a build: bash ci/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/bench_kernels}
shift || true
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for dim in 128 64; do
  for causal in false true; do
    log="$out/d${dim}_causal_${causal}.log"
    echo "== head_dim=$dim causal=$causal -> $log" >&2
    mpiexec -n 1 "${BUILD_DIR:-build}/bin/wallfacer" inputs/kernel_bench.toml \
      --set attention.head_dim=$dim --set attention.causal=$causal "$@" >"$log" 2>&1 \
      || { tail -5 "$log" >&2; exit 1; }
    grep -E "^(path|blas|fused|dense) " "$log" | sed 's/^/    /' >&2
    grep PERFORMANCE "$log"
  done
done

#!/usr/bin/env bash
# The GPU path of WallFacer checked in one command, on a machine with an NVIDIA GPU and an
# installed Kokkos 4 + Kokkos Kernels built with CUDA (docs/building.md, "Checking a GPU"):
#
#   KOKKOS_ROOT=/opt/kokkos-cuda [KOKKOSKERNELS_ROOT=...] bash tools/gpu_check.sh [OUT_DIR]
#
# Steps, each PASS / FAIL / SKIP (with the reason) in OUT_DIR/gpu_check_report.txt and .h5:
#   build      configure and build (warnings as errors, NCCL when nccl.h is found)
#   suite      the whole test suite on the CUDA backend (ctest)
#   nccl       the NCCL communicator tests, one rank per GPU
#   kernel     kernel benchmark: gemm path and fused kernel next to the same-run cuBLAS gemm rate
#   attn_np2   the attention layer on 2 and 4 ranks sharing the GPU, run.verify = true
#   attn_np4
#   train      a short training run (results file, device memory high-water mark vs predicted)
# Exits 0 when nothing failed, 1 when a step failed, 2 when it cannot start (no GPU, no CUDA
# Kokkos): that check takes a second and builds nothing. Everything within GPU_CHECK_BUDGET_S
# (570 s): a step that would start later fails as "not run". About 6-8 minutes on one H100.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/gpu_check}
smi=${NVIDIA_SMI:-nvidia-smi}
cannot_start() {
  echo "gpu_check: $*" >&2
  exit 2
}

# ---- preflight: a GPU and a CUDA Kokkos, before anything is built -------------------------------
command -v "$smi" >/dev/null 2>&1 ||
  cannot_start "no GPU: '$smi' not found. This check needs a machine with an NVIDIA GPU and its driver."
gpu_list=$("$smi" --query-gpu=name,memory.total,memory.free --format=csv,noheader,nounits 2>/dev/null) ||
  cannot_start "no GPU: '$smi' cannot query the GPUs (driver not loaded?)."
[ -n "$gpu_list" ] || cannot_start "no GPU: '$smi' lists none."
[ -n "${KOKKOS_ROOT:-}" ] ||
  cannot_start "set KOKKOS_ROOT to a Kokkos >= 4.2 install built with CUDA (docs/building.md, \"Kokkos 4 with CUDA\")."
kokkos_config=$(ls "$KOKKOS_ROOT"/lib*/cmake/Kokkos/KokkosConfigCommon.cmake 2>/dev/null | head -1)
[ -n "$kokkos_config" ] || cannot_start "KOKKOS_ROOT=$KOKKOS_ROOT has no lib*/cmake/Kokkos/KokkosConfigCommon.cmake."
grep -q "Kokkos_DEVICES.*CUDA" "$kokkos_config" ||
  cannot_start "KOKKOS_ROOT=$KOKKOS_ROOT is a Kokkos without CUDA ($(grep -m1 'set(Kokkos_DEVICES' "$kokkos_config"))."

gpus=$(wc -l <<<"$gpu_list")
gpu_name=$(head -1 <<<"$gpu_list" | cut -d, -f1 | xargs)
free_mib=$(head -1 <<<"$gpu_list" | cut -d, -f3 | xargs)
mkdir -p "$out/logs"
build=$out/build
bin=$build/bin/wallfacer
mpi=(mpiexec --oversubscribe --allow-run-as-root)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
steps=$out/steps.tsv
: >"$steps"
failed=0

# The whole check must end within GPU_CHECK_BUDGET_S (default 570 s): a step gets what is left,
# and a step that finds nothing left fails with that reason.
budget=${GPU_CHECK_BUDGET_S:-570}

# step NAME TIMEOUT_S COMMAND...: runs COMMAND with its output in logs/NAME.log, records the outcome.
step() {
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS status=PASS left=$((budget - SECONDS))
  if [ "$left" -lt 10 ]; then
    failed=1
    printf '%s\tFAIL\t0\t%s\n' "$name" "not run: the time budget of $budget s is spent" >>"$steps"
    echo "gpu_check: $name FAIL (not run: the time budget of $budget s is spent)"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "gpu_check: $name ..."
  # bash -c: the command may be one of the functions below (exported), timeout needs a program.
  timeout "$limit" bash -c '"$@"' step "$@" >"$out/logs/$name.log" 2>&1 || status=FAIL
  [ $status = FAIL ] && failed=1 && tail -20 "$out/logs/$name.log"
  printf '%s\t%s\t%d\t%s\n' "$name" "$status" $((SECONDS - start)) "logs/$name.log" >>"$steps"
  echo "gpu_check: $name $status ($((SECONDS - start)) s)"
}
skip() {
  printf '%s\tSKIP\t0\t%s\n' "$1" "$2" >>"$steps"
  echo "gpu_check: $1 SKIP ($2)"
}

# ---- build ---------------------------------------------------------------------------------------
cuda=${CUDA_HOME:-/usr/local/cuda}
nccl=OFF
[ -f "$cuda/include/nccl.h" ] || [ -f /usr/include/nccl.h ] && nccl=ON
configure_and_build() {
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="${CXX:-g++}" \
    -DKokkos_ROOT="$KOKKOS_ROOT" -DKokkosKernels_ROOT="${KOKKOSKERNELS_ROOT:-$KOKKOS_ROOT}" \
    -DCUDAToolkit_ROOT="$cuda" -DWF_ENABLE_NCCL=$nccl -DWF_ENABLE_TESTS=ON -DWF_WERROR=ON &&
    cmake --build "$build" -j "$(nproc)"
}
export here build KOKKOS_ROOT cuda nccl gpus
export -f configure_and_build
step build 300 configure_and_build
if [ ! -x "$bin" ]; then
  echo "gpu_check: the build failed; see $out/logs/build.log" >&2
  exit 1
fi

# ---- the suite on the CUDA backend ---------------------------------------------------------------
# NCCL refuses two ranks on one GPU: with one GPU its multi-rank test runs in the nccl step instead.
run_suite() {
  cd "$build" || return 1
  # function_size is a host-build check (clang-tidy cannot read nvcc's flags).
  if [ "$gpus" -lt 2 ]; then export GTEST_FILTER="-CommNccl.CollectivesAndCounters"; fi
  ctest --output-on-failure -j "$(nproc)" --timeout 240 -E "^function_size$"
}
export -f run_suite
step suite 330 run_suite

# ---- NCCL: one rank per GPU ----------------------------------------------------------------------
if [ $nccl = ON ]; then
  nccl_ranks=$((gpus < 4 ? gpus : 4))
  step nccl 60 "${mpi[@]}" -n "$nccl_ranks" "$build/tests/test_comm" --gtest_filter='CommNccl.*'
else
  skip nccl "no nccl.h under $cuda: the NCCL backend is not built"
fi

# ---- kernel benchmark: gemm path, fused kernel, cuBLAS gemm rate ---------------------------------
step kernel 90 "${mpi[@]}" -n 1 "$bin" "$here/inputs/kernel_bench.toml" --set attention.impl=both \
  --set bench.dense_baseline=false --set attention.causal=true

# ---- attention layer, verified against one process, 2 and 4 ranks on one GPU ---------------------
for ranks in 2 4; do
  need=$((ranks * 3 * 1024))  # MiB: a CUDA context, the layer and the single-process reference per rank
  if [ "$free_mib" -lt "$need" ]; then
    skip "attn_np$ranks" "the GPU has $free_mib MiB free, $ranks ranks need about $need MiB"
    continue
  fi
  step "attn_np$ranks" 90 "${mpi[@]}" -n "$ranks" "$bin" "$here/inputs/attention.toml" --set run.verify=true \
    --set attention.impl=auto --set parallel.team_size=$((ranks == 4 ? 2 : 1)) --set parallel.backend=mpi
done

# ---- a short training run ------------------------------------------------------------------------
train_backend=mpi
[ $nccl = ON ] && train_backend=nccl
step train 120 "${mpi[@]}" -n 1 "$bin" "$here/inputs/small.toml" --set train.steps=5 --set bench.warmup=1 \
  --set train.compare_schedule='""' --set attention.impl=auto --set parallel.backend=$train_backend \
  --set train.results="$out/train.h5"

# ---- report --------------------------------------------------------------------------------------
{
  echo "WallFacer gpu_check, $(date -u +%Y-%m-%dT%H:%M:%SZ), git $(git -C "$here" rev-parse --short=12 HEAD 2>/dev/null)"
  echo "GPUs: $gpus x $gpu_name; KOKKOS_ROOT=$KOKKOS_ROOT; NCCL backend $nccl"
  echo
  printf '%-10s %-5s %6s  %s\n' step status "s" "log or reason"
  while IFS=$'\t' read -r name status seconds detail; do
    printf '%-10s %-5s %6s  %s\n' "$name" "$status" "$seconds" "$detail"
  done <"$steps"
  echo
  echo "kernel benchmark (PERFORMANCE lines):"
  grep -h "^PERFORMANCE problem=kernel" "$out/logs/kernel.log" 2>/dev/null || echo "  (none)"
  echo "attention.impl = auto:"
  grep -h "attention.impl = \"auto\"" "$out"/logs/attn_np*.log "$out/logs/train.log" 2>/dev/null || echo "  (none)"
  echo "verification:"
  grep -h "verification" "$out"/logs/attn_np*.log 2>/dev/null || echo "  (none)"
  echo "training memory per rank:"
  grep -h -A1 "^peak .* memory per rank" "$out/logs/train.log" 2>/dev/null || echo "  (none)"
} >"$out/gpu_check_report.txt"
if /usr/bin/env python3 -c "import h5py" 2>/dev/null; then
  python3 "$here/tools/gpu_check_report.py" "$out" || failed=1
else
  echo "gpu_check: python3 with h5py not found: HDF5 report not written (the text report is)" >&2
fi
cat "$out/gpu_check_report.txt"
[ $failed -eq 0 ] && echo "gpu_check: all steps passed" || echo "gpu_check: some steps FAILED (logs in $out/logs)"
exit $failed

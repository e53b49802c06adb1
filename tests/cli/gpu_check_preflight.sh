#!/usr/bin/env bash
# gpu_check_preflight.sh TOOLS_DIR OUT_DIR [KOKKOS_ROOT_WITHOUT_CUDA]
# tools/gpu_check.sh must stop at once, with exit code 2, one clear message and nothing built,
# when there is no GPU (no nvidia-smi, or one that lists none), when KOKKOS_ROOT is not set, and
# when it is a Kokkos without CUDA. A fake nvidia-smi stands in for a GPU in the later cases.
set -u
tools=$1 out=$2 host_kokkos=${3:-}
fail() { echo "gpu_check_preflight.sh: $*"; exit 1; }
rm -rf "$out" && mkdir -p "$out/bin" || fail "cannot create $out"
# expect PATTERN ENV...: runs gpu_check.sh with ENV, expects exit 2, PATTERN, and no report folder.
expect() {
  local pattern=$1
  shift
  local text rc
  text=$(env "$@" timeout 60 bash "$tools/gpu_check.sh" "$out/run" 2>&1)
  rc=$?
  printf '%s\n' "$text"
  [ $rc -eq 2 ] || fail "exit code $rc, expected 2 ($*)"
  grep -qF -- "$pattern" <<<"$text" || fail "output lacks '$pattern' ($*)"
  [ ! -e "$out/run" ] || fail "it created $out/run before failing ($*)"
}
expect "no GPU: '$out/none' not found" NVIDIA_SMI="$out/none"
printf '#!/bin/sh\nexit 0\n' >"$out/bin/no-gpus" && chmod +x "$out/bin/no-gpus"
expect "no GPU: '$out/bin/no-gpus' lists none" NVIDIA_SMI="$out/bin/no-gpus"
printf '#!/bin/sh\necho "NVIDIA H100 80GB HBM3, 81559, 81000"\n' >"$out/bin/one-gpu" && chmod +x "$out/bin/one-gpu"
expect "set KOKKOS_ROOT" NVIDIA_SMI="$out/bin/one-gpu" KOKKOS_ROOT=
if [ -n "$host_kokkos" ]; then
  expect "is a Kokkos without CUDA" NVIDIA_SMI="$out/bin/one-gpu" KOKKOS_ROOT="$host_kokkos"
fi
rm -rf "$out"
echo "gpu_check_preflight.sh: ok"

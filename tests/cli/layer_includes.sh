#!/usr/bin/env bash
# The layers of src/ (docs/architecture.md), checked on the includes: each folder includes only
# its own headers and those of the layers below it; kernels, core and config never include
# mpi.h; the host-compiled layers (config, io: compiled without nvcc in CUDA builds) and the
# Kokkos-free headers they use never include Kokkos, directly or through a project header.
# Usage: layer_includes.sh SRC_DIR
set -uo pipefail
src=$1
status=0
declare -A allowed=(
  [core]="core"
  [config]="core config kernels/attention_limits.hpp"
  [kernels]="core kernels"
  [comm]="core comm"
  [nbody]="core comm kernels nbody"
  [perf]="core comm kernels config perf"
  [io]="core comm io"
  [model]="core comm kernels nbody perf io model"
  [problems]="core comm kernels nbody perf io model config problems"
)
for layer in "${!allowed[@]}"; do
  while IFS= read -r line; do
    file=${line%%:*}
    header=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"${line#*:}")
    [ "$header" = "wf_config.hpp" ] && continue
    ok=0
    for prefix in ${allowed[$layer]}; do
      [[ $header == "$prefix"/* || $header == "$prefix" ]] && ok=1
    done
    ((ok)) || { echo "$file includes $header: not below layer $layer"; status=1; }
  done < <(grep -H '#include "' "$src/$layer"/*.hpp "$src/$layer"/*.cpp 2>/dev/null)
done
for file in "$src"/kernels/* "$src"/core/* "$src"/config/*; do
  grep -q '#include <mpi.h>' "$file" && { echo "$file includes mpi.h"; status=1; }
done
kokkos_free=(core/error.hpp core/enums.hpp core/trace.hpp core/trace.cpp core/region.hpp core/kokkos_info.hpp
             comm/collective_errors.hpp comm/mpi_util.hpp comm/deadline.hpp comm/reductions.hpp kernels/attention_limits.hpp)
for file in "$src"/config/* "$src"/io/* "${kokkos_free[@]/#/$src/}"; do
  grep -Eq '#include <(Kokkos|KokkosBlas|KokkosKernels)' "$file" && { echo "$file includes Kokkos"; status=1; }
done
for file in "$src"/config/* "$src"/io/*; do
  layer=$(basename "$(dirname "$file")")
  while IFS= read -r header; do
    [[ $header == "$layer"/* || $header == wf_config.hpp || " ${kokkos_free[*]} " == *" $header "* ]] && continue
    echo "$file includes $header: host-compiled layers include only Kokkos-free headers"
    status=1
  done < <(sed -nE 's/^#include "([^"]+)".*/\1/p' "$file")
done
[ $status -eq 0 ] && echo "layer includes: every include is within or below its layer"
exit $status

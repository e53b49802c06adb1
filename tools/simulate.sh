#!/usr/bin/env bash
# Runs the SimGrid build of wallfacer on simulated ranks of a machine file (docs/scale.md).
# usage: tools/simulate.sh SIM_BUILD_DIR MACHINE.toml RANKS DECK.toml [--set section.key=value ...]
#   SIM_BUILD_DIR  a build configured with -DWF_ENABLE_SIMGRID=ON (bin/wallfacer, simgrid.env)
# The platform (one host per rank, nodes of the machine's devices) is generated from the
# machine file; the deck runs unchanged with parallel.machine = MACHINE (the attention compute
# is injected at its rates) and parallel.ranks_per_node = the machine's devices per node.
# SimGrid settings: CM02 network model without cross-traffic (a message takes latency +
# bytes / bandwidth, flows share links max-min), no CPU time of the host charged
# (smpi/simulate-computation:no: only the injected compute advances simulated time), each
# rank with its own Kokkos (smpi/privatize-libs), the ring algorithm for MPI_Allgather (the
# program's communicators call it once; SMPI's default one is O(P^2)). Buffers of
# WF_SIMGRID_SHARED_BYTES or more (default 16 MiB; 0: none) are shared between ranks
# (miniapp/simgrid_shared_malloc.cpp; mapped in blocks of 64 MiB, so that the mappings stay
# under vm.max_map_count): their contents are garbage, which a simulated run never reads for a
# result.
# WF_SIMGRID_EXTRA adds smpirun options.
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: $0 SIM_BUILD_DIR MACHINE.toml RANKS DECK.toml [--set section.key=value ...]" >&2
  exit 2
fi
build=$1 machine=$2 ranks=$3 deck=$4
shift 4
[ -f "$build/simgrid.env" ] || { echo "$0: $build is not a SimGrid build (configure with -DWF_ENABLE_SIMGRID=ON)" >&2; exit 2; }
# shellcheck disable=SC1091
source "$build/simgrid.env"
work=$(mktemp -d "${TMPDIR:-/tmp}/wf_simulate.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$build/bin/wallfacer-platform" "$machine" "$ranks" "$work/platform"
per_node=$(sed -nE 's/^devices_per_node *= *([0-9]+).*/\1/p' "$machine")
export WF_SIMGRID_SHARED_BYTES=${WF_SIMGRID_SHARED_BYTES:-16777216}
# TMPDIR: smpirun copies the privatised libraries there (its -tmpdir option is broken in
# SimGrid 3.32); in a shared /tmp, simulations running at once overwrite each other's copies.
# shellcheck disable=SC2086
TMPDIR="$work" "$SMPIRUN" -np "$ranks" -platform "$work/platform.xml" -hostfile "$work/platform.hosts" \
  --cfg=smpi/privatize-libs:"$KOKKOS_CORE_LIBRARY" --cfg=smpi/simulate-computation:no \
  --cfg=network/model:CM02 --cfg=network/crosstraffic:0 --cfg=smpi/shared-malloc:global \
  --cfg=smpi/allgather:ring --cfg=smpi/shared-malloc-blocksize:67108864 \
  --log=root.thres:warning --log=smpi_config.thres:error ${WF_SIMGRID_EXTRA:-} \
  "$build/bin/wallfacer" "$deck" --set parallel.machine="$machine" --set parallel.ranks_per_node="$per_node" "$@"

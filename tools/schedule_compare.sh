#!/usr/bin/env bash
# Ring, WallFacer, Ulysses and the Ulysses x WallFacer hybrid on the same attention layer at P
# ranks (default 8), with the ranks split into two "nodes" of P/2 (parallel.ranks_per_node) so
# that bytes are counted per link class; prints a Markdown table for docs/PERFORMANCE.md.
# Usage: bash tools/schedule_compare.sh [P] [--set key=value ...]   (env BUILD_DIR=build)
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${1:-8}
shift || true
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
runs=("ring 1 1" "ulysses 1 1" "ulysses-wallfacer 1 2")
[ $((ranks % 4)) -eq 0 ] && runs+=("wallfacer 2 1")
[ $((ranks % 8)) -eq 0 ] && runs+=("ulysses-wallfacer 2 2" "ulysses-wallfacer 1 4")
echo "| schedule | c | u | fwd s | bwd s | exposed s | same-node MB/rank | other-node MB/rank | messages same/other | model equal |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for run in "${runs[@]}"; do
  read -r schedule c u <<<"$run"
  out=$(mpiexec --oversubscribe -n "$ranks" "${BUILD_DIR:-build}/bin/wallfacer" inputs/attention.toml \
    --set parallel.schedule="$schedule" --set parallel.team_size="$c" --set parallel.head_group_size="$u" \
    --set parallel.ranks_per_node=$((ranks / 2)) --set run.verify=false "$@" 2>&1) \
    || { echo "$out" | tail -5 >&2; exit 1; }
  line=$(grep '^PERFORMANCE' <<<"$out")
  field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  avg() { awk -v row="$1" '$0 ~ "^"row {print $4}' <<<"$out"; }  # measured avg of a traffic row
  mb() { awk -v b="$1" 'BEGIN {printf "%.2f", b / 1e6}'; }
  echo "| $schedule | $c | $u | $(field fwd_s) | $(field bwd_s) | $(field exposed_s) | $(mb "$(avg 'same-node bytes')") |" \
       "$(mb "$(avg 'other-node bytes')") | $(avg 'same-node messages')/$(avg 'other-node messages') |" \
       "$(field traffic_matches_model) |"
done

#!/usr/bin/env bash
# Bytes per rank of every schedule at P ranks (default 8), measured by the communicator's
# counters and checked against the traffic model; prints a Markdown table for
# docs/communication-formulas.md. Usage: bash tools/comm_table.sh [P] [--set key=value ...]
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${1:-8}
shift || true
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
extra=("$@")
echo "| schedule | c | u | rotate | kv_heads | forward bytes/rank | forward p2p bytes/rank (min-max) | fwd+bwd bytes/rank | model equal |"
echo "|---|---|---|---|---|---|---|---|---|"
for kv in 8 2; do
  for run in "ring 1 1 q" "ring 1 1 kv" "wallfacer 2 1 q" "wallfacer 2 1 kv" "ulysses 1 1 q" \
             "ulysses-wallfacer 1 2 q" "ulysses-wallfacer 2 2 kv" "ulysses-wallfacer 1 4 q"; do
    read -r schedule c u rotate <<<"$run"
    [ $((8 % ranks)) -ne 0 ] && [ "$schedule" = ulysses ] && continue  # P must divide the 8 heads
    [ $(((ranks / u) % (c * c))) -ne 0 ] && continue
    [ $((ranks % u)) -ne 0 ] && continue
    out=$(mpiexec --oversubscribe -n "$ranks" "${BUILD_DIR:-build}/bin/wallfacer" inputs/attention.toml \
      --set parallel.schedule="$schedule" --set parallel.team_size="$c" --set parallel.head_group_size="$u" \
      --set parallel.rotate="$rotate" --set attention.kv_heads="$kv" --set run.verify=false \
      --set attention.seq_len=1024 --set bench.warmup=0 --set bench.repeats=1 "${extra[@]}" 2>&1) \
      || { echo "$out" | tail -5 >&2; exit 1; }
    line=$(grep '^PERFORMANCE' <<<"$out")
    field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
    p2p=$(sed -n 's/.*point-to-point \([0-9]*\) (min \([0-9]*\), max \([0-9]*\)).*/\1 (\2-\3)/p' <<<"$out")
    echo "| $schedule | $c | $u | $rotate | $kv | $(field fwd_bytes_per_rank) | $p2p | $(field bytes_per_rank) |" \
         "$(field traffic_matches_model) |"
  done
done

#!/usr/bin/env bash
# The paper's setups, simulated (docs/scale.md): one attention layer of each model shape on the
# H100 and A100 machine files, per plan, under SimGrid (tools/simulate.sh), next to the cost
# model; and the model's step composition (wallfacer plan: dense products, gradient
# all-reduce) to turn a simulated layer into a simulated training step.
# usage: tools/scale_figures.sh SIM_BUILD_DIR NORMAL_BUILD_DIR OUT.csv [CASE_FILTER]
#   CASE_FILTER: a grep -E pattern over "machine model N plan" to run a subset.
# Appends one CSV line per simulated case (a case already in OUT.csv is not run again).
set -uo pipefail
sim=$1 normal=$2 out=$3 filter=${4:-.}
here=$(cd "$(dirname "$0")/.." && pwd)
machines=$here/inputs/machines
layer=$here/inputs/scale/attention_layer.toml
export OPENBLAS_NUM_THREADS=1 WF_SIMGRID_SHARED_BYTES=${WF_SIMGRID_SHARED_BYTES:-2097152}

# model: deck heads kv_heads head_dim causal
declare -A shape=(
  [gpt3b]="gpt3b.toml 12 12 128 true"
  [gpt7b]="gpt7b.toml 32 32 128 true"
  [dit1b]="dit1b.toml 24 24 64 false"  # bidirectional: the attention problem without the mask
)
plans=(
  "ring|--set parallel.schedule=ring --set parallel.team_size=1"
  "wallfacer-c2-team-major|--set parallel.schedule=wallfacer --set parallel.team_size=2 --set parallel.arrangement=team-major"
  "wallfacer-c2-ring-major|--set parallel.schedule=wallfacer --set parallel.team_size=2 --set parallel.arrangement=ring-major"
  "wallfacer-c4-team-major|--set parallel.schedule=wallfacer --set parallel.team_size=4 --set parallel.arrangement=team-major"
  "wallfacer-c4-ring-major|--set parallel.schedule=wallfacer --set parallel.team_size=4 --set parallel.arrangement=ring-major"
  "ulysses|--set parallel.schedule=ulysses"
)
cases=()
for n in 65536 131072; do
  for model in gpt3b gpt7b; do cases+=("h100_8x8 $model $n"); done
done
cases+=("h100_8x8 dit1b 131072")
for layout in 2x16 4x8 8x4; do cases+=("a100_$layout gpt7b 65536" "a100_$layout dit1b 65536"); done

[ -f "$out" ] || echo "machine,model,N,plan,ranks,sim_fwd_s,sim_bwd_s,model_fwd_s,model_bwd_s,model_exact,traffic_equal,bytes_per_rank,layers,dense_s,allreduce_s,model_bf16_layer_s,wall_s" >"$out"

value() { sed -nE "s/.* $1=([^ ]+).*/\1/p" <<<"$2"; }

# The plan row of (schedule, c, arrangement, rotate q) in a `wallfacer plan --csv` file.
plan_row() {
  awk -F, -v s="$2" -v c="$3" -v a="$4" 'NR > 1 && $14 == s && $15 == c && ($16 == a || s != "wallfacer") && $17 == "q"' "$1" |
    head -1
}

# The model's step parts for a plan: layers, dense and all-reduce seconds of the training step
# (the GPT deck's dense products; the mask does not change them), and the attention layer in
# bf16 (2-byte scalars, as the paper trains) -> "layers,dense_s,allreduce_s,bf16_layer_s".
step_parts() {  # machine deck n schedule c arrangement shape_sets...
  local m=$1 deck=$2 n=$3 schedule=$4 c=$5 arrangement=$6 csv layers row row16
  shift 6
  csv=$(mktemp)
  "$normal/bin/wallfacer" plan "$here/inputs/$deck" --machine "$machines/$m.toml" --set attention.seq_len="$n" \
    --csv "$csv" >/dev/null 2>&1
  row=$(plan_row "$csv" "$schedule" "$c" "$arrangement")
  "$normal/bin/wallfacer" plan "$layer" --machine "$machines/$m.toml" --set attention.seq_len="$n" "$@" \
    --scalar-bytes 2 --csv "$csv" >/dev/null 2>&1
  row16=$(plan_row "$csv" "$schedule" "$c" "$arrangement")
  rm -f "$csv"
  layers=$(sed -nE 's/^layers *= *([0-9]+).*/\1/p' "$here/inputs/$deck")
  awk -F, -v l="$layers" -v r16="$row16" 'BEGIN { split(r16, b, ",") } { printf "%s,%s,%s,%.9f", l, $12, $13, b[10] + b[11] }' \
    <<<"$row"
}

for case in "${cases[@]}"; do
  read -r m model n <<<"$case"
  read -r deck heads kv head_dim causal <<<"${shape[$model]}"
  ranks=$(sed -nE 's/^nodes *= *([0-9]+).*/\1/p' "$machines/$m.toml")
  ranks=$((ranks * $(sed -nE 's/^devices_per_node *= *([0-9]+).*/\1/p' "$machines/$m.toml")))
  for entry in "${plans[@]}"; do
    name=${entry%%|*} sets=${entry#*|}
    grep -Eq "$filter" <<<"$m $model $n $name" || continue
    grep -q "^$m,$model,$n,$name," "$out" && continue
    [ "$name" = ulysses ] && { ((heads % ranks == 0 && kv % ranks == 0)) || continue; }
    start=$(date +%s)
    # shellcheck disable=SC2086
    shape_sets=(--set attention.heads="$heads" --set attention.kv_heads="$kv" --set attention.head_dim="$head_dim"
                --set attention.causal="$causal")
    line=$(bash "$here/tools/simulate.sh" "$sim" "$machines/$m.toml" "$ranks" "$layer" --set attention.seq_len="$n" \
             "${shape_sets[@]}" $sets 2>&1 | grep '^PERFORMANCE problem=attention')
    [ -n "$line" ] || { echo "$case $name: the simulation failed" >&2; continue; }
    schedule=$(value schedule "$line") c=$(value team_size "$line") arrangement=$(value arrangement "$line")
    parts=$(step_parts "$m" "$deck" "$n" "$schedule" "$c" "$arrangement" "${shape_sets[@]}")
    echo "$m,$model,$n,$name,$ranks,$(value fwd_s "$line"),$(value bwd_s "$line"),$(value model_fwd_s "$line"),$(value model_bwd_s "$line"),$(value model_exact "$line"),$(value traffic_matches_model "$line"),$(value bytes_per_rank "$line"),$parts,$(($(date +%s) - start))" >>"$out"
    tail -1 "$out"
  done
done

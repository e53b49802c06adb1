#!/usr/bin/env bash
# ctest: the unchanged program on RANKS simulated ranks (SimGrid SMPI build), one attention
# layer per plan: every rank's byte and message counters must equal the formulas exactly
# (traffic_matches_model=1), and where the cost model is exact (model_exact=1: no link shared
# between ranks) the simulated forward + backward time must be within 10 % of the model's.
# usage: check_simulation.sh SIM_BUILD_DIR SOURCE_DIR RANKS "PLAN;PLAN..."  (PLAN = --set list)
set -uo pipefail
build=$1 src=$2 ranks=$3 plans=$4
status=0
IFS=';' read -ra plan_list <<<"$plans"
for plan in "${plan_list[@]}"; do
  # shellcheck disable=SC2086
  output=$(OPENBLAS_NUM_THREADS=1 bash "$src/tools/simulate.sh" "$build" "$src/tests/machines/sim_test.toml" "$ranks" \
             "$src/tests/decks/sim_attention.toml" $plan 2>&1)
  code=$?
  line=$(grep '^PERFORMANCE problem=attention' <<<"$output")
  if [ $code -ne 0 ] || [ -z "$line" ]; then
    echo "FAIL [$plan]: exit $code"; tail -20 <<<"$output"; status=1; continue
  fi
  value() { sed -nE "s/.* $1=([^ ]+).*/\1/p" <<<"$line"; }
  verdict=$(awk -v f="$(value fwd_s)" -v b="$(value bwd_s)" -v mf="$(value model_fwd_s)" -v mb="$(value model_bwd_s)" \
                -v exact="$(value model_exact)" -v traffic="$(value traffic_matches_model)" 'BEGIN {
    error = (f + b) / (mf + mb) - 1
    ok = traffic == 1 && (exact != 1 || (error <= 0.10 && error >= -0.10))
    printf "%s simulated %.6f s, model %.6f s (%+.1f %%), model exact %s, traffic equal %s\n",
           ok ? "ok  " : "FAIL", f + b, mf + mb, 100 * error, exact, traffic
  }')
  echo "$verdict [$plan]"
  [[ $verdict == ok* ]] || status=1
done
exit $status

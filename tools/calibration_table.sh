#!/usr/bin/env bash
# Prediction vs measurement on this host (docs/scale.md): calibrates this machine with one rank
# per core, then runs one attention layer (inputs/attention.toml, no verification) for every
# schedule at P = 2, 4, 8 with parallel.machine = the calibrated file, and prints a markdown
# table of the measured (slowest rank, best of the repetitions) and predicted seconds.
# usage: tools/calibration_table.sh BUILD_DIR [MACHINE_FILE]
set -euo pipefail
build=$1
machine=${2:-inputs/machines/this_host.toml}
cores=$(nproc)
run() { OPENBLAS_NUM_THREADS=1 mpiexec --oversubscribe --allow-run-as-root -n "$@"; }
run "$cores" "$build/bin/wallfacer" calibrate --output "$machine" >/dev/null
echo "| P | plan | measured fwd s | model fwd s | measured bwd s | model bwd s | measured fwd+bwd | model fwd+bwd | error |"
echo "|---|---|---|---|---|---|---|---|---|"
for p in 2 4 8; do
  plans=("ring --set parallel.schedule=ring --set parallel.team_size=1" "ulysses --set parallel.schedule=ulysses")
  ((p % 4 == 0)) && plans+=("wallfacer-c2 --set parallel.schedule=wallfacer --set parallel.team_size=2"
                             "wallfacer-c2-kv --set parallel.schedule=wallfacer --set parallel.team_size=2 --set parallel.rotate=kv")
  for plan in "${plans[@]}"; do
    name=${plan%% *}
    # shellcheck disable=SC2086
    line=$(run "$p" "$build/bin/wallfacer" inputs/attention.toml --set run.verify=false --set bench.repeats=3 \
             --set parallel.machine="$machine" ${plan#* } 2>&1 | grep '^PERFORMANCE problem=attention')
    v() { sed -nE "s/.* $1=([^ ]+).*/\1/p" <<<"$line"; }
    awk -v p="$p" -v n="$name" -v f="$(v fwd_s)" -v b="$(v bwd_s)" -v mf="$(v model_fwd_s)" -v mb="$(v model_bwd_s)" 'BEGIN {
      printf "| %d | %s | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %+.0f %% |\n", p, n, f, mf, b, mb, f + b, mf + mb,
             100 * ((mf + mb) / (f + b) - 1) }'
  done
done

#!/usr/bin/env bash
# Bitwise regression check of the numbers a refactoring must not change.
#
#   tools/regression_check.sh generate WALLFACER_BINARY OUT_DIR   # writes the outputs of every case
#   tools/regression_check.sh compare DIR_A DIR_B                  # exit 0 when all are bitwise equal
#
# Cases: the attention problem's HDF5 outputs (O, lse, dQ, dK, dV) for Ring, WallFacer c = 2
# (rotate q and kv, team-major and ring-major, GQA), Ulysses, the fused tile path, float and
# double; the training run's per-step loss and gradient norm and its first-step grads file.
# Typical use: generate with the binary of the old commit, generate with the new one, compare.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
decks=$here/tests/decks
mpi=(mpiexec --oversubscribe --allow-run-as-root)
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# name ranks deck overrides...
attention_cases=(
  "ring_double       4 --set parallel.schedule=ring --set parallel.team_size=1"
  "ring_float        4 --set parallel.schedule=ring --set parallel.team_size=1 --set run.precision=float"
  "wallfacer_q       8 --set parallel.rotate=q"
  "wallfacer_kv      8 --set parallel.rotate=kv"
  "wallfacer_kv_gqa  8 --set parallel.rotate=kv --set parallel.arrangement=ring-major --set attention.kv_heads=2"
  "wallfacer_float   8 --set run.precision=float --set attention.causal=false"
  "ulysses           4 --set parallel.schedule=ulysses"
  "fused_ring        2 --set parallel.schedule=ring --set parallel.team_size=1 --set attention.impl=fused"
)
train_cases=(
  "train_wallfacer   4 --set parallel.team_size=2"
  "train_ring_kv     2 --set parallel.rotate=kv"
  "train_ulysses     2 --set parallel.schedule=ulysses"
  "train_double      2 --set run.precision=double"
)

generate() {
  local binary=$1 out=$2
  mkdir -p "$out"
  for entry in "${attention_cases[@]}"; do
    read -r name ranks overrides <<<"$entry"
    # shellcheck disable=SC2086
    "${mpi[@]}" -n "$ranks" "$binary" "$decks/tiny_attention.toml" --set run.verify=false \
      --set attention.output="$out/$name.h5" $overrides >"$out/$name.log" 2>&1 \
      || { echo "FAILED: $name (see $out/$name.log)"; return 1; }
  done
  for entry in "${train_cases[@]}"; do
    read -r name ranks overrides <<<"$entry"
    # shellcheck disable=SC2086
    "${mpi[@]}" -n "$ranks" "$binary" "$decks/tiny_train.toml" --set train.steps=4 --set train.trace=false \
      --set train.results="$out/$name.h5" --set model.grads_out="$out/${name}_grads.h5" $overrides \
      >"$out/$name.log" 2>&1 || { echo "FAILED: $name (see $out/$name.log)"; return 1; }
  done
  echo "generated ${#attention_cases[@]} attention and ${#train_cases[@]} training cases in $out"
}

compare() {
  local a=$1 b=$2 failed=0
  same() {  # file_a file_b objects...
    local fa=$1 fb=$2
    shift 2
    for object in "$@"; do
      if ! h5diff -q "$fa" "$fb" "$object" "$object" >/dev/null 2>&1; then
        echo "DIFFERENT: $(basename "$fa") $object"
        failed=1
      fi
    done
  }
  for entry in "${attention_cases[@]}"; do
    read -r name _ <<<"$entry"
    same "$a/$name.h5" "$b/$name.h5" /output/o /output/lse /grad/dq /grad/dk /grad/dv
  done
  for entry in "${train_cases[@]}"; do
    read -r name _ <<<"$entry"
    same "$a/$name.h5" "$b/$name.h5" /steps/loss /steps/grad_norm
    same "$a/${name}_grads.h5" "$b/${name}_grads.h5" /params /grads /loss
  done
  if ((failed)); then
    echo "regression check FAILED: outputs differ"
    return 1
  fi
  echo "regression check passed: ${#attention_cases[@]} attention and ${#train_cases[@]} training cases bitwise equal"
}

case "${1:-}" in
  generate) [ $# -eq 3 ] || { echo "usage: $0 generate WALLFACER_BINARY OUT_DIR" >&2; exit 2; }; generate "$2" "$3" ;;
  compare) [ $# -eq 3 ] || { echo "usage: $0 compare DIR_A DIR_B" >&2; exit 2; }; compare "$2" "$3" ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

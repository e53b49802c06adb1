#!/usr/bin/env bash
# Runs one tiny attention run and one tiny training run with the region-logging tool loaded
# and checks that every rank's regions arrived balanced and nested as the code nests them.
# Usage: check_regions.sh TOOL_LIBRARY DECKS_DIR OUT_DIR MPIEXEC [MPIEXEC_FLAGS...] -n RANKS WALLFACER
set -uo pipefail
tool=$1 decks=$2 out=$3
shift 3
launcher=("$@")
rm -rf "$out" && mkdir -p "$out"
export KOKKOS_TOOLS_LIBS=$tool KOKKOS_PROFILE_LIBRARY=$tool
status=0
fail() { echo "FAILED: $*"; status=1; }
run() {  # name deck overrides...
  local name=$1 deck=$2
  shift 2
  WF_REGION_LOG=$out/$name "${launcher[@]}" "$deck" "$@" >"$out/$name.out" 2>&1 || fail "$name did not run (see $out/$name.out)"
}
expect() {  # name "parent > child" ...
  local name=$1
  shift
  local logs=("$out/$name".[0-9]*)
  [ -e "${logs[0]}" ] || { fail "$name: no region log (was the tool loaded?)"; return; }
  for log in "${logs[@]}"; do
    grep -qx "end balanced" "$log" || fail "$log: regions not balanced ($(tail -1 "$log"))"
    for pair in "$@"; do
      grep -q " $pair\$" "$log" || fail "$log: no region nested as '$pair'"
    done
  done
}
run attention "$decks/tiny_attention.toml" --set run.verify=false --set parallel.team_size=1
expect attention "- > Problems::run_problem" "Problems::run_problem > Problems::attention" \
  "Problems::attention > Nbody::multi_ring_forward" "Problems::attention > Nbody::multi_ring_backward"
run train "$decks/tiny_train.toml" --set train.steps=2 --set train.results="$out/train.h5"
expect train "Problems::run_problem > Problems::train" "Problems::train > Train::run" "Train::run > Train::step" \
  "Train::step > Model::forward_backward" "Model::forward_backward > Model::forward_layer" \
  "Model::forward_layer > Nbody::multi_ring_forward" "Model::backward_layer > Nbody::multi_ring_backward" \
  "Problems::train > IO::write_results" "IO::write_results > IO::create_file"
[ $status -eq 0 ] && echo "regions balanced and nested on every rank"
exit $status

#!/usr/bin/env bash
# Fault injection: the program under a stopped or killed rank, and fed files that would be
# destroyed, non-finite, stale or corrupted. Each case asserts the exit code, the one error line
# (none for a clean run) and the files left behind; stalls must end within 1.5x the deadline.
# Usage: faults.sh CASE WALLFACER FAULT_TOOL DECK_DIR MPIEXEC [MPIEXEC FLAGS...]
set -uo pipefail
case_name=$1 app=$2 tool=$3 decks=$4
shift 4
mpi=("$@")
deadline=4                                      # parallel.deadline_seconds of the stall cases
limit=$(awk "BEGIN { print 1.5 * $deadline }")  # the promise: the job ends within 1.5x of it
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
export WF_FAULT_TEST_ID="$$-$RANDOM"  # marks this test's processes (ctest runs tests side by side)
failures=0
out=$work/out.txt rc=0

fail() { echo "faults.sh [$case_name]: $*"; failures=$((failures + 1)); }
now() { date +%s.%N; }
elapsed() { awk "BEGIN { printf \"%.2f\", $2 - $1 }"; }

# Runs the program (in the background with `&` as first argument); output in $out.
wallfacer() { timeout --kill-after=5 60 "${mpi[@]}" -x WF_FAULT_TEST_ID -x WF_FAULT_STOP "$@" > "$out" 2>&1; }

# The pids of this test's wallfacer processes, and of one rank.
our_pids() {
  for p in $(pgrep -x wallfacer); do grep -qz "^WF_FAULT_TEST_ID=$WF_FAULT_TEST_ID$" /proc/$p/environ 2>/dev/null && echo "$p"; done
}
pid_of_rank() {
  for p in $(our_pids); do grep -qz "^OMPI_COMM_WORLD_RANK=$1$" /proc/$p/environ 2>/dev/null && echo "$p"; done
}
wait_for_output() {  # PATTERN: waits (up to 60 s) until the output shows it
  for _ in $(seq 1 1200); do grep -q -- "$1" "$out" 2>/dev/null && return 0; sleep 0.05; done
  fail "the output never showed '$1'"
  return 1
}
wait_for_stopped_rank() {  # prints the time at which one of our processes is seen stopped (state T)
  for _ in $(seq 1 2400); do
    for p in $(our_pids); do
      [ "$(awk '{ print $3 }' /proc/$p/stat 2>/dev/null)" = T ] && { now; return 0; }
    done
    sleep 0.02
  done
  echo ""
}

expect_rc() { [ "$rc" -eq "$1" ] || fail "exit code $rc, expected $1"; }
expect_failure() { [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "exit code $rc, expected a failure (not 0, not a timeout)"; }
expect_error_line() {  # exactly one "error:" line, and it contains every argument
  local n line
  n=$(grep -c "error:" "$out")
  [ "$n" -eq 1 ] || { fail "$n error lines, expected exactly one"; return; }
  line=$(grep "error:" "$out")
  for pattern in "$@"; do grep -qF -- "$pattern" <<<"$line" || fail "the error line lacks '$pattern'"; done
  [ ${#line} -le 2000 ] || fail "the error line has ${#line} characters"
}
expect_no_error_line() { ! grep -q "error:" "$out" || fail "unexpected error line: $(grep "error:" "$out")"; }
expect_absent() { for f in "$@"; do [ ! -e "$f" ] || fail "'$f' was left behind"; done; }
expect_present() { for f in "$@"; do [ -e "$f" ] || fail "'$f' is missing"; done; }
# The job started in the background ($job) stops itself (WF_FAULT_STOP): waits for it to end and
# checks the time from the stop to the end, and the exit code of the watchdog's abort.
expect_self_stop_ends_in_time() {
  local start
  start=$(wait_for_stopped_rank)
  wait $job; rc=$?
  expect_within "$start" "$(now)"
  expect_rc 2
}
expect_within() {  # START END: the stall ended within the limit
  [ -n "$1" ] || { fail "no rank was ever seen stopped"; return; }
  local took
  took=$(elapsed "$1" "$2")
  echo "faults.sh [$case_name]: ended $took s after the stall (limit $limit s)"
  awk "BEGIN { exit !($took <= $limit) }" || fail "ended $took s after the stall, more than 1.5 x $deadline s"
}

train=("$decks/tiny_train.toml" --set parallel.deadline_seconds=$deadline --set train.results=results.h5)
attention=("$decks/tiny_attention.toml" --set parallel.schedule=ring --set parallel.team_size=1)
export WF_FAULT_STOP=""

case $case_name in
  train_stop)  # SIGSTOP of rank 2, from outside, in the middle of training
    wallfacer -n 4 "$app" "${train[@]}" --set train.steps=2000 &
    job=$!
    wait_for_output "step 5/"
    kill -STOP "$(pid_of_rank 2)"
    start=$(now)
    wait $job; rc=$?
    expect_within "$start" "$(now)"
    expect_rc 2
    expect_error_line "rank 2 does not respond"
    expect_absent results.h5 results.h5.tmp ;;
  checkpoint_stop)  # rank 1 stops inside the checkpoint write (before its /adam/v writes)
    WF_FAULT_STOP="1:HDF5 write /adam/v/" wallfacer -n 4 "$app" "${train[@]}" --set train.steps=20 \
      --set train.checkpoint_every=3 --set train.checkpoint_prefix=ckpt &
    job=$!
    expect_self_stop_ends_in_time
    expect_error_line "rank 1 does not respond" "ckpt_step000003.h5"
    expect_absent ckpt_step000003.h5 results.h5 ;;  # the .tmp of a killed job may stay; the next run replaces it
  attention_stop)  # rank 2 stops before a ring shift of the attention problem
    WF_FAULT_STOP="2:ring shift of sources" wallfacer -n 4 "$app" "${attention[@]}" \
      --set parallel.deadline_seconds=$deadline --set attention.output=out.h5 &
    job=$!
    expect_self_stop_ends_in_time
    expect_error_line "rank 2 does not respond" "ring shift of sources"
    expect_absent out.h5 out.h5.tmp ;;
  kill9)  # kill -9 of rank 2 in training: the launcher ends the job, nothing half-written stays
    wallfacer -n 4 "$app" "${train[@]}" --set train.steps=2000 &
    job=$!
    wait_for_output "step 5/"
    kill -9 "$(pid_of_rank 2)"
    start=$(now)
    wait $job; rc=$?
    expect_within "$start" "$(now)"
    expect_failure
    grep -q "rank 2" "$out" || fail "nothing names rank 2"
    [ "$(grep -c "error:" "$out")" -le 1 ] || fail "more than one error line"
    expect_absent results.h5 ;;
  same_path)  # an output that is the input (same name, then through a symlink) is refused
    "$tool" attention-inputs in.h5 128 8 8 16 || fail "fault_tool failed"
    cp in.h5 in.copy.h5
    wallfacer -n 2 "$app" "${attention[@]}" --set attention.input=in.h5 --set attention.output=in.h5; rc=$?
    expect_rc 1
    expect_error_line "attention.output = 'in.h5' is the same file as attention.input"
    ln -s in.h5 alias.h5
    wallfacer -n 2 "$app" "${attention[@]}" --set attention.input=in.h5 --set attention.output=alias.h5; rc=$?
    expect_rc 1
    expect_error_line "is the same file as attention.input"
    cmp -s in.h5 in.copy.h5 || fail "the input file changed"
    expect_absent in.h5.tmp alias.h5.tmp ;;
  nan_input)  # one NaN in /input/q is reported, not turned into a masked row
    "$tool" attention-inputs in.h5 128 8 8 16 17 || fail "fault_tool failed"
    wallfacer -n 2 "$app" "${attention[@]}" --set attention.input=in.h5 --set attention.output=out.h5; rc=$?
    expect_rc 1
    expect_error_line "in.h5: /input/q holds nan at token 17, head 0, element 0"
    expect_absent out.h5 out.h5.tmp ;;
  restart_last_step)  # a checkpoint at the last step, then a forged negative step
    wallfacer -n 2 "$app" "${train[@]}" --set train.steps=4 --set train.checkpoint_every=5 \
      --set train.checkpoint_prefix=ckpt; rc=$?
    expect_rc 0
    expect_present ckpt_step000005.h5 results.h5
    rm -f results.h5
    wallfacer -n 2 "$app" "${train[@]}" --set train.steps=4 --set train.restart_from=ckpt_step000005.h5; rc=$?
    expect_rc 1
    expect_error_line "train.restart_from = ckpt_step000005.h5 is at step 5, but this run ends at step 5"
    expect_absent results.h5
    "$tool" set-int ckpt_step000005.h5 step -3 || fail "fault_tool failed"
    wallfacer -n 2 "$app" "${train[@]}" --set train.restart_from=ckpt_step000005.h5; rc=$?
    expect_rc 1
    expect_error_line "ckpt_step000005.h5: attribute step = -3 is negative"
    expect_absent results.h5 ;;
  corrupt_checkpoint)  # one flipped bit in the stored second moments is found by the checksum
    wallfacer -n 2 "$app" "${train[@]}" --set train.steps=3 --set train.checkpoint_every=2 \
      --set train.checkpoint_prefix=ckpt; rc=$?
    expect_rc 0
    rm -f results.h5
    "$tool" flip ckpt_step000002.h5 /adam/v/layers.0.attn.wq.weight || fail "fault_tool failed"
    wallfacer -n 2 "$app" "${train[@]}" --set train.restart_from=ckpt_step000002.h5; rc=$?
    expect_rc 1
    expect_error_line "ckpt_step000002.h5: /adam/v/layers.0.attn.wq.weight: checksum mismatch"
    expect_absent results.h5 ;;
  pipe_deck)  # a named pipe nobody writes to, and /dev/zero, as decks; a deck on stdin reaches every rank
    mkfifo deck.fifo
    start=$(now)
    wallfacer -n 2 "$app" deck.fifo; rc=$?
    expect_rc 1
    expect_error_line "cannot read deck 'deck.fifo': no data within 10 s"
    awk "BEGIN { exit !($(elapsed "$start" "$(now)") < 30) }" || fail "the pipe took too long"
    wallfacer -n 2 "$app" /dev/zero; rc=$?
    expect_rc 1
    expect_error_line "cannot read deck '/dev/zero': more than 1 MiB"
    "${mpi[@]}" -n 2 "$app" /dev/stdin --set run.verify=true < "$decks/tiny_gravity.toml" > "$out" 2>&1; rc=$?
    expect_rc 0
    expect_no_error_line
    grep -q "verification passed" "$out" || fail "the deck on stdin did not run on every rank" ;;
  stale_tmp)  # a stale .tmp symlink is replaced, not followed; a .tmp directory is a clear error
    echo "precious" > victim.txt
    ln -s victim.txt out.h5.tmp
    wallfacer -n 2 "$app" "${attention[@]}" --set attention.output=out.h5; rc=$?
    expect_rc 0
    expect_no_error_line
    [ "$(cat victim.txt)" = precious ] || fail "the symlink's target was overwritten"
    expect_present out.h5
    expect_absent out.h5.tmp
    mkdir other.h5.tmp
    wallfacer -n 2 "$app" "${attention[@]}" --set attention.output=other.h5; rc=$?
    expect_rc 1
    expect_error_line "cannot create 'other.h5.tmp': a directory of that name is in the way"
    expect_absent other.h5 ;;
  write_failure)  # an output under a regular file: the reason in words, with the path
    echo "not a directory" > plain
    wallfacer -n 2 "$app" "${attention[@]}" --set attention.output=plain/out.h5; rc=$?
    expect_rc 1
    expect_error_line "cannot create 'plain/out.h5.tmp': 'plain' is not a directory" ;;
  long_key)  # a 100000-character unknown key: a prompt, short message
    key=$(head -c 100000 /dev/zero | tr "\0" a)
    start=$(now)
    wallfacer -n 1 "$app" "$decks/tiny_kernel.toml" --set "attention.$key=1"; rc=$?
    expect_rc 1
    expect_error_line "unknown key 'attention.aaaa" "(100010 characters)"
    awk "BEGIN { exit !($(elapsed "$start" "$(now)") < 20) }" || fail "the unknown key took too long" ;;
  *)
    echo "faults.sh: unknown case '$case_name'"
    exit 2 ;;
esac
echo "--- output ---"
cat "$out"
[ $failures -eq 0 ] && echo "faults.sh [$case_name]: ok"
exit $((failures > 0))

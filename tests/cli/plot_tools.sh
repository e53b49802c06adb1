#!/usr/bin/env bash
# plot_tools.sh TOOLS_DIR OUT_DIR COMMAND...
# COMMAND runs test_results (under mpiexec); with WF_RESULTS_DEMO set it writes a demo results
# file, which the three plot tools then draw. Checks that each PNG exists, is non-empty and is a
# PNG, that --help works, and that a file without the datasets fails with a clear message.
# Exits 77 (skipped) when no python3 has h5py and matplotlib.
set -u
tools=$1 out=$2
shift 2
fail() { echo "plot_tools.sh: $*"; exit 1; }

python=""
for candidate in "${WF_PYTHON:-}" python3 /usr/bin/python3; do
  [ -n "$candidate" ] || continue
  if "$candidate" -c "import h5py, matplotlib" >/dev/null 2>&1; then python=$candidate; break; fi
done
[ -n "$python" ] || { echo "plot_tools.sh: skipped: no python3 with h5py and matplotlib"; exit 77; }
echo "plot_tools.sh: using $python"

rm -rf "$out" && mkdir -p "$out" || fail "cannot create $out"
export MPLCONFIGDIR=$out/matplotlib  # no writes to the home directory
demo=$out/demo.h5
WF_RESULTS_DEMO=$demo timeout 240 "$@" --gtest_filter=Results.DemoFileForThePlotTools || fail "test_results failed"
[ -s "$demo" ] || fail "test_results wrote no $demo"

run() {  # run NAME ARGS...: one tool, which must succeed
  local name=$1
  shift
  "$python" "$tools/$name" "$@" || fail "$name $* failed"
}
run plot_timeline.py "$demo" -o "$out/timeline.png"
run plot_timeline.py "$demo" --step 3 -o "$out/timeline_step3.png"
run plot_steps.py "$demo" -o "$out/steps.png"
run plot_compare.py "$demo" "$demo" -o "$out/compare.png" --label-key parallel.schedule,parallel.team_size
for png in timeline timeline_step3 steps compare; do
  [ -s "$out/$png.png" ] || fail "$out/$png.png is missing or empty"
  [ "$(head -c 4 "$out/$png.png" | tail -c 3)" = PNG ] || fail "$out/$png.png is not a PNG"
done

for tool in plot_timeline.py plot_steps.py plot_compare.py; do
  "$python" "$tools/$tool" --help | grep -q "usage:" || fail "$tool --help prints no usage"
done

# A file that is not a results file: a non-zero exit naming the missing dataset.
"$python" -c "import h5py, sys; h5py.File(sys.argv[1], 'w').attrs['software'] = 'other'" "$out/other.h5"
for case in "plot_timeline.py:/trace/rank" "plot_steps.py:/steps/step" "plot_compare.py:/steps/tokens_per_second"; do
  tool=${case%%:*} dataset=${case#*:}
  message=$("$python" "$tools/$tool" "$out/other.h5" -o "$out/never.png" 2>&1) && fail "$tool accepted a file without $dataset"
  grep -qF "no dataset $dataset" <<<"$message" || fail "$tool: unclear error: $message"
done
[ ! -e "$out/never.png" ] || fail "a tool wrote an image for a bad file"
echo "plot_tools.sh: ok"

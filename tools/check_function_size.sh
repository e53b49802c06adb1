#!/usr/bin/env bash
# Lists the functions of src/ and miniapp/ longer than THRESHOLD lines (default 60), with
# clang-tidy's readability-function-size on every translation unit of a configured build
# (its compile_commands.json); header templates are checked where they are instantiated.
# Exit 1 when there is one, 77 when clang-tidy is not installed.
# Usage: tools/check_function_size.sh BUILD_DIR [THRESHOLD]
set -uo pipefail
build=${1:?usage: $0 BUILD_DIR [THRESHOLD]}
threshold=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
tidy=$(command -v clang-tidy || command -v clang-tidy-14 || true)
[ -n "$tidy" ] || { echo "clang-tidy not found: function sizes not checked"; exit 77; }
[ -f "$build/compile_commands.json" ] || { echo "$build/compile_commands.json not found: configure first"; exit 2; }
config="{CheckOptions: [{key: readability-function-size.LineThreshold, value: $threshold}]}"
files=$(cd "$root" && ls src/*/*.cpp miniapp/*.cpp)
report=$(cd "$root" && printf '%s\n' $files | xargs -P "$(nproc)" -n 4 "$tidy" -p "$build" --quiet \
           --checks='-*,readability-function-size' --config="$config" --header-filter="$root/(src|miniapp)/.*" 2>/dev/null |
         grep -E "warning: function .* exceeds" | sed -E "s|^$root/||; s| \[readability-function-size\]||" | sort -u)
if [ -n "$report" ]; then
  echo "functions over $threshold lines:"
  echo "$report"
  exit 1
fi
echo "no function in src/ or miniapp/ is over $threshold lines"

#!/usr/bin/env bash
# expect.sh ok|fail PATTERN COMMAND...
# Runs COMMAND; "ok" needs exit 0, "fail" a non-zero exit with exactly one "error:" line
# (one message, not one per rank). Both need PATTERN in the output.
set -u
expect=$1 pattern=$2
shift 2
out=$(timeout 240 "$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if ! grep -qF -- "$pattern" <<<"$out"; then echo "expect.sh: output lacks '$pattern'"; exit 1; fi
if [ "$expect" = ok ]; then
  [ $rc -eq 0 ] || { echo "expect.sh: exit code $rc, expected 0"; exit 1; }
else
  [ $rc -ne 0 ] && [ $rc -ne 124 ] || { echo "expect.sh: exit code $rc, expected a non-zero exit (not a timeout)"; exit 1; }
  n=$(grep -c "error:" <<<"$out")
  [ "$n" -eq 1 ] || { echo "expect.sh: $n error lines, expected exactly 1"; exit 1; }
fi
echo "expect.sh: ok"

#!/usr/bin/env bash
# Sets everything up, then runs the main job on a deck (default: inputs/small.toml, the
# training benchmark) with RANKS ranks.
# Usage: bash ci/main.sh [DECK.toml] [--set section.key=value ...]   (env: RANKS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh >/dev/null
[ $# -gt 0 ] || set -- inputs/small.toml
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec mpiexec --oversubscribe -n "${RANKS:-2}" "${BUILD_DIR:-build}/bin/wallfacer" "$@"

#!/usr/bin/env bash
# Sets everything up, then runs the main job on a deck (default: inputs/default.toml).
# Usage: bash ci/main.sh [DECK.toml] [--set section.key=value ...]   (env: RANKS=1)
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh >/dev/null
[ $# -gt 0 ] || set -- inputs/default.toml
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec mpiexec --oversubscribe -n "${RANKS:-1}" "${BUILD_DIR:-build}/bin/wallfacer" "$@"

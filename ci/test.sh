#!/usr/bin/env bash
# Sets everything up (warnings as errors), builds, and runs the whole test suite through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
WF_WERROR=ON bash ci/setup.sh
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900 "$@"

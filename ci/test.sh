#!/usr/bin/env bash
# Sets everything up (warnings as errors, SimGrid included unless WF_SIMGRID=0), builds, and runs
# the whole test suite through ctest (the simulated runs build the SMPI variant in build/simgrid).
# Where the CUDA toolkit with nccl.h is installed, it also compiles and links the NCCL backend
# and runs the communicator tests with it built in (its GPU tests skip without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
WF_WERROR=ON WF_SIMGRID=${WF_SIMGRID:-1} bash ci/setup.sh
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure --timeout 900 "$@")

cuda=${CUDA_HOME:-/usr/local/cuda}
if [ -f "$cuda/include/nccl.h" ]; then
  echo "ci/test.sh: NCCL backend: compile, link and run test_comm (nccl.h found in $cuda)"
  cmake -S . -B build-nccl -DWF_ENABLE_NCCL=ON -DWF_ENABLE_TESTS=ON -DWF_WERROR=ON -DCUDAToolkit_ROOT="$cuda" >build-nccl.configure.log 2>&1 \
    || { cat build-nccl.configure.log; exit 1; }
  cmake --build build-nccl -j "${JOBS:-$(nproc)}" --target wallfacer_app test_comm
  (cd build-nccl && ctest --output-on-failure -R "test_comm_np2")
else
  echo "ci/test.sh: no nccl.h under $cuda: NCCL backend not built (set CUDA_HOME to enable)"
fi

#!/usr/bin/env bash
# ctest fixture: configures and builds the SimGrid SMPI variant of this source tree (the program,
# the platform tool and the shared-malloc preload) in BUILD_DIR; a no-op when it is up to date.
# usage: build_simgrid.sh SOURCE_DIR BUILD_DIR [COMPILER_LAUNCHER] [WERROR]
set -euo pipefail
src=$1 build=$2 launcher=${3:-} werror=${4:-OFF}
args=(-DCMAKE_BUILD_TYPE=Release -DWF_ENABLE_SIMGRID=ON -DWF_ENABLE_TESTS=OFF -DWF_WERROR="$werror")
[ -n "$launcher" ] && args+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher")
[ -f "$build/CMakeCache.txt" ] || cmake -S "$src" -B "$build" "${args[@]}" >"$build.configure.log" 2>&1 \
  || { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j "${JOBS:-2}" --target wallfacer_app wallfacer_platform wf_simgrid_shared_malloc

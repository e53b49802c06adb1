#!/usr/bin/env bash
# Installs what WallFacer needs on Debian 12 (only the missing packages), then configures and
# builds. Usage: bash ci/setup.sh   (env: BUILD_DIR=build, WF_WERROR=OFF, JOBS=nproc,
# WF_SIMGRID=1 also installs SimGrid, whose simulated runs ctest then builds and runs)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake git pkg-config
  libtrilinos-kokkos-dev libtrilinos-kokkos-kernels-dev   # Kokkos 3.4.1 (Serial) + Kokkos Kernels
  libopenblas-dev                                         # BLAS under KokkosBlas::gemm
  libopenmpi-dev openmpi-bin                              # MPI
  libhdf5-openmpi-dev hdf5-tools                          # parallel HDF5
  libtomlplusplus-dev                                     # decks
  libgtest-dev                                            # tests
  clang-tidy                                              # tests: function size check (tools/check_function_size.sh)
  python3-h5py python3-matplotlib                         # tools/plot_*.py (and the plot_tools test)
  python3-torch                                           # tools/dit_torch_check.py (the dit_torch test)
  procps                                                  # tests: pgrep in the fault suite (tests/cli/faults.sh)
)
if [ "${WF_SIMGRID:-0}" = 1 ]; then
  packages+=(libsimgrid-dev)  # SMPI: simulated clusters (docs/scale.md)
fi
missing=()
for p in "${packages[@]}"; do
  [[ $p == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "ci/setup.sh: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DWF_WERROR="${WF_WERROR:-OFF}" -DWF_ENABLE_TESTS=ON >"$build_dir.configure.log" 2>&1 \
  || { cat "$build_dir.configure.log"; exit 1; }
grep -E "^-- (WallFacer|Enabled|Disabled)|^ \* " "$build_dir.configure.log" || true
cmake --build "$build_dir" -j "${JOBS:-$(nproc)}"

#!/usr/bin/env bash
# Launch rule of the Kokkos-free targets when CMAKE_CXX_COMPILER is nvcc_wrapper
# (cmake/WallfacerHostCompiled.cmake): runs the same command with the host compiler in place
# of nvcc_wrapper. Usage (by CMake): wf_host_compile.sh HOST_CXX [launcher...] nvcc_wrapper ARGS...
host=$1
shift
args=()
for arg in "$@"; do
  if [[ ${#args[@]} -le 1 && $arg == *nvcc_wrapper ]]; then
    args+=("$host")
  else
    args+=("$arg")
  fi
done
exec "${args[@]}"

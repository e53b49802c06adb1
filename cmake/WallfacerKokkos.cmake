# Finds Kokkos and Kokkos Kernels and exposes them as two targets:
#   wf::kokkos          (Kokkos core + containers)
#   wf::kokkos_kernels  (Kokkos Kernels, with its BLAS TPL)
# Two flavours are supported:
#   - Debian's Trilinos packages (Kokkos 3.4.1, Serial): their config files define
#     trilinos_* imported targets and an include dir that must be added by hand;
#   - an upstream install (Kokkos >= 4.x, e.g. CUDA): Kokkos::kokkos and Kokkos::kokkoskernels.
# With a CUDA Kokkos, only the targets that use Kokkos go through nvcc (nvcc_wrapper); the
# Kokkos-free layers (wf_core, wf_config, wf_io) are compiled by the host compiler:
# wf_host_compiled(TARGET) marks them (toml++ does not compile under nvcc; docs/building.md).

find_package(Kokkos CONFIG REQUIRED)
find_package(KokkosKernels CONFIG REQUIRED)

add_library(wf_kokkos INTERFACE)
add_library(wf_kokkos_kernels INTERFACE)

if(TARGET trilinos_kokkoscore)
  set(WF_KOKKOS_FLAVOUR "Trilinos (Debian)")
  # Kokkos_INCLUDE_DIRS is relative to the config file; normalise it.
  get_filename_component(_wf_kokkos_inc "${Kokkos_INCLUDE_DIRS}" ABSOLUTE)
  if(NOT EXISTS "${_wf_kokkos_inc}/Kokkos_Core.hpp")
    find_path(_wf_kokkos_inc Kokkos_Core.hpp PATH_SUFFIXES trilinos REQUIRED)
  endif()
  target_include_directories(wf_kokkos SYSTEM INTERFACE "${_wf_kokkos_inc}")
  target_link_libraries(wf_kokkos INTERFACE trilinos_kokkoscore trilinos_kokkoscontainers)
  target_link_libraries(wf_kokkos_kernels INTERFACE wf_kokkos trilinos_kokkoskernels)
  file(STRINGS "${_wf_kokkos_inc}/KokkosCore_config.h" _wf_kv REGEX "define KOKKOS_VERSION ")
  string(REGEX MATCH "[0-9]+" _wf_kv "${_wf_kv}")
  math(EXPR _wf_major "${_wf_kv} / 10000")
  math(EXPR _wf_minor "(${_wf_kv} / 100) % 100")
  math(EXPR _wf_patch "${_wf_kv} % 100")
  set(WF_KOKKOS_VERSION "${_wf_major}.${_wf_minor}.${_wf_patch}")
  set(WF_KOKKOS_DEVICES "${Kokkos_DEVICES}")
else()
  set(WF_KOKKOS_FLAVOUR "upstream")
  target_link_libraries(wf_kokkos INTERFACE Kokkos::kokkos)
  target_link_libraries(wf_kokkos_kernels INTERFACE wf_kokkos Kokkos::kokkoskernels)
  set(WF_KOKKOS_VERSION "${Kokkos_VERSION}")
  set(WF_KOKKOS_DEVICES "${Kokkos_DEVICES}")
endif()

set(WF_KOKKOS_CUDA OFF)
if("CUDA" IN_LIST Kokkos_DEVICES OR Kokkos_ENABLE_CUDA)
  set(WF_KOKKOS_CUDA ON)
endif()
include(WallfacerHostCompiled)

add_library(wf::kokkos ALIAS wf_kokkos)
add_library(wf::kokkos_kernels ALIAS wf_kokkos_kernels)
message(STATUS "WallFacer: Kokkos ${WF_KOKKOS_VERSION} (${WF_KOKKOS_FLAVOUR}), devices: ${WF_KOKKOS_DEVICES}")

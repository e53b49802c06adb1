# Host compilation of the Kokkos-free layers when Kokkos uses nvcc (included by WallfacerKokkos).
#
# Two ways to configure a CUDA Kokkos build, both supported:
#   1. CMAKE_CXX_COMPILER = the host compiler (g++). Kokkos' own config then sends every compile
#      command that carries -DKOKKOS_DEPENDENCE (the targets linking Kokkos) to nvcc_wrapper
#      through kokkos_launch_compiler; the Kokkos-free targets never see that definition, so the
#      host compiler builds them. A compiler launcher (ccache) would hide the compiler from
#      kokkos_launch_compiler: refused with a message.
#   2. CMAKE_CXX_COMPILER = <kokkos>/bin/nvcc_wrapper. Then wf_host_compiled() gives each
#      Kokkos-free target a launch rule (cmake/wf_host_compile.sh) that runs the host compiler
#      (WF_HOST_CXX) in place of nvcc_wrapper.
# Either way a Kokkos-free target that includes a Kokkos header fails to compile (Kokkos' CUDA
# headers need nvcc): the layering cannot erode silently.

set(WF_CXX_IS_NVCC OFF)
if(WF_KOKKOS_CUDA)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} --version OUTPUT_VARIABLE _wf_cxx_version ERROR_QUIET)
  if(_wf_cxx_version MATCHES "nvcc|NVIDIA")
    set(WF_CXX_IS_NVCC ON)
  endif()
  if(NOT WF_CXX_IS_NVCC AND CMAKE_CXX_COMPILER_LAUNCHER)
    message(FATAL_ERROR "CUDA Kokkos with CMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}: Kokkos redirects the Kokkos "
                        "targets to nvcc_wrapper only without a compiler launcher; drop "
                        "CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER} (or configure with "
                        "CMAKE_CXX_COMPILER=<kokkos>/bin/nvcc_wrapper)")
  endif()
endif()

if(DEFINED ENV{NVCC_WRAPPER_DEFAULT_COMPILER})
  set(_wf_host_default "$ENV{NVCC_WRAPPER_DEFAULT_COMPILER}")
else()
  set(_wf_host_default g++)
endif()
set(WF_HOST_CXX "${_wf_host_default}" CACHE STRING
    "Host compiler of the Kokkos-free targets when CMAKE_CXX_COMPILER is nvcc_wrapper")

# wf_host_compiled(TARGET): TARGET (which must not include Kokkos) is compiled by the host compiler.
function(wf_host_compiled target)
  if(WF_CXX_IS_NVCC)
    set_property(TARGET ${target} PROPERTY RULE_LAUNCH_COMPILE
                 "bash ${PROJECT_SOURCE_DIR}/cmake/wf_host_compile.sh ${WF_HOST_CXX}")
  endif()
  set_property(GLOBAL APPEND PROPERTY WF_HOST_COMPILED_TARGETS ${target})
endfunction()

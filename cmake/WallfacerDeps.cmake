# MPI (or SimGrid's SMPI), parallel HDF5, toml++, GoogleTest, optional NCCL.

if(WF_ENABLE_SIMGRID)
  include(WallfacerSimgrid)  # MPI::MPI_CXX is SMPI: the program runs under smpirun
else()
  find_package(MPI REQUIRED COMPONENTS CXX)
endif()

set(HDF5_PREFER_PARALLEL TRUE)
find_package(HDF5 REQUIRED COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR "WallFacer needs a parallel HDF5 (H5_HAVE_PARALLEL); found a serial one at "
                      "${HDF5_INCLUDE_DIRS}. On Debian: apt-get install libhdf5-openmpi-dev")
endif()
add_library(wf_hdf5 INTERFACE)
target_include_directories(wf_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
target_link_libraries(wf_hdf5 INTERFACE ${HDF5_C_LIBRARIES} ${HDF5_LIBRARIES})
target_compile_definitions(wf_hdf5 INTERFACE ${HDF5_DEFINITIONS})
# Double-check the header itself: some installs report the wrong flavour to CMake.
include(CheckSymbolExists)
set(CMAKE_REQUIRED_INCLUDES ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS} ${MPI_CXX_INCLUDE_DIRS})
check_symbol_exists(H5_HAVE_PARALLEL "H5pubconf.h" WF_H5_HAVE_PARALLEL)
unset(CMAKE_REQUIRED_INCLUDES)
if(NOT WF_H5_HAVE_PARALLEL)
  message(FATAL_ERROR "H5pubconf.h does not define H5_HAVE_PARALLEL: HDF5 is not parallel")
endif()

find_package(tomlplusplus CONFIG QUIET)
if(TARGET tomlplusplus::tomlplusplus)
  add_library(wf_toml ALIAS tomlplusplus::tomlplusplus)
else()
  find_path(WF_TOML_INCLUDE toml++/toml.h REQUIRED)
  add_library(wf_toml INTERFACE)
  target_include_directories(wf_toml SYSTEM INTERFACE ${WF_TOML_INCLUDE})
endif()

if(WF_ENABLE_NCCL)
  find_package(CUDAToolkit REQUIRED)
  find_path(WF_NCCL_INCLUDE nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} REQUIRED)
  find_library(WF_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} REQUIRED)
  add_library(wf_nccl INTERFACE)
  target_include_directories(wf_nccl SYSTEM INTERFACE ${WF_NCCL_INCLUDE})
  target_link_libraries(wf_nccl INTERFACE ${WF_NCCL_LIBRARY} CUDA::cudart)
endif()

if(WF_ENABLE_TESTS)
  find_package(GTest REQUIRED)
endif()

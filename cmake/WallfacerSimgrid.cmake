# The SimGrid SMPI build (-DWF_ENABLE_SIMGRID=ON, docs/scale.md): SimGrid's MPI stands in for
# MPI, so the unchanged program runs its ranks as simulated processes under smpirun. What
# Debian 12's SimGrid 3.32 needs with Kokkos: SMPI_NO_OVERRIDE_MALLOC (SMPI's malloc macros
# break the Kokkos headers), position-independent code, and the program linked as a shared
# object that smpirun loads once per rank (smpirun --cfg=smpi/privatize-libs:<Kokkos core .so>
# gives every rank its own Kokkos; tools/simulate.sh passes it).
find_path(WF_SMPI_INCLUDE_DIR mpi.h PATH_SUFFIXES smpi NO_DEFAULT_PATH PATHS /usr/include /usr/local/include)
find_library(WF_SIMGRID_LIBRARY simgrid)
find_program(WF_SMPIRUN smpirun)
if(NOT WF_SMPI_INCLUDE_DIR OR NOT WF_SIMGRID_LIBRARY OR NOT WF_SMPIRUN)
  message(FATAL_ERROR "WF_ENABLE_SIMGRID=ON needs SimGrid (smpi/mpi.h, libsimgrid, smpirun). "
                      "On Debian: apt-get install libsimgrid-dev (or WF_SIMGRID=1 bash ci/setup.sh)")
endif()
# -I (not -isystem) and first: SMPI's mpi.h must win over any MPI include another package brings.
include_directories(BEFORE ${WF_SMPI_INCLUDE_DIR})
add_library(wf_smpi INTERFACE)
target_compile_definitions(wf_smpi INTERFACE SMPI_NO_OVERRIDE_MALLOC)
target_link_libraries(wf_smpi INTERFACE ${WF_SIMGRID_LIBRARY})
add_library(MPI::MPI_CXX ALIAS wf_smpi)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
set(MPI_CXX_VERSION "SimGrid SMPI (${WF_SIMGRID_LIBRARY})")
# The Kokkos core library every rank must load privately.
find_library(WF_KOKKOS_CORE_LIBRARY NAMES trilinos_kokkoscore kokkoscore)
get_filename_component(WF_KOKKOS_CORE_LIBRARY "${WF_KOKKOS_CORE_LIBRARY}" REALPATH)
message(STATUS "WallFacer: SimGrid SMPI build (${WF_SMPIRUN}); ranks load ${WF_KOKKOS_CORE_LIBRARY} privately")
# What tools/simulate.sh needs to launch this build's program.
get_filename_component(_wf_kokkos_core_name "${WF_KOKKOS_CORE_LIBRARY}" NAME)
file(WRITE ${PROJECT_BINARY_DIR}/simgrid.env "SMPIRUN=${WF_SMPIRUN}\nKOKKOS_CORE_LIBRARY=${_wf_kokkos_core_name}\n")

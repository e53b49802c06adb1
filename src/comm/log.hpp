// Rank-aware printing: most output comes from rank 0 only.
#pragma once

#include <mpi.h>

#include <iostream>
#include <string>

namespace wf::comm {

/// \brief Rank of this process in MPI_COMM_WORLD (0 before MPI_Init).
inline int world_rank() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return 0;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

/// \brief Prints a line on rank 0 of MPI_COMM_WORLD.
inline void log_root(const std::string& line) {
  if (world_rank() == 0) std::cout << line << std::endl;
}

}  // namespace wf::comm

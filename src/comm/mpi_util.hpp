// Small MPI queries used across the layers above the communicator.
#pragma once

#include <mpi.h>

namespace wf::comm {

/// \brief Rank of this process in comm.
inline int rank_of(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  return rank;
}

/// \brief Number of processes in comm.
inline int size_of(MPI_Comm comm) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  return size;
}

/// \brief True once MPI_Finalize has run (destructors must not call MPI then).
inline bool mpi_finalized() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  return finalized != 0;
}

}  // namespace wf::comm

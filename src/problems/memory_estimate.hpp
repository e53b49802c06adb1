// How much memory a run needs per rank, estimated before anything is allocated, so that a size
// that cannot fit ends with one message naming the settings that drive it and the amount (not
// "std::bad_alloc" after minutes of work). The estimates count the large arrays only: they are
// lower bounds, so a run they refuse could not have fit.
#pragma once

#include <mpi.h>

#include <string>

#include "config/run_config.hpp"

namespace wf::problems {

/// \brief The estimate of one run on `ranks` ranks.
struct MemoryEstimate {
  double bytes_per_rank = 0.0;
  std::string drivers;  ///< the settings it grows with, e.g. "attention.seq_len = 65536, ..."
  bool shrinks_with_ranks = true;  ///< false when every rank holds the whole problem
};

/// \brief The per-rank memory of cfg's problem on `ranks` ranks (host memory; on GPU builds the
/// same arrays live on the device).
MemoryEstimate estimate_memory(const config::RunConfig& cfg, int ranks);

/// \brief Bytes this process may still allocate: MemAvailable of /proc/meminfo, capped by the
/// cgroup's memory.max; 0 when unknown.
double available_memory_bytes();

/// \brief "12.0 GiB" and the like.
std::string bytes_text(double bytes);

/// \brief Collective: throws wf::Error on every rank when the ranks of some node need more than
/// that node has available, naming the amount and the settings.
void check_memory(const config::RunConfig& cfg, MPI_Comm comm);

}  // namespace wf::problems

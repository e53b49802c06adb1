// Small host-side reductions over ranks for reports and checks: every blocking reduction of
// values the problems print goes through here (one place to put a deadline on them).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

namespace wf::comm {

/// \brief A value reduced over the ranks of a communicator.
struct MinAvgMax {
  double min = 0.0, avg = 0.0, max = 0.0;
};

/// \brief Collective: min, mean and max of `value` over the ranks of comm.
MinAvgMax reduce_min_avg_max(MPI_Comm comm, double value);

/// \brief Collective: element-wise sums over the ranks of comm.
std::vector<double> sum_over_ranks(MPI_Comm comm, std::vector<double> values);

/// \brief Collective: the sum of `value` over the ranks of comm.
std::uint64_t sum_over_ranks(MPI_Comm comm, std::uint64_t value);

/// \brief Collective: true when `value` is true on every rank of comm.
bool true_on_all_ranks(MPI_Comm comm, bool value);

}  // namespace wf::comm

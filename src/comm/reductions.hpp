// Small host-side reductions over ranks for reports and checks: every blocking reduction of
// values the problems print goes through here. Each is a non-blocking MPI collective completed
// under the process deadline (comm/deadline.hpp): a rank that never arrives ends the job with
// one line naming it, never a hang. `operation` names the reduction in that line.
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
MinAvgMax reduce_min_avg_max(MPI_Comm comm, double value, const char* operation = "reduction of report values");

/// \brief Collective: element-wise min, mean and max over the ranks of comm (one MinAvgMax per element).
std::vector<MinAvgMax> reduce_min_avg_max(MPI_Comm comm, const std::vector<double>& values,
                                          const char* operation = "reduction of report values");

/// \brief Collective: element-wise sums over the ranks of comm.
std::vector<double> sum_over_ranks(MPI_Comm comm, std::vector<double> values,
                                   const char* operation = "reduction of report values");

/// \brief Collective: the sum of `value` over the ranks of comm.
std::uint64_t sum_over_ranks(MPI_Comm comm, std::uint64_t value, const char* operation = "reduction of report values");

/// \brief Collective: true when `value` is true on every rank of comm.
bool true_on_all_ranks(MPI_Comm comm, bool value, const char* operation = "reduction of a check");

/// \brief Collective: `value` of every rank, in rank order.
std::vector<std::uint64_t> gather_over_ranks(MPI_Comm comm, std::uint64_t value,
                                             const char* operation = "gathering of counts");

/// \brief Collective: how many ranks of comm share this rank's node (MPI_Comm_split_type).
int ranks_on_this_node(MPI_Comm comm);

/// \brief Collective: rank 0's `value` on every rank.
double broadcast_from_root(MPI_Comm comm, double value, const char* operation = "broadcast of a value");
/// \brief Collective: rank 0's `value` on every rank.
std::int64_t broadcast_from_root(MPI_Comm comm, std::int64_t value, const char* operation = "broadcast of a value");
/// \brief Collective: rank 0's `value` on every rank.
std::uint64_t broadcast_from_root(MPI_Comm comm, std::uint64_t value, const char* operation = "broadcast of a value");

}  // namespace wf::comm

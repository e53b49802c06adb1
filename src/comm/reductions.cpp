#include "comm/reductions.hpp"

namespace wf::comm {

MinAvgMax reduce_min_avg_max(MPI_Comm comm, double value) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  MinAvgMax r;
  MPI_Allreduce(&value, &r.min, 1, MPI_DOUBLE, MPI_MIN, comm);
  MPI_Allreduce(&value, &r.max, 1, MPI_DOUBLE, MPI_MAX, comm);
  MPI_Allreduce(&value, &r.avg, 1, MPI_DOUBLE, MPI_SUM, comm);
  r.avg /= size;
  return r;
}

std::vector<double> sum_over_ranks(MPI_Comm comm, std::vector<double> values) {
  MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM, comm);
  return values;
}

std::uint64_t sum_over_ranks(MPI_Comm comm, std::uint64_t value) {
  MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_UINT64_T, MPI_SUM, comm);
  return value;
}

bool true_on_all_ranks(MPI_Comm comm, bool value) {
  int all = value ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_MIN, comm);
  return all == 1;
}

}  // namespace wf::comm

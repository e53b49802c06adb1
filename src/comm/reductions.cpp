#include "comm/reductions.hpp"
#include "comm/posted_collectives.hpp"

#include "comm/deadline.hpp"

namespace wf::comm {
namespace {

/// MPI_Iallreduce of `count` elements under the deadline.
void allreduce(MPI_Comm comm, const void* send, void* recv, int count, MPI_Datatype type, MPI_Op op,
               const char* operation) {
  MPI_Request request = MPI_REQUEST_NULL;
  post_allreduce(send, recv, count, type, op, comm, &request);
  wait_with_deadline(request, operation);
}

template <class T>
T broadcast_scalar(MPI_Comm comm, T value, MPI_Datatype type, const char* operation) {
  MPI_Request request = MPI_REQUEST_NULL;
  post_bcast(&value, 1, type, 0, comm, &request);
  wait_with_deadline(request, operation);
  return value;
}

}  // namespace

MinAvgMax reduce_min_avg_max(MPI_Comm comm, double value, const char* operation) {
  return reduce_min_avg_max(comm, std::vector<double>{value}, operation).front();
}

std::vector<MinAvgMax> reduce_min_avg_max(MPI_Comm comm, const std::vector<double>& values, const char* operation) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  const int count = static_cast<int>(values.size());
  std::vector<double> min(values.size()), max(values.size()), sum(values.size());
  std::vector<MPI_Request> requests(3, MPI_REQUEST_NULL);
  post_allreduce(values.data(), min.data(), count, MPI_DOUBLE, MPI_MIN, comm, &requests[0]);
  post_allreduce(values.data(), max.data(), count, MPI_DOUBLE, MPI_MAX, comm, &requests[1]);
  post_allreduce(values.data(), sum.data(), count, MPI_DOUBLE, MPI_SUM, comm, &requests[2]);
  wait_with_deadline(requests, operation);
  std::vector<MinAvgMax> reduced(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) reduced[i] = {min[i], sum[i] / size, max[i]};
  return reduced;
}

std::vector<double> sum_over_ranks(MPI_Comm comm, std::vector<double> values, const char* operation) {
  allreduce(comm, MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM, operation);
  return values;
}

std::uint64_t sum_over_ranks(MPI_Comm comm, std::uint64_t value, const char* operation) {
  allreduce(comm, MPI_IN_PLACE, &value, 1, MPI_UINT64_T, MPI_SUM, operation);
  return value;
}

bool true_on_all_ranks(MPI_Comm comm, bool value, const char* operation) {
  int all = value ? 1 : 0;
  allreduce(comm, MPI_IN_PLACE, &all, 1, MPI_INT, MPI_MIN, operation);
  return all == 1;
}

std::vector<std::uint64_t> gather_over_ranks(MPI_Comm comm, std::uint64_t value, const char* operation) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  std::vector<std::uint64_t> values(static_cast<std::size_t>(size));
  MPI_Request request = MPI_REQUEST_NULL;
  post_allgather(&value, 1, MPI_UINT64_T, values.data(), 1, MPI_UINT64_T, comm, &request);
  wait_with_deadline(request, operation);
  return values;
}

int ranks_on_this_node(MPI_Comm comm) {
  MPI_Comm node = MPI_COMM_NULL;
  {
    const DeadlineGuard guard("finding the ranks of this node (MPI_Comm_split_type)");
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  }
  int size = 1;
  MPI_Comm_size(node, &size);
  MPI_Comm_free(&node);
  return size;
}

double broadcast_from_root(MPI_Comm comm, double value, const char* operation) {
  return broadcast_scalar(comm, value, MPI_DOUBLE, operation);
}

std::int64_t broadcast_from_root(MPI_Comm comm, std::int64_t value, const char* operation) {
  return broadcast_scalar(comm, value, MPI_INT64_T, operation);
}

std::uint64_t broadcast_from_root(MPI_Comm comm, std::uint64_t value, const char* operation) {
  return broadcast_scalar(comm, value, MPI_UINT64_T, operation);
}

}  // namespace wf::comm

#include "core/error.hpp"

#include <iostream>
#include <vector>

namespace wf {

bool all_ranks_ok(MPI_Comm comm, bool ok, const std::string& local_message, std::string& message) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int first_bad = ok ? size : rank, failures = ok ? 0 : 1;
  MPI_Allreduce(MPI_IN_PLACE, &first_bad, 1, MPI_INT, MPI_MIN, comm);
  if (first_bad == size) return true;
  MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_SUM, comm);
  // Broadcast the failing rank's message so that rank 0 can print it.
  int length = rank == first_bad ? static_cast<int>(local_message.size()) : 0;
  MPI_Bcast(&length, 1, MPI_INT, first_bad, comm);
  std::vector<char> buffer(local_message.begin(), local_message.end());
  buffer.resize(static_cast<std::size_t>(length));
  MPI_Bcast(buffer.data(), length, MPI_CHAR, first_bad, comm);
  message = std::string(buffer.begin(), buffer.end());
  // Name the rank only when it is not all of them (a bad deck fails everywhere alike).
  if (failures < size) message = "rank " + std::to_string(first_bad) + ": " + message;
  return false;
}

int collective_exit_code(MPI_Comm comm, bool ok, const std::string& local_message) {
  std::string message;
  if (all_ranks_ok(comm, ok, local_message, message)) return 0;
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) std::cerr << "wallfacer: error: " << message << std::endl;
  return 1;
}

}  // namespace wf

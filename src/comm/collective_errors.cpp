#include "comm/collective_errors.hpp"
#include "comm/posted_collectives.hpp"

#include "comm/deadline.hpp"

#include <algorithm>
#include <iostream>
#include <limits>
#include <utility>
#include <vector>

#include "wf_config.hpp"

namespace wf::comm {

bool all_ranks_ok(MPI_Comm comm, bool ok, const std::string& local_message, std::string& message,
                  const Agreement& agreement) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  struct {
    double key;
    int rank;
  } mine{ok ? std::numeric_limits<double>::infinity() : agreement.failure_key, rank}, chosen{};
  int failures[2] = {ok ? 0 : 1, 0};
  if (!ok) note_local_failure(local_message);  // a roll call during the agreement names it
  std::vector<MPI_Request> requests(2, MPI_REQUEST_NULL);
  post_allreduce(&mine, &chosen, 1, MPI_DOUBLE_INT, MPI_MINLOC, comm, &requests[0]);
  post_allreduce(&failures[0], &failures[1], 1, MPI_INT, MPI_SUM, comm, &requests[1]);
  wait_with_deadline(requests, "error agreement");
  if (!ok) note_local_failure("");  // every rank knows now
  if (failures[1] == 0) return true;
  // The chosen rank's message, so that rank 0 can print it.
  const int from = chosen.rank;
  int length = rank == from ? static_cast<int>(local_message.size()) : 0;
  MPI_Request request = MPI_REQUEST_NULL;
  post_bcast(&length, 1, MPI_INT, from, comm, &request);
  wait_with_deadline(request, "error agreement (message length)");
  std::vector<char> buffer(local_message.begin(), local_message.end());
  buffer.resize(static_cast<std::size_t>(length));
  post_bcast(buffer.data(), length, MPI_CHAR, from, comm, &request);
  wait_with_deadline(request, "error agreement (message)");
  message = std::string(buffer.begin(), buffer.end());
  // Name the rank only when it is not all of them (a bad deck fails everywhere alike).
  if (failures[1] < size) message = "rank " + std::to_string(from) + ": " + message;
  if (failures[1] > 1 && (failures[1] < size || chosen.key > 0.0))  // a cascade (timeouts): say how wide
    message += " [" + std::to_string(failures[1]) + " of " + std::to_string(size) + " ranks failed]";
  return false;
}

std::string broadcast(MPI_Comm comm, const std::string& text) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  unsigned long long length = text.size();
  MPI_Request request = MPI_REQUEST_NULL;
  post_bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, 0, comm, &request);
  wait_with_deadline(request, "broadcast of a text (length)");
  std::string result = rank == 0 ? text : std::string(length, '\0');
  for (unsigned long long done = 0; done < length;) {  // MPI counts are int
    const int piece = static_cast<int>(std::min<unsigned long long>(length - done, 1ull << 30));
    post_bcast(&result[done], piece, MPI_CHAR, 0, comm, &request);
    wait_with_deadline(request, "broadcast of a text");
    done += static_cast<unsigned long long>(piece);
  }
  return result;
}

void require_on_all_ranks(MPI_Comm comm, bool ok, const std::string& local_message) {
  std::string message;
  if (!all_ranks_ok(comm, ok, ok ? std::string() : local_message, message)) throw Error(message);
}

int collective_exit_code(MPI_Comm comm, bool ok, const std::string& local_message, const Agreement& agreement) {
  std::string message;
  if (all_ranks_ok(comm, ok, local_message, message, agreement)) return 0;
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) std::cerr << "wallfacer: error: " << message << std::endl;
  return 1;
}

}  // namespace wf::comm

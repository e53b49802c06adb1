// Errors: one exception type for user-facing problems, and a collective check so that a
// failure seen by any rank ends every rank with one message (never a hang).
#pragma once

#include <mpi.h>

#include <stdexcept>
#include <string>

namespace wf {

/// \brief An error the user can fix (bad deck, bad argument, failed verification).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// \brief Throws wf::Error(message) when condition is false.
inline void require(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}

/// \brief Collective: true on every rank when `ok` is true on every rank. Otherwise
/// `message` receives the message of the lowest failing rank, prefixed with its rank unless
/// every rank failed.
bool all_ranks_ok(MPI_Comm comm, bool ok, const std::string& local_message, std::string& message);

/// \brief Collective: if any rank failed, rank 0 prints the first failure to stderr and every
/// rank returns a non-zero exit code; otherwise returns 0.
int collective_exit_code(MPI_Comm comm, bool ok, const std::string& local_message);

}  // namespace wf

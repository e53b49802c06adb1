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

/// \brief How ranks agree on a failure.
struct Agreement {
  /// Which failure to report: the smallest key wins, ties go to the lowest rank. 0 (default)
  /// reports the lowest failing rank; a wall-clock time reports the earliest failure, so the
  /// root of a cascade of timeouts is named, not its echoes.
  double failure_key = 0.0;
  /// > 0: give up waiting for the other ranks after this many seconds (a rank is stuck for
  /// good); the local message is then printed here and the job aborted with MPI_Abort.
  double deadline_seconds = 0.0;
};

/// \brief Collective: true on every rank when `ok` is true on every rank. Otherwise
/// `message` receives the message of the failure chosen by `agreement`, prefixed with its
/// rank unless every rank failed.
bool all_ranks_ok(MPI_Comm comm, bool ok, const std::string& local_message, std::string& message,
                  const Agreement& agreement = {});

/// \brief Collective: if any rank failed, rank 0 prints the chosen failure to stderr and every
/// rank returns a non-zero exit code; otherwise returns 0.
int collective_exit_code(MPI_Comm comm, bool ok, const std::string& local_message, const Agreement& agreement = {});

/// \brief Collective: runs body() on every rank; if it throws on any rank, every rank throws one
/// wf::Error with that message. The body's calls must be local, or collective calls that succeed
/// or fail alike on every rank, so that a failing rank cannot leave the others waiting.
template <class Body>
void collectively(MPI_Comm comm, Body&& body) {
  bool ok = true;
  std::string local_message;
  try {
    body();
  } catch (const std::exception& error) {
    ok = false;
    local_message = error.what();
  }
  std::string message;
  if (!all_ranks_ok(comm, ok, local_message, message)) throw Error(message);
}

/// \brief Collective: rank 0's `text` on every rank (any length).
std::string broadcast(MPI_Comm comm, const std::string& text);

}  // namespace wf

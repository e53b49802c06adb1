// Agreeing on failures across ranks, so that a failure seen by any rank ends every rank with
// one message (never a hang, never an exit 0 on error).
#pragma once

#include <mpi.h>

#include <string>

#include "core/error.hpp"

namespace wf::comm {

/// \brief How ranks agree on a failure.
struct Agreement {
  /// Which failure to report: the smallest key wins, ties go to the lowest rank. 0 (default)
  /// reports the lowest failing rank; a wall-clock time reports the earliest failure, so the
  /// root of a cascade of timeouts is named, not its echoes.
  double failure_key = 0.0;
};

/// \brief Collective, under the process deadline (a rank that never arrives ends the job through
/// the watchdog, comm/deadline.hpp): true on every rank when `ok` is true on every rank. Otherwise
/// `message` receives the message of the failure chosen by `agreement`, prefixed with its
/// rank unless every rank failed.
bool all_ranks_ok(MPI_Comm comm, bool ok, const std::string& local_message, std::string& message,
                  const Agreement& agreement = {});

/// \brief Collective: if any rank failed, rank 0 prints the chosen failure to stderr and every
/// rank returns a non-zero exit code; otherwise returns 0.
int collective_exit_code(MPI_Comm comm, bool ok, const std::string& local_message, const Agreement& agreement = {});

/// \brief Collective: throws wf::Error(message) on every rank unless `ok` on every rank;
/// the message is the lowest failing rank's.
void require_on_all_ranks(MPI_Comm comm, bool ok, const std::string& local_message);

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
  require_on_all_ranks(comm, ok, local_message);
}

/// \brief Collective: runs body() on every rank; if it throws on any rank, rank 0 prints the
/// chosen failure (as collective_exit_code) and every rank returns a non-zero exit code; else 0.
template <class Body>
int exit_code_of(MPI_Comm comm, Body&& body) {
  try {
    body();
  } catch (const std::exception& error) {
    return collective_exit_code(comm, false, error.what());
  }
  return collective_exit_code(comm, true, "");
}

/// \brief Collective: rank 0's `text` on every rank (any length).
std::string broadcast(MPI_Comm comm, const std::string& text);

}  // namespace wf::comm

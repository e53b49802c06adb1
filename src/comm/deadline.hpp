// Deadlines on every blocking section, and the watchdog that ends a job whose rank stalled.
//
// Two kinds of waits: non-blocking MPI requests (reductions, broadcasts, barriers, the error
// agreement, communicator creation) are polled against the deadline by wait_with_deadline;
// sections that cannot be made non-blocking (parallel HDF5 calls, MPI_Comm_split) run under a
// DeadlineGuard, which the watchdog thread enforces. Either way, a wait past the deadline ends
// the job through end_job_after_timeout: a roll call over MPI finds the ranks that no longer
// respond (stopped, hung, dead), the lowest responding rank prints one line naming them, and
// the job is aborted with exit_code_aborted. docs/robustness.md has the guarantees.
#pragma once

#include <mpi.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace wf::comm {

/// \brief The smallest deadline a run may set: the roll call needs a fraction of it to tell a
/// stopped rank from a busy one.
inline constexpr double minimum_deadline_seconds = 1.0;
/// \brief The deadline before a deck set one (the default of parallel.deadline_seconds).
inline constexpr double default_deadline_seconds = 120.0;
/// \brief Exit status of a job the watchdog ended (a rank stalled, or a wait ran past the deadline).
inline constexpr int exit_code_aborted = 2;

/// \brief The process deadline: the longest any blocking section may take.
double deadline_seconds();
/// \brief Sets the process deadline (>= minimum_deadline_seconds; throws wf::Error otherwise).
void set_deadline_seconds(double seconds);
/// \brief How long a roll call waits for answers: a tenth of the deadline, within [0.2 s, 5 s].
double roll_call_seconds(double deadline);

/// \brief RAII: marks a blocking section that cannot be made non-blocking (a parallel HDF5 call,
/// MPI_Comm_split). While a watchdog runs, a section that outlasts the deadline ends the job,
/// naming `operation` and the ranks that did not arrive. A section with enforced = false only
/// says where this rank waits (its own deadline is enforced elsewhere, as the communicator's).
class DeadlineGuard {
 public:
  explicit DeadlineGuard(std::string operation, bool enforced = true);
  ~DeadlineGuard();
  DeadlineGuard(const DeadlineGuard&) = delete;
  DeadlineGuard& operator=(const DeadlineGuard&) = delete;

  /// \brief What the section does, as given.
  const std::string& operation() const { return operation_; }
  /// \brief When it started.
  std::chrono::steady_clock::time_point start() const { return start_; }
  /// \brief Whether the watchdog enforces its deadline.
  bool enforced() const { return enforced_; }

 private:
  std::string operation_;
  std::chrono::steady_clock::time_point start_;
  bool enforced_;
};

/// \brief Completes `requests` (non-blocking collectives on any communicator) within the process
/// deadline, or ends the job with "rank R: <operation> not complete after D s".
void wait_with_deadline(std::vector<MPI_Request>& requests, const std::string& operation);
/// \brief wait_with_deadline of one request.
void wait_with_deadline(MPI_Request& request, const std::string& operation);

/// \brief Ends the job after this rank waited too long for `what` (never returns). With a running
/// watchdog: a roll call names the ranks that do not respond, the lowest responding rank prints
/// one line, the job is aborted. Without one: this rank prints `what` and aborts.
[[noreturn]] void end_job_after_timeout(const std::string& what);

/// \brief Records the error this rank is reporting (in the error agreement), so that a roll call
/// names it rather than the waits it caused on other ranks; "" clears it (once agreed).
void note_local_failure(const std::string& message);

/// \brief Test hook: WF_FAULT_STOP="<world rank>:<text>" stops that rank (SIGSTOP, as a hostile
/// operator would) the first time it enters a wait or section whose operation contains text.
void stop_here_if_asked(const std::string& operation);

/// \brief The watchdog thread of the program (one per process). Collective over `world`:
/// duplicates it for the roll call. MPI must run with MPI_THREAD_MULTIPLE for the roll call;
/// otherwise deadlines are still enforced but the stalled ranks cannot be named.
class Watchdog {
 public:
  explicit Watchdog(MPI_Comm world);
  /// \brief Collective: a last barrier under the deadline, then the thread stops (before MPI_Finalize).
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  /// \brief True while a watchdog runs in this process.
  static bool running();

  struct Service;  // the thread and its communicator (watchdog.cpp)

 private:
  std::unique_ptr<Service> service_;
};

}  // namespace wf::comm

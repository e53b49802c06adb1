// Internal to the deadline sources (deadline.cpp, watchdog.cpp): what this process waits in,
// shared between the main thread (which opens and closes sections) and the watchdog thread
// (which enforces them and answers roll calls).
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "comm/deadline.hpp"
#include "comm/roll_call.hpp"

namespace wf::comm::detail {

using Clock = std::chrono::steady_clock;

/// \brief Seconds from `since` to `now`.
inline double seconds_between(Clock::time_point since, Clock::time_point now) {
  return std::chrono::duration<double>(now - since).count();
}

/// \brief The sections this process is in, innermost last, and what it reported.
struct DeadlineRegistry {
  std::mutex mutex;
  std::vector<const DeadlineGuard*> active;
  std::string last_operation;             ///< the section that ended last
  Clock::time_point last_end = Clock::now();
  std::string failure;                    ///< note_local_failure
  double deadline = default_deadline_seconds;
};

/// \brief The process's registry.
DeadlineRegistry& registry();

/// \brief Where this process is now, for a roll call reply.
RankPosition current_position();

/// \brief "rank R: <operation> not complete after D s" for the oldest enforced section past the
/// deadline, or "" when none is.
std::string expired_section();

/// \brief The innermost enforced section this process is in (what a wait inside it is part of), or "".
std::string enclosing_operation();

/// \brief This process's rank in MPI_COMM_WORLD.
int world_rank_now();

/// \brief Prints "wallfacer: error: <text>" as one write, once per process (later calls print
/// nothing), then aborts the job with exit_code_aborted.
[[noreturn]] void report_and_abort(const std::string& text);

}  // namespace wf::comm::detail

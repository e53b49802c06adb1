// Deadline settings, guarded sections, polled waits and the fault-stop test hook. The watchdog
// thread and the roll call are in watchdog.cpp.
#include "comm/deadline.hpp"

#include "wf_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "comm/deadline_registry.hpp"
#include "core/error.hpp"

namespace wf::comm {

namespace detail {

DeadlineRegistry& registry() {
  static DeadlineRegistry instance;
  return instance;
}

int world_rank_now() {
  int initialized = 0, finalized = 0, rank = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

RankPosition current_position() {
  DeadlineRegistry& r = registry();
  const Clock::time_point now = Clock::now();
  const std::lock_guard<std::mutex> lock(r.mutex);
  if (!r.failure.empty()) return {RankPosition::failing, r.failure, 0.0};
  if (!r.active.empty()) {
    const DeadlineGuard& inner = *r.active.back();
    return {RankPosition::waiting, inner.operation(), seconds_between(inner.start(), now)};
  }
  return {RankPosition::computing, r.last_operation, seconds_between(r.last_end, now)};
}

std::string expired_section() {
  DeadlineRegistry& r = registry();
  const Clock::time_point now = Clock::now();
  const std::lock_guard<std::mutex> lock(r.mutex);
  for (const DeadlineGuard* guard : r.active) {
    if (!guard->enforced() || seconds_between(guard->start(), now) <= r.deadline) continue;
    return "rank " + std::to_string(world_rank_now()) + ": " + guard->operation() + " not complete after " +
           seconds_text(r.deadline) + " s";
  }
  return "";
}

std::string enclosing_operation() {
  DeadlineRegistry& r = registry();
  const std::lock_guard<std::mutex> lock(r.mutex);
  for (auto guard = r.active.rbegin(); guard != r.active.rend(); ++guard)
    if ((*guard)->enforced()) return (*guard)->operation();
  return "";
}

void report_and_abort(const std::string& text) {
  static std::atomic<bool> printed{false};
  if (!printed.exchange(true)) {
    std::string line = "wallfacer: error: " + text;
    std::replace(line.begin(), line.end(), '\n', ' ');
    if (line.size() > 4000) line = line.substr(0, 3990) + " [...]";  // one write up to PIPE_BUF stays whole
    line += '\n';
    std::fflush(stdout);
    const ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
    (void)written;
  }
  MPI_Abort(MPI_COMM_WORLD, exit_code_aborted);
  std::_Exit(exit_code_aborted);  // MPI_Abort does not return; should it, leave anyway
}

}  // namespace detail

using detail::Clock;

double deadline_seconds() {
  detail::DeadlineRegistry& r = detail::registry();
  const std::lock_guard<std::mutex> lock(r.mutex);
  return r.deadline;
}

void set_deadline_seconds(double seconds) {
  require(std::isfinite(seconds) && seconds >= minimum_deadline_seconds,
          "the deadline must be a finite number of seconds >= " + std::to_string(minimum_deadline_seconds));
  detail::DeadlineRegistry& r = detail::registry();
  const std::lock_guard<std::mutex> lock(r.mutex);
  r.deadline = seconds;
}

double roll_call_seconds(double deadline) { return std::clamp(0.1 * deadline, 0.2, 5.0); }

DeadlineGuard::DeadlineGuard(std::string operation, bool enforced)
    : operation_(std::move(operation)), start_(Clock::now()), enforced_(enforced) {
  {
    detail::DeadlineRegistry& r = detail::registry();
    const std::lock_guard<std::mutex> lock(r.mutex);
    r.active.push_back(this);
  }
  stop_here_if_asked(operation_);
}

DeadlineGuard::~DeadlineGuard() {
  detail::DeadlineRegistry& r = detail::registry();
  const std::lock_guard<std::mutex> lock(r.mutex);
  r.active.erase(std::remove(r.active.begin(), r.active.end(), this), r.active.end());
  r.last_operation = operation_;
  r.last_end = Clock::now();
}

void wait_with_deadline(std::vector<MPI_Request>& requests, const std::string& operation) {
  const DeadlineGuard position(operation, false);  // the deadline is enforced right here
#if WF_SIMGRID
  // Simulated time advances only while a rank blocks; the simulator reports a deadlock itself.
  MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE);
  return;
#endif
  const double deadline = deadline_seconds();
  for (;;) {
    int done = 0;
    MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE);
    if (done) return;
    if (detail::seconds_between(position.start(), Clock::now()) > deadline) break;
    std::this_thread::yield();  // ranks may outnumber cores (oversubscribed tests)
  }
  const std::string during = detail::enclosing_operation();
  end_job_after_timeout("rank " + std::to_string(detail::world_rank_now()) + ": " + operation +
                        (during.empty() ? "" : " (during " + during + ")") + " not complete after " +
                        seconds_text(deadline) + " s");
}

void wait_with_deadline(MPI_Request& request, const std::string& operation) {
  std::vector<MPI_Request> requests{request};
  wait_with_deadline(requests, operation);
  request = requests[0];
}

void note_local_failure(const std::string& message) {
  detail::DeadlineRegistry& r = detail::registry();
  const std::lock_guard<std::mutex> lock(r.mutex);
  r.failure = message;
}

void stop_here_if_asked(const std::string& operation) {
  static const char* setting = std::getenv("WF_FAULT_STOP");
  static std::atomic<bool> used{false};
  if (setting == nullptr || used.load()) return;
  const std::string text(setting);
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos || std::atoi(text.substr(0, colon).c_str()) != detail::world_rank_now()) return;
  if (operation.find(text.substr(colon + 1)) == std::string::npos || used.exchange(true)) return;
  std::raise(SIGSTOP);
}

}  // namespace wf::comm

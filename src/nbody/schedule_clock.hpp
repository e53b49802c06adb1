// How a schedule call accounts for its time: fenced spans per kind of work, added to the
// call's ScheduleTimes (its result) and recorded in a trace when one is given. Phase names are
// neutral to the physics: the interaction, point-to-point waits, collectives, local work.
// Every exposed wait is also filed by what it waits for (WaitKind) and split into bytes in
// flight (at most what the same bytes take alone, comm::TransferCost) and waiting for a
// neighbour (the rest: the peer had not posted yet, or was descheduled).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "comm/communicator.hpp"
#include "comm/transfer_cost.hpp"
#include "core/timer.hpp"
#include "core/trace.hpp"

namespace wf::nbody {

/// \brief What an exposed wait waits for.
enum class WaitKind : int { ring, team_gather, initial_send, team_reduce, key_gradient_return, all_to_all };
inline constexpr int kWaitKinds = 6;
/// \brief Row names of the reports.
inline const char* wait_kind_name(WaitKind kind) {
  constexpr const char* names[kWaitKinds] = {"ring shifts and hops", "team all-gathers", "initial send",
                                             "team reduce-scatters", "dK, dV return",    "all-to-alls"};
  return names[static_cast<int>(kind)];
}
/// \brief Keys of the results file (exposed_<key>_seconds).
inline const char* wait_kind_key(WaitKind kind) {
  constexpr const char* keys[kWaitKinds] = {"ring",        "team_gather",         "initial_send",
                                            "team_reduce", "key_gradient_return", "all_to_all"};
  return keys[static_cast<int>(kind)];
}

/// \brief Exposed waits of one kind.
struct ExposedWait {
  double seconds = 0;    ///< blocked
  double in_flight = 0;  ///< of it, what the bytes explain (comm::TransferCost::in_flight)
  double neighbour() const { return seconds - in_flight; }
  ExposedWait& operator+=(const ExposedWait& o) {
    seconds += o.seconds;
    in_flight += o.in_flight;
    return *this;
  }
};

/// \brief Seconds spent by one schedule call, per kind of work.
struct ScheduleTimes {
  double compute = 0.0;      ///< interactions (fenced)
  double ring_wait = 0.0;    ///< blocked waiting for posted transfers (ring steps, team exchanges)
  double collectives = 0.0;  ///< blocking collectives (the all-to-alls of Ulysses and head groups)
  double other = 0.0;        ///< reorders and local copies
  int ring_transfers = 0;    ///< point-to-point exchanges posted
  double p2p_bytes = 0.0;    ///< bytes those exchanges sent, by the communicator's counters
  std::array<ExposedWait, kWaitKinds> exposed{};  ///< ring_wait + collectives by WaitKind
  /// \brief Every exposed wait together.
  ExposedWait exposed_total() const {
    ExposedWait total;
    for (const ExposedWait& e : exposed) total += e;
    return total;
  }
  ScheduleTimes& operator+=(const ScheduleTimes& o) {
    for (int k = 0; k < kWaitKinds; ++k) exposed[k] += o.exposed[k];
    compute += o.compute;
    ring_wait += o.ring_wait;
    collectives += o.collectives;
    other += o.other;
    ring_transfers += o.ring_transfers;
    p2p_bytes += o.p2p_bytes;
    return *this;
  }
};

/// \brief The clock of one schedule call.
class ScheduleClock {
 public:
  /// \brief `trace` may be null (times only). Spans are fenced globally (every instance).
  explicit ScheduleClock(TraceRecorder* trace) : trace_(trace) {}
  /// \brief Spans fence only the instances they time: compute and local spans the compute
  /// instance, collectives both, waits none (they block on the host). So a transfer in flight
  /// on the communication instance overlaps a compute span instead of being waited for by it.
  /// `cost` is the yardstick of the in-flight share of waits (zero: every wait counts as
  /// waiting for a neighbour).
  ScheduleClock(TraceRecorder* trace, ExecSpace compute, ExecSpace communication, comm::TransferCost cost = {})
      : trace_(trace), instances_{std::move(compute), std::move(communication)}, per_instance_(true), cost_(cost) {}

  /// \brief The interaction (the n-body compute of a step).
  template <class F>
  void compute(F&& f) {
    times_.compute += span(Phase::interaction, Fence::compute, std::forward<F>(f));
  }
  /// \brief A blocking collective over `comm` (its bytes and messages from the shared counters):
  /// exposed communication of kind all_to_all.
  template <class F>
  void collective(const comm::Communicator& comm, F&& f) {
    const comm::TrafficCounters& counters = comm.traffic();
    const double bytes = counters.total_bytes(), messages = counters.total_messages();
    const double seconds = span(Phase::collective, Fence::both, std::forward<F>(f));
    times_.collectives += seconds;
    expose(WaitKind::all_to_all, seconds, counters.total_bytes() - bytes, counters.total_messages() - messages);
  }
  /// \brief Local reorders and copies.
  template <class F>
  void local(F&& f) {
    times_.other += span(Phase::other, Fence::compute, std::forward<F>(f));
  }
  /// \brief Waits for `request` (if any) on `comm`; the time is exposed communication of `kind`,
  /// traced with the step, the first peer and the bytes this process sends in the request. Its
  /// in-flight share is measured against the larger of the bytes sent and received.
  void wait(comm::Communicator& comm, comm::Request& request, WaitKind kind = WaitKind::ring) {
    if (request.empty()) return;
    const comm::Request::State& state = *request.state();
    SpanDetail detail{state.step, -1, 0};
    std::uint64_t received = 0, sends = 0, receives = 0;
    for (const auto& item : state.items) {
      if (detail.peer < 0) detail.peer = comm.world_rank(item.peer);
      (item.kind == comm::Transfer::send ? detail.bytes : received) += item.bytes;
      ++(item.kind == comm::Transfer::send ? sends : receives);
    }
    const double seconds = span(
        Phase::p2p_wait, Fence::none, [&] { comm.wait(request); }, detail);
    times_.ring_wait += seconds;
    expose(kind, seconds, static_cast<double>(std::max(detail.bytes, received)),
           static_cast<double>(std::max(sends, receives)));
  }
  /// \brief One point-to-point exchange posted, sending `bytes`.
  void count_transfer(std::uint64_t bytes) {
    ++times_.ring_transfers;
    times_.p2p_bytes += static_cast<double>(bytes);
  }

  const ScheduleTimes& times() const { return times_; }

 private:
  enum class Fence { none, compute, both };
  void expose(WaitKind kind, double seconds, double bytes, double messages) {
    ExposedWait& e = times_.exposed[static_cast<int>(kind)];
    e.seconds += seconds;
    e.in_flight += cost_.in_flight(seconds, bytes, messages);
  }
  template <class F>
  double span(Phase phase, Fence which, F&& f, SpanDetail detail = {}) {
    if (!per_instance_) return timed_span(trace_, phase, std::forward<F>(f), detail);
    const auto fence = [&] {
      if (which != Fence::none) instances_[0].fence();
      if (which == Fence::both) instances_[1].fence();
    };
    return timed_span_fenced(trace_, phase, fence, std::forward<F>(f), detail);
  }

  TraceRecorder* trace_;
  ExecSpace instances_[2];  ///< compute, communication
  bool per_instance_ = false;
  comm::TransferCost cost_;
  ScheduleTimes times_;
};

}  // namespace wf::nbody

// How a schedule call accounts for its time: fenced spans per kind of work, added to the
// call's ScheduleTimes (its result) and recorded in a trace when one is given. Phase names are
// neutral to the physics: the interaction, point-to-point waits, collectives, local work.
#pragma once

#include <cstdint>

#include "comm/communicator.hpp"
#include "core/timer.hpp"
#include "core/trace.hpp"

namespace wf::nbody {

/// \brief Seconds spent by one schedule call, per kind of work.
struct ScheduleTimes {
  double compute = 0.0;      ///< interactions (fenced)
  double ring_wait = 0.0;    ///< blocked waiting for point-to-point transfers: exposed communication
  double collectives = 0.0;  ///< team all-gathers, reduce-scatters, all-to-alls (blocking)
  double other = 0.0;        ///< reorders and local copies
  int ring_transfers = 0;    ///< point-to-point exchanges posted
  double p2p_bytes = 0.0;    ///< bytes those exchanges sent, by the communicator's counters
  ScheduleTimes& operator+=(const ScheduleTimes& o) {
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
  /// \brief `trace` may be null (times only).
  explicit ScheduleClock(TraceRecorder* trace) : trace_(trace) {}

  /// \brief The interaction (the n-body compute of a step).
  template <class F>
  void compute(F&& f) {
    times_.compute += timed_span(trace_, Phase::interaction, std::forward<F>(f));
  }
  /// \brief A blocking collective.
  template <class F>
  void collective(F&& f) {
    times_.collectives += timed_span(trace_, Phase::collective, std::forward<F>(f));
  }
  /// \brief Local reorders and copies.
  template <class F>
  void local(F&& f) {
    times_.other += timed_span(trace_, Phase::other, std::forward<F>(f));
  }
  /// \brief Waits for `request` (if any) on `comm`; the time is exposed communication, traced
  /// with the step, the first peer and the bytes this process sends in the request.
  void wait(comm::Communicator& comm, comm::Request& request) {
    if (request.empty()) return;
    const comm::Request::State& state = *request.state();
    SpanDetail detail{state.step, -1, 0};
    for (const auto& item : state.items) {
      if (detail.peer < 0) detail.peer = comm.world_rank(item.peer);
      if (item.kind == comm::Transfer::send) detail.bytes += item.bytes;
    }
    times_.ring_wait += timed_span(trace_, Phase::p2p_wait, [&] { comm.wait(request); }, detail);
  }
  /// \brief One point-to-point exchange posted, sending `bytes`.
  void count_transfer(std::uint64_t bytes) {
    ++times_.ring_transfers;
    times_.p2p_bytes += static_cast<double>(bytes);
  }

  const ScheduleTimes& times() const { return times_; }

 private:
  TraceRecorder* trace_;
  ScheduleTimes times_;
};

}  // namespace wf::nbody

// How a schedule call accounts for its time: fenced spans per kind of work, added to the
// call's ScheduleTimes (its result) and recorded in a trace when one is given. Phase names are
// neutral to the physics: the interaction, point-to-point waits, collectives, local work.
#pragma once

#include <cstdint>
#include <utility>

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
  /// \brief `trace` may be null (times only). Spans are fenced globally (every instance).
  explicit ScheduleClock(TraceRecorder* trace) : trace_(trace) {}
  /// \brief Spans fence only the instances they time: compute and local spans the compute
  /// instance, collectives both, waits none (they block on the host). So a transfer in flight
  /// on the communication instance overlaps a compute span instead of being waited for by it.
  ScheduleClock(TraceRecorder* trace, ExecSpace compute, ExecSpace communication)
      : trace_(trace), instances_{std::move(compute), std::move(communication)}, per_instance_(true) {}

  /// \brief The interaction (the n-body compute of a step).
  template <class F>
  void compute(F&& f) {
    times_.compute += span(Phase::interaction, Fence::compute, std::forward<F>(f));
  }
  /// \brief A blocking collective.
  template <class F>
  void collective(F&& f) {
    times_.collectives += span(Phase::collective, Fence::both, std::forward<F>(f));
  }
  /// \brief Local reorders and copies.
  template <class F>
  void local(F&& f) {
    times_.other += span(Phase::other, Fence::compute, std::forward<F>(f));
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
    times_.ring_wait += span(Phase::p2p_wait, Fence::none, [&] { comm.wait(request); }, detail);
  }
  /// \brief One point-to-point exchange posted, sending `bytes`.
  void count_transfer(std::uint64_t bytes) {
    ++times_.ring_transfers;
    times_.p2p_bytes += static_cast<double>(bytes);
  }

  const ScheduleTimes& times() const { return times_; }

 private:
  enum class Fence { none, compute, both };
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
  ScheduleTimes times_;
};

}  // namespace wf::nbody

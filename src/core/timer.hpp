// Wall-clock timing that fences Kokkos before reading the clock, so device work is counted,
// and fenced spans recorded in a rank's trace.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "core/clock.hpp"
#include "core/compat.hpp"
#include "core/trace.hpp"

namespace wf {

/// \brief Seconds since an arbitrary epoch (core/clock.hpp: simulated seconds under SimGrid).
inline double wall_seconds() { return clock_seconds(); }

/// \brief Measures one region; stop() fences the default execution space first.
class Stopwatch {
 public:
  explicit Stopwatch(std::string label) : label_(std::move(label)) { start(); }
  void start() {
    compat::fence(label_ + "::start");
    begin_ = wall_seconds();
  }
  /// \brief Fences, returns the seconds since start().
  double stop() {
    compat::fence(label_ + "::stop");
    return wall_seconds() - begin_;
  }

 private:
  std::string label_;
  double begin_ = 0.0;
};

/// \brief Where a traced span is recorded, besides its phase (schedule step, peer, bytes).
struct SpanDetail {
  std::int32_t ring_step = -1;
  std::int32_t peer = -1;
  std::uint64_t bytes = 0;
};

/// \brief Runs f() between two fences and returns its seconds; records the span as `phase` in
/// `trace` when there is one (a null trace only times).
template <class F>
double timed_span(TraceRecorder* trace, Phase phase, F&& f, SpanDetail detail = {}) {
  Stopwatch watch("Trace::span");
  const double begin = trace ? trace->now() : 0.0;
  std::forward<F>(f)();
  const double elapsed = watch.stop();
  if (trace) trace->record(phase, begin, begin + elapsed, detail.ring_step, detail.peer, detail.bytes);
  return elapsed;
}

}  // namespace wf

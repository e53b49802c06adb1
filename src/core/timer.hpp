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

/// \brief Runs f() between two calls of fence() and returns its seconds; records the span as
/// `phase` in `trace` when there is one (a null trace only times). With a fence of one execution
/// space instance, work queued on other instances (transfers in flight) is neither waited for
/// nor counted.
template <class Fence, class F>
double timed_span_fenced(TraceRecorder* trace, Phase phase, const Fence& fence, F&& f, SpanDetail detail = {}) {
  fence();
  const double start = wall_seconds();
  const double begin = trace ? trace->now() : 0.0;
  std::forward<F>(f)();
  fence();
  const double elapsed = wall_seconds() - start;
  if (trace) trace->record(phase, begin, begin + elapsed, detail.ring_step, detail.peer, detail.bytes);
  return elapsed;
}

/// \brief timed_span_fenced between two global fences (every instance).
template <class F>
double timed_span(TraceRecorder* trace, Phase phase, F&& f, SpanDetail detail = {}) {
  return timed_span_fenced(trace, phase, [] { compat::fence("Trace::span"); }, std::forward<F>(f), detail);
}

}  // namespace wf

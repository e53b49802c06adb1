#include "core/trace.hpp"

#include <stdexcept>

#include "core/clock.hpp"

namespace wf {

namespace {

constexpr std::size_t phase_count = static_cast<std::size_t>(Phase::count_);

/// Names in enum order; stored in the results file, so renaming one changes the file format.
constexpr const char* phase_names[phase_count] = {
    "embedding", "layer_norm", "projection",     "interaction", "p2p_wait", "collective",
    "mlp_other", "loss",       "grad_allreduce", "optimizer",   "other",    "reorder",  "residual",
};

/// Seconds since the clock's (arbitrary) epoch: steady, or simulated under SimGrid.
double steady_seconds() { return clock_seconds(); }

}  // namespace

const char* phase_name(Phase phase) {
  const auto index = static_cast<std::size_t>(phase);
  return index < phase_count ? phase_names[index] : "unknown";
}

TraceRecorder::TraceRecorder(int rank, bool keep_events) : rank_(rank), keep_(keep_events) { reset_origin(); }

double TraceRecorder::now() const { return steady_seconds() - origin_; }

void TraceRecorder::reset_origin() { origin_ = steady_seconds(); }

void TraceRecorder::record(Phase phase, double begin, double end, std::int32_t ring_step, std::int32_t peer,
                           std::uint64_t bytes) {
  const auto index = static_cast<std::size_t>(phase);
  if (index >= phase_count) throw std::invalid_argument("TraceRecorder::record: not a phase");
  totals_[index] += end - begin;
  if (!keep_) return;
  TraceEvent event;
  event.rank = rank_;
  event.step = step_;
  event.layer = layer_;
  event.phase = static_cast<std::int32_t>(phase);
  event.ring_step = ring_step;
  event.peer = peer;
  event.bytes = bytes;
  event.begin = begin;
  event.end = end;
  events_.push_back(event);
}

}  // namespace wf

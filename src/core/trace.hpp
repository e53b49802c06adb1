// The trace of a run: per-phase totals and the events of every phase and transfer of a rank,
// for the HDF5 results file (DESIGN 5). MPI- and Kokkos-free; timing spans is core/timer.hpp.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace wf {

/// \brief What a span of time was spent on. The names are stored in the results file.
enum class Phase : std::int32_t {
  embedding = 0,
  layer_norm,
  projection,   ///< dense q/k/v/o and MLP products
  interaction,  ///< the n-body interaction of a schedule (attention tiles, gravity)
  p2p_wait,     ///< blocked on a point-to-point transfer (exposed communication)
  collective,   ///< team all-gather / reduce-scatter / all-to-all
  mlp_other,          ///< GELU, bias, residual
  loss,
  grad_allreduce,
  optimizer,
  other,
  reorder,   ///< token-major <-> head-major reorders (with the rotary embedding)
  residual,  ///< residual copies and biases
  count_     ///< number of phases
};

/// \brief The name of a phase ("interaction", ...).
const char* phase_name(Phase phase);

/// \brief One event of one rank: a phase span, or a transfer (peer >= 0, bytes > 0).
struct TraceEvent {
  std::int32_t rank = 0;
  std::int32_t step = 0;
  std::int32_t layer = -1;      ///< -1 outside the layers
  std::int32_t phase = 0;       ///< a Phase
  std::int32_t ring_step = -1;  ///< schedule step, -1 when none
  std::int32_t peer = -1;       ///< world rank of the peer, -1 when none
  std::uint64_t bytes = 0;
  double begin = 0.0, end = 0.0;  ///< seconds since the run's time origin
};

/// \brief Collects a rank's events and per-phase totals. Cheap when disabled.
class TraceRecorder {
 public:
  TraceRecorder(int rank, bool keep_events);
  /// \brief Seconds since the origin (a steady clock; ranks sync their origins at start).
  double now() const;
  /// \brief Resets the origin (call right after a barrier so ranks share it).
  void reset_origin();
  /// \brief Adds [begin, end) to the totals and, when events are kept, to the trace.
  void record(Phase phase, double begin, double end, std::int32_t ring_step = -1, std::int32_t peer = -1,
              std::uint64_t bytes = 0);
  /// \brief The step and layer recorded with the next events.
  void set_step(std::int32_t step) { step_ = step; }
  void set_layer(std::int32_t layer) { layer_ = layer; }
  const std::vector<TraceEvent>& events() const { return events_; }
  /// \brief Seconds per phase since the last clear_totals().
  const std::array<double, static_cast<std::size_t>(Phase::count_)>& totals() const { return totals_; }
  void clear_totals() { totals_.fill(0.0); }

 private:
  int rank_;
  bool keep_;
  double origin_ = 0.0;
  std::int32_t step_ = 0, layer_ = -1;
  std::vector<TraceEvent> events_;
  std::array<double, static_cast<std::size_t>(Phase::count_)> totals_{};
};

}  // namespace wf

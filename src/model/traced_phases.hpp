// What the models (GPT, DiT) share to account for their time: every phase of a pass is one
// span in the trace, with the layer it belongs to (core/trace.hpp).
#pragma once

#include <utility>

#include "core/timer.hpp"
#include "core/trace.hpp"

namespace wf::model {

/// \brief A model's phases into a trace, when there is one.
class TracedPhases {
 protected:
  explicit TracedPhases(TraceRecorder* trace) : trace_(trace) {}

  /// Runs f() as one span of `which` in the trace (when there is one).
  template <class F>
  void phase(Phase which, F&& f) {
    timed_span(trace_, which, std::forward<F>(f));
  }
  /// The layer the following spans belong to (-1: none).
  void set_layer(int layer) {
    if (trace_) trace_->set_layer(layer);
  }

  TraceRecorder* trace_;  ///< may be null
};

}  // namespace wf::model

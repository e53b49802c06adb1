// Flows through one port, started at different times: each first waits the latency, then
// shares the bandwidth equally with the others moving at the same time (max-min on one link,
// what SimGrid's CM02 model does). The cost model uses it for the backward ring, where the
// accumulator's hops and the read-only shifts overlap with a step's offset.
#pragma once

#include <vector>

namespace wf::perf {

class SharedPort {
 public:
  /// \brief A port of `bytes_per_second` whose flows each wait `latency` seconds first.
  SharedPort(double latency, double bytes_per_second) : latency_(latency), rate_(bytes_per_second) {}
  /// \brief Starts a flow of `bytes` at `time` (not before an earlier post or finish); its id.
  int post(double time, double bytes);
  /// \brief When flow `id` has arrived.
  double finish(int id);

 private:
  struct Flow {
    double moving_from;  ///< start + latency
    double remaining;
    double end = -1.0;
  };
  /// Moves the flows on to `time`, or to the next event before it; returns the time reached.
  double step_towards(double time);
  std::vector<Flow> flows_;
  double latency_, rate_, now_ = 0.0;
};

}  // namespace wf::perf

// The cost model of one attention layer (no MPI: arithmetic over the machine file and the
// grid). Communication is alpha-beta per link class: a set of flows that start together ends
// when the slowest has arrived, each flow taking latency + the bytes that cross its busiest
// resource / that resource's bandwidth (resources: each device's port into its node switch,
// each device's network port, each node's NICs, the star's backbone). That is exact for
// flows of one size sharing one bottleneck (max-min fairness, what SimGrid simulates), and
// the phases follow the schedules' code step by step (nbody/multi_ring*.hpp, ulysses.hpp):
// ring steps overlap their transfers with their compute, team exchanges and collectives block. The bytes of
// every flow come from attention_sends() (traffic_model.hpp), the counters' formulas.
#pragma once

#include <array>
#include <vector>

#include "comm/process_grid.hpp"
#include "config/machine.hpp"
#include "core/enums.hpp"
#include "perf/traffic_model.hpp"

namespace wf::perf {

/// \brief How `ranks` processes sit on a machine: nodes filled in rank order.
struct Placement {
  int ranks = 1;
  int ranks_per_node = 1;
  double ranks_per_device = 1.0;  ///< > 1 when oversubscribed: rates and ports are shared
};

/// \brief ranks over the machine's nodes (ranks_per_node = devices_per_node, or more when
/// there are more ranks than devices).
Placement place_ranks(const config::Machine& machine, int ranks);

/// \brief One transfer of a phase: `bytes` from world rank `from` to `to`.
struct Flow {
  int from, to;
  double bytes;
};

/// \brief The network of a machine with ranks placed on it.
class NetworkModel {
 public:
  NetworkModel(const config::Machine& machine, const Placement& placement);
  int node_of(int rank) const { return rank / placement_.ranks_per_node; }
  comm::LinkClass link(int a, int b) const {
    return node_of(a) == node_of(b) ? comm::LinkClass::same_node : comm::LinkClass::other_node;
  }
  /// \brief Seconds until every flow of a set started together has arrived (0 for none);
  /// `shared` (if given) is set when a node's NICs or the backbone carried flows of more than
  /// one rank (the model is exact without such sharing, approximate with it).
  double phase_seconds(const std::vector<Flow>& flows, bool* shared = nullptr) const {
    return phase(flows, shared).seconds;
  }
  /// \brief phase_seconds() and the latency of the flow that arrives last.
  struct PhaseTime {
    double seconds = 0.0, latency = 0.0;
  };
  PhaseTime phase(const std::vector<Flow>& flows, bool* shared = nullptr) const;
  const Placement& placement() const { return placement_; }
  const config::Machine& machine() const { return machine_; }

 private:
  const config::Machine& machine_;
  Placement placement_;
};

/// \brief The attention layer to cost: sizes, mask, and the scalar sent on the wire.
struct AttentionShape {
  AttentionTrafficShape traffic;
  bool causal = true;
};

/// \brief One plan of the tuning space.
struct Plan {
  Schedule schedule = Schedule::ring;
  int team_size = 1;
  Arrangement arrangement = Arrangement::team_major;
  RotateSide rotate = RotateSide::query;
};

/// \brief Predicted seconds of one layer (the slowest rank's path) and its traffic.
struct AttentionCost {
  double forward = 0, backward = 0;                    ///< seconds
  double forward_compute = 0, backward_compute = 0;    ///< the attention compute on the path
  std::array<double, 2> bytes{}, messages{};           ///< per rank (the busiest), fwd + bwd, per link class
  bool contention = false;                             ///< some link was shared (the model is then approximate)
  double exposed() const { return forward + backward - forward_compute - backward_compute; }
};

/// \brief The cost of one attention layer, forward and backward, with `plan` on `network`.
/// Rates are FLOP/s per device; ranks sharing a device share its rate.
AttentionCost predict_attention_cost(const Plan& plan, const AttentionShape& shape, const NetworkModel& network,
                                     const config::Machine& machine);

/// \brief The grid of a plan on `ranks` processes (throws wf::Error when c^2 does not divide it).
comm::ProcessGrid plan_grid(const Plan& plan, int ranks);

}  // namespace wf::perf

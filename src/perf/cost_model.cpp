#include "perf/cost_model.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "perf/flops.hpp"
#include "perf/shared_port.hpp"

namespace wf::perf {

Placement place_ranks(const config::Machine& machine, int ranks) {
  Placement p;
  p.ranks = ranks;
  const int per_node = (ranks + machine.nodes - 1) / machine.nodes;  // ceil: oversubscribed nodes
  p.ranks_per_node = std::max(1, std::min(ranks, std::max(machine.devices_per_node, per_node)));
  p.ranks_per_device = std::max(1.0, static_cast<double>(p.ranks_per_node) / machine.devices_per_node);
  return p;
}

NetworkModel::NetworkModel(const config::Machine& machine, const Placement& placement)
    : machine_(machine), placement_(placement) {}

namespace {

/// The resources of one flow: indices into a flat table (ports per rank, then NICs per node,
/// then the backbone) and the bandwidth of each.
struct FlowResources {
  int count = 0;
  int index[5];
  double bytes_per_second[5];
  void add(int i, double bandwidth) {
    index[count] = i;
    bytes_per_second[count++] = bandwidth;
  }
};

}  // namespace

NetworkModel::PhaseTime NetworkModel::phase(const std::vector<Flow>& flows, bool* shared) const {
  if (flows.empty()) return {};
  const int P = placement_.ranks, nodes = node_of(P - 1) + 1;
  const double share = placement_.ranks_per_device;
  const double intra = machine_.intra_node.bandwidth_gbs * 1e9 / share, port = machine_.device_network_gbs() * 1e9 / share;
  const double nic = machine_.node_network_gbs() * 1e9, spine = machine_.switch_bandwidth_gbs * 1e9;
  // Table: [0, 4P) ports (intra out, intra in, network out, network in), [4P, 4P + 2 nodes) NICs, then the backbone.
  const auto resources = [&](const Flow& f) {
    FlowResources r;
    if (link(f.from, f.to) == comm::LinkClass::same_node) {
      r.add(f.from, intra);
      r.add(P + f.to, intra);
      return r;
    }
    r.add(2 * P + f.from, port);
    r.add(3 * P + f.to, port);
    r.add(4 * P + node_of(f.from), nic);
    r.add(4 * P + nodes + node_of(f.to), nic);
    if (machine_.topology == config::NodeTopology::star) r.add(4 * P + 2 * nodes, spine);
    return r;
  };
  std::vector<double> load(std::size_t(4 * P + 2 * nodes + 1), 0.0);
  std::vector<int> sender(load.size(), -1);  // one rank sending through it, or -2 for several
  for (const Flow& f : flows) {
    const FlowResources r = resources(f);
    for (int k = 0; k < r.count; ++k) {
      load[std::size_t(r.index[k])] += f.bytes;
      int& who = sender[std::size_t(r.index[k])];
      who = who == -1 || who == f.from ? f.from : -2;
    }
  }
  PhaseTime slowest;
  for (const Flow& f : flows) {
    const FlowResources r = resources(f);
    double busiest = 0.0;
    bool bound_by_shared = false;  // the flow's bottleneck is a NIC or backbone other ranks use too
    for (int k = 0; k < r.count; ++k) {
      const double drain = load[std::size_t(r.index[k])] / r.bytes_per_second[k];
      // (a tie with the port is no sharing: equal flows through NICs as fast as their ports)
      if (drain > busiest * (1 + 1e-12)) bound_by_shared = r.index[k] >= 4 * P && sender[std::size_t(r.index[k])] == -2;
      busiest = std::max(busiest, drain);
    }
    if (shared && bound_by_shared) *shared = true;
    const bool same = link(f.from, f.to) == comm::LinkClass::same_node;
    const double latency = (same ? machine_.intra_node.latency_us : machine_.inter_node_latency_us) * 1e-6;
    if (latency + busiest > slowest.seconds) slowest = {latency + busiest, latency};
  }
  return slowest;
}

comm::ProcessGrid plan_grid(const Plan& plan, int ranks) {
  return comm::ProcessGrid(ranks, plan.schedule == Schedule::wallfacer ? plan.team_size : 1, plan.arrangement);
}

namespace {

/// The flows of every rank, grouped by (phase, index), from attention_sends().
using PhaseFlows = std::map<std::pair<SendPhase, int>, std::vector<Flow>>;

PhaseFlows group_flows(const Plan& plan, const comm::ProcessGrid& grid, const AttentionShape& shape, bool forward) {
  PhaseFlows phases;
  for (int rank = 0; rank < grid.processes(); ++rank)
    for (const PlannedSend& s : attention_sends(plan.schedule, plan.rotate, grid, shape.traffic, rank, forward, !forward))
      phases[{s.phase, s.index}].push_back({rank, s.peer, s.elements * double(shape.traffic.scalar_bytes)});
  return phases;
}

/// Walks a layer's phases in the schedules' order, adding up seconds.
struct LayerClock {
  const NetworkModel& network;
  PhaseFlows phases;
  double seconds = 0, compute = 0;
  bool contention = false;

  std::vector<Flow> flows(SendPhase phase, int index) const {
    const auto it = phases.find({phase, index});
    return it == phases.end() ? std::vector<Flow>() : it->second;
  }
  /// Blocking transfers (collective steps, sends waited on at once).
  void block(const std::vector<Flow>& f) { seconds += network.phase_seconds(f, &contention); }
  /// Compute with transfers in flight: the step ends when both are done.
  void overlapped(double compute_seconds, const std::vector<Flow>& in_flight) {
    seconds += std::max(compute_seconds, network.phase_seconds(in_flight, &contention));
    compute += compute_seconds;
  }
};

std::vector<Flow> joined(std::vector<Flow> a, const std::vector<Flow>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// Seconds of the slowest rank's attention compute at one ring step.
struct StepCompute {
  const comm::ProcessGrid& grid;
  const AttentionShape& shape;
  double flops_per_pair, rate;
  /// `queries(rank)` and `keys(rank)` name the team blocks a rank interacts at this step.
  template <class Queries, class Keys>
  double slowest(Queries&& queries, Keys&& keys) const {
    double pairs = 0.0;
    for (int r = 0; r < grid.processes(); ++r)
      pairs = std::max(pairs, team_block_pairs(shape.traffic.seq_len, grid.processes(), grid.team_size(), shape.causal,
                                               queries(r), keys(r)));
    return pairs * flops_per_pair / rate;
  }
};

double flops_per_pair(const AttentionShape& shape, bool forward) {
  const double pairs_to_flops = forward ? attention_forward_flops(1.0, shape.traffic.heads, shape.traffic.head_dim)
                                        : attention_backward_flops(1.0, shape.traffic.heads, shape.traffic.head_dim);
  return pairs_to_flops;
}

void multi_ring_forward(LayerClock& clock, const comm::ProcessGrid& grid, const StepCompute& compute) {
  const int G = grid.ring_length();
  // The team all-gather and the initial send are posted together, then waited for.
  clock.block(joined(clock.flows(SendPhase::gather_targets, 0), clock.flows(SendPhase::initial_send, 0)));
  for (int s = 0; s < G; ++s) {
    const double seconds = compute.slowest([&](int r) { return grid.coordinates(r).team; },
                                           [&](int r) { return grid.key_block_after(r, s); });
    clock.overlapped(seconds, clock.flows(SendPhase::ring_shift, s + 1));
  }
  clock.block(clock.flows(SendPhase::reduce_results, 0));
}

/// The backward's G steps (multi_ring_backward.hpp's rotate()): at step s the read-only shift
/// serving s + 1 starts with the step, the compute runs, the accumulator hop of step s - 1 is
/// waited for, the hop of step s starts, then the shift is waited for. Hops thus start when the
/// previous one has arrived and overlap the next step's shift: both go to the next process of
/// the sub-ring and share its port (SharedPort, at the rate a shift gets in the network model).
/// Returns when the last hop starts.
double backward_ring(LayerClock& clock, const comm::ProcessGrid& grid, RotateSide side, const StepCompute& compute) {
  const int G = grid.ring_length();
  const auto bytes = [](const std::vector<Flow>& f) { return f.empty() ? 0.0 : f.front().bytes; };
  const auto probe = clock.flows(SendPhase::backward_shift, 1);
  const NetworkModel::PhaseTime alone = clock.network.phase(probe, &clock.contention);
  SharedPort port(alone.latency, bytes(probe) / std::max(alone.seconds - alone.latency, 1e-300));
  double start = clock.seconds, hop_posted = 0.0;
  int hop = -1;
  for (int s = 0; s < G; ++s) {
    const auto holder = [&](int r) { return grid.ring_neighbour(r, -s); };
    const double seconds =
        side == RotateSide::query
            ? compute.slowest([&](int r) { return grid.coordinates(holder(r)).team; },
                              [&](int r) { return grid.key_block_after(r, G - 1); })
            : compute.slowest([&](int r) { return grid.coordinates(r).team; },
                              [&](int r) { return grid.key_block_after(holder(r), G - 1); });
    const int shift = s + 1 < G ? port.post(start, bytes(clock.flows(SendPhase::backward_shift, s + 1))) : -1;
    clock.compute += seconds;
    hop_posted = std::max(start + seconds, hop < 0 ? 0.0 : port.finish(hop));
    if (s + 1 < G) hop = port.post(hop_posted, bytes(clock.flows(SendPhase::backward_accumulator, s)));
    start = std::max(hop_posted, shift < 0 ? 0.0 : port.finish(shift));
  }
  return hop_posted;
}

void multi_ring_backward(LayerClock& clock, const comm::ProcessGrid& grid, RotateSide side, const StepCompute& compute) {
  const int G = grid.ring_length();
  clock.block(clock.flows(SendPhase::gather_backward_inputs, 0));
  if (G > 1)
    clock.seconds = backward_ring(clock, grid, side, compute);
  else  // one step, nothing travels
    clock.overlapped(compute.slowest([&](int r) { return grid.coordinates(r).team; },
                                     [&](int r) { return grid.key_block_after(r, 0); }),
                     {});
  const auto last_hop = clock.flows(SendPhase::backward_accumulator, G - 1);
  const auto home = clock.flows(SendPhase::key_gradient_return, 0);
  const auto reduce = clock.flows(SendPhase::reduce_target_grads, 0);
  if (side == RotateSide::query) {
    clock.block(joined(last_hop, home));  // the return overlaps the last hop, which carries dQ
    clock.block(reduce);
  } else {
    clock.block(last_hop);  // the key gradients are what arrives
    clock.block(joined(home, reduce));
  }
}

/// Ulysses: all-to-alls around one whole-sequence interaction of heads / P heads.
void ulysses(LayerClock& clock, const AttentionShape& shape, int P, double flops_per_pair_all_heads, double rate,
             bool forward) {
  const double pairs = attention_pairs(shape.traffic.seq_len, shape.causal);
  const double seconds = pairs * flops_per_pair_all_heads / P / rate;
  const int first = forward ? 0 : 3;
  clock.block(clock.flows(SendPhase::all_to_all, first));
  if (forward) clock.block(clock.flows(SendPhase::all_to_all, 1));
  clock.overlapped(seconds, {});
  clock.block(clock.flows(SendPhase::all_to_all, forward ? 2 : 4));
  if (!forward) clock.block(clock.flows(SendPhase::all_to_all, 5));
}

/// The busiest rank's bytes and messages per link class.
void add_traffic(AttentionCost& cost, const Plan& plan, const comm::ProcessGrid& grid, const AttentionShape& shape,
                 const NetworkModel& network) {
  const LinkOf link = [&](int a, int b) { return network.link(a, b); };
  for (int rank = 0; rank < grid.processes(); ++rank) {
    const Traffic t = predict_attention_traffic(plan.schedule, plan.rotate, grid, shape.traffic, rank, link, true, true);
    for (int k = 0; k < 2; ++k) {
      cost.bytes[k] = std::max(cost.bytes[k], double(t.bytes[k]));
      cost.messages[k] = std::max(cost.messages[k], double(t.messages[k]));
    }
  }
}

}  // namespace

AttentionCost predict_attention_cost(const Plan& plan, const AttentionShape& shape, const NetworkModel& network,
                                     const config::Machine& machine) {
  const comm::ProcessGrid grid = plan_grid(plan, network.placement().ranks);
  const double share = network.placement().ranks_per_device;
  const double forward_rate = machine.attention_forward_tflops * 1e12 / share;
  const double backward_rate = machine.attention_backward_tflops * 1e12 / share;
  AttentionCost cost;
  LayerClock forward{network, group_flows(plan, grid, shape, true)};
  LayerClock backward{network, group_flows(plan, grid, shape, false)};
  if (plan.schedule == Schedule::ulysses) {
    ulysses(forward, shape, grid.processes(), flops_per_pair(shape, true), forward_rate, true);
    ulysses(backward, shape, grid.processes(), flops_per_pair(shape, false), backward_rate, false);
  } else {
    multi_ring_forward(forward, grid, StepCompute{grid, shape, flops_per_pair(shape, true), forward_rate});
    multi_ring_backward(backward, grid, plan.rotate, StepCompute{grid, shape, flops_per_pair(shape, false), backward_rate});
  }
  cost.forward = forward.seconds;
  cost.backward = backward.seconds;
  cost.forward_compute = forward.compute;
  cost.backward_compute = backward.compute;
  cost.contention = forward.contention || backward.contention;
  add_traffic(cost, plan, grid, shape, network);
  return cost;
}

}  // namespace wf::perf

#include "perf/traffic_model.hpp"

#include <vector>

#include "core/error.hpp"
#include "kernels/head_partition.hpp"

namespace wf::perf {
namespace {

/// Lists the sends of one process, in posting order.
struct SendList {
  int rank;
  std::vector<PlannedSend> sends;
  void send(SendPhase phase, int index, int peer, double elements) {
    if (peer == rank || elements <= 0) return;
    sends.push_back({phase, index, peer, elements});
  }
  /// Posted team all-gather or reduce-scatter (nbody/team_collectives.hpp): one message of
  /// `chunk` elements to every other member, all at once, starting after this rank.
  void team_exchange(SendPhase phase, const comm::ProcessGrid& grid, double chunk) {
    const auto me = grid.coordinates(rank);
    const int c = grid.team_size();
    for (int d = 1; d < c; ++d) send(phase, 0, grid.rank_of(me.team, (me.local + d) % c), chunk);
  }
  /// Pairwise all-to-all over `group` (world ranks): one message of `chunk` elements to every
  /// other member, starting after this rank (the order the communicator posts them).
  void all_to_all(int index, const std::vector<int>& group, double chunk) {
    const int size = static_cast<int>(group.size());
    int me = 0;
    while (me < size && group[me] != rank) ++me;
    for (int d = 1; d < size; ++d) send(SendPhase::all_to_all, index, group[(me + d) % size], chunk);
  }
};

/// Per-token widths (scalars) of the blocks the schedules move.
struct Widths {
  double hq, hkv, heads;
  explicit Widths(const AttentionTrafficShape& s)
      : hq(double(s.heads) * s.head_dim), hkv(double(s.kv_heads) * s.head_dim), heads(s.heads) {}
};

/// Per peer of a head all-to-all over u ranks: the own n tokens of the peer's heads and kv slots
/// (kv heads copied when there are fewer than u).
struct HeadShares {
  double q, kv, lse;
  HeadShares(const AttentionTrafficShape& s, int u, double n) {
    const kernels::HeadPartition split{s.heads, s.kv_heads, u};
    q = double(split.query_heads()) * s.head_dim * n;   // Q, O, dO, dQ of the peer's heads
    kv = double(split.kv_slots()) * s.head_dim * n;     // K or V of the peer's kv slots
    lse = double(split.query_heads()) * n;
  }
};

/// The head all-to-alls of Ulysses over `group`, forward indices 0..2, backward 3..5 (the same
/// whether or not the forward is listed): `part` 0 the ones before the attention, 1 after it.
void head_all_to_alls(SendList& r, const std::vector<int>& group, const HeadShares& h, bool forward, int part) {
  if (forward && part == 0) {
    r.all_to_all(0, group, h.q);         // Q
    r.all_to_all(1, group, 2 * h.kv);    // K, V
  } else if (forward) {
    r.all_to_all(2, group, h.q + h.lse);  // O, lse back
  } else if (part == 0) {
    r.all_to_all(3, group, h.q);  // dO
  } else {
    r.all_to_all(4, group, h.q);       // dQ back
    r.all_to_all(5, group, 2 * h.kv);  // dK, dV back (copies summed at home)
  }
}

void multi_ring_forward_sends(SendList& r, const comm::ProcessGrid& grid, double n, const Widths& w) {
  const int c = grid.team_size(), G = grid.ring_length();
  const double team_sources = 2 * w.hkv * c * n;  // K, V of a team block
  r.team_exchange(SendPhase::gather_targets, grid, w.hq * n);
  // The direct initial send: the own K, V shard to each rank that starts with this team's block.
  for (const int holder : grid.initial_block_holders(grid.coordinates(r.rank).team))
    r.send(SendPhase::initial_send, 0, holder, 2 * w.hkv * n);
  for (int s = 1; s < G; ++s) r.send(SendPhase::ring_shift, s, grid.ring_neighbour(r.rank, 1), team_sources);
  r.team_exchange(SendPhase::reduce_results, grid, (w.hq + w.heads) * n);
}

void multi_ring_backward_sends(SendList& r, RotateSide side, const comm::ProcessGrid& grid, double n,
                               const Widths& w) {
  const int c = grid.team_size(), G = grid.ring_length();
  const int next = grid.ring_neighbour(r.rank, 1);
  const double team_sources = 2 * w.hkv * c * n;
  r.team_exchange(SendPhase::gather_backward_inputs, grid, (w.hq + 2 * w.heads) * n);
  const double query_read_only = (2 * w.hq + 2 * w.heads) * c * n, query_grad = w.hq * c * n;
  const double read_only = side == RotateSide::query ? query_read_only : team_sources;
  const double accumulator = side == RotateSide::query ? query_grad : team_sources;
  // Posting order inside a step: the shift serving step s + 1, then the hop after step s.
  for (int s = 0; s < G; ++s) {
    if (s + 1 < G) r.send(SendPhase::backward_shift, s + 1, next, read_only);
    if (G > 1) r.send(SendPhase::backward_accumulator, s, next, accumulator);
  }
  // dK, dV home in shards: member a of the held block's team gets shard a (no reduce-scatter).
  const int block_team = grid.key_block_after(r.rank, G - 1);
  for (int a = 0; a < c; ++a)
    r.send(SendPhase::key_gradient_return, 0, grid.rank_of(block_team, a), 2 * w.hkv * n);
  r.team_exchange(SendPhase::reduce_target_grads, grid, w.hq * n);
}

/// The multi-ring sends of ring rank `ring_rank`, its peers mapped to world ranks by `world_of`.
template <class WorldOf>
void multi_ring_sends(SendList& world_list, RotateSide side, const comm::ProcessGrid& grid, int ring_rank, double n,
                      const Widths& w, bool forward, WorldOf world_of) {
  SendList ring{ring_rank, {}};
  if (forward)
    multi_ring_forward_sends(ring, grid, n, w);
  else
    multi_ring_backward_sends(ring, side, grid, n, w);
  for (const PlannedSend& s : ring.sends) world_list.send(s.phase, s.index, world_of(s.peer), s.elements);
}

/// The hybrid: Ulysses inside the head group, WallFacer of the ring group (heads / u query
/// heads and their kv slots over all N tokens) between the all-to-alls.
void hybrid_sends(SendList& r, RotateSide side, const comm::ProcessGrid& ring_grid, const comm::HeadGroups& heads,
                  const AttentionTrafficShape& shape, bool forward, bool backward) {
  const int u = heads.group_size(), head_rank = heads.head_rank(r.rank), ring_rank = heads.ring_rank(r.rank);
  std::vector<int> group;
  for (int h = 0; h < u; ++h) group.push_back(heads.rank_of(h, ring_rank));
  const double n = static_cast<double>(shape.seq_len) / heads.processes();
  const HeadShares shares(shape, u, n);
  const kernels::HeadPartition split{shape.heads, shape.kv_heads, u};
  const Widths ring_widths(AttentionTrafficShape{shape.seq_len, split.query_heads(), split.kv_slots(), shape.head_dim,
                                                 shape.scalar_bytes});
  const double ring_n = static_cast<double>(shape.seq_len) / heads.ring_processes();
  const auto world_of = [&](int ring_peer) { return heads.rank_of(head_rank, ring_peer); };
  for (const bool fwd : {true, false}) {
    if (fwd ? !forward : !backward) continue;
    head_all_to_alls(r, group, shares, fwd, 0);
    multi_ring_sends(r, side, ring_grid, ring_rank, ring_n, ring_widths, fwd, world_of);
    head_all_to_alls(r, group, shares, fwd, 1);
  }
}

}  // namespace

Traffic& Traffic::operator+=(const Traffic& other) {
  for (int cls = 0; cls < 2; ++cls) {
    bytes[cls] += other.bytes[cls];
    messages[cls] += other.messages[cls];
  }
  return *this;
}

std::vector<PlannedSend> attention_sends(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                         const std::optional<comm::HeadGroups>& heads,
                                         const AttentionTrafficShape& shape, int rank, bool forward, bool backward) {
  SendList list{rank, {}};
  if (kind == Schedule::ulysses_wallfacer) {
    require(heads.has_value(), "the traffic of ulysses-wallfacer needs its head groups");
    hybrid_sends(list, side, grid, *heads, shape, forward, backward);
    return list.sends;
  }
  const int P = grid.processes();
  const double n = static_cast<double>(shape.seq_len) / P;  // shard tokens
  if (kind == Schedule::ulysses) {
    std::vector<int> everyone;
    for (int p = 0; p < P; ++p) everyone.push_back(p);
    const HeadShares shares(shape, P, n);
    for (const bool fwd : {true, false}) {
      if (fwd ? !forward : !backward) continue;
      head_all_to_alls(list, everyone, shares, fwd, 0);
      head_all_to_alls(list, everyone, shares, fwd, 1);
    }
    return list.sends;
  }
  const Widths widths(shape);
  if (forward) multi_ring_forward_sends(list, grid, n, widths);
  if (backward) multi_ring_backward_sends(list, side, grid, n, widths);
  return list.sends;
}

std::vector<PlannedSend> attention_sends(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                         const AttentionTrafficShape& shape, int rank, bool forward, bool backward) {
  return attention_sends(kind, side, grid, std::nullopt, shape, rank, forward, backward);
}

Traffic predict_attention_traffic(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                  const std::optional<comm::HeadGroups>& heads, const AttentionTrafficShape& shape,
                                  int rank, const LinkOf& link, bool forward, bool backward) {
  Traffic traffic;
  for (const PlannedSend& s : attention_sends(kind, side, grid, heads, shape, rank, forward, backward)) {
    const int cls = static_cast<int>(link(rank, s.peer));
    traffic.bytes[cls] += static_cast<std::uint64_t>(s.elements) * shape.scalar_bytes;
    traffic.messages[cls] += 1;
  }
  return traffic;
}

Traffic predict_attention_traffic(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                  const AttentionTrafficShape& shape, int rank, const LinkOf& link, bool forward,
                                  bool backward) {
  return predict_attention_traffic(kind, side, grid, std::nullopt, shape, rank, link, forward, backward);
}

double closed_form_forward_elements(Schedule kind, int processes, int team_size,
                                    const AttentionTrafficShape& shape, bool self_among_initial_targets) {
  const double P = processes, c = team_size, N = static_cast<double>(shape.seq_len);
  const double H = double(shape.heads) * shape.head_dim, Hkv = double(shape.kv_heads) * shape.head_dim;
  if (kind == Schedule::ulysses) {
    const double slots = kernels::HeadPartition{shape.heads, shape.kv_heads, processes}.kv_slots();
    return (P - 1) * (2 * H + shape.heads + 2 * slots * shape.head_dim * P) * N / (P * P);
  }
  const double G = P / (c * c);
  const double collectives = (c - 1) * (H + H + shape.heads) * N / P;  // Q gathered, O and lse reduced
  const double initial = (c - (self_among_initial_targets ? 1 : 0)) * 2 * N * Hkv / P;  // own shard, c ways
  const double point_to_point = (G - 1) * 2 * c * N * Hkv / P + initial;
  return collectives + point_to_point;
}

double closed_form_hybrid_forward_elements(int processes, int head_group_size, int team_size,
                                           const AttentionTrafficShape& shape, bool self_among_initial_targets) {
  const int u = head_group_size;
  const kernels::HeadPartition split{shape.heads, shape.kv_heads, u};
  const double n = static_cast<double>(shape.seq_len) / processes, d = shape.head_dim;
  const double head_part = (u - 1) * (2 * split.query_heads() * d + split.query_heads() + 2 * split.kv_slots() * d) * n;
  const AttentionTrafficShape ring_shape{shape.seq_len, split.query_heads(), split.kv_slots(), shape.head_dim,
                                         shape.scalar_bytes};
  return head_part + closed_form_forward_elements(Schedule::wallfacer, processes / u, team_size, ring_shape,
                                                  self_among_initial_targets);
}

}  // namespace wf::perf

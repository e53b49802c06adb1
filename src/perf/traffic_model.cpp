#include "perf/traffic_model.hpp"

#include <vector>

#include "core/error.hpp"
#include "kernels/head_partition.hpp"

namespace wf::perf {
namespace {

/// Accumulates sends of one process.
struct Recorder {
  int rank;
  const LinkOf& link;
  Traffic traffic;
  void send(int peer, double elements, std::size_t scalar_bytes) {
    if (peer == rank || elements <= 0) return;
    const int cls = static_cast<int>(link(rank, peer));
    traffic.bytes[cls] += static_cast<std::uint64_t>(elements) * scalar_bytes;
    traffic.messages[cls] += 1;
  }
  /// Ring collective over the team (all-gather or reduce-scatter): c - 1 messages of
  /// `chunk` elements to the next member of the team.
  void team_ring(const comm::ProcessGrid& grid, double chunk, std::size_t scalar_bytes) {
    const auto me = grid.coordinates(rank);
    const int c = grid.team_size();
    if (c == 1) return;
    const int next = grid.rank_of(me.team, (me.local + 1) % c);
    for (int s = 0; s < c - 1; ++s) send(next, chunk, scalar_bytes);
  }
  /// Pairwise all-to-all over `group` (ranks): one message of `chunk` elements to every other member.
  void all_to_all(const std::vector<int>& group, double chunk, std::size_t scalar_bytes) {
    for (const int peer : group) send(peer, chunk, scalar_bytes);
  }
};

/// The all-to-alls between sequence shards and head shards inside `group` (its members'
/// ranks): per peer, the part of the own n tokens for the peer's heads and kv slots.
void head_all_to_alls(Recorder& r, const std::vector<int>& group, const AttentionTrafficShape& shape, double n,
                      bool forward, bool backward) {
  const kernels::HeadPartition split{shape.heads, shape.kv_heads, static_cast<int>(group.size())};
  const double hq = double(split.query_heads()) * shape.head_dim * n;           // Q, dO, dQ of the peer's heads
  const double hkv = double(split.kv_slots()) * shape.head_dim * n;             // K or V of the peer's kv slots
  const double lse = double(split.query_heads()) * n;
  const std::size_t b = shape.scalar_bytes;
  if (forward) {
    r.all_to_all(group, hq, b);            // Q
    r.all_to_all(group, 2 * hkv, b);       // K, V
    r.all_to_all(group, hq + lse, b);      // O, lse back
  }
  if (backward) {
    r.all_to_all(group, hq, b);       // dO
    r.all_to_all(group, hq, b);       // dQ back
    r.all_to_all(group, 2 * hkv, b);  // dK, dV back (copies summed at home)
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

Traffic multi_ring_traffic(RotateSide side, const comm::ProcessGrid& grid, const AttentionTrafficShape& shape,
                           int rank, const LinkOf& link, bool forward, bool backward) {
  Recorder r{rank, link, {}};
  const std::size_t b = shape.scalar_bytes;
  const int c = grid.team_size(), G = grid.ring_length();
  const double n = static_cast<double>(shape.seq_len) / grid.processes();  // shard tokens
  const double hq = double(shape.heads) * shape.head_dim, hkv = double(shape.kv_heads) * shape.head_dim;
  const double heads = shape.heads;
  const double team_sources = 2 * hkv * c * n;  // K, V of a team block
  const int next = grid.ring_neighbour(rank, 1);
  if (forward) {
    r.team_ring(grid, hq * n, b);        // all-gather Q
    r.team_ring(grid, 2 * hkv * n, b);   // all-gather K, V
    r.send(grid.initial_send_target(rank), team_sources, b);
    for (int s = 1; s < G; ++s) r.send(next, team_sources, b);
    r.team_ring(grid, (hq + heads) * n, b);  // reduce-scatter O, lse
  }
  if (backward) {
    r.team_ring(grid, (hq + 2 * heads) * n, b);  // all-gather dO, lse, D
    const double query_read_only = (2 * hq + 2 * heads) * c * n, query_grad = hq * c * n;
    const double read_only = side == RotateSide::query ? query_read_only : team_sources;
    const double accumulator = side == RotateSide::query ? query_grad : team_sources;
    for (int s = 1; s < G; ++s) r.send(next, read_only, b);
    if (G > 1)
      for (int s = 0; s < G; ++s) r.send(next, accumulator, b);
    r.team_ring(grid, hq * n, b);  // reduce-scatter dQ
    r.send(grid.key_gradient_return_target(rank), team_sources, b);  // dK, dV home
    r.team_ring(grid, 2 * hkv * n, b);  // reduce-scatter dK, dV
  }
  return r.traffic;
}

Traffic ulysses_traffic(int processes, const AttentionTrafficShape& shape, int rank, const LinkOf& link,
                        bool forward, bool backward) {
  Recorder r{rank, link, {}};
  std::vector<int> everyone;
  for (int p = 0; p < processes; ++p) everyone.push_back(p);
  head_all_to_alls(r, everyone, shape, static_cast<double>(shape.seq_len) / processes, forward, backward);
  return r.traffic;
}

Traffic ulysses_wallfacer_traffic(RotateSide side, const comm::ProcessGrid& ring_grid, const comm::HeadGroups& heads,
                                  const AttentionTrafficShape& shape, int rank, const LinkOf& link, bool forward,
                                  bool backward) {
  const int u = heads.group_size(), head_rank = heads.head_rank(rank), ring_rank = heads.ring_rank(rank);
  Recorder r{rank, link, {}};
  std::vector<int> group;
  for (int h = 0; h < u; ++h) group.push_back(heads.rank_of(h, ring_rank));
  head_all_to_alls(r, group, shape, static_cast<double>(shape.seq_len) / heads.processes(), forward, backward);
  // WallFacer of the ring group: heads / u query heads and their kv slots, over all N tokens.
  const kernels::HeadPartition split{shape.heads, shape.kv_heads, u};
  const AttentionTrafficShape ring_shape{shape.seq_len, split.query_heads(), split.kv_slots(), shape.head_dim,
                                         shape.scalar_bytes};
  const LinkOf ring_link = [&](int a, int b) { return link(heads.rank_of(head_rank, a), heads.rank_of(head_rank, b)); };
  r.traffic += multi_ring_traffic(side, ring_grid, ring_shape, ring_rank, ring_link, forward, backward);
  return r.traffic;
}

Traffic predict_attention_traffic(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                  const std::optional<comm::HeadGroups>& heads, const AttentionTrafficShape& shape,
                                  int rank, const LinkOf& link, bool forward, bool backward) {
  if (kind == Schedule::ulysses_wallfacer) {
    require(heads.has_value(), "the traffic of ulysses-wallfacer needs its head groups");
    return ulysses_wallfacer_traffic(side, grid, *heads, shape, rank, link, forward, backward);
  }
  if (kind == Schedule::ulysses) return ulysses_traffic(grid.processes(), shape, rank, link, forward, backward);
  return multi_ring_traffic(side, grid, shape, rank, link, forward, backward);
}

Traffic predict_attention_traffic(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                  const AttentionTrafficShape& shape, int rank, const LinkOf& link, bool forward,
                                  bool backward) {
  return predict_attention_traffic(kind, side, grid, std::nullopt, shape, rank, link, forward, backward);
}

double closed_form_forward_elements(Schedule kind, int processes, int team_size,
                                    const AttentionTrafficShape& shape, bool initial_send_to_self) {
  const double P = processes, c = team_size, N = static_cast<double>(shape.seq_len);
  const double H = double(shape.heads) * shape.head_dim, Hkv = double(shape.kv_heads) * shape.head_dim;
  if (kind == Schedule::ulysses) {
    const double slots = kernels::HeadPartition{shape.heads, shape.kv_heads, processes}.kv_slots();
    return (P - 1) * (2 * H + shape.heads + 2 * slots * shape.head_dim * P) * N / (P * P);
  }
  const double G = P / (c * c);
  const double collectives = (c - 1) * (H + 2 * Hkv + H + shape.heads) * N / P;
  const double point_to_point = (G - 1 + (initial_send_to_self ? 0 : 1)) * 2 * c * N * Hkv / P;
  return collectives + point_to_point;
}

double closed_form_hybrid_forward_elements(int processes, int head_group_size, int team_size,
                                           const AttentionTrafficShape& shape, bool initial_send_to_self) {
  const int u = head_group_size;
  const kernels::HeadPartition split{shape.heads, shape.kv_heads, u};
  const double n = static_cast<double>(shape.seq_len) / processes, d = shape.head_dim;
  const double head_part = (u - 1) * (2 * split.query_heads() * d + split.query_heads() + 2 * split.kv_slots() * d) * n;
  const AttentionTrafficShape ring_shape{shape.seq_len, split.query_heads(), split.kv_slots(), shape.head_dim,
                                         shape.scalar_bytes};
  return head_part + closed_form_forward_elements(Schedule::wallfacer, processes / u, team_size, ring_shape,
                                                  initial_send_to_self);
}

}  // namespace wf::perf

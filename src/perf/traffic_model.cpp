#include "perf/traffic_model.hpp"

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
  /// Pairwise all-to-all over the world: one message of `chunk` elements to every other rank.
  void all_to_all(int processes, double chunk, std::size_t scalar_bytes) {
    for (int p = 0; p < processes; ++p) send(p, chunk, scalar_bytes);
  }
};

}  // namespace

Traffic predict_attention_traffic(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                  const AttentionTrafficShape& shape, int rank, const LinkOf& link, bool forward,
                                  bool backward) {
  Recorder r{rank, link, {}};
  const std::size_t b = shape.scalar_bytes;
  const int P = grid.processes(), c = grid.team_size(), G = grid.ring_length();
  const double n = static_cast<double>(shape.seq_len) / P;  // shard tokens
  const double hq = double(shape.heads) * shape.head_dim, hkv = double(shape.kv_heads) * shape.head_dim;
  const double heads = shape.heads;
  if (kind == Schedule::ulysses) {
    const double part = n / P;  // tokens x (rows / P) per peer
    if (forward) {
      r.all_to_all(P, hq * part, b);                 // Q
      r.all_to_all(P, 2 * hkv * part, b);            // K, V
      r.all_to_all(P, (hq + heads) * part, b);       // O, lse back
    }
    if (backward) {
      r.all_to_all(P, hq * part, b);       // dO
      r.all_to_all(P, hq * part, b);       // dQ back
      r.all_to_all(P, 2 * hkv * part, b);  // dK, dV back
    }
    return r.traffic;
  }
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

double closed_form_forward_elements(Schedule kind, int processes, int team_size,
                                    const AttentionTrafficShape& shape, bool initial_send_to_self) {
  const double P = processes, c = team_size, N = static_cast<double>(shape.seq_len);
  const double H = double(shape.heads) * shape.head_dim, Hkv = double(shape.kv_heads) * shape.head_dim;
  if (kind == Schedule::ulysses) return (P - 1) * (2 * H + shape.heads + 2 * Hkv) * N / (P * P);
  const double G = P / (c * c);
  const double collectives = (c - 1) * (H + 2 * Hkv + H + shape.heads) * N / P;
  const double point_to_point = (G - 1 + (initial_send_to_self ? 0 : 1)) * 2 * c * N * Hkv / P;
  return collectives + point_to_point;
}

}  // namespace wf::perf

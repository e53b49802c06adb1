#include "perf/traffic_model.hpp"

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
  /// Ring collective over the team (all-gather or reduce-scatter): c - 1 steps, each one
  /// message of `chunk` elements to the next member of the team.
  void team_ring(SendPhase phase, const comm::ProcessGrid& grid, double chunk) {
    const auto me = grid.coordinates(rank);
    const int c = grid.team_size();
    if (c == 1) return;
    const int next = grid.rank_of(me.team, (me.local + 1) % c);
    for (int s = 0; s < c - 1; ++s) send(phase, s, next, chunk);
  }
  /// Pairwise all-to-all over the world: one message of `chunk` elements to every other rank.
  void all_to_all(int index, int processes, double chunk) {
    for (int d = 1; d < processes; ++d) send(SendPhase::all_to_all, index, (rank + d) % processes, chunk);
  }
};

/// Per-token widths (scalars) of the blocks the schedules move.
struct Widths {
  double hq, hkv, heads;
  explicit Widths(const AttentionTrafficShape& s)
      : hq(double(s.heads) * s.head_dim), hkv(double(s.kv_heads) * s.head_dim), heads(s.heads) {}
};

void ulysses_sends(SendList& r, int P, double n, const Widths& w, bool forward, bool backward) {
  const double part = n / P;  // tokens x (rows / P) per peer
  int index = 0;
  if (forward) {
    r.all_to_all(index++, P, w.hq * part);               // Q
    r.all_to_all(index++, P, 2 * w.hkv * part);          // K, V
    r.all_to_all(index++, P, (w.hq + w.heads) * part);   // O, lse back
  }
  if (backward) {
    index = 3;  // the backward's all-to-alls are 3, 4, 5 whether or not the forward is listed
    r.all_to_all(index++, P, w.hq * part);       // dO
    r.all_to_all(index++, P, w.hq * part);       // dQ back
    r.all_to_all(index++, P, 2 * w.hkv * part);  // dK, dV back
  }
}

void multi_ring_forward_sends(SendList& r, const comm::ProcessGrid& grid, double n, const Widths& w) {
  const int c = grid.team_size(), G = grid.ring_length();
  const double team_sources = 2 * w.hkv * c * n;  // K, V of a team block
  r.team_ring(SendPhase::gather_targets, grid, w.hq * n);
  r.team_ring(SendPhase::gather_sources, grid, 2 * w.hkv * n);
  r.send(SendPhase::initial_send, 0, grid.initial_send_target(r.rank), team_sources);
  for (int s = 1; s < G; ++s) r.send(SendPhase::ring_shift, s, grid.ring_neighbour(r.rank, 1), team_sources);
  r.team_ring(SendPhase::reduce_results, grid, (w.hq + w.heads) * n);
}

void multi_ring_backward_sends(SendList& r, RotateSide side, const comm::ProcessGrid& grid, double n,
                               const Widths& w) {
  const int c = grid.team_size(), G = grid.ring_length();
  const int next = grid.ring_neighbour(r.rank, 1);
  const double team_sources = 2 * w.hkv * c * n;
  r.team_ring(SendPhase::gather_backward_inputs, grid, (w.hq + 2 * w.heads) * n);
  const double query_read_only = (2 * w.hq + 2 * w.heads) * c * n, query_grad = w.hq * c * n;
  const double read_only = side == RotateSide::query ? query_read_only : team_sources;
  const double accumulator = side == RotateSide::query ? query_grad : team_sources;
  // Posting order inside a step: the shift serving step s + 1, then the hop after step s.
  for (int s = 0; s < G; ++s) {
    if (s + 1 < G) r.send(SendPhase::backward_shift, s + 1, next, read_only);
    if (G > 1) r.send(SendPhase::backward_accumulator, s, next, accumulator);
  }
  r.send(SendPhase::key_gradient_return, 0, grid.key_gradient_return_target(r.rank), team_sources);
  r.team_ring(SendPhase::reduce_target_grads, grid, w.hq * n);
  r.team_ring(SendPhase::reduce_source_grads, grid, 2 * w.hkv * n);
}

}  // namespace

std::vector<PlannedSend> attention_sends(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                         const AttentionTrafficShape& shape, int rank, bool forward, bool backward) {
  SendList list{rank, {}};
  const int P = grid.processes();
  const double n = static_cast<double>(shape.seq_len) / P;  // shard tokens
  const Widths widths(shape);
  if (kind == Schedule::ulysses) {
    ulysses_sends(list, P, n, widths, forward, backward);
    return list.sends;
  }
  if (forward) multi_ring_forward_sends(list, grid, n, widths);
  if (backward) multi_ring_backward_sends(list, side, grid, n, widths);
  return list.sends;
}

Traffic predict_attention_traffic(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                  const AttentionTrafficShape& shape, int rank, const LinkOf& link, bool forward,
                                  bool backward) {
  Traffic traffic;
  for (const PlannedSend& s : attention_sends(kind, side, grid, shape, rank, forward, backward)) {
    const int cls = static_cast<int>(link(rank, s.peer));
    traffic.bytes[cls] += static_cast<std::uint64_t>(s.elements) * shape.scalar_bytes;
    traffic.messages[cls] += 1;
  }
  return traffic;
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

// The bytes and messages each process sends in one attention layer, per link class, for
// every schedule: the formulas of docs/communication-formulas.md written as code. Every send
// of a schedule is listed once, in attention_sends(), in the order the schedule posts it; the
// traffic totals (which the communicator's counters must equal exactly, tests check it) and
// the cost model's timing (cost_model.hpp) both read that list.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "comm/communicator.hpp"
#include "comm/head_groups.hpp"
#include "comm/process_grid.hpp"
#include "core/enums.hpp"
#include "core/types.hpp"

namespace wf::perf {

/// \brief Sizes that decide the traffic.
struct AttentionTrafficShape {
  index_t seq_len = 0;
  int heads = 1, kv_heads = 1, head_dim = 1;
  std::size_t scalar_bytes = 4;
};

/// \brief Predicted sends of one process, per link class.
struct Traffic {
  std::array<std::uint64_t, 2> bytes{}, messages{};
  std::uint64_t total_bytes() const { return bytes[0] + bytes[1]; }
  std::uint64_t total_messages() const { return messages[0] + messages[1]; }
  Traffic& operator+=(const Traffic& other);
};

/// \brief Link class between two world ranks.
using LinkOf = std::function<comm::LinkClass(int world_a, int world_b)>;

/// \brief The part of a schedule a send belongs to (the cost model times each part by its rules).
enum class SendPhase {
  gather_targets,          ///< team all-gather of Q (every member at once)
  initial_send,            ///< the own K, V shard to the c ranks that start with the team's block
  ring_shift,              ///< forward shift of the K, V block (index = the step it serves)
  reduce_results,          ///< team reduce-scatter of (O, lse)
  gather_backward_inputs,  ///< team all-gather of (dO, lse, D)
  backward_shift,          ///< read-only part of the travelling side (index = the step it serves)
  backward_accumulator,    ///< the travelling accumulator's hop after step `index`
  key_gradient_return,     ///< dK, dV home in shards to the members of the key block's team
  reduce_target_grads,     ///< team reduce-scatter of dQ
  all_to_all,              ///< Ulysses (and the hybrid's head group): one all-to-all per index, in posting order
};

/// \brief One send to another process: `elements` scalars to world rank `peer`.
struct PlannedSend {
  SendPhase phase;
  int index;  ///< the step inside the phase
  int peer;
  double elements;
};

/// \brief Every send of world rank `rank` in the forward and/or backward of one attention
/// layer, in the order the schedule posts them (self-sends are not listed). `heads` is needed
/// for (only for) Schedule::ulysses_wallfacer, whose `grid` is the ring grid.
std::vector<PlannedSend> attention_sends(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                         const std::optional<comm::HeadGroups>& heads,
                                         const AttentionTrafficShape& shape, int rank, bool forward, bool backward);
/// \brief As above for Ring, WallFacer and Ulysses (no head groups).
std::vector<PlannedSend> attention_sends(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                         const AttentionTrafficShape& shape, int rank, bool forward, bool backward);

/// \brief The sends of attention_sends() added up per link class (world ranks).
Traffic predict_attention_traffic(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                  const std::optional<comm::HeadGroups>& heads, const AttentionTrafficShape& shape,
                                  int rank, const LinkOf& link, bool forward, bool backward);
/// \brief As above for Ring, WallFacer and Ulysses (no head groups).
Traffic predict_attention_traffic(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                  const AttentionTrafficShape& shape, int rank, const LinkOf& link, bool forward,
                                  bool backward);

/// \brief Closed forms (docs/communication-formulas.md): forward elements sent by one process.
/// Ring: 2 N H_kv (P-1)/P. WallFacer: collectives (c-1)(H + H + heads) N/P (Q all-gather, O and
/// lse reduce-scatter) and point-to-point (G - 1) 2 c N H_kv / P for the ring shifts plus the
/// direct initial send (c - s) 2 N H_kv / P, s = 1 for a process that is one of the c ranks its
/// own team's block starts at (it keeps its shard). Ulysses: (P-1)(2 H + heads + 2 s d P) N / P^2 with s kv slots per process
/// (kv_heads / P when P divides kv_heads). H = heads d, H_kv = kv_heads d.
double closed_form_forward_elements(Schedule kind, int processes, int team_size,
                                    const AttentionTrafficShape& shape, bool self_among_initial_targets);

/// \brief The hybrid's closed form: Ulysses over u (heads / u query heads, s kv slots per
/// process) plus WallFacer on r = P / u processes for heads / u heads and s kv heads over N tokens.
double closed_form_hybrid_forward_elements(int processes, int head_group_size, int team_size,
                                           const AttentionTrafficShape& shape, bool self_among_initial_targets);

}  // namespace wf::perf

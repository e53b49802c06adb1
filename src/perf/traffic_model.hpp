// The bytes and messages each process sends in one attention layer, per link class, for
// every schedule: the formulas of docs/communication-formulas.md written as code. The
// communicator's counters must equal these exactly (tests check it).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>

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

// One function per schedule (what a cost model calls), then one that dispatches on the schedule.

/// \brief Ring and WallFacer on `grid`: sends of grid rank `rank`; `link` takes grid ranks.
Traffic multi_ring_traffic(RotateSide side, const comm::ProcessGrid& grid, const AttentionTrafficShape& shape,
                           int rank, const LinkOf& link, bool forward, bool backward);

/// \brief Ulysses over `processes` ranks (kv heads copied when kv_heads < P): sends of `rank`.
Traffic ulysses_traffic(int processes, const AttentionTrafficShape& shape, int rank, const LinkOf& link,
                        bool forward, bool backward);

/// \brief The Ulysses x WallFacer hybrid: the head group's all-to-alls plus WallFacer on the
/// ring group (`ring_grid`, heads / u query heads and their kv slots): sends of world rank `rank`.
Traffic ulysses_wallfacer_traffic(RotateSide side, const comm::ProcessGrid& ring_grid, const comm::HeadGroups& heads,
                                  const AttentionTrafficShape& shape, int rank, const LinkOf& link, bool forward,
                                  bool backward);

/// \brief Sends of world rank `rank` in the forward and/or backward of one attention layer.
/// `heads` is needed for (only for) Schedule::ulysses_wallfacer, whose `grid` is the ring grid.
Traffic predict_attention_traffic(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                  const std::optional<comm::HeadGroups>& heads, const AttentionTrafficShape& shape,
                                  int rank, const LinkOf& link, bool forward, bool backward);
/// \brief As above for Ring, WallFacer and Ulysses (no head groups).
Traffic predict_attention_traffic(Schedule kind, RotateSide side, const comm::ProcessGrid& grid,
                                  const AttentionTrafficShape& shape, int rank, const LinkOf& link, bool forward,
                                  bool backward);

/// \brief Closed forms (docs/communication-formulas.md): forward elements sent by one process.
/// Ring: 2 N H_kv (P-1)/P. WallFacer: collectives (c-1)(H + 2 H_kv + H + heads) N/P and
/// point-to-point (G - 1 + initial) 2 c N H_kv / P, initial = 0 for the processes that send
/// to themselves. Ulysses: (P-1)(2 H + heads + 2 s d P) N / P^2 with s kv slots per process
/// (kv_heads / P when P divides kv_heads). H = heads d, H_kv = kv_heads d.
double closed_form_forward_elements(Schedule kind, int processes, int team_size,
                                    const AttentionTrafficShape& shape, bool initial_send_to_self);

/// \brief The hybrid's closed form: Ulysses over u (heads / u query heads, s kv slots per
/// process) plus WallFacer on r = P / u processes for heads / u heads and s kv heads over N tokens.
double closed_form_hybrid_forward_elements(int processes, int head_group_size, int team_size,
                                           const AttentionTrafficShape& shape, bool initial_send_to_self);

}  // namespace wf::perf

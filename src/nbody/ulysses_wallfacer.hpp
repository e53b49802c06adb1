// The Ulysses x WallFacer hybrid (USP / LoongTrain style): P = u r processes in head groups of
// u (schedule_context.hpp). Inside a head group an all-to-all turns the u sequence shards into
// one head shard of u n tokens for heads / u heads (head_exchange.hpp, kv heads copied where
// kv_heads < u); the r processes that hold the same heads then run WallFacer (multi_ring_forward /
// multi_ring_backward, team size c, c^2 | r) on the ring group's context, whose shard j is the u
// shards of head group j; the results come back through the inverse all-to-all. Generic over
// the interaction: the forward, backward and slicing protocols of interaction_traits.hpp.
#pragma once

#include <utility>

#include "core/region.hpp"
#include "nbody/head_exchange.hpp"
#include "nbody/multi_ring.hpp"
#include "nbody/multi_ring_backward.hpp"

namespace wf::nbody {

/// \brief What the hybrid's forward keeps for its backward.
template <class T>
struct UlyssesWallFacerState {
  ForwardState<T> ring;     ///< the ring group's WallFacer state
  ShardBlocks<T> head;      ///< head-shard blocks of the ring group's shard: targets, sources, results
};

/// \brief The hybrid forward's state and times.
template <class T>
struct UlyssesWallFacerForwardResult {
  UlyssesWallFacerState<T> state;
  ScheduleTimes times;  ///< the all-to-alls' and the ring group's
};

/// \brief Forward: shard.results (own sequence shard) from shard.targets and shard.sources.
/// `ctx` must have head groups. `trace` may be null.
template <class Interaction, class T>
UlyssesWallFacerForwardResult<T> ulysses_wallfacer_forward(ScheduleContext& ctx, const Interaction& whole_inter,
                                                            const ShardBlocks<T>& shard, TraceRecorder* trace = nullptr) {
  static_assert(require_forward_interaction<Interaction, T>() && require_sliceable_interaction<Interaction, T>());
  const ProfilingRegion region("Nbody::ulysses_wallfacer_forward");
  ScheduleClock clock(trace, ctx.compute_space(), ctx.communication_space(), ctx.transfer_cost());
  comm::Communicator& group = ctx.head_group();
  const int u = group.size();
  ScheduleContext& ring = ctx.ring_context();
  Interaction inter = whole_inter.sliced(u);
  UlyssesWallFacerForwardResult<T> result;
  ShardBlocks<T>& head = result.state.head;
  head.targets = detail::to_head_shard(ctx, group, clock, detail::even_split(whole_inter.target_layout(), u),
                                       shard.targets, "head all-to-all of targets");
  head.sources = detail::to_head_shard(ctx, group, clock,
                                       detail::source_split(whole_inter, whole_inter.source_layout(), u), shard.sources,
                                       "head all-to-all of sources");
  head.results = Buffer<T>("Nbody::hybrid_results", inter.result_layout().size(ring.shard_tokens()));
  ForwardResult<T> ring_result = multi_ring_forward(ring, inter, head, trace);
  result.state.ring = std::move(ring_result.state);
  detail::to_sequence_shard(ctx, group, clock, detail::even_split(whole_inter.result_layout(), u), head.results,
                            shard.results, "head all-to-all of results");
  result.times = clock.times();
  result.times += ring_result.times;
  return result;
}

/// \brief Backward: shard.d_output of the own shard -> shard.d_targets and shard.d_sources.
/// Consumes `forward` (as multi_ring_backward does). `trace` may be null.
template <class Interaction, class T>
ScheduleTimes ulysses_wallfacer_backward(ScheduleContext& ctx, const Interaction& whole_inter, RotateSide side,
                                         const UlyssesWallFacerState<T>& forward, const ShardBlocks<T>& shard,
                                         TraceRecorder* trace = nullptr) {
  static_assert(require_backward_interaction<Interaction, T>() && require_sliceable_interaction<Interaction, T>());
  const ProfilingRegion region("Nbody::ulysses_wallfacer_backward");
  ScheduleClock clock(trace, ctx.compute_space(), ctx.communication_space(), ctx.transfer_cost());
  comm::Communicator& group = ctx.head_group();
  const int u = group.size();
  ScheduleContext& ring = ctx.ring_context();
  Interaction inter = whole_inter.sliced(u);
  ShardBlocks<T> head = forward.head;
  head.d_output = detail::to_head_shard(ctx, group, clock, detail::even_split(whole_inter.output_grad_layout(), u),
                                        shard.d_output, "head all-to-all of dO");
  head.d_targets = Buffer<T>("Nbody::hybrid_dquery", inter.query_grad_layout().size(ring.shard_tokens()));
  head.d_sources = Buffer<T>("Nbody::hybrid_dkey", inter.key_grad_layout().size(ring.shard_tokens()));
  ScheduleTimes times = multi_ring_backward(ring, inter, side, forward.ring, head, trace);
  detail::to_sequence_shard(ctx, group, clock, detail::even_split(whole_inter.query_grad_layout(), u), head.d_targets,
                            shard.d_targets, "head all-to-all of dQ");
  detail::to_sequence_shard(ctx, group, clock, detail::source_split(whole_inter, whole_inter.key_grad_layout(), u),
                            head.d_sources, shard.d_sources, "head all-to-all of dK, dV");
  times += clock.times();
  return times;
}

}  // namespace wf::nbody

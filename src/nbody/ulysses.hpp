// The Ulysses schedule: all-to-all from sequence shards to head shards, the whole sequence
// computed locally for heads / P heads, all-to-all back. Needs P to divide the target rows
// (heads); the sources' rows go where the interaction's sliced_source_rows says (grouped-query
// attention with kv_heads < P: a kv head is copied to every process whose heads read it, and the
// gradients of the copies are summed on the way back). Uses sliced(P) for the local part.
#pragma once

#include <utility>

#include "core/region.hpp"
#include "nbody/head_exchange.hpp"
#include "nbody/interaction_traits.hpp"

namespace wf::nbody {

/// \brief What the Ulysses forward keeps for its backward: the head-shard blocks.
template <class T>
struct UlyssesState {
  Buffer<T> targets, sources, results;  ///< whole sequence, heads / P
};

/// \brief The Ulysses forward's state and times.
template <class T>
struct UlyssesForwardResult {
  UlyssesState<T> state;
  ScheduleTimes times;
};

/// \brief Forward: shard.results (own sequence shard) from shard.targets and shard.sources.
template <class Interaction, class T>
UlyssesForwardResult<T> ulysses_forward(ScheduleContext& ctx, const Interaction& whole_inter,
                                        const ShardBlocks<T>& shard, TraceRecorder* trace = nullptr) {
  static_assert(require_forward_interaction<Interaction, T>() && require_sliceable_interaction<Interaction, T>());
  const ProfilingRegion region("Nbody::ulysses_forward");
  ScheduleClock clock(trace, ctx.compute_space(), ctx.communication_space(), ctx.transfer_cost());
  const int p = ctx.world().size();
  const index_t total = ctx.shard_tokens() * p;
  Interaction inter = whole_inter.sliced(p);
  comm::Communicator& group = ctx.world();
  UlyssesForwardResult<T> result;
  UlyssesState<T>& state = result.state;
  state.targets = detail::to_head_shard(ctx, group, clock, detail::even_split(whole_inter.target_layout(), p),
                                        shard.targets, "all-to-all of targets");
  state.sources = detail::to_head_shard(ctx, group, clock,
                                        detail::source_split(whole_inter, whole_inter.source_layout(), p),
                                        shard.sources, "all-to-all of sources");
  state.results = unfilled_buffer<T>("Nbody::ulysses_results", inter.result_layout().size(total));
  const auto pos = ctx.all_positions();
  clock.compute([&] {
    inter.begin(state.results.data(), total);
    inter.interact(state.targets.data(), pos, total, state.sources.data(), pos, total, Progress());
    inter.finish();
  });
  detail::to_sequence_shard(ctx, group, clock, detail::even_split(whole_inter.result_layout(), p), state.results,
                            shard.results, "all-to-all of results");
  result.times = clock.times();
  return result;
}

/// \brief Backward: shard.d_output of the own shard -> shard.d_targets and shard.d_sources.
template <class Interaction, class T>
ScheduleTimes ulysses_backward(ScheduleContext& ctx, const Interaction& whole_inter, const UlyssesState<T>& forward,
                               const ShardBlocks<T>& shard, TraceRecorder* trace = nullptr) {
  static_assert(require_backward_interaction<Interaction, T>() && require_sliceable_interaction<Interaction, T>());
  const ProfilingRegion region("Nbody::ulysses_backward");
  ScheduleClock clock(trace, ctx.compute_space(), ctx.communication_space(), ctx.transfer_cost());
  const int p = ctx.world().size();
  const index_t total = ctx.shard_tokens() * p;
  Interaction inter = whole_inter.sliced(p);
  comm::Communicator& group = ctx.world();
  const Buffer<T> d_output = detail::to_head_shard(ctx, group, clock, detail::even_split(whole_inter.output_grad_layout(), p),
                                                   shard.d_output, "all-to-all of dO");
  const std::size_t targets_size = forward.targets.span();
  Buffer<T> query = unfilled_buffer<T>("Nbody::ulysses_query", targets_size + inter.query_rest_layout().size(total));
  Buffer<T> d_targets, d_sources;  // accumulated into by the interaction: zeroed
  clock.local([&] {
    d_targets = Buffer<T>("Nbody::ulysses_dquery", inter.query_grad_layout().size(total));
    d_sources = Buffer<T>("Nbody::ulysses_dkey", inter.key_grad_layout().size(total));
  });
  const auto pos = ctx.all_positions();
  clock.compute([&] {
    Kokkos::deep_copy(ctx.compute_space(), Kokkos::subview(query, std::make_pair(std::size_t(0), targets_size)),
                      forward.targets);
    inter.make_query_rest(forward.results.data(), d_output.data(), query.data() + targets_size, total);
    inter.interact_backward(query.data(), pos, total, d_targets.data(), forward.sources.data(), pos, total,
                            d_sources.data(), Progress());
  });
  detail::to_sequence_shard(ctx, group, clock, detail::even_split(whole_inter.query_grad_layout(), p), d_targets,
                            shard.d_targets, "all-to-all of dQ");
  detail::to_sequence_shard(ctx, group, clock, detail::source_split(whole_inter, whole_inter.key_grad_layout(), p),
                            d_sources, shard.d_sources, "all-to-all of dK, dV");
  return clock.times();
}

}  // namespace wf::nbody

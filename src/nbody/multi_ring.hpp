// The WallFacer multi-ring schedule, forward (DESIGN 2.3); team size c = 1 is Ring Attention.
// Generic over the interaction (the forward protocol of interaction_traits.hpp); the backward
// is multi_ring_backward.hpp.
#pragma once

#include <functional>
#include <utility>

#include "core/region.hpp"
#include "nbody/interaction_traits.hpp"
#include "nbody/team_collectives.hpp"

namespace wf::nbody {

/// \brief What the forward leaves for the backward.
template <class T>
struct ForwardState {
  Buffer<T> team_targets;  ///< the team's targets (c n tokens): Q_T
  Buffer<T> sources;       ///< the source block in hand at the end (saves a transfer)
  int source_block = 0;    ///< its team block id
};

/// \brief A forward's state for the backward, and the times it spent.
template <class T>
struct ForwardResult {
  ForwardState<T> state;
  ScheduleTimes times;
};

namespace detail {

/// The G compute steps of the forward: interact the team's targets with the source block in
/// hand while the next one is in flight (double buffering); returns the block in hand at the end.
template <class Interaction, class T>
Buffer<T> ring_steps(ScheduleContext& ctx, ScheduleClock& clock, Interaction& inter, const Buffer<T>& team_targets,
                     Buffer<T> current) {
  const comm::ProcessGrid& grid = ctx.grid();
  const int rank = ctx.rank(), ring = grid.ring_length();
  const index_t nt = ctx.team_tokens();
  Buffer<T> next = unfilled_buffer<T>("Nbody::sources_next", current.span());
  const auto target_positions = ctx.team_positions(ctx.me().team);
  const int next_rank = grid.ring_neighbour(rank, 1), previous_rank = grid.ring_neighbour(rank, -1);
  for (int step = 0; step < ring; ++step) {
    // Positions first: a first lookup copies them to the device, which must not wait for the shift.
    const auto source_positions = ctx.team_positions(grid.key_block_after(rank, step));
    // The shift of the next block is posted before the compute of this one (docs/communication.md,
    // "Streams"): on a GPU it runs on the communication stream while the compute stream works.
    comm::Request shift;
    if (step + 1 < ring)
      shift = exchange(ctx, clock, current, next_rank, next, previous_rank, {"ring shift of sources", step + 1});
    const Progress progress = [&] {
      if (!shift.empty()) ctx.world().test(shift);
    };
    clock.compute([&] {
      inter.interact(team_targets.data(), target_positions, nt, current.data(), source_positions, nt, progress);
    });
    if (step + 1 < ring) {
      clock.wait(ctx.world(), shift);
      std::swap(current, next);
    }
  }
  return current;
}

}  // namespace detail

/// \brief The initial send of the sources, posted before the forward (for the multi-ring
/// schedules) so that it runs while the caller computes the targets.
template <class T>
struct PostedSources {
  PendingBlock<T> block;
  ScheduleTimes times;  ///< of posting it (bytes and transfers counted)
  bool posted = false;
};

/// \brief Posts the direct initial send of `sources` (the own shard, in the interaction's
/// source layout) and returns at once; pass the result to multi_ring_forward.
template <class Interaction, class T>
PostedSources<T> post_multi_ring_sources(ScheduleContext& ctx, const Interaction& inter, const Buffer<T>& sources,
                                         TraceRecorder* trace = nullptr) {
  ScheduleClock clock(trace, ctx.compute_space(), ctx.communication_space(), ctx.transfer_cost());
  PostedSources<T> out;
  out.block = post_initial_block(ctx, clock, inter.source_layout(), sources, {"initial send of sources", 0});
  out.times = clock.times();
  out.posted = true;
  return out;
}

/// \brief Forward: team all-gather of the targets and direct initial send of the sources
/// (posted together, unless `early` holds the sources posted before), G compute steps with
/// double-buffered shifts, team reduce-scatter with the interaction's combine. `shard.results`
/// receives the own shard's results from shard.targets and shard.sources. `trace` may be null.
template <class Interaction, class T>
ForwardResult<T> multi_ring_forward(ScheduleContext& ctx, Interaction& inter, const ShardBlocks<T>& shard,
                                    TraceRecorder* trace = nullptr, PostedSources<T>* early = nullptr) {
  static_assert(require_forward_interaction<Interaction, T>());
  const ProfilingRegion region("Nbody::multi_ring_forward");
  ScheduleClock clock(trace, ctx.compute_space(), ctx.communication_space(), ctx.transfer_cost());
  const comm::ProcessGrid& grid = ctx.grid();
  const int rank = ctx.rank();
  const index_t nt = ctx.team_tokens();
  ForwardResult<T> result;
  ForwardState<T>& state = result.state;
  // Both arrive at once: the team's targets and the first source block are in flight together.
  PendingBlock<T> targets =
      post_team_gather(ctx, clock, inter.target_layout(), shard.targets, {"team all-gather of targets", 0});
  PendingBlock<T> sources = early && early->posted ? std::move(early->block)
                                                   : post_initial_block(ctx, clock, inter.source_layout(),
                                                                        shard.sources, {"initial send of sources", 0});
  Buffer<T> team_results = unfilled_buffer<T>("Nbody::team_results", inter.result_layout().size(nt));
  clock.compute([&] { inter.begin(team_results.data(), nt); });
  state.team_targets = finish_block(ctx, clock, inter.target_layout(), targets);
  Buffer<T> first = finish_block(ctx, clock, inter.source_layout(), sources);
  state.sources = detail::ring_steps(ctx, clock, inter, state.team_targets, first);
  clock.compute([&] { inter.finish(); });
  PendingReduce<T> reduced =
      post_team_reduce(ctx, clock, inter.result_layout(), team_results, {"team reduce-scatter of results", 0});
  finish_team_reduce(ctx, clock, reduced, inter.combine(ctx.shard_tokens()), shard.results);
  state.source_block = grid.key_block_after(rank, grid.ring_length() - 1);
  result.times = clock.times();
  if (early && early->posted) result.times += early->times;
  return result;
}

}  // namespace wf::nbody

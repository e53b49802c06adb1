// The Ulysses schedule: all-to-all from sequence shards to head shards, the whole sequence
// computed locally for heads / P heads, all-to-all back. Needs P to divide every segment's
// rows (heads and kv_heads). Uses the interaction's sliced(P) for the local part.
#pragma once

#include <utility>

#include "core/region.hpp"
#include "nbody/interaction_traits.hpp"
#include "nbody/team_collectives.hpp"

namespace wf::nbody {
namespace detail {

/// Sequence shard (layout, n tokens) -> [parts][layout / parts (n)]: part p holds rows
/// [p r / parts, (p + 1) r / parts) of every segment. unpack = the inverse.
template <class T>
void pack_rows(const ExecSpace& space, const BlockLayout& layout, int parts, index_t tokens, const T* in, T* out,
               bool unpack) {
  const BlockLayout part_layout = layout.rows_divided_by(parts);
  const std::size_t part_size = part_layout.size(tokens);
  for (std::size_t s = 0; s < layout.segments.size(); ++s) {
    const std::size_t slice = part_layout.segments[s].rows * std::size_t(tokens) * layout.segments[s].width;
    const std::size_t full_off = layout.offset(s, tokens), part_off = part_layout.offset(s, tokens);
    Kokkos::parallel_for(
        "Nbody::pack_rows",
        Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>(space, {0, 0}, {index_t(parts), index_t(slice)}),
        KOKKOS_LAMBDA(const index_t p, const index_t i) {
          const std::size_t full = full_off + p * slice + i, part = p * part_size + part_off + i;
          if (unpack)
            out[full] = in[part];
          else
            out[part] = in[full];
        });
  }
}

/// Sequence shard -> head shard of the whole sequence (tokens in shard order).
template <class T>
Buffer<T> to_head_shard(const ScheduleContext& ctx, ScheduleClock& clock, const BlockLayout& layout,
                        const Buffer<T>& shard, const char* what) {
  const int p = ctx.world().size();
  const index_t n = ctx.shard_tokens();
  const BlockLayout part_layout = layout.rows_divided_by(p);
  Buffer<T> packed("Nbody::ulysses_packed", shard.span()), received("Nbody::ulysses_received", shard.span());
  Buffer<T> whole("Nbody::ulysses_whole", part_layout.size(n * p));
  clock.local([&] { pack_rows(ctx.compute_space(), layout, p, n, shard.data(), packed.data(), false); });
  clock.collective([&] {
    ctx.communication_after_compute();
    ctx.world().all_to_all(packed.data(), received.data(), part_layout.size(n), {what, 0}, ctx.communication_space());
    ctx.compute_after_communication();
  });
  clock.local([&] { concat_blocks(ctx.compute_space(), part_layout, p, n, received.data(), whole.data()); });
  return whole;
}

/// Head shard of the whole sequence -> sequence shard (the inverse of to_head_shard).
template <class T>
void to_sequence_shard(const ScheduleContext& ctx, ScheduleClock& clock, const BlockLayout& layout,
                       const Buffer<T>& whole, const Buffer<T>& shard, const char* what) {
  const int p = ctx.world().size();
  const index_t n = ctx.shard_tokens();
  const BlockLayout part_layout = layout.rows_divided_by(p);
  Buffer<T> parts("Nbody::ulysses_parts", shard.span()), received("Nbody::ulysses_received", shard.span());
  clock.local([&] { split_blocks(ctx.compute_space(), part_layout, p, n, whole.data(), parts.data()); });
  clock.collective([&] {
    ctx.communication_after_compute();
    ctx.world().all_to_all(parts.data(), received.data(), part_layout.size(n), {what, 0}, ctx.communication_space());
    ctx.compute_after_communication();
  });
  clock.local([&] { pack_rows(ctx.compute_space(), layout, p, n, received.data(), shard.data(), true); });
}

}  // namespace detail

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
  ScheduleClock clock(trace, ctx.compute_space(), ctx.communication_space());
  const int p = ctx.world().size();
  const index_t total = ctx.shard_tokens() * p;
  Interaction inter = whole_inter.sliced(p);
  UlyssesForwardResult<T> result;
  UlyssesState<T>& state = result.state;
  state.targets = detail::to_head_shard(ctx, clock, whole_inter.target_layout(), shard.targets, "all-to-all of targets");
  state.sources = detail::to_head_shard(ctx, clock, whole_inter.source_layout(), shard.sources, "all-to-all of sources");
  state.results = Buffer<T>("Nbody::ulysses_results", inter.result_layout().size(total));
  const auto pos = ctx.all_positions();
  inter.begin(state.results.data(), total);
  clock.compute([&] {
    inter.interact(state.targets.data(), pos, total, state.sources.data(), pos, total, Progress());
    inter.finish();
  });
  detail::to_sequence_shard(ctx, clock, whole_inter.result_layout(), state.results, shard.results,
                            "all-to-all of results");
  result.times = clock.times();
  return result;
}

/// \brief Backward: shard.d_output of the own shard -> shard.d_targets and shard.d_sources.
template <class Interaction, class T>
ScheduleTimes ulysses_backward(ScheduleContext& ctx, const Interaction& whole_inter, const UlyssesState<T>& forward,
                               const ShardBlocks<T>& shard, TraceRecorder* trace = nullptr) {
  static_assert(require_backward_interaction<Interaction, T>() && require_sliceable_interaction<Interaction, T>());
  const ProfilingRegion region("Nbody::ulysses_backward");
  ScheduleClock clock(trace, ctx.compute_space(), ctx.communication_space());
  const int p = ctx.world().size();
  const index_t total = ctx.shard_tokens() * p;
  Interaction inter = whole_inter.sliced(p);
  const Buffer<T> d_output =
      detail::to_head_shard(ctx, clock, whole_inter.output_grad_layout(), shard.d_output, "all-to-all of dO");
  const std::size_t targets_size = forward.targets.span();
  Buffer<T> query("Nbody::ulysses_query", targets_size + inter.query_rest_layout().size(total));
  Buffer<T> d_targets("Nbody::ulysses_dquery", inter.query_grad_layout().size(total));
  Buffer<T> d_sources("Nbody::ulysses_dkey", inter.key_grad_layout().size(total));
  const auto pos = ctx.all_positions();
  clock.compute([&] {
    Kokkos::deep_copy(ctx.compute_space(), Kokkos::subview(query, std::make_pair(std::size_t(0), targets_size)),
                      forward.targets);
    inter.make_query_rest(forward.results.data(), d_output.data(), query.data() + targets_size, total);
    inter.interact_backward(query.data(), pos, total, d_targets.data(), forward.sources.data(), pos, total,
                            d_sources.data(), Progress());
  });
  detail::to_sequence_shard(ctx, clock, whole_inter.query_grad_layout(), d_targets, shard.d_targets, "all-to-all of dQ");
  detail::to_sequence_shard(ctx, clock, whole_inter.key_grad_layout(), d_sources, shard.d_sources,
                            "all-to-all of dK, dV");
  return clock.times();
}

}  // namespace wf::nbody

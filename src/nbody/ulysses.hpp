// The Ulysses schedule: all-to-all from sequence shards to head shards, the whole sequence
// computed locally for heads / P heads, all-to-all back. Needs P to divide every segment's
// rows (heads and kv_heads). Uses the interaction's sliced(P) for the local part.
#pragma once

#include <string>

#include "nbody/team_collectives.hpp"

namespace wf::nbody {
namespace detail {

/// Sequence shard (layout, n tokens) -> [parts][layout / parts (n)]: part p holds rows
/// [p r / parts, (p + 1) r / parts) of every segment. unpack = the inverse.
template <class T>
void pack_rows(const BlockLayout& layout, int parts, index_t tokens, const T* in, T* out, bool unpack) {
  BlockLayout part_layout = layout;
  for (auto& seg : part_layout.segments) seg.rows /= parts;
  const std::size_t part_size = part_layout.size(tokens);
  for (std::size_t s = 0; s < layout.segments.size(); ++s) {
    const std::size_t slice = part_layout.segments[s].rows * std::size_t(tokens) * layout.segments[s].width;
    const std::size_t full_off = layout.offset(s, tokens), part_off = part_layout.offset(s, tokens);
    Kokkos::parallel_for(
        "Nbody::pack_rows", Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>({0, 0}, {index_t(parts), index_t(slice)}),
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
Buffer<T> to_head_shard(ScheduleContext& ctx, const BlockLayout& layout, const Buffer<T>& shard, const char* what) {
  const int p = ctx.world().size();
  const index_t n = ctx.shard_tokens();
  BlockLayout part_layout = layout;
  for (auto& seg : part_layout.segments) seg.rows /= p;
  Buffer<T> packed("Nbody::ulysses_packed", shard.span()), received("Nbody::ulysses_received", shard.span());
  Buffer<T> whole("Nbody::ulysses_whole", part_layout.size(n * p));
  ctx.timed(perf::Phase::other, ctx.times.other, [&] { pack_rows(layout, p, n, shard.data(), packed.data(), false); });
  ctx.timed(perf::Phase::collective, ctx.times.collectives,
        [&] { ctx.world().all_to_all(packed.data(), received.data(), part_layout.size(n), {what, 0}); });
  ctx.timed(perf::Phase::other, ctx.times.other, [&] { concat_blocks(part_layout, p, n, received.data(), whole.data()); });
  return whole;
}

/// Head shard of the whole sequence -> sequence shard (the inverse of to_head_shard).
template <class T>
void to_sequence_shard(ScheduleContext& ctx, const BlockLayout& layout, const Buffer<T>& whole, const Buffer<T>& shard,
                       const char* what) {
  const int p = ctx.world().size();
  const index_t n = ctx.shard_tokens();
  BlockLayout part_layout = layout;
  for (auto& seg : part_layout.segments) seg.rows /= p;
  Buffer<T> parts("Nbody::ulysses_parts", shard.span()), received("Nbody::ulysses_received", shard.span());
  ctx.timed(perf::Phase::other, ctx.times.other, [&] { split_blocks(part_layout, p, n, whole.data(), parts.data()); });
  ctx.timed(perf::Phase::collective, ctx.times.collectives,
        [&] { ctx.world().all_to_all(parts.data(), received.data(), part_layout.size(n), {what, 0}); });
  ctx.timed(perf::Phase::other, ctx.times.other, [&] { pack_rows(layout, p, n, received.data(), shard.data(), true); });
}

}  // namespace detail

/// \brief Throws wf::Error unless P divides the rows of every segment (heads, kv heads).
inline void require_ulysses(const BlockLayout& layout, int processes, const std::string& what) {
  for (const auto& seg : layout.segments)
    require(seg.rows % processes == 0, "the Ulysses schedule needs the process count (" + std::to_string(processes) +
                                           ") to divide " + what + " (" + std::to_string(seg.rows) + ")");
}

/// \brief What the Ulysses forward keeps for its backward: the head-shard blocks.
template <class T>
struct UlyssesState {
  Buffer<T> targets, sources, results;  ///< whole sequence, heads / P
};

/// \brief Forward: results (own sequence shard) from targets and sources (own sequence shard).
template <class Interaction, class T>
UlyssesState<T> ulysses_forward(ScheduleContext& ctx, const Interaction& whole_inter, const Buffer<T>& targets,
                                const Buffer<T>& sources, const Buffer<T>& results) {
  const int p = ctx.world().size();
  const index_t total = ctx.shard_tokens() * p;
  Interaction inter = whole_inter.sliced(p);
  UlyssesState<T> state;
  state.targets = detail::to_head_shard(ctx, whole_inter.target_layout(), targets, "all-to-all of targets");
  state.sources = detail::to_head_shard(ctx, whole_inter.source_layout(), sources, "all-to-all of sources");
  state.results = Buffer<T>("Nbody::ulysses_results", inter.result_layout().size(total));
  const auto pos = ctx.all_positions();
  inter.begin(state.results.data(), total);
  ctx.timed(perf::Phase::attention_compute, ctx.times.compute, [&] {
    inter.interact(state.targets.data(), pos, total, state.sources.data(), pos, total, ctx.progress);
    inter.finish();
  });
  detail::to_sequence_shard(ctx, whole_inter.result_layout(), state.results, results, "all-to-all of results");
  return state;
}

/// \brief Backward: dO of the own shard -> dQ and dK, dV of the own shard.
template <class Interaction, class T>
void ulysses_backward(ScheduleContext& ctx, const Interaction& whole_inter, const UlyssesState<T>& forward,
                      const Buffer<T>& d_output, const Buffer<T>& dquery_shard, const Buffer<T>& dkey_shard) {
  const int p = ctx.world().size();
  const index_t total = ctx.shard_tokens() * p;
  Interaction inter = whole_inter.sliced(p);
  const Buffer<T> d_o = detail::to_head_shard(ctx, whole_inter.output_grad_layout(), d_output, "all-to-all of dO");
  const BlockLayout ql = inter.query_layout();
  Buffer<T> query("Nbody::ulysses_query", ql.size(total));
  Buffer<T> dquery("Nbody::ulysses_dquery", inter.query_grad_layout().size(total));
  Buffer<T> dkey("Nbody::ulysses_dkey", inter.key_grad_layout().size(total));
  const std::size_t q_size = forward.targets.span();
  const auto pos = ctx.all_positions();
  ctx.timed(perf::Phase::attention_compute, ctx.times.compute, [&] {
    Kokkos::deep_copy(Kokkos::subview(query, std::make_pair(std::size_t(0), q_size)), forward.targets);
    inter.make_query_rest(forward.results.data(), d_o.data(), query.data() + q_size, total);
    inter.interact_backward(query.data(), pos, total, dquery.data(), forward.sources.data(), pos, total, dkey.data(),
                            ctx.progress);
  });
  detail::to_sequence_shard(ctx, whole_inter.query_grad_layout(), dquery, dquery_shard, "all-to-all of dQ");
  detail::to_sequence_shard(ctx, whole_inter.key_grad_layout(), dkey, dkey_shard, "all-to-all of dK, dV");
}

}  // namespace wf::nbody

// The WallFacer multi-ring schedule, backward (DESIGN 2.4), generic over the interaction (the
// backward protocol of interaction_traits.hpp). One side rotates around the sub-ring: the
// query bundle (rotate = q) or the source blocks (rotate = kv); the other stays.
#pragma once

#include <functional>
#include <utility>

#include "nbody/multi_ring.hpp"

namespace wf::nbody {
namespace detail {

/// acc_out = acc_in + acc_tmp
template <class T>
void add_buffers(const ExecSpace& space, const Buffer<T>& out, const Buffer<T>& a, const Buffer<T>& b) {
  Kokkos::parallel_for(
      "Nbody::add_buffers", Kokkos::RangePolicy<ExecSpace>(space, 0, out.span()),
      KOKKOS_LAMBDA(const std::size_t i) { out(i) = a(i) + b(i); });
}

/// The accumulator of this process's own bundle, home after G steps, once `arrival` completes.
template <class T>
struct Homecoming {
  Buffer<T> accumulator;
  Buffer<T> departing;    ///< what this process sends in the last hop: kept alive until it completes
  comm::Request arrival;  ///< the last hop (empty when G = 1); wait before reading accumulator
};

/// One side rotates G steps around the sub-ring: its read-only part is double-buffered ahead
/// of the compute; its accumulator is computed into a zeroed buffer, added to the incoming
/// accumulator (which arrived during the compute) and passed on. After G steps the
/// accumulator of this process's own bundle comes home; the last hop is left in flight so the
/// caller can overlap it with other transfers.
/// compute(step, read_only, accumulator_contribution, progress) does the interaction of one step.
template <class T, class Compute>
Homecoming<T> rotate(ScheduleContext& ctx, ScheduleClock& clock, Buffer<T> read_only, std::size_t accumulator_size,
                     Compute&& compute) {
  const comm::ProcessGrid& grid = ctx.grid();
  const int rank = ctx.rank(), ring = grid.ring_length();
  const int next_rank = grid.ring_neighbour(rank, 1), previous_rank = grid.ring_neighbour(rank, -1);
  const ExecSpace& space = ctx.compute_space();
  Buffer<T> read_only_next = unfilled_buffer<T>("Nbody::rotate_next", read_only.span());
  Buffer<T> contribution = unfilled_buffer<T>("Nbody::rotate_contribution", accumulator_size);  // zeroed per step
  Buffer<T> incoming = unfilled_buffer<T>("Nbody::rotate_incoming", accumulator_size);
  Buffer<T> outgoing[2] = {unfilled_buffer<T>("Nbody::rotate_outgoing0", accumulator_size),
                           unfilled_buffer<T>("Nbody::rotate_outgoing1", accumulator_size)};
  comm::Request accumulator_transfer;
  for (int step = 0; step < ring; ++step) {
    comm::Request shift;
    if (step + 1 < ring)
      shift = exchange(ctx, clock, read_only, next_rank, read_only_next, previous_rank, {"backward shift", step + 1});
    const Progress progress = [&] {
      if (!shift.empty()) ctx.world().test(shift);
      if (!accumulator_transfer.empty()) ctx.world().test(accumulator_transfer);
    };
    clock.compute([&] {
      Kokkos::deep_copy(space, contribution, T(0));
      compute(step, read_only, contribution, progress);
    });
    Buffer<T>& out = outgoing[step % 2];
    if (step == 0) {
      clock.local([&] { Kokkos::deep_copy(space, out, contribution); });
    } else {
      clock.wait(ctx.world(), accumulator_transfer);
      clock.local([&] { add_buffers(space, out, incoming, contribution); });
    }
    if (ring > 1)
      accumulator_transfer = exchange(ctx, clock, out, next_rank, incoming, previous_rank, {"backward accumulator", step});
    if (step + 1 < ring) {
      clock.wait(ctx.world(), shift);
      std::swap(read_only, read_only_next);
    }
  }
  if (ring == 1) return {outgoing[0], Buffer<T>(), comm::Request()};
  return {incoming, outgoing[(ring - 1) % 2], std::move(accumulator_transfer)};
}

/// The team's query bundle: the forward's team targets, then the gathered rest (dO, lse, D).
template <class Interaction, class T>
Buffer<T> query_bundle(ScheduleContext& ctx, ScheduleClock& clock, const Interaction& inter,
                       const ForwardState<T>& forward, const ShardBlocks<T>& shard) {
  const BlockLayout rest_layout = inter.query_rest_layout();
  Buffer<T> query_rest = unfilled_buffer<T>("Nbody::query_rest", rest_layout.size(ctx.shard_tokens()));
  clock.compute([&] {
    inter.make_query_rest(shard.results.data(), shard.d_output.data(), query_rest.data(), ctx.shard_tokens());
  });
  PendingBlock<T> gathered =
      post_team_gather(ctx, clock, rest_layout, query_rest, {"team all-gather of backward inputs", 0});
  const Buffer<T> rest = finish_block(ctx, clock, rest_layout, gathered);
  const std::size_t targets_size = forward.team_targets.span();
  Buffer<T> query;
  clock.local([&] {
    query = unfilled_buffer<T>("Nbody::query_bundle", targets_size + rest.span());
    Kokkos::deep_copy(ctx.compute_space(), Kokkos::subview(query, std::make_pair(std::size_t(0), targets_size)),
                      forward.team_targets);
    Kokkos::deep_copy(ctx.compute_space(), Kokkos::subview(query, std::make_pair(targets_size, query.span())), rest);
  });
  return query;
}

/// The team's gradients of one backward: dQ of the team block, dK of the stationary or returned block.
template <class T>
struct TeamGradients {
  Buffer<T> d_targets;  ///< for the team's targets (c n tokens)
  Buffer<T> d_sources;  ///< for the source block this process ends up holding
  Homecoming<T> home;   ///< the rotating accumulator's last hop
};

/// rotate = q: the query bundle travels with its dQ accumulator; the source block stays.
template <class Interaction, class T>
TeamGradients<T> rotate_queries(ScheduleContext& ctx, ScheduleClock& clock, Interaction& inter,
                                const ForwardState<T>& forward, const Buffer<T>& query) {
  const comm::ProcessGrid& grid = ctx.grid();
  const int rank = ctx.rank();
  const index_t nt = ctx.team_tokens();
  TeamGradients<T> out;
  clock.local([&] { out.d_sources = Buffer<T>("Nbody::dkey_stationary", inter.key_grad_layout().size(nt)); });
  const auto key_positions = ctx.team_positions(forward.source_block);
  out.home = rotate<T>(ctx, clock, query, inter.query_grad_layout().size(nt),
                       [&](int step, const Buffer<T>& q, const Buffer<T>& dq, const Progress& progress) {
                         const int team = grid.coordinates(grid.ring_neighbour(rank, -step)).team;  // queries in hand
                         inter.interact_backward(q.data(), ctx.team_positions(team), nt, dq.data(),
                                                 forward.sources.data(), key_positions, nt, out.d_sources.data(),
                                                 progress);
                       });
  out.d_targets = out.home.accumulator;  // complete once the last hop arrives
  return out;
}

/// rotate = kv: the source blocks travel with their dK, dV accumulators; the queries stay.
template <class Interaction, class T>
TeamGradients<T> rotate_keys(ScheduleContext& ctx, ScheduleClock& clock, Interaction& inter,
                             const ForwardState<T>& forward, const Buffer<T>& query) {
  const comm::ProcessGrid& grid = ctx.grid();
  const int rank = ctx.rank(), ring = grid.ring_length();
  const index_t nt = ctx.team_tokens();
  TeamGradients<T> out;
  clock.local([&] { out.d_targets = Buffer<T>("Nbody::dquery_stationary", inter.query_grad_layout().size(nt)); });
  const auto query_positions = ctx.team_positions(ctx.me().team);
  out.home = rotate<T>(ctx, clock, forward.sources, inter.key_grad_layout().size(nt),
                       [&](int step, const Buffer<T>& k, const Buffer<T>& dk, const Progress& progress) {
                         // whose keys are in hand
                         const int block = grid.key_block_after(grid.ring_neighbour(rank, -step), ring - 1);
                         inter.interact_backward(query.data(), query_positions, nt, out.d_targets.data(), k.data(),
                                                 ctx.team_positions(block), nt, dk.data(), progress);
                       });
  clock.wait(ctx.world(), out.home.arrival);  // the key gradients are what arrives
  out.d_sources = out.home.accumulator;
  return out;
}

}  // namespace detail

/// \brief The direct return of dK, dV left in flight by the backward (for the multi-ring
/// schedules), so that the caller can use dQ meanwhile; finish it with
/// finish_multi_ring_key_gradients.
template <class T>
struct LateKeyGradients {
  PendingReturn<T> pending;
  bool posted = false;
};

/// \brief Backward from the forward's state and the own shard's results and d_output; the own
/// shard's gradients go to shard.d_targets and shard.d_sources (with `late`: shard.d_sources
/// only once finish_multi_ring_key_gradients returned). Consumes `forward` (with rotate = kv
/// the travelling source blocks reuse forward.sources' memory). `trace` may be null.
template <class Interaction, class T>
ScheduleTimes multi_ring_backward(ScheduleContext& ctx, Interaction& inter, RotateSide side,
                                  const ForwardState<T>& forward, const ShardBlocks<T>& shard,
                                  TraceRecorder* trace = nullptr, LateKeyGradients<T>* late = nullptr) {
  static_assert(require_backward_interaction<Interaction, T>());
  const ProfilingRegion region("Nbody::multi_ring_backward");
  ScheduleClock clock(trace, ctx.compute_space(), ctx.communication_space(), ctx.transfer_cost());
  const Buffer<T> query = detail::query_bundle(ctx, clock, inter, forward, shard);
  detail::TeamGradients<T> grads = side == RotateSide::query
                                       ? detail::rotate_queries(ctx, clock, inter, forward, query)
                                       : detail::rotate_keys(ctx, clock, inter, forward, query);
  // dK, dV go home in shards, straight to the members of the key block's own team, and are
  // summed there over the c groups that each held one copy; dQ is summed over the team (each
  // member saw one sub-ring's keys). Everything is posted before anything is waited for: with
  // rotate = q the dQ accumulator is the last hop, still in flight.
  PendingReturn<T> keys = post_key_gradient_return(ctx, clock, inter.key_grad_layout(), grads.d_sources,
                                                   forward.source_block, {"return of key gradients", 0});
  const comm::Label dq_label{"team reduce-scatter of query gradients", 0};
  PendingReduce<T> queries;
  if (side == RotateSide::key)
    queries = post_team_reduce(ctx, clock, inter.query_grad_layout(), grads.d_targets, dq_label);
  clock.wait(ctx.world(), grads.home.arrival);
  if (side == RotateSide::query)
    queries = post_team_reduce(ctx, clock, inter.query_grad_layout(), grads.d_targets, dq_label);
  finish_team_reduce(ctx, clock, queries, sum_combine<T>(ctx.compute_space()), shard.d_targets);
  if (late) {
    *late = {std::move(keys), true};
  } else {
    finish_key_gradient_return(ctx, clock, keys, shard.d_sources);
  }
  return clock.times();
}

/// \brief Waits for the key gradients `late` left in flight and sums them into
/// shard.d_sources; returns the time it took (nothing when nothing was left).
template <class T>
ScheduleTimes finish_multi_ring_key_gradients(ScheduleContext& ctx, LateKeyGradients<T>& late,
                                              const ShardBlocks<T>& shard, TraceRecorder* trace = nullptr) {
  if (!late.posted) return {};
  ScheduleClock clock(trace, ctx.compute_space(), ctx.communication_space(), ctx.transfer_cost());
  finish_key_gradient_return(ctx, clock, late.pending, shard.d_sources);
  late.posted = false;
  return clock.times();
}

}  // namespace wf::nbody

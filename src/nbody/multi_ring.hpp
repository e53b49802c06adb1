// The WallFacer multi-ring schedule (DESIGN 2.3, 2.4); team size c = 1 is Ring Attention.
// Generic over the interaction: the forward needs an interaction with
//   target_layout(), source_layout(), result_layout(),
//   begin(T* team_results, index_t tokens), interact(targets, tpos, nt, sources, spos, ns, progress),
//   finish(), combine(index_t shard_tokens) -> comm::Combine<T>;
// the backward one with query_layout() (read-only query side, first segment = the forward's
// targets), query_grad_layout(), key_layout() (= source_layout()), key_grad_layout() and
//   interact_backward(query, qpos, nq, dquery, key, kpos, nk, dkey, progress).
#pragma once

#include <functional>
#include <utility>

#include "nbody/team_collectives.hpp"

namespace wf::nbody {

/// \brief Which side travels around the sub-ring in the backward pass (DESIGN 2.4).
enum class RotateSide { query, key };
inline const char* rotate_side_name(RotateSide side) { return side == RotateSide::query ? "q" : "kv"; }

/// \brief What the forward leaves for the backward.
template <class T>
struct ForwardState {
  Buffer<T> team_targets;  ///< the team's targets (c n tokens): Q_T
  Buffer<T> sources;       ///< the source block in hand at the end (saves a transfer)
  int source_block = 0;    ///< its team block id
};

/// \brief Forward: team all-gather, initial send, G compute steps with double-buffered shifts,
/// team reduce-scatter with the interaction's combine. `results` receives the own shard.
template <class Interaction, class T>
ForwardState<T> multi_ring_forward(ScheduleContext& ctx, Interaction& inter, const Buffer<T>& targets,
                                   const Buffer<T>& sources, const Buffer<T>& results) {
  const comm::ProcessGrid& grid = ctx.grid();
  const int rank = ctx.rank(), ring = grid.ring_length();
  const index_t nt = ctx.team_tokens();
  const BlockLayout source_layout = inter.source_layout();
  ForwardState<T> state;
  state.team_targets = gather_team(ctx, inter.target_layout(), targets, "team all-gather targets");
  const Buffer<T> team_sources = gather_team(ctx, source_layout, sources, "team all-gather sources");

  Buffer<T> current("Nbody::sources_current", source_layout.size(nt));
  Buffer<T> next("Nbody::sources_next", source_layout.size(nt));
  comm::Request initial = exchange(ctx, team_sources, grid.initial_send_target(rank), current,
                                   grid.initial_send_source(rank), {"initial send of sources", 0});
  wait_exposed(ctx, initial);

  Buffer<T> team_results("Nbody::team_results", inter.result_layout().size(nt));
  inter.begin(team_results.data(), nt);
  const auto target_positions = ctx.team_positions(ctx.me().team);
  const int next_rank = grid.ring_neighbour(rank, 1), previous_rank = grid.ring_neighbour(rank, -1);
  for (int step = 0; step < ring; ++step) {
    comm::Request shift;
    if (step + 1 < ring) shift = exchange(ctx, current, next_rank, next, previous_rank, {"ring shift of sources", step + 1});
    const std::function<void()> progress = [&] {
      if (!shift.empty()) ctx.world().test(shift);
    };
    const int block = grid.key_block_after(rank, step);
    ctx.timed(perf::Phase::attention_compute, ctx.times.compute, [&] {
      inter.interact(state.team_targets.data(), target_positions, nt, current.data(), ctx.team_positions(block), nt,
                     progress);
    });
    if (step + 1 < ring) {
      wait_exposed(ctx, shift);
      std::swap(current, next);
    }
  }
  ctx.timed(perf::Phase::attention_compute, ctx.times.compute, [&] { inter.finish(); });
  reduce_team(ctx, inter.result_layout(), team_results, inter.combine(ctx.shard_tokens()), results,
              "team reduce-scatter of results");
  state.sources = current;
  state.source_block = grid.key_block_after(rank, ring - 1);
  return state;
}

namespace detail {

/// acc_out = acc_in + acc_tmp
template <class T>
void add_buffers(const Buffer<T>& out, const Buffer<T>& a, const Buffer<T>& b) {
  Kokkos::parallel_for(
      "Nbody::add_buffers", Kokkos::RangePolicy<ExecSpace>(0, out.span()),
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
/// compute(step, read_only, accumulator_contribution) does the interaction of one step.
template <class T, class Compute>
Homecoming<T> rotate(ScheduleContext& ctx, Buffer<T> read_only, std::size_t accumulator_size, Compute&& compute) {
  const comm::ProcessGrid& grid = ctx.grid();
  const int rank = ctx.rank(), ring = grid.ring_length();
  const int next_rank = grid.ring_neighbour(rank, 1), previous_rank = grid.ring_neighbour(rank, -1);
  Buffer<T> read_only_next("Nbody::rotate_next", read_only.span());
  Buffer<T> contribution("Nbody::rotate_contribution", accumulator_size);
  Buffer<T> incoming("Nbody::rotate_incoming", accumulator_size);
  Buffer<T> outgoing[2] = {Buffer<T>("Nbody::rotate_outgoing0", accumulator_size),
                           Buffer<T>("Nbody::rotate_outgoing1", accumulator_size)};
  comm::Request accumulator_transfer;
  for (int step = 0; step < ring; ++step) {
    comm::Request shift;
    if (step + 1 < ring)
      shift = exchange(ctx, read_only, next_rank, read_only_next, previous_rank, {"backward shift", step + 1});
    const std::function<void()> progress = [&] {
      if (!shift.empty()) ctx.world().test(shift);
      if (!accumulator_transfer.empty()) ctx.world().test(accumulator_transfer);
    };
    ctx.timed(perf::Phase::attention_compute, ctx.times.compute, [&] {
      Kokkos::deep_copy(contribution, T(0));
      compute(step, read_only, contribution, progress);
    });
    Buffer<T>& out = outgoing[step % 2];
    if (step == 0) {
      ctx.timed(perf::Phase::other, ctx.times.other, [&] { Kokkos::deep_copy(out, contribution); });
    } else {
      wait_exposed(ctx, accumulator_transfer);
      ctx.timed(perf::Phase::other, ctx.times.other, [&] { add_buffers(out, incoming, contribution); });
    }
    if (ring > 1)
      accumulator_transfer = exchange(ctx, out, next_rank, incoming, previous_rank, {"backward accumulator", step});
    if (step + 1 < ring) {
      wait_exposed(ctx, shift);
      std::swap(read_only, read_only_next);
    }
  }
  if (ring == 1) return {outgoing[0], Buffer<T>(), comm::Request()};
  return {incoming, outgoing[(ring - 1) % 2], std::move(accumulator_transfer)};
}

}  // namespace detail

/// \brief Backward from the own shard's forward results and output gradient (dO). Gradients
/// of the own shard go to dquery_shard and dkey_shard. Consumes `forward` (with rotate = kv the
/// travelling key blocks reuse forward.sources' memory).
template <class Interaction, class T>
void multi_ring_backward(ScheduleContext& ctx, Interaction& inter, RotateSide side, const ForwardState<T>& forward,
                         const Buffer<T>& results, const Buffer<T>& d_output, const Buffer<T>& dquery_shard,
                         const Buffer<T>& dkey_shard) {
  const comm::ProcessGrid& grid = ctx.grid();
  const int rank = ctx.rank(), ring = grid.ring_length();
  const index_t nt = ctx.team_tokens();
  const BlockLayout query_layout = inter.query_layout();
  const BlockLayout rest_layout = query_layout.slice(1, query_layout.segments.size());
  const std::size_t dquery_size = inter.query_grad_layout().size(nt), dkey_size = inter.key_grad_layout().size(nt);

  // The team's query bundle: Q_T from the forward, then the gathered rest (dO, lse, D).
  Buffer<T> query_rest("Nbody::query_rest", rest_layout.size(ctx.shard_tokens()));
  ctx.timed(perf::Phase::attention_compute, ctx.times.compute,
        [&] { inter.make_query_rest(results.data(), d_output.data(), query_rest.data(), ctx.shard_tokens()); });
  const Buffer<T> rest = gather_team(ctx, rest_layout, query_rest, "team all-gather of backward inputs");
  Buffer<T> query("Nbody::query_bundle", query_layout.size(nt));
  const std::size_t targets_size = forward.team_targets.span();
  ctx.timed(perf::Phase::other, ctx.times.other, [&] {
    Kokkos::deep_copy(Kokkos::subview(query, std::make_pair(std::size_t(0), targets_size)), forward.team_targets);
    Kokkos::deep_copy(Kokkos::subview(query, std::make_pair(targets_size, query.span())), rest);
  });

  Buffer<T> dquery_team, dkey_block;
  detail::Homecoming<T> home;
  if (side == RotateSide::query) {
    dkey_block = Buffer<T>("Nbody::dkey_stationary", dkey_size);
    const auto key_positions = ctx.team_positions(forward.source_block);
    home = detail::rotate<T>(ctx, query, dquery_size, [&](int step, const Buffer<T>& q, const Buffer<T>& dq,
                                                                 const std::function<void()>& progress) {
      const int team = grid.coordinates(grid.ring_neighbour(rank, -step)).team;  // whose queries are in hand
      inter.interact_backward(q.data(), ctx.team_positions(team), nt, dq.data(), forward.sources.data(),
                              key_positions, nt, dkey_block.data(), progress);
    });
  } else {
    dquery_team = Buffer<T>("Nbody::dquery_stationary", dquery_size);
    const auto query_positions = ctx.team_positions(ctx.me().team);
    home = detail::rotate<T>(ctx, forward.sources, dkey_size, [&](int step, const Buffer<T>& k, const Buffer<T>& dk,
                                                                        const std::function<void()>& progress) {
      const int block = grid.key_block_after(grid.ring_neighbour(rank, -step), ring - 1);  // whose keys are in hand
      inter.interact_backward(query.data(), query_positions, nt, dquery_team.data(), k.data(),
                              ctx.team_positions(block), nt, dk.data(), progress);
    });
  }

  // The travelling accumulator's last hop is still in flight: with rotate = q the key gradients
  // are already complete and their return overlaps it; with rotate = kv they are what arrives.
  if (side == RotateSide::query) {
    dquery_team = home.accumulator;
  } else {
    wait_exposed(ctx, home.arrival);
    dkey_block = home.accumulator;
  }
  // dK, dV: back to the key block's own team (inverse of the initial send), then summed there
  // over the c groups that each held one copy.
  Buffer<T> dkey_team("Nbody::dkey_team", dkey_size);
  comm::Request back = exchange(ctx, dkey_block, grid.initial_send_source(grid.ring_neighbour(rank, -(ring - 1))),
                                dkey_team, grid.ring_neighbour(grid.initial_send_target(rank), ring - 1),
                                {"return of key gradients", 0});
  wait_exposed(ctx, home.arrival);
  wait_exposed(ctx, back);
  // dQ: sum over the team (each member saw one sub-ring's keys).
  reduce_team(ctx, inter.query_grad_layout(), dquery_team, sum_combine<T>(), dquery_shard,
              "team reduce-scatter of query gradients");
  reduce_team(ctx, inter.key_grad_layout(), dkey_team, sum_combine<T>(), dkey_shard,
              "team reduce-scatter of key gradients");
}

}  // namespace wf::nbody

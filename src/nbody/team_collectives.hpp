// Team-level steps shared by the schedules: gather shards into a team block, reduce a team
// block back to shards, point-to-point exchanges that skip self-transfers. Transfers run on
// the context's communication instance; each step puts the ordering points against the
// compute instance where its data crosses between the two (docs/communication.md, "Streams").
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "nbody/block_layout.hpp"
#include "nbody/schedule_clock.hpp"
#include "nbody/schedule_context.hpp"

namespace wf::nbody {

/// \brief Team all-gather: own shard (n tokens) -> team block (c n tokens, member a at [a n, (a+1) n)).
template <class T>
Buffer<T> gather_team(const ScheduleContext& ctx, ScheduleClock& clock, const BlockLayout& layout,
                      const Buffer<T>& shard, const char* what) {
  const int c = ctx.grid().team_size();
  const index_t n = ctx.shard_tokens();
  if (c == 1) return shard;
  Buffer<T> gathered = unfilled_buffer<T>("Nbody::gathered", layout.size(n) * c);
  Buffer<T> block = unfilled_buffer<T>("Nbody::team_block", layout.size(n * c));
  clock.collective([&] {
    ctx.communication_after_compute();  // compute wrote the shard
    ctx.team().all_gather(shard.data(), gathered.data(), layout.size(n), {what, 0}, ctx.communication_space());
    ctx.compute_after_communication();  // the reorder below reads what arrived
  });
  clock.local([&] { concat_blocks(ctx.compute_space(), layout, c, n, gathered.data(), block.data()); });
  return block;
}

/// \brief Posts `transfers` on the communication instance after compute wrote what they send
/// (and read what they overwrite), counts the point-to-point bytes as the communicator's
/// counters see them, and keeps `send` and `recv` alive until the transfers complete.
template <class T>
comm::Request post_point_to_point(const ScheduleContext& ctx, ScheduleClock& clock,
                                  const std::vector<comm::Transfer>& transfers, comm::Label label,
                                  const Buffer<T>& send, const Buffer<T>& recv) {
  comm::Communicator& world = ctx.world();
  ctx.communication_after_compute();
  const std::uint64_t counted_before = world.traffic().total_bytes();
  comm::Request request = world.post(transfers, label, ctx.communication_space());
  clock.count_transfer(world.traffic().total_bytes() - counted_before);
  request.keep_alive(std::make_shared<std::pair<Buffer<T>, Buffer<T>>>(send, recv));
  return request;
}

/// \brief Forward, step 0: the team block this rank starts with (grid.initial_send_source's
/// team block, c n tokens in `layout`), straight from the c members of that team: each member
/// sends its own shard to the c ranks that start with its team's block (one of them may be
/// itself). The K, V all-gather of the old path is not needed: its block was only the payload
/// of one initial send. Waits for the transfers; returns the reordered block.
template <class T>
Buffer<T> direct_initial_block(const ScheduleContext& ctx, ScheduleClock& clock, const BlockLayout& layout,
                               const Buffer<T>& shard, comm::Label label) {
  const comm::ProcessGrid& grid = ctx.grid();
  const int c = grid.team_size(), rank = ctx.rank();
  const index_t n = ctx.shard_tokens();
  const std::size_t part = layout.size(n);
  Buffer<T> parts = unfilled_buffer<T>("Nbody::initial_parts", part * c);
  const int source_team = grid.coordinates(grid.initial_send_source(rank)).team;
  std::vector<comm::Transfer> transfers;
  for (int a = 0; a < c; ++a)  // to the ranks that start with this team's block, in member order
    transfers.push_back({comm::Transfer::send, const_cast<T*>(shard.data()), part * sizeof(T),
                         grid.initial_send_target(grid.rank_of(ctx.me().team, a))});
  for (int b = 0; b < c; ++b)  // member b's shard lands in part b
    transfers.push_back({comm::Transfer::recv, parts.data() + b * part, part * sizeof(T), grid.rank_of(source_team, b)});
  comm::Request request = post_point_to_point(ctx, clock, transfers, label, shard, parts);
  clock.wait(ctx.world(), request);
  if (c == 1) return parts;
  Buffer<T> block = unfilled_buffer<T>("Nbody::team_block", layout.size(n * c));
  clock.local([&] { concat_blocks(ctx.compute_space(), layout, c, n, parts.data(), block.data()); });
  return block;
}

/// \brief out[i] = in[i] + in[part + i] + ... over `parts` consecutive parts, in part order.
template <class T>
void sum_parts(const ExecSpace& space, int parts, std::size_t part, const T* in, T* out) {
  Kokkos::parallel_for(
      "Nbody::sum_parts", Kokkos::RangePolicy<ExecSpace>(space, 0, part), KOKKOS_LAMBDA(const std::size_t i) {
        T sum = in[i];
        for (int a = 1; a < parts; ++a) sum += in[a * part + i];
        out[i] = sum;
      });
}

/// \brief Backward, the end: the key gradients of team block `block_team` that this rank
/// holds (c n tokens in `layout`; one of the c partial copies, one per group that held the
/// block) go straight home in shards: member a of that team gets shard a. This rank's own
/// shard arrives from the c holders of its team's block (the holder that the old return paired
/// with member a comes a-th) and is summed in that order into `shard`. Replaces a return of the
/// whole block and a team reduce-scatter. `before_wait` runs after posting (overlap).
template <class T, class BeforeWait>
void direct_key_gradient_return(const ScheduleContext& ctx, ScheduleClock& clock, const BlockLayout& layout,
                                const Buffer<T>& block, int block_team, const Buffer<T>& shard, comm::Label label,
                                BeforeWait&& before_wait) {
  const comm::ProcessGrid& grid = ctx.grid();
  const int c = grid.team_size();
  const index_t n = ctx.shard_tokens();
  const std::size_t part = layout.size(n);
  Buffer<T> outgoing = c == 1 ? block : unfilled_buffer<T>("Nbody::dkey_parts", part * c);
  if (c > 1) clock.local([&] { split_blocks(ctx.compute_space(), layout, c, n, block.data(), outgoing.data()); });
  Buffer<T> incoming = unfilled_buffer<T>("Nbody::dkey_incoming", part * c);
  std::vector<comm::Transfer> transfers;
  for (int a = 0; a < c; ++a)
    transfers.push_back({comm::Transfer::send, outgoing.data() + a * part, part * sizeof(T), grid.rank_of(block_team, a)});
  for (int a = 0; a < c; ++a)
    transfers.push_back({comm::Transfer::recv, incoming.data() + a * part, part * sizeof(T),
                         grid.key_gradient_return_source(grid.rank_of(ctx.me().team, a))});
  comm::Request request = post_point_to_point(ctx, clock, transfers, label, outgoing, incoming);
  before_wait();
  clock.wait(ctx.world(), request);
  clock.local([&] { sum_parts(ctx.compute_space(), c, part, incoming.data(), shard.data()); });
}

/// \brief Team reduce-scatter: team block (c n tokens) -> own shard, parts combined by `combine`.
template <class T>
void reduce_team(const ScheduleContext& ctx, ScheduleClock& clock, const BlockLayout& layout, const Buffer<T>& block,
                 const comm::Combine<T>& combine, const Buffer<T>& shard, const char* what) {
  const int c = ctx.grid().team_size();
  const index_t n = ctx.shard_tokens();
  if (c == 1) {
    clock.local([&] { Kokkos::deep_copy(ctx.compute_space(), shard, block); });
    return;
  }
  Buffer<T> parts = unfilled_buffer<T>("Nbody::parts", layout.size(n) * c);
  clock.local([&] { split_blocks(ctx.compute_space(), layout, c, n, block.data(), parts.data()); });
  // The combine runs where it was made (the compute instance); what it merged is sent next.
  const comm::Combine<T> combine_then_send = [&](T* acc, const T* incoming, std::size_t count) {
    combine(acc, incoming, count);
    ctx.communication_after_compute();
  };
  clock.collective([&] {
    ctx.communication_after_compute();  // compute wrote the parts
    ctx.team().reduce_scatter(parts.data(), shard.data(), layout.size(n), combine_then_send, {what, 0},
                              ctx.communication_space());
    ctx.compute_after_communication();  // the caller's compute reads the shard
  });
}

/// \brief acc[i] += incoming[i] on `space`: the combine of gradients and forces.
template <class T>
comm::Combine<T> sum_combine(const ExecSpace& space) {
  return [space](T* acc, const T* incoming, std::size_t count) {
    Kokkos::parallel_for(
        "Nbody::sum_combine", Kokkos::RangePolicy<ExecSpace>(space, 0, count),
        KOKKOS_LAMBDA(const std::size_t i) { acc[i] += incoming[i]; });
  };
}

/// \brief Sends `send` to rank `to` and receives `recv` from `from` (world ranks); a
/// self-exchange is a local copy and returns an empty request.
template <class T>
comm::Request exchange(const ScheduleContext& ctx, ScheduleClock& clock, const Buffer<T>& send, int to,
                       const Buffer<T>& recv, int from, comm::Label label) {
  if (to == ctx.rank() && from == ctx.rank()) {
    clock.local([&] { Kokkos::deep_copy(ctx.compute_space(), recv, send); });
    return comm::Request();
  }
  return post_point_to_point(ctx, clock,
                             {{comm::Transfer::send, const_cast<T*>(send.data()), send.span() * sizeof(T), to},
                              {comm::Transfer::recv, recv.data(), recv.span() * sizeof(T), from}},
                             label, send, recv);
}

}  // namespace wf::nbody

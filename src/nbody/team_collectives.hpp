// Team-level steps shared by the schedules: gather shards into a team block, reduce a team
// block back to shards, point-to-point exchanges that skip self-transfers. The team steps are
// posted (non-blocking, every wait under the communicator's deadline) and finished later, so
// a schedule can keep several in flight and compute meanwhile. Transfers run on
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

/// \brief Posts `transfers` on `comm` (on the communication instance) after compute wrote what
/// they send (and read what they overwrite), counts the point-to-point bytes as the
/// communicator's counters see them, and keeps `send` and `recv` alive until they complete.
template <class T>
comm::Request post_point_to_point(const ScheduleContext& ctx, ScheduleClock& clock, comm::Communicator& comm,
                                  const std::vector<comm::Transfer>& transfers, comm::Label label,
                                  const Buffer<T>& send, const Buffer<T>& recv) {
  ctx.communication_after_compute();
  const std::uint64_t counted_before = comm.traffic().total_bytes();
  comm::Request request = comm.post(transfers, label, ctx.communication_space());
  clock.count_transfer(comm.traffic().total_bytes() - counted_before);
  request.keep_alive(std::make_shared<std::pair<Buffer<T>, Buffer<T>>>(send, recv));
  return request;
}

/// \brief A team block arriving as c parts of n tokens (part b from the b-th source).
template <class T>
struct PendingBlock {
  comm::Communicator* comm = nullptr;  ///< null: nothing in flight, `parts` is the block
  comm::Request request;
  Buffer<T> parts;
  WaitKind kind = WaitKind::team_gather;
};

/// \brief Posts the own shard (n tokens in `layout`) to the c ranks `to` of `comm` and c parts
/// from the ranks `from` (part b from from[b]); a rank may be itself (a local transfer, not
/// counted). Nothing waits: finish_block completes it.
template <class T>
PendingBlock<T> post_block_parts(const ScheduleContext& ctx, ScheduleClock& clock, comm::Communicator& comm,
                                 const BlockLayout& layout, const Buffer<T>& shard, const std::vector<int>& to,
                                 const std::vector<int>& from, comm::Label label, WaitKind kind) {
  const std::size_t part = layout.size(ctx.shard_tokens());
  PendingBlock<T> pending{&comm, comm::Request(), unfilled_buffer<T>("Nbody::block_parts", part * from.size()), kind};
  std::vector<comm::Transfer> transfers;
  for (const int peer : to)
    transfers.push_back({comm::Transfer::send, const_cast<T*>(shard.data()), part * sizeof(T), peer});
  for (std::size_t b = 0; b < from.size(); ++b)
    transfers.push_back({comm::Transfer::recv, pending.parts.data() + b * part, part * sizeof(T), from[b]});
  pending.request = post_point_to_point(ctx, clock, comm, transfers, label, shard, pending.parts);
  return pending;
}

/// \brief Team all-gather, posted: the own shard to every member, member b's shard into part b.
/// Sends (c - 1) n tokens in c - 1 messages, as a ring all-gather does, but all at once.
template <class T>
PendingBlock<T> post_team_gather(const ScheduleContext& ctx, ScheduleClock& clock, const BlockLayout& layout,
                                 const Buffer<T>& shard, comm::Label label) {
  const int c = ctx.grid().team_size();
  if (c == 1) return {nullptr, comm::Request(), shard, WaitKind::team_gather};
  std::vector<int> members(static_cast<std::size_t>(c));
  for (int a = 0; a < c; ++a) members[static_cast<std::size_t>(a)] = a;  // team rank = local rank
  return post_block_parts(ctx, clock, ctx.team(), layout, shard, members, members, label, WaitKind::team_gather);
}

/// \brief Forward, step 0, posted: the team block this rank starts with
/// (grid.initial_send_source's team), straight from the c members of that team: each member
/// sends its own shard to the c ranks that start with its team's block (one may be itself).
/// No K, V all-gather: its block was only the payload of one initial send.
template <class T>
PendingBlock<T> post_initial_block(const ScheduleContext& ctx, ScheduleClock& clock, const BlockLayout& layout,
                                   const Buffer<T>& shard, comm::Label label) {
  const comm::ProcessGrid& grid = ctx.grid();
  const int source_team = grid.coordinates(grid.initial_send_source(ctx.rank())).team;
  std::vector<int> from;
  for (int b = 0; b < grid.team_size(); ++b) from.push_back(grid.rank_of(source_team, b));
  return post_block_parts(ctx, clock, ctx.world(), layout, shard, grid.initial_block_holders(ctx.me().team), from,
                          label, WaitKind::initial_send);
}

/// \brief Waits for a posted block and returns it reordered (c n tokens in `layout`).
template <class T>
Buffer<T> finish_block(const ScheduleContext& ctx, ScheduleClock& clock, const BlockLayout& layout,
                       PendingBlock<T>& pending) {
  if (pending.comm) clock.wait(*pending.comm, pending.request, pending.kind);
  const int c = ctx.grid().team_size();
  if (c == 1) return pending.parts;
  const index_t n = ctx.shard_tokens();
  Buffer<T> block = unfilled_buffer<T>("Nbody::team_block", layout.size(n * c));
  clock.local([&] { concat_blocks(ctx.compute_space(), layout, c, n, pending.parts.data(), block.data()); });
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

/// \brief Key gradients on their way home (post_key_gradient_return).
template <class T>
struct PendingReturn {
  comm::Request request;
  Buffer<T> outgoing, incoming;  ///< c parts each
};

/// \brief Backward, the end, posted: the key gradients of team block `block_team` that this
/// rank holds (c n tokens in `layout`; one of the c partial copies, one per group that held the
/// block) go straight home in shards: member a of that team gets shard a. This rank's own shard
/// arrives from the c holders of its team's block (the holder that the old return paired with
/// member a comes a-th). Replaces a return of the whole block and a team reduce-scatter.
template <class T>
PendingReturn<T> post_key_gradient_return(const ScheduleContext& ctx, ScheduleClock& clock, const BlockLayout& layout,
                                          const Buffer<T>& block, int block_team, comm::Label label) {
  const comm::ProcessGrid& grid = ctx.grid();
  const int c = grid.team_size();
  const index_t n = ctx.shard_tokens();
  const std::size_t part = layout.size(n);
  PendingReturn<T> pending;
  pending.outgoing = c == 1 ? block : unfilled_buffer<T>("Nbody::dkey_parts", part * c);
  if (c > 1)
    clock.local([&] { split_blocks(ctx.compute_space(), layout, c, n, block.data(), pending.outgoing.data()); });
  pending.incoming = unfilled_buffer<T>("Nbody::dkey_incoming", part * c);
  std::vector<comm::Transfer> transfers;
  for (int a = 0; a < c; ++a)
    transfers.push_back(
        {comm::Transfer::send, pending.outgoing.data() + a * part, part * sizeof(T), grid.rank_of(block_team, a)});
  for (int a = 0; a < c; ++a)
    transfers.push_back({comm::Transfer::recv, pending.incoming.data() + a * part, part * sizeof(T),
                         grid.key_gradient_return_source(grid.rank_of(ctx.me().team, a))});
  pending.request = post_point_to_point(ctx, clock, ctx.world(), transfers, label, pending.outgoing, pending.incoming);
  return pending;
}

/// \brief Waits for the own shard's key gradients and sums the c parts in order into `shard`.
template <class T>
void finish_key_gradient_return(const ScheduleContext& ctx, ScheduleClock& clock, PendingReturn<T>& pending,
                                const Buffer<T>& shard) {
  clock.wait(ctx.world(), pending.request, WaitKind::key_gradient_return);
  const int c = ctx.grid().team_size();
  clock.local([&] { sum_parts(ctx.compute_space(), c, shard.span(), pending.incoming.data(), shard.data()); });
}

/// \brief A team reduce-scatter in flight (post_team_reduce).
template <class T>
struct PendingReduce {
  comm::Request request;
  Buffer<T> parts;     ///< the own block split in c parts (c = 1: the block)
  Buffer<T> incoming;  ///< part a from member a (the own slot unused)
};

/// \brief Team reduce-scatter, posted: part a of the team block (c n tokens in `layout`) to
/// member a, the other members' copies of the own part into `incoming`. Sends (c - 1) n tokens
/// in c - 1 messages, as a ring reduce-scatter does, but all at once.
template <class T>
PendingReduce<T> post_team_reduce(const ScheduleContext& ctx, ScheduleClock& clock, const BlockLayout& layout,
                                  const Buffer<T>& block, comm::Label label) {
  const int c = ctx.grid().team_size(), me = ctx.me().local;
  const index_t n = ctx.shard_tokens();
  if (c == 1) return {comm::Request(), block, Buffer<T>()};
  const std::size_t part = layout.size(n);
  PendingReduce<T> pending{comm::Request(), unfilled_buffer<T>("Nbody::parts", part * c),
                           unfilled_buffer<T>("Nbody::parts_incoming", part * c)};
  clock.local([&] { split_blocks(ctx.compute_space(), layout, c, n, block.data(), pending.parts.data()); });
  std::vector<comm::Transfer> transfers;
  for (int d = 1; d < c; ++d) {
    const int a = (me + d) % c;
    transfers.push_back({comm::Transfer::send, pending.parts.data() + a * part, part * sizeof(T), a});
  }
  for (int d = 1; d < c; ++d) {
    const int a = (me + d) % c;
    transfers.push_back({comm::Transfer::recv, pending.incoming.data() + a * part, part * sizeof(T), a});
  }
  pending.request = post_point_to_point(ctx, clock, ctx.team(), transfers, label, pending.parts, pending.incoming);
  return pending;
}

/// \brief Waits for a posted team reduce-scatter and combines the own part into `shard` in the
/// order of comm::Communicator::reduce_scatter (member me + 1's copy first, the own last), so
/// the result is the ring collective's, bit for bit.
template <class T>
void finish_team_reduce(const ScheduleContext& ctx, ScheduleClock& clock, PendingReduce<T>& pending,
                        const comm::Combine<T>& combine, const Buffer<T>& shard) {
  const int c = ctx.grid().team_size(), me = ctx.me().local;
  if (c == 1) {
    clock.local([&] { Kokkos::deep_copy(ctx.compute_space(), shard, pending.parts); });
    return;
  }
  clock.wait(ctx.team(), pending.request, WaitKind::team_reduce);
  const std::size_t part = shard.span();
  const auto copy_of = [&](int a) { return (a == me ? pending.parts : pending.incoming).data() + a * part; };
  clock.local([&] {
    const auto first =
        Kokkos::subview(pending.incoming, std::make_pair((me + 1) % c * part, ((me + 1) % c + 1) * part));
    Kokkos::deep_copy(ctx.compute_space(), shard, first);
    for (int j = 2; j <= c; ++j) combine(shard.data(), copy_of((me + j) % c), part);
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
  return post_point_to_point(ctx, clock, ctx.world(),
                             {{comm::Transfer::send, const_cast<T*>(send.data()), send.span() * sizeof(T), to},
                              {comm::Transfer::recv, recv.data(), recv.span() * sizeof(T), from}},
                             label, send, recv);
}

}  // namespace wf::nbody

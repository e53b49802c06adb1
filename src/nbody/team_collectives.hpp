// Team-level steps shared by the schedules: gather shards into a team block, reduce a team
// block back to shards, point-to-point exchanges that skip self-transfers.
#pragma once

#include <utility>

#include "nbody/block_layout.hpp"
#include "nbody/schedule_context.hpp"

namespace wf::nbody {

/// \brief Team all-gather: own shard (n tokens) -> team block (c n tokens, member a at [a n, (a+1) n)).
template <class T>
Buffer<T> gather_team(ScheduleContext& ctx, const BlockLayout& layout, const Buffer<T>& shard, const char* what) {
  const int c = ctx.grid().team_size();
  const index_t n = ctx.shard_tokens();
  if (c == 1) return shard;
  Buffer<T> gathered("Nbody::gathered", layout.size(n) * c), block("Nbody::team_block", layout.size(n * c));
  ctx.timed(perf::Phase::collective, ctx.times.collectives, [&] { ctx.team().all_gather(shard.data(), gathered.data(), layout.size(n), {what, 0}); });
  ctx.timed(perf::Phase::other, ctx.times.other, [&] { concat_blocks(layout, c, n, gathered.data(), block.data()); });
  return block;
}

/// \brief Team reduce-scatter: team block (c n tokens) -> own shard, parts combined by `combine`.
template <class T>
void reduce_team(ScheduleContext& ctx, const BlockLayout& layout, const Buffer<T>& block,
                 const comm::Combine<T>& combine, const Buffer<T>& shard, const char* what) {
  const int c = ctx.grid().team_size();
  const index_t n = ctx.shard_tokens();
  if (c == 1) {
    ctx.timed(perf::Phase::other, ctx.times.other, [&] { Kokkos::deep_copy(shard, block); });
    return;
  }
  Buffer<T> parts("Nbody::parts", layout.size(n) * c);
  ctx.timed(perf::Phase::other, ctx.times.other, [&] { split_blocks(layout, c, n, block.data(), parts.data()); });
  ctx.timed(perf::Phase::collective, ctx.times.collectives,
        [&] { ctx.team().reduce_scatter(parts.data(), shard.data(), layout.size(n), combine, {what, 0}); });
}

/// \brief acc[i] += incoming[i]: the combine of gradients.
template <class T>
comm::Combine<T> sum_combine() {
  return [](T* acc, const T* incoming, std::size_t count) {
    Kokkos::parallel_for(
        "Nbody::sum_combine", Kokkos::RangePolicy<ExecSpace>(0, count),
        KOKKOS_LAMBDA(const std::size_t i) { acc[i] += incoming[i]; });
  };
}

/// \brief Sends `send` to world rank `to` and receives `recv` from `from` (count scalars
/// each); a self-exchange is a local copy and returns an empty request.
template <class T>
comm::Request exchange(ScheduleContext& ctx, const Buffer<T>& send, int to, const Buffer<T>& recv, int from,
                       comm::Label label) {
  const std::size_t bytes = send.span() * sizeof(T);
  if (to == ctx.rank() && from == ctx.rank()) {
    Kokkos::deep_copy(recv, send);
    return comm::Request();
  }
  ++ctx.times.ring_transfers;
  // Point-to-point bytes as the communicator's counters see them (not the buffer sizes).
  const std::uint64_t counted_before = ctx.world().traffic().total_bytes();
  comm::Request request = ctx.world().post({{comm::Transfer::send, const_cast<T*>(send.data()), bytes, to},
                                            {comm::Transfer::recv, recv.data(), recv.span() * sizeof(T), from}},
                                           label);
  ctx.times.p2p_bytes += static_cast<double>(ctx.world().traffic().total_bytes() - counted_before);
  request.keep_alive(std::make_shared<std::pair<Buffer<T>, Buffer<T>>>(send, recv));
  return request;
}

/// \brief Waits for `request` (if any), charging the time to exposed communication.
inline void wait_exposed(ScheduleContext& ctx, comm::Request& request) {
  if (request.empty()) return;
  // For the trace: the step, the first peer and the bytes this process sends in the request.
  const comm::Request::State& state = *request.state();
  std::int32_t peer = -1;
  std::uint64_t bytes = 0;
  for (const auto& item : state.items) {
    if (peer < 0) peer = ctx.world().world_rank(item.peer);
    if (item.kind == comm::Transfer::send) bytes += item.bytes;
  }
  ctx.timed(perf::Phase::p2p_wait, ctx.times.ring_wait, [&] { ctx.world().wait(request); }, state.step, peer, bytes);
}

}  // namespace wf::nbody

#include "problems/attention_pairs.hpp"

#include <Kokkos_Core.hpp>

#include <vector>

#include "comm/reductions.hpp"
#include "kernels/attention.hpp"
#include "kernels/attention_tiles.hpp"

namespace wf::problems {
namespace {

using HostPositions = Kokkos::View<const index_t*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

kernels::TileStats count(const kernels::AttentionOptions& options, const std::vector<index_t>& q,
                         const std::vector<index_t>& k) {
  return kernels::count_tiles(options, HostPositions(q.data(), q.size()), HostPositions(k.data(), k.size()));
}

/// This rank's share, per head: Ulysses' one full-sequence pair on rank 0; for Ring and
/// WallFacer, its team's queries against the key teams t = local, local + c, ... (the members of
/// a team split the key teams between them, so every team pair is counted once).
kernels::TileStats local_share(const nbody::Sharding& sharding, const ScheduleChoice& choice,
                               const kernels::AttentionOptions& options, int rank) {
  if (choice.schedule == Schedule::ulysses) {
    if (rank != 0) return {};
    const std::vector<index_t> all = sharding.positions(0, sharding.shards());
    return count(options, all, all);
  }
  const comm::ProcessGrid& grid = choice.grid;
  const int c = grid.team_size(), teams = grid.processes() / c;
  const comm::GridCoordinates me = grid.coordinates(rank);
  const std::vector<index_t> queries = sharding.positions(me.team * c, c);
  kernels::TileStats stats;
  for (int t = me.local; t < teams; t += c) stats += count(options, queries, sharding.positions(t * c, c));
  return stats;
}

}  // namespace

PairCount count_attention_pairs(const nbody::Sharding& sharding, const ScheduleChoice& choice,
                                const kernels::AttentionOptions& options, int rank, MPI_Comm comm) {
  PairCount pairs;
  // The hybrid's ring groups tile merged shards, and the gemm path computes chunks of 512 keys
  // against all rows of a head: neither follows count_tiles.
  if (choice.heads || kernels::effective_impl<MemSpace>(options.impl) == TileImpl::gemm) return pairs;
  const kernels::TileStats mine = local_share(sharding, choice, options, rank);
  const std::vector<double> sums = comm::sum_over_ranks(
      comm, {double(mine.pairs_computed) * options.heads, double(mine.pairs_unmasked) * options.heads},
      "summing the attention pairs");
  pairs.counted = true;
  pairs.computed = sums[0];
  pairs.needed = sums[1];
  return pairs;
}

}  // namespace wf::problems

// What the tile loops of a distributed attention layer compute against what the mask needs:
// (query, key) pairs over the whole job, from the same tiling the kernels use (count_tiles),
// applied to the block pairs each schedule meets.
#pragma once

#include <mpi.h>

#include "kernels/attention_types.hpp"
#include "nbody/sharding.hpp"
#include "problems/parallel_setup.hpp"

namespace wf::problems {

/// \brief Pairs of one forward over every head and rank (the backward visits the same ones).
struct PairCount {
  bool counted = false;  ///< false for the hybrid and the gemm path (not counted)
  double computed = 0;   ///< pairs evaluated, masked or not
  double needed = 0;     ///< pairs the mask lets interact
};

/// \brief Collective: Ring and WallFacer meet every (query team block, key team block) pair
/// once, Ulysses the whole sequence on each head; each rank counts its share and the shares
/// are summed. `options` are the resolved tile options (impl, tiles, mask, heads).
PairCount count_attention_pairs(const nbody::Sharding& sharding, const ScheduleChoice& choice,
                                const kernels::AttentionOptions& options, int rank, MPI_Comm comm);

}  // namespace wf::problems

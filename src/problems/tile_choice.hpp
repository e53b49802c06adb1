// attention.impl for the attention and training problems: the deck's tile path, or with
// "auto" the faster one of a short measurement in this run (docs/decks.md).
#pragma once

#include <mpi.h>

#include <vector>

#include "config/run_config.hpp"
#include "kernels/attention_types.hpp"
#include "problems/parallel_setup.hpp"

namespace wf::problems {

/// Query (and key) tokens of the block pair attention.impl = "auto" measures, at most.
constexpr index_t auto_measure_tokens = 2048;

/// \brief The tile paths this build's memory runs for `opt`: blas (host memory only), gemm, and
/// fused when its tiles fit the team scratch (kernels/attention_limits.hpp).
std::vector<TileImpl> available_tile_paths(const kernels::AttentionOptions& opt, std::size_t scalar_bytes);

/// \brief Collective over comm: `opt` with the tile path resolved. For attention.impl = "auto",
/// every available path runs one forward + backward of a block pair shaped like the schedule's
/// (the team block, or the whole sequence on heads / P heads for Ulysses; at most
/// auto_measure_tokens tokens) after a warm-up, and the path whose slowest rank is fastest
/// wins (every rank agrees); rank 0 prints the times. Otherwise `opt` as it is.
template <class T>
kernels::AttentionOptions resolve_tile_path(const config::RunConfig& cfg, kernels::AttentionOptions opt,
                                            const ScheduleChoice& schedule, MPI_Comm comm);

}  // namespace wf::problems

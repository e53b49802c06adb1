// The memory a training run should need per rank in its memory space (device memory on GPU
// builds), predicted from the model shape and the schedule, next to the high-water mark Kokkos
// reports (core/memory_watch.hpp). docs/model.md, "Memory", lists the terms.
#pragma once

#include <cstddef>

#include "model/model_config.hpp"
#include "model/transformer.hpp"

namespace wf::problems {

/// \brief Predicted peak bytes per rank: parameters with gradients and AdamW moments, the
/// activations every layer keeps for its backward, the output head's cache and the layers' shared
/// scratch (both kept between steps), and the transient of a layer's attention (the schedule's
/// team blocks and ring buffers plus the gemm path's workspace).
std::size_t predicted_train_memory_bytes(const model::ModelShape& shape, const model::AttentionPlan& plan,
                                         index_t shard_tokens, int team_size, int ranks, std::size_t scalar_bytes);

}  // namespace wf::problems

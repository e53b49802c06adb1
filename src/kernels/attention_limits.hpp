// Memory needs of the attention paths, as formulas without Kokkos: decks are checked against
// them (config/) before anything is allocated or launched.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wf::kernels {

/// Largest team scratch the fused path asks for (level 1 scratch; fits every GPU we target).
constexpr std::size_t fused_scratch_limit_bytes = std::size_t(1) << 20;  // 1 MiB

/// \brief Bytes of team scratch the fused forward or backward kernel needs (the larger one).
constexpr std::size_t fused_scratch_bytes(int q_tile, int kv_tile, int head_dim, std::size_t scalar_bytes) {
  const std::size_t q = static_cast<std::size_t>(q_tile);
  const std::size_t k = static_cast<std::size_t>(kv_tile);
  const std::size_t d = static_cast<std::size_t>(head_dim);
  // forward: K and V tiles, scores, and three row vectors
  const std::size_t forward = 2 * k * d + q * k + 3 * q;
  // backward: K, V tiles (or Q, dO tiles), probabilities and dS, and two row vectors
  const std::size_t backward = 2 * (k > q ? k : q) * d + 2 * q * k + 2 * q + 2 * k;
  return (forward > backward ? forward : backward) * scalar_bytes;
}

/// \brief Scalars the dense baseline stores: P of every head plus one N x N gradient buffer.
constexpr double dense_workspace_scalars(int heads, std::int64_t tokens) {
  return (heads + 1.0) * static_cast<double>(tokens) * static_cast<double>(tokens);
}

}  // namespace wf::kernels

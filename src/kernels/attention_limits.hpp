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

/// Largest workspace of the gemm tile path: the score chunks of every head (and their gradients).
constexpr std::size_t gemm_workspace_limit_bytes = std::size_t(256) << 20;  // 256 MiB
/// Key columns per chunk of the gemm tile path.
constexpr std::int64_t gemm_chunk_columns = 512;

/// \brief The chunk of a (query block, key block) pair the gemm tile path computes at once.
struct GemmChunk {
  std::int64_t rows = 1;     ///< query rows (every row of the block when it fits)
  std::int64_t columns = 1;  ///< key columns
};

/// \brief The gemm path's chunk for nq queries and nk keys of `heads` heads: up to
/// gemm_chunk_columns keys, and as many rows as fit two heads x rows x columns buffers in
/// gemm_workspace_limit_bytes.
constexpr GemmChunk gemm_chunk(std::int64_t nq, std::int64_t nk, int heads, std::size_t scalar_bytes) {
  const std::int64_t columns = nk < gemm_chunk_columns ? (nk > 0 ? nk : 1) : gemm_chunk_columns;
  const std::int64_t fit = static_cast<std::int64_t>(gemm_workspace_limit_bytes /
                                                     (2 * static_cast<std::size_t>(heads) * columns * scalar_bytes));
  const std::int64_t rows = nq < fit ? nq : fit;
  return {rows > 0 ? rows : 1, columns};
}

/// \brief Bytes of the gemm path's workspace: scores (and, for the backward, their gradients)
/// of one chunk of every head.
constexpr std::size_t gemm_workspace_bytes(const GemmChunk& chunk, int heads, std::size_t scalar_bytes, bool backward) {
  return (backward ? 2 : 1) * static_cast<std::size_t>(heads) * static_cast<std::size_t>(chunk.rows) *
         static_cast<std::size_t>(chunk.columns) * scalar_bytes;
}

/// \brief Scalars the dense baseline stores: P of every head plus one N x N gradient buffer.
constexpr double dense_workspace_scalars(int heads, std::int64_t tokens) {
  return (heads + 1.0) * static_cast<double>(tokens) * static_cast<double>(tokens);
}

}  // namespace wf::kernels

// FLOP formulas (docs/algorithm.md). Attention counts only the matrix products over the
// (query, key) pairs that interact: 4 d per pair forward (QK^T and PV), 10 d backward
// (QK^T recomputed, dV, dP, dQ, dK), the convention of the FlashAttention papers.
#pragma once

#include <cstdint>

namespace wf::perf {

/// \brief Interacting (query, key) pairs per head for a sequence of n tokens at positions 0..n-1.
inline double attention_pairs(std::int64_t n, bool causal) {
  const double nn = static_cast<double>(n);
  return causal ? nn * (nn + 1.0) / 2.0 : nn * nn;
}

/// \brief Forward FLOPs of attention over `pairs` pairs per head.
inline double attention_forward_flops(double pairs, int heads, int head_dim) {
  return 4.0 * pairs * heads * head_dim;
}

/// \brief Backward FLOPs (probabilities recomputed from lse).
inline double attention_backward_flops(double pairs, int heads, int head_dim) {
  return 10.0 * pairs * heads * head_dim;
}

/// \brief FLOPs of an m x n x k gemm.
inline double gemm_flops(double m, double n, double k) { return 2.0 * m * n * k; }

/// \brief FLOPs of one training step of the GPT over n_tokens tokens (docs/model.md): three
/// times the forward's matrix products (forward, input gradients, weight gradients) plus
/// attention, 4 d per interacting pair forward and 10 d backward (causal: N (N + 1) / 2 pairs).
/// Element-wise work (norms, GELU, softmax, embedding) is not counted.
inline double transformer_step_flops(int vocab, int d_model, int layers, int heads, int kv_heads, int head_dim,
                                     int mlp_dim, std::int64_t n_tokens) {
  const double d = d_model, n = static_cast<double>(n_tokens);
  const double projections = 2.0 * d * (2.0 * heads * head_dim + 2.0 * kv_heads * head_dim);  // q, k, v, o
  const double mlp = 2.0 * 2.0 * d * mlp_dim;
  const double matmul_forward = n * (layers * (projections + mlp) + 2.0 * d * vocab);
  const double attention = layers * (attention_forward_flops(attention_pairs(n_tokens, true), heads, head_dim) +
                                     attention_backward_flops(attention_pairs(n_tokens, true), heads, head_dim));
  return 3.0 * matmul_forward + attention;
}

/// \brief Interacting (query, key) pairs per head between two team blocks of a run of `seq_len`
/// tokens on `processes` shards: team t holds shards t c .. t c + c - 1; with a causal mask the
/// shards are zigzag (shard s = chunks s and 2P-1-s of N / 2P tokens), else contiguous.
/// The same count as the kernels' mask over global positions (tests check it).
inline double team_block_pairs(std::int64_t seq_len, int processes, int team_size, bool causal, int query_team,
                               int key_team) {
  const double shard = static_cast<double>(seq_len) / processes;
  if (!causal) return (team_size * shard) * (team_size * shard);
  const double m = shard / 2.0;  // tokens per chunk
  const std::int64_t last = 2 * std::int64_t(processes) - 1;
  double pairs = 0.0;
  for (int a = 0; a < team_size; ++a) {
    const std::int64_t qs = std::int64_t(query_team) * team_size + a, q_chunks[2] = {qs, last - qs};
    for (int b = 0; b < team_size; ++b) {
      const std::int64_t ks = std::int64_t(key_team) * team_size + b, k_chunks[2] = {ks, last - ks};
      for (const std::int64_t i : q_chunks)
        for (const std::int64_t j : k_chunks) pairs += j < i ? m * m : (j == i ? m * (m + 1.0) / 2.0 : 0.0);
    }
  }
  return pairs;
}

/// \brief FLOPs of one training step of the DiT over n_tokens patch tokens (docs/dit.md), the
/// same convention: three times the forward's matrix products (patch embedding, q, k, v, o,
/// MLP, final linear; the per-sample timestep MLP and adaLN products are O(d^2), not counted)
/// plus bidirectional attention (N^2 pairs).
inline double dit_step_flops(int patch_dim, int d_model, int layers, int heads, int kv_heads, int head_dim,
                             int mlp_dim, std::int64_t n_tokens) {
  const double d = d_model, n = static_cast<double>(n_tokens);
  const double projections = 2.0 * d * (2.0 * heads * head_dim + 2.0 * kv_heads * head_dim);  // q, k, v, o
  const double mlp = 2.0 * 2.0 * d * mlp_dim;
  const double matmul_forward = n * (layers * (projections + mlp) + 2.0 * 2.0 * d * patch_dim);
  const double attention = layers * (attention_forward_flops(attention_pairs(n_tokens, false), heads, head_dim) +
                                     attention_backward_flops(attention_pairs(n_tokens, false), heads, head_dim));
  return 3.0 * matmul_forward + attention;
}

/// \brief FLOPs per softened gravity interaction, the customary count (3 sub, 3 fma for r^2,
/// rsqrt and its cube, 3 fma for the force: 20 in all).
constexpr double gravity_flops_per_interaction = 20.0;

}  // namespace wf::perf

#include "problems/train_memory.hpp"

#include "kernels/attention.hpp"
#include "model/parameters.hpp"

namespace wf::problems {
namespace {

/// Scalars of the terms, for n tokens per rank.
struct Terms {
  double n, d, q, kv, heads, mlp, vocab;  // q = heads x head_dim, kv = kv_heads x head_dim
};

/// What one layer keeps from its forward to its backward (and dO, added by the backward).
double layer_cache(const Terms& t, Schedule schedule, int team_size) {
  const double activations = 4 * t.n * t.d + 4 * t.n + t.n * t.q /* o_tok */ + 2 * t.n * t.mlp /* u, g */;
  const double shard = t.n * t.q /* Q */ + 2 * t.n * t.kv /* K, V */ + t.n * (t.q + t.heads) /* O, lse */ +
                       t.n * t.q /* dQ */ + 2 * t.n * t.kv /* dK, dV */ + t.n * t.q /* dO */;
  double state = 0;  // what the schedule's forward keeps for its backward
  if (schedule == Schedule::ulysses) {
    state = t.n * (t.q + 2 * t.kv + t.q + t.heads);  // whole sequence on heads / P heads: Q, K, V, O, lse
  } else {
    state = (team_size > 1 ? team_size * t.n * t.q : 0) + team_size * t.n * 2 * t.kv;
  }
  return activations + shard + state;
}

/// The schedule's buffers inside one layer's forward: team blocks, ring buffers, results.
double schedule_transient(const Terms& t, Schedule schedule, int team_size) {
  const double c = team_size, team = c * t.n;
  if (schedule == Schedule::ulysses) return 2 * t.n * (t.q + 2 * t.kv) + 2 * t.n * t.heads;
  const double gathered = c > 1 ? 2 * team * (t.q + 2 * t.kv) : 0;
  return gathered + 2 * team * 2 * t.kv /* current, next */ + team * (t.q + 3 * t.heads) /* results, max, sum */;
}

}  // namespace

std::size_t predicted_train_memory_bytes(const model::ModelShape& shape, const model::AttentionPlan& plan,
                                         index_t shard_tokens, int team_size, int ranks, std::size_t scalar_bytes) {
  const Terms t{static_cast<double>(shard_tokens), double(shape.d_model), double(shape.q_width()),
                double(shape.kv_width()), double(shape.heads), double(shape.mlp_dim), double(shape.vocab)};
  double parameters = 0;
  for (const auto& info : model::parameter_layout(shape)) parameters += static_cast<double>(info.size);
  // Kept from the first step on (model/transformer.cpp): the output head's cache (x, ln_f out,
  // logits and their gradient, the two d-wide gradients, the ln_f statistics) and the layers'
  // shared scratch (q|k|v and its gradient, dg, dln2, dln1, dO in token order).
  const double head = 4 * t.n * t.d + 2 * t.n * t.vocab + 2 * t.n;
  const double scratch = 2 * t.n * (t.q + 2 * t.kv) + t.n * t.mlp + 2 * t.n * t.d + t.n * t.q;
  double attention = schedule_transient(t, plan.schedule, team_size);
  if (kernels::effective_impl<MemSpace>(plan.options.impl) == TileImpl::gemm) {
    const index_t block = plan.schedule == Schedule::ulysses ? shard_tokens * ranks : shard_tokens * team_size;
    const int heads = plan.schedule == Schedule::ulysses ? shape.heads / ranks : shape.heads;
    attention += static_cast<double>(kernels::gemm_workspace_bytes(
                     kernels::gemm_chunk(block, block, heads, scalar_bytes), heads, scalar_bytes, true)) /
                 static_cast<double>(scalar_bytes);
  }
  const double scalars =
      4 * parameters + shape.layers * layer_cache(t, plan.schedule, team_size) + head + scratch + attention;
  const double indices = 2 * t.n * sizeof(index_t);  // tokens and targets
  return static_cast<std::size_t>(scalars * static_cast<double>(scalar_bytes) + indices);
}

}  // namespace wf::problems

// The decoder-only GPT of the benchmark (DESIGN 2.7), sequence-sharded: every process holds
// the activations of its own tokens; attention goes through the distributed schedules.
// pre-LayerNorm blocks: x += wo(attn(rope(wq ln1 x), rope(wk ln1 x), wv ln1 x));
// x += w2 gelu(w1 ln2 x + b1) + b2; logits = lm_head ln_f x; loss = mean next-token CE.
#pragma once

#include <memory>
#include <vector>

#include "core/trace.hpp"
#include "kernels/rotary.hpp"
#include "model/dense_ops.hpp"
#include "model/parameters.hpp"
#include "model/traced_phases.hpp"
#include "nbody/attention_interaction.hpp"
#include "nbody/schedule.hpp"

namespace wf::model {

/// \brief How attention is computed and distributed.
struct AttentionPlan {
  kernels::AttentionOptions options;  ///< heads, kv_heads, head_dim, scale, mask, tiles, impl
  Schedule schedule = Schedule::wallfacer;
  RotateSide rotate = RotateSide::query;
};

/// \brief Sums of one forward(+backward) on this process.
struct LossParts {
  double loss_sum = 0.0;       ///< cross-entropy summed over this shard's valid targets
  std::int64_t valid_rows = 0;
};

/// \brief What one run() did: its loss parts and the attention schedules' times.
struct PassResult {
  LossParts loss;
  nbody::ScheduleTimes attention;  ///< forward and backward of every layer
};

template <class T>
class Transformer : private TracedPhases {
 public:
  /// \brief ctx fixes the process grid and sharding; its shard_tokens() rows are this
  /// process's tokens (positions ctx.shard_positions(ctx.shard())). Every phase of a run is
  /// recorded in `trace` when it is not null.
  Transformer(const ModelShape& shape, const AttentionPlan& plan, nbody::ScheduleContext& ctx,
              TraceRecorder* trace = nullptr);
  ~Transformer();

  /// \brief Forward on this shard (tokens and next-token targets in storage order, -1 = no
  /// target); with backward, also adds this shard's gradients to params.grads (not reduced
  /// over processes). total_valid: targets of the whole global sequence (the loss is their mean).
  PassResult run(Parameters<T>& params, const std::vector<index_t>& tokens, const std::vector<index_t>& targets,
                 bool backward, std::int64_t total_valid);

 private:
  struct LayerCache;
  struct HeadCache;
  struct Scratch;
  Matrix<T> forward_layer(Parameters<T>& p, int layer, const Matrix<T>& x_in, LayerCache& cache,
                          nbody::ScheduleTimes& attention);
  nbody::ScheduleTimes backward_layer(Parameters<T>& p, int layer, Matrix<T>& dx, LayerCache& cache);
  Matrix<T> mlp_forward(Parameters<T>& p, int layer, LayerCache& cache);
  void mlp_backward(Parameters<T>& p, int layer, LayerCache& cache, Matrix<T>& dx);
  nbody::PostedSources<T> attention_inputs(Parameters<T>& p, int layer, LayerCache& cache);
  void attention_input_grads(Parameters<T>& p, int layer, LayerCache& cache, Matrix<T>& dx,
                             nbody::LateKeyGradients<T>& late, nbody::ScheduleTimes& times);
  LossParts loss_forward(Parameters<T>& p, const Matrix<T>& x, HeadCache& head);
  void loss_backward(Parameters<T>& p, const Matrix<T>& x, HeadCache& head, std::int64_t total_valid, Matrix<T>& dx);

  ModelShape shape_;
  AttentionPlan plan_;
  nbody::ScheduleContext& ctx_;
  nbody::AttentionInteraction<T> attention_;
  index_t n_;
  nbody::PositionsView positions_;
  kernels::RotaryTable<T> rotary_;  ///< cos and sin of this shard's positions
  /// Activations and temporaries, allocated by the first run and reused by every later one.
  std::vector<LayerCache> caches_;
  std::unique_ptr<HeadCache> head_;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace wf::model

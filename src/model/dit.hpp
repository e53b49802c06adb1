// The DiT of the training benchmark (Peebles & Xie 2023, docs/dit.md), sequence-sharded like
// the GPT: every process holds the activations of its own patch tokens; attention is
// bidirectional and goes through the distributed schedules (the same code as the GPT's).
//   c = t_embedder(timestep_embedding(t))                       one vector per sample
//   x = x_embedder(x_t) + pos_embed(global positions)           [n][d_model]
//   per block: shift1, scale1, gate1, shift2, scale2, gate2 = adaLN_modulation(silu(c))
//     x += gate1 * wo attn(wq a, wk a, wv a),  a = modulate(LN(x), shift1, scale1)
//     x += gate2 * fc2 gelu(fc1 modulate(LN(x), shift2, scale2))
//   out = final_layer.linear modulate(LN(x), shift, scale),  shift, scale = adaLN(silu(c))
//   loss = mean over the N x patch_dim elements of (out - e)^2
// LayerNorms have no parameters (eps 1e-6); every linear has a bias.
#pragma once

#include <vector>

#include "core/trace.hpp"
#include "model/dense_ops.hpp"
#include "model/diffusion_data.hpp"
#include "model/parameters.hpp"
#include "model/traced_phases.hpp"
#include "model/transformer.hpp"
#include "nbody/attention_interaction.hpp"
#include "nbody/schedule.hpp"

namespace wf::model {

/// LayerNorm eps of the DiT (facebookresearch/DiT: nn.LayerNorm(..., eps=1e-6)).
constexpr double dit_norm_eps = 1e-6;

template <class T>
class DiT : private TracedPhases {
 public:
  /// \brief ctx fixes the process grid and sharding (contiguous: attention is bidirectional);
  /// this process's tokens are ctx.shard_positions(ctx.shard()). Phases go to `trace` when given.
  DiT(const ModelShape& shape, const AttentionPlan& plan, nbody::ScheduleContext& ctx, TraceRecorder* trace = nullptr);

  /// \brief Forward on this shard's rows (x_t and e, [n][patch_dim]) at `timestep`; with
  /// backward, adds this shard's gradients to params.grads (not reduced over processes).
  /// total_elements: N x patch_dim of the whole sequence (the loss is the mean over them).
  /// The result's loss_sum is this shard's sum of squared errors, valid_rows its elements.
  PassResult run(Parameters<T>& params, const DiffusionRows& rows, double timestep, bool backward,
                 std::int64_t total_elements);

 private:
  struct Conditioning;
  struct BlockCache;
  struct HeadCache;
  void condition_forward(Parameters<T>& p, double timestep, Conditioning& cond);
  void condition_backward(Parameters<T>& p, Conditioning& cond);
  Matrix<T> modulation(Parameters<T>& p, const std::string& prefix, const Conditioning& cond, int chunks);
  void modulation_backward(Parameters<T>& p, const std::string& prefix, Conditioning& cond, const Matrix<T>& d_mod);
  void norm_and_modulate(const Matrix<T>& x, const Matrix<T>& mod, int chunk, Matrix<T>& normed, Vector<T>& mean,
                         Vector<T>& rstd, Matrix<T>& modulated);
  void norm_and_modulate_backward(const Matrix<T>& d_modulated, const Matrix<T>& x, const Matrix<T>& normed,
                                  const Vector<T>& mean, const Vector<T>& rstd, const Matrix<T>& mod, Matrix<T>& d_mod,
                                  int chunk, Matrix<T>& dx);
  nbody::ScheduleTimes forward_block(Parameters<T>& p, int layer, Matrix<T>& x, BlockCache& c, const Conditioning& cond);
  nbody::ScheduleTimes attention_forward(Parameters<T>& p, int layer, const Matrix<T>& x, BlockCache& c);
  void mlp_forward(Parameters<T>& p, int layer, const Matrix<T>& x, BlockCache& c);
  nbody::ScheduleTimes backward_block(Parameters<T>& p, int layer, Matrix<T>& dx, BlockCache& c, Conditioning& cond);
  nbody::ScheduleTimes attention_backward(Parameters<T>& p, int layer, BlockCache& c, const Matrix<T>& d_out,
                                          Matrix<T>& d_modulated);
  void mlp_backward(Parameters<T>& p, int layer, BlockCache& c, const Matrix<T>& d_out, Matrix<T>& d_modulated);
  double head_forward(Parameters<T>& p, const Matrix<T>& x, const Conditioning& cond, const DiffusionRows& rows,
                      HeadCache& head);
  void head_backward(Parameters<T>& p, const Matrix<T>& x, HeadCache& head, Conditioning& cond,
                     std::int64_t total_elements, Matrix<T>& dx);

  ModelShape shape_;
  AttentionPlan plan_;
  nbody::ScheduleContext& ctx_;
  nbody::AttentionInteraction<T> attention_;
  index_t n_;
  nbody::PositionsView positions_;
  Vector<T> ones_, zeros_;  ///< the parameters of a LayerNorm without affine parameters
};

}  // namespace wf::model

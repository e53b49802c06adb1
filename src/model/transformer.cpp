#include "model/transformer.hpp"

#include "core/device_copy.hpp"
#include "core/region.hpp"
#include "kernels/cross_entropy.hpp"
#include "kernels/gelu.hpp"
#include "kernels/layer_norm.hpp"

namespace wf::model {
namespace {

std::string layer_name(int layer, const char* leaf) { return "layers." + std::to_string(layer) + "." + leaf; }

std::vector<std::string> qkv_names(int layer) {
  return {layer_name(layer, "attn.wq.weight"), layer_name(layer, "attn.wk.weight"), layer_name(layer, "attn.wv.weight")};
}

template <class T>
Vector<T> flat(const Matrix<T>& m) {
  return Vector<T>(m.data(), m.span());
}

/// LayerNorm forward of x into out, keeping mean and rstd for the backward.
template <class T>
void norm_forward(Parameters<T>& p, const std::string& prefix, const Matrix<T>& x, Matrix<T>& out, Vector<T>& mean,
                  Vector<T>& rstd, index_t n) {
  reuse_matrix(out, "Model::" + prefix + "_out", n, x.extent(1));
  reuse_vector(mean, "Model::" + prefix + "_mean", n);
  reuse_vector(rstd, "Model::" + prefix + "_rstd", n);
  kernels::layer_norm_forward<T>(x, p.vector(prefix + ".weight"), p.vector(prefix + ".bias"), out, mean, rstd);
}

}  // namespace

template <class T>
struct Transformer<T>::LayerCache {
  Matrix<T> x_in;  ///< the layer's input: the previous layer's output (not a copy)
  Matrix<T> ln1_out, o_tok, x_mid, ln2_out, u, g, x_out;
  Vector<T> ln1_mean, ln1_rstd, ln2_mean, ln2_rstd;
  nbody::ShardBlocks<T> shard;  ///< Q, (K, V), O and lse, dO, dQ, (dK, dV): head-major
  nbody::ScheduleRun<T> run;
};

template <class T>
struct Transformer<T>::HeadCache {
  Matrix<T> x, lnf_out, logits, dlogits, dlnf, dx;
  Vector<T> lnf_mean, lnf_rstd;
  Kokkos::View<index_t*, MemSpace> tokens, targets;
};

/// Temporaries of one layer's passes, shared by the layers.
template <class T>
struct Transformer<T>::Scratch {
  Matrix<T> q_tok, kv_tok, dq_tok, dkv_tok, dg, dln2, dln1, do_tok;
};

template <class T>
Transformer<T>::~Transformer() = default;

template <class T>
Transformer<T>::Transformer(const ModelShape& shape, const AttentionPlan& plan, nbody::ScheduleContext& ctx,
                            TraceRecorder* trace)
    : TracedPhases(trace),
      shape_(shape),
      plan_(plan),
      ctx_(ctx),
      attention_(plan.options, ctx.compute_space()),
      n_(ctx.shard_tokens()),
      positions_(ctx.shard_positions(ctx.shard())),
      rotary_(kernels::make_rotary_table<T>(positions_, shape.head_dim, shape.rotary_base)),
      caches_(static_cast<std::size_t>(shape.layers)),
      head_(std::make_unique<HeadCache>()),
      scratch_(std::make_unique<Scratch>()) {
  require(plan.options.heads == shape.heads && plan.options.kv_heads == shape.kv_heads &&
              plan.options.head_dim == shape.head_dim,
          "the attention plan does not match the model shape");
}

/// k, v of ln1 x (one gemm: wk, wv are stored back to back), head-major with the rotary
/// embedding on global positions; their initial send is posted at once (multi-ring schedules),
/// so it is in flight while q is projected and reordered: the schedule's inputs.
template <class T>
nbody::PostedSources<T> Transformer<T>::attention_inputs(Parameters<T>& p, int l, LayerCache& c) {
  const int heads = shape_.heads, kv = shape_.kv_heads, hd = shape_.head_dim;
  const int q_width = heads * hd, kv_width = kv * hd;
  const std::vector<std::string> names = qkv_names(l);
  Matrix<T>& q_tok = scratch_->q_tok;
  Matrix<T>& kv_tok = scratch_->kv_tok;
  reuse_matrix(q_tok, "Model::q_tok", n_, q_width);
  reuse_matrix(kv_tok, "Model::kv_tok", n_, 2 * kv_width);
  phase(Phase::projection, [&] {
    linear_forward(c.ln1_out, p.stacked_matrix({names[1], names[2]}), Vector<T>(), kv_tok);
  });
  phase(Phase::reorder, [&] {
    reuse_vector(c.shard.targets, "Model::q_heads", std::size_t(q_width) * n_);
    reuse_vector(c.shard.sources, "Model::kv_heads", 2 * std::size_t(kv_width) * n_);
    kernels::to_head_major<T>(kv_tok, 0, kv, hd, c.shard.sources.data(), &rotary_);
    kernels::to_head_major<T>(kv_tok, kv_width, kv, hd, c.shard.sources.data() + std::size_t(kv_width) * n_, nullptr);
    if (c.shard.results.extent(0) == 0) nbody::allocate_outputs(attention_, n_, c.shard);
  });
  nbody::PostedSources<T> sources =
      nbody::schedule_post_sources(ctx_, plan_.schedule, attention_, c.shard.sources, trace_);
  phase(Phase::projection, [&] { linear_forward(c.ln1_out, p.matrix(names[0]), Vector<T>(), q_tok); });
  phase(Phase::reorder, [&] { kernels::to_head_major<T>(q_tok, 0, heads, hd, c.shard.targets.data(), &rotary_); });
  return sources;
}

/// ln2, w1 + b1, GELU, w2 + b2 added to the residual stream: the layer's output.
template <class T>
Matrix<T> Transformer<T>::mlp_forward(Parameters<T>& p, int l, LayerCache& c) {
  phase(Phase::layer_norm, [&] { norm_forward(p, layer_name(l, "ln2"), c.x_mid, c.ln2_out, c.ln2_mean, c.ln2_rstd, n_); });
  reuse_matrix(c.u, "Model::u", n_, shape_.mlp_dim);
  reuse_matrix(c.g, "Model::g", n_, shape_.mlp_dim);
  phase(Phase::projection, [&] { linear_forward(c.ln2_out, p.matrix(layer_name(l, "mlp.w1.weight")), Vector<T>(), c.u); });
  phase(Phase::mlp_other, [&] { kernels::bias_gelu_forward<T>(c.u, p.vector(layer_name(l, "mlp.w1.bias")), c.g); });
  reuse_matrix(c.x_out, "Model::x_out", n_, shape_.d_model);
  phase(Phase::residual, [&] { copy_with_bias(c.x_mid, p.vector(layer_name(l, "mlp.w2.bias")), c.x_out); });
  phase(Phase::projection, [&] { linear_accumulate(c.g, p.matrix(layer_name(l, "mlp.w2.weight")), c.x_out); });
  return c.x_out;
}

template <class T>
Matrix<T> Transformer<T>::forward_layer(Parameters<T>& p, int l, const Matrix<T>& x_in, LayerCache& c,
                                        nbody::ScheduleTimes& attention) {
  const ProfilingRegion region("Model::forward_layer");
  const int heads = shape_.heads, hd = shape_.head_dim;
  set_layer(l);
  c.x_in = x_in;
  phase(Phase::layer_norm, [&] { norm_forward(p, layer_name(l, "ln1"), x_in, c.ln1_out, c.ln1_mean, c.ln1_rstd, n_); });
  nbody::PostedSources<T> sources = attention_inputs(p, l, c);
  // Traced by the schedule; waits for the sources posted above.
  c.run = nbody::schedule_forward(ctx_, plan_.schedule, attention_, c.shard, trace_, &sources);
  attention += c.run.times;
  phase(Phase::reorder, [&] {
    reuse_matrix(c.o_tok, "Model::o_tok", n_, heads * hd);
    kernels::to_token_major<T>(c.shard.results.data(), heads, hd, nullptr, c.o_tok, 0);  // O: the first segment
  });
  phase(Phase::residual, [&] {
    reuse_matrix(c.x_mid, "Model::x_mid", n_, shape_.d_model);
    copy_with_bias(x_in, Vector<T>(), c.x_mid);
  });
  phase(Phase::projection, [&] { linear_accumulate(c.o_tok, p.matrix(layer_name(l, "attn.wo.weight")), c.x_mid); });
  return mlp_forward(p, l, c);
}

/// The MLP branch backward: dx (the residual stream's gradient) gains the branch's through ln2.
template <class T>
void Transformer<T>::mlp_backward(Parameters<T>& p, int l, LayerCache& c, Matrix<T>& dx) {
  const int d = shape_.d_model;
  Matrix<T>& dg = scratch_->dg;
  Matrix<T>& dln2 = scratch_->dln2;
  reuse_matrix(dg, "Model::dg", n_, shape_.mlp_dim);
  reuse_matrix(dln2, "Model::dln2", n_, d);
  phase(Phase::projection, [&] {
    linear_backward(dx, c.g, p.matrix(layer_name(l, "mlp.w2.weight")), p.grad_matrix(layer_name(l, "mlp.w2.weight")),
                    p.grad_vector(layer_name(l, "mlp.w2.bias")), dg, T(0));
  });
  phase(Phase::mlp_other, [&] { kernels::gelu_backward<T>(flat(c.u), flat(dg), flat(dg)); });
  phase(Phase::projection, [&] {
    linear_backward(dg, c.ln2_out, p.matrix(layer_name(l, "mlp.w1.weight")),
                    p.grad_matrix(layer_name(l, "mlp.w1.weight")), p.grad_vector(layer_name(l, "mlp.w1.bias")), dln2,
                    T(0));
  });
  phase(Phase::layer_norm, [&] {
    kernels::layer_norm_backward<T>(dln2, c.x_mid, p.vector(layer_name(l, "ln2.weight")), c.ln2_mean, c.ln2_rstd,
                                    dx, p.grad_vector(layer_name(l, "ln2.weight")),
                                    p.grad_vector(layer_name(l, "ln2.bias")), true);
  });
}

/// The schedule's gradients (for the rotated q and k) back through rotary and the q, k, v
/// projections, then ln1: dx gains the attention branch's gradient. dQ is complete when this
/// starts; dK, dV may still be on their way home (`late`): the q part runs meanwhile.
template <class T>
void Transformer<T>::attention_input_grads(Parameters<T>& p, int l, LayerCache& c, Matrix<T>& dx,
                                           nbody::LateKeyGradients<T>& late, nbody::ScheduleTimes& times) {
  const int heads = shape_.heads, kv = shape_.kv_heads, hd = shape_.head_dim;
  const int q_width = heads * hd, kv_width = kv * hd;
  const std::vector<std::string> names = qkv_names(l), kv_names = {names[1], names[2]};
  Matrix<T>& dq_tok = scratch_->dq_tok;
  Matrix<T>& dkv_tok = scratch_->dkv_tok;
  Matrix<T>& dln1 = scratch_->dln1;
  reuse_matrix(dq_tok, "Model::dq_tok", n_, q_width);
  reuse_matrix(dkv_tok, "Model::dkv_tok", n_, 2 * kv_width);
  reuse_matrix(dln1, "Model::dln1", n_, shape_.d_model);
  phase(Phase::reorder, [&] { kernels::to_token_major<T>(c.shard.d_targets.data(), heads, hd, &rotary_, dq_tok, 0); });
  phase(Phase::projection, [&] {
    linear_backward(dq_tok, c.ln1_out, p.matrix(names[0]), p.grad_matrix(names[0]), Vector<T>(), dln1, T(0));
  });
  times += nbody::schedule_finish_key_gradients(ctx_, late, c.shard, trace_);
  phase(Phase::reorder, [&] {
    kernels::to_token_major<T>(c.shard.d_sources.data(), kv, hd, &rotary_, dkv_tok, 0);
    kernels::to_token_major<T>(c.shard.d_sources.data() + std::size_t(kv_width) * n_, kv, hd, nullptr, dkv_tok,
                               kv_width);
  });
  phase(Phase::projection, [&] {
    linear_backward(dkv_tok, c.ln1_out, p.stacked_matrix(kv_names), p.stacked_grad_matrix(kv_names), Vector<T>(), dln1,
                    T(1));
  });
  phase(Phase::layer_norm, [&] {
    kernels::layer_norm_backward<T>(dln1, c.x_in, p.vector(layer_name(l, "ln1.weight")), c.ln1_mean, c.ln1_rstd, dx,
                                    p.grad_vector(layer_name(l, "ln1.weight")), p.grad_vector(layer_name(l, "ln1.bias")),
                                    true);
  });
}

template <class T>
nbody::ScheduleTimes Transformer<T>::backward_layer(Parameters<T>& p, int l, Matrix<T>& dx, LayerCache& c) {
  const ProfilingRegion region("Model::backward_layer");
  const int heads = shape_.heads, hd = shape_.head_dim;
  set_layer(l);
  mlp_backward(p, l, c, dx);
  // Attention branch: x_mid = x_in + wo attn(...).
  Matrix<T>& do_tok = scratch_->do_tok;
  reuse_matrix(do_tok, "Model::do_tok", n_, heads * hd);
  phase(Phase::projection, [&] {
    linear_backward(dx, c.o_tok, p.matrix(layer_name(l, "attn.wo.weight")),
                    p.grad_matrix(layer_name(l, "attn.wo.weight")), Vector<T>(), do_tok, T(0));
  });
  phase(Phase::reorder, [&] {
    reuse_vector(c.shard.d_output, "Model::do_heads", std::size_t(heads) * n_ * hd);
    kernels::to_head_major<T>(do_tok, 0, heads, hd, c.shard.d_output.data(), nullptr);
  });
  nbody::LateKeyGradients<T> late;
  nbody::ScheduleTimes times =
      nbody::schedule_backward(ctx_, plan_.schedule, plan_.rotate, attention_, c.run, c.shard, trace_, &late);
  attention_input_grads(p, l, c, dx, late, times);
  return times;
}

template <class T>
LossParts Transformer<T>::loss_forward(Parameters<T>& p, const Matrix<T>& x, HeadCache& head) {
  phase(Phase::layer_norm, [&] { norm_forward(p, "ln_f", x, head.lnf_out, head.lnf_mean, head.lnf_rstd, n_); });
  reuse_matrix(head.logits, "Model::logits", n_, shape_.vocab);
  phase(Phase::projection, [&] { linear_forward(head.lnf_out, p.matrix("lm_head.weight"), Vector<T>(), head.logits); });
  LossParts parts;
  phase(Phase::loss, [&] {
    const auto ce = kernels::cross_entropy_forward<T>(head.logits, head.targets);
    parts = {ce.sum, static_cast<std::int64_t>(ce.valid_rows)};
  });
  return parts;
}

template <class T>
void Transformer<T>::loss_backward(Parameters<T>& p, const Matrix<T>& x, HeadCache& head, std::int64_t total_valid,
                                   Matrix<T>& dx) {
  reuse_matrix(head.dlogits, "Model::dlogits", n_, shape_.vocab);
  reuse_matrix(head.dlnf, "Model::dlnf", n_, shape_.d_model);
  phase(Phase::loss, [&] {
    kernels::cross_entropy_backward<T>(head.logits, head.targets, 1.0 / static_cast<double>(total_valid), head.dlogits);
  });
  phase(Phase::projection, [&] {
    linear_backward(head.dlogits, head.lnf_out, p.matrix("lm_head.weight"), p.grad_matrix("lm_head.weight"),
                    Vector<T>(), head.dlnf, T(0));
  });
  phase(Phase::layer_norm, [&] {
    kernels::layer_norm_backward<T>(head.dlnf, x, p.vector("ln_f.weight"), head.lnf_mean, head.lnf_rstd, dx,
                                    p.grad_vector("ln_f.weight"), p.grad_vector("ln_f.bias"));
  });
}

template <class T>
PassResult Transformer<T>::run(Parameters<T>& p, const std::vector<index_t>& tokens,
                               const std::vector<index_t>& targets, bool backward, std::int64_t total_valid) {
  const ProfilingRegion region(backward ? "Model::forward_backward" : "Model::forward");
  require(static_cast<index_t>(tokens.size()) == n_ && static_cast<index_t>(targets.size()) == n_,
          "the model expects " + std::to_string(n_) + " tokens and targets on this process");
  HeadCache& head = *head_;
  PassResult result;
  set_layer(-1);
  phase(Phase::embedding, [&] {
    head.tokens = to_device(tokens, "Model::tokens");
    head.targets = to_device(targets, "Model::targets");
    reuse_matrix(head.x, "Model::x", n_, shape_.d_model);
    embedding_forward(p.matrix("embed.weight"), head.tokens, head.x);
  });
  Matrix<T> x = head.x;
  for (int l = 0; l < shape_.layers; ++l) x = forward_layer(p, l, x, caches_[static_cast<std::size_t>(l)], result.attention);
  set_layer(-1);
  result.loss = loss_forward(p, x, head);
  if (!backward) return result;

  reuse_matrix(head.dx, "Model::dx", n_, shape_.d_model);  // layer_norm_backward writes it
  loss_backward(p, x, head, total_valid, head.dx);
  for (int l = shape_.layers - 1; l >= 0; --l)
    result.attention += backward_layer(p, l, head.dx, caches_[static_cast<std::size_t>(l)]);
  set_layer(-1);
  phase(Phase::embedding, [&] { embedding_backward(p.grad_matrix("embed.weight"), head.tokens, head.dx); });
  return result;
}

template class Transformer<float>;
template class Transformer<double>;

}  // namespace wf::model

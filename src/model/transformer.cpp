#include "model/transformer.hpp"

#include "core/device_copy.hpp"
#include "core/region.hpp"
#include "kernels/cross_entropy.hpp"
#include "kernels/gelu.hpp"
#include "kernels/layer_norm.hpp"
#include "kernels/rotary.hpp"

namespace wf::model {
namespace {

std::string layer_name(int layer, const char* leaf) { return "layers." + std::to_string(layer) + "." + leaf; }

template <class T>
Vector<T> flat(const Matrix<T>& m) {
  return Vector<T>(m.data(), m.span());
}

template <class T>
kernels::Tensor3<T, MemSpace> heads_view(T* data, int heads, index_t n, int head_dim) {
  return kernels::Tensor3<T, MemSpace>(data, heads, n, head_dim);
}

/// LayerNorm forward of x into out, keeping mean and rstd for the backward.
template <class T>
void norm_forward(Parameters<T>& p, const std::string& prefix, const Matrix<T>& x, Matrix<T>& out, Vector<T>& mean,
                  Vector<T>& rstd, index_t n) {
  out = Matrix<T>("Model::" + prefix + "_out", n, x.extent(1));
  mean = Vector<T>("Model::" + prefix + "_mean", n);
  rstd = Vector<T>("Model::" + prefix + "_rstd", n);
  kernels::layer_norm_forward<T>(x, p.vector(prefix + ".weight"), p.vector(prefix + ".bias"), out, mean, rstd);
}

}  // namespace

template <class T>
struct Transformer<T>::LayerCache {
  Matrix<T> x_in, ln1_out, o_tok, x_mid, ln2_out, u, g;
  Vector<T> ln1_mean, ln1_rstd, ln2_mean, ln2_rstd;
  nbody::ShardBlocks<T> shard;  ///< Q, (K, V), O and lse, dO, dQ, (dK, dV): head-major
  nbody::ScheduleRun<T> run;
};

template <class T>
struct Transformer<T>::HeadCache {
  Matrix<T> lnf_out, logits;
  Vector<T> lnf_mean, lnf_rstd;
  Kokkos::View<index_t*, MemSpace> targets;
};

template <class T>
Transformer<T>::Transformer(const ModelShape& shape, const AttentionPlan& plan, nbody::ScheduleContext& ctx,
                            TraceRecorder* trace)
    : TracedPhases(trace),
      shape_(shape),
      plan_(plan),
      ctx_(ctx),
      attention_(plan.options, ctx.compute_space()),
      n_(ctx.shard_tokens()),
      positions_(ctx.shard_positions(ctx.shard())) {
  require(plan.options.heads == shape.heads && plan.options.kv_heads == shape.kv_heads &&
              plan.options.head_dim == shape.head_dim,
          "the attention plan does not match the model shape");
}

/// q, k, v projections of ln1 x, head-major, rotary on global positions: the schedule's inputs.
template <class T>
void Transformer<T>::attention_inputs(Parameters<T>& p, int l, LayerCache& c) {
  const int heads = shape_.heads, kv = shape_.kv_heads, hd = shape_.head_dim;
  Matrix<T> q("Model::q", n_, heads * hd), k("Model::k", n_, kv * hd), v("Model::v", n_, kv * hd);
  linear_forward(c.ln1_out, p.matrix(layer_name(l, "attn.wq.weight")), Vector<T>(), q);
  linear_forward(c.ln1_out, p.matrix(layer_name(l, "attn.wk.weight")), Vector<T>(), k);
  linear_forward(c.ln1_out, p.matrix(layer_name(l, "attn.wv.weight")), Vector<T>(), v);
  c.shard.targets = nbody::Buffer<T>("Model::q_heads", std::size_t(heads) * n_ * hd);
  c.shard.sources = nbody::Buffer<T>("Model::kv_heads", 2 * std::size_t(kv) * n_ * hd);
  to_head_major(q, heads, hd, c.shard.targets.data());
  to_head_major(k, kv, hd, c.shard.sources.data());
  to_head_major(v, kv, hd, c.shard.sources.data() + std::size_t(kv) * n_ * hd);
  kernels::apply_rotary<T>(heads_view(c.shard.targets.data(), heads, n_, hd), positions_, shape_.rotary_base);
  kernels::apply_rotary<T>(heads_view(c.shard.sources.data(), kv, n_, hd), positions_, shape_.rotary_base);
  nbody::allocate_outputs(attention_, n_, c.shard);
}

template <class T>
nbody::ScheduleTimes Transformer<T>::forward_layer(Parameters<T>& p, int l, Matrix<T>& x, LayerCache& c) {
  const ProfilingRegion region("Model::forward_layer");
  const int d = shape_.d_model, heads = shape_.heads, hd = shape_.head_dim;
  set_layer(l);
  phase(Phase::layer_norm, [&] {
    c.x_in = Matrix<T>("Model::x_in", n_, d);
    Kokkos::deep_copy(c.x_in, x);
    norm_forward(p, layer_name(l, "ln1"), x, c.ln1_out, c.ln1_mean, c.ln1_rstd, n_);
  });
  phase(Phase::projection, [&] { attention_inputs(p, l, c); });
  c.run = nbody::schedule_forward(ctx_, plan_.schedule, attention_, c.shard, trace_);  // traced by the schedule
  phase(Phase::projection, [&] {
    c.o_tok = Matrix<T>("Model::o_tok", n_, heads * hd);
    to_token_major(c.shard.results.data(), heads, hd, c.o_tok);  // O is the first segment
    Matrix<T> attn_out("Model::attn_out", n_, d);
    linear_forward(c.o_tok, p.matrix(layer_name(l, "attn.wo.weight")), Vector<T>(), attn_out);
    add_in_place(x, attn_out);
  });
  phase(Phase::layer_norm, [&] {
    c.x_mid = Matrix<T>("Model::x_mid", n_, d);
    Kokkos::deep_copy(c.x_mid, x);
    norm_forward(p, layer_name(l, "ln2"), x, c.ln2_out, c.ln2_mean, c.ln2_rstd, n_);
  });
  c.u = Matrix<T>("Model::u", n_, shape_.mlp_dim);
  c.g = Matrix<T>("Model::g", n_, shape_.mlp_dim);
  phase(Phase::projection, [&] {
    linear_forward(c.ln2_out, p.matrix(layer_name(l, "mlp.w1.weight")), p.vector(layer_name(l, "mlp.w1.bias")), c.u);
  });
  phase(Phase::mlp_other, [&] { kernels::gelu_forward<T>(flat(c.u), flat(c.g)); });
  phase(Phase::projection, [&] {
    Matrix<T> mlp_out("Model::mlp_out", n_, d);
    linear_forward(c.g, p.matrix(layer_name(l, "mlp.w2.weight")), p.vector(layer_name(l, "mlp.w2.bias")), mlp_out);
    add_in_place(x, mlp_out);
  });
  return c.run.times;
}

/// The schedule's gradients (for the rotated q and k) back through rotary and the q, k, v
/// projections into dln1.
template <class T>
void Transformer<T>::attention_input_grads(Parameters<T>& p, int l, LayerCache& c, const Matrix<T>& dln1) {
  const int heads = shape_.heads, kv = shape_.kv_heads, hd = shape_.head_dim;
  kernels::apply_rotary<T>(heads_view(c.shard.d_targets.data(), heads, n_, hd), positions_, shape_.rotary_base, true);
  kernels::apply_rotary<T>(heads_view(c.shard.d_sources.data(), kv, n_, hd), positions_, shape_.rotary_base, true);
  Matrix<T> dq("Model::dq", n_, heads * hd), dk("Model::dk", n_, kv * hd), dv("Model::dv", n_, kv * hd);
  to_token_major(c.shard.d_targets.data(), heads, hd, dq);
  to_token_major(c.shard.d_sources.data(), kv, hd, dk);
  to_token_major(c.shard.d_sources.data() + std::size_t(kv) * n_ * hd, kv, hd, dv);
  linear_backward(dq, c.ln1_out, p.matrix(layer_name(l, "attn.wq.weight")),
                  p.grad_matrix(layer_name(l, "attn.wq.weight")), Vector<T>(), dln1, T(0));
  linear_backward(dk, c.ln1_out, p.matrix(layer_name(l, "attn.wk.weight")),
                  p.grad_matrix(layer_name(l, "attn.wk.weight")), Vector<T>(), dln1, T(1));
  linear_backward(dv, c.ln1_out, p.matrix(layer_name(l, "attn.wv.weight")),
                  p.grad_matrix(layer_name(l, "attn.wv.weight")), Vector<T>(), dln1, T(1));
}

template <class T>
nbody::ScheduleTimes Transformer<T>::backward_layer(Parameters<T>& p, int l, Matrix<T>& dx, LayerCache& c) {
  const ProfilingRegion region("Model::backward_layer");
  const int d = shape_.d_model, heads = shape_.heads, hd = shape_.head_dim;
  set_layer(l);
  // MLP branch: x_out = x_mid + w2 gelu(w1 ln2(x_mid) + b1) + b2.
  Matrix<T> dg("Model::dg", n_, shape_.mlp_dim), dln2("Model::dln2", n_, d), dres("Model::dres", n_, d);
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
                                    dres, p.grad_vector(layer_name(l, "ln2.weight")),
                                    p.grad_vector(layer_name(l, "ln2.bias")));
    add_in_place(dx, dres);
  });
  // Attention branch: x_mid = x_in + wo attn(...).
  phase(Phase::projection, [&] {
    Matrix<T> do_tok("Model::do_tok", n_, heads * hd);
    linear_backward(dx, c.o_tok, p.matrix(layer_name(l, "attn.wo.weight")),
                    p.grad_matrix(layer_name(l, "attn.wo.weight")), Vector<T>(), do_tok, T(0));
    c.shard.d_output = nbody::Buffer<T>("Model::do_heads", std::size_t(heads) * n_ * hd);
    to_head_major(do_tok, heads, hd, c.shard.d_output.data());
  });
  const nbody::ScheduleTimes times =
      nbody::schedule_backward(ctx_, plan_.schedule, plan_.rotate, attention_, c.run, c.shard, trace_);
  Matrix<T> dln1("Model::dln1", n_, d);
  phase(Phase::projection, [&] { attention_input_grads(p, l, c, dln1); });
  phase(Phase::layer_norm, [&] {
    kernels::layer_norm_backward<T>(dln1, c.x_in, p.vector(layer_name(l, "ln1.weight")), c.ln1_mean, c.ln1_rstd,
                                    dres, p.grad_vector(layer_name(l, "ln1.weight")),
                                    p.grad_vector(layer_name(l, "ln1.bias")));
    add_in_place(dx, dres);
  });
  return times;
}

template <class T>
LossParts Transformer<T>::loss_forward(Parameters<T>& p, const Matrix<T>& x, HeadCache& head) {
  phase(Phase::layer_norm, [&] { norm_forward(p, "ln_f", x, head.lnf_out, head.lnf_mean, head.lnf_rstd, n_); });
  head.logits = Matrix<T>("Model::logits", n_, shape_.vocab);
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
  Matrix<T> dlogits("Model::dlogits", n_, shape_.vocab), dlnf("Model::dlnf", n_, shape_.d_model);
  phase(Phase::loss, [&] {
    kernels::cross_entropy_backward<T>(head.logits, head.targets, 1.0 / static_cast<double>(total_valid), dlogits);
  });
  phase(Phase::projection, [&] {
    linear_backward(dlogits, head.lnf_out, p.matrix("lm_head.weight"), p.grad_matrix("lm_head.weight"), Vector<T>(),
                    dlnf, T(0));
  });
  phase(Phase::layer_norm, [&] {
    kernels::layer_norm_backward<T>(dlnf, x, p.vector("ln_f.weight"), head.lnf_mean, head.lnf_rstd, dx,
                                    p.grad_vector("ln_f.weight"), p.grad_vector("ln_f.bias"));
  });
}

template <class T>
PassResult Transformer<T>::run(Parameters<T>& p, const std::vector<index_t>& tokens,
                               const std::vector<index_t>& targets, bool backward, std::int64_t total_valid) {
  const ProfilingRegion region(backward ? "Model::forward_backward" : "Model::forward");
  require(static_cast<index_t>(tokens.size()) == n_ && static_cast<index_t>(targets.size()) == n_,
          "the model expects " + std::to_string(n_) + " tokens and targets on this process");
  const auto token_view = to_device(tokens, "Model::tokens");
  HeadCache head;
  head.targets = to_device(targets, "Model::targets");
  Matrix<T> x("Model::x", n_, shape_.d_model);
  PassResult result;
  set_layer(-1);
  phase(Phase::embedding, [&] { embedding_forward(p.matrix("embed.weight"), token_view, x); });
  std::vector<LayerCache> caches(static_cast<std::size_t>(shape_.layers));
  for (int l = 0; l < shape_.layers; ++l) result.attention += forward_layer(p, l, x, caches[static_cast<std::size_t>(l)]);
  set_layer(-1);
  result.loss = loss_forward(p, x, head);
  if (!backward) return result;

  Matrix<T> dx("Model::dx", n_, shape_.d_model);
  loss_backward(p, x, head, total_valid, dx);
  for (int l = shape_.layers - 1; l >= 0; --l)
    result.attention += backward_layer(p, l, dx, caches[static_cast<std::size_t>(l)]);
  set_layer(-1);
  phase(Phase::embedding, [&] { embedding_backward(p.grad_matrix("embed.weight"), token_view, dx); });
  return result;
}

template class Transformer<float>;
template class Transformer<double>;

}  // namespace wf::model

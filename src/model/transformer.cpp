#include "model/transformer.hpp"

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

Kokkos::View<index_t*, MemSpace> to_device(const std::vector<index_t>& host, const char* label) {
  Kokkos::View<index_t*, MemSpace> view(std::string(label), host.size());
  Kokkos::deep_copy(view, Kokkos::View<const index_t*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>(
                              host.data(), host.size()));
  return view;
}

}  // namespace

template <class T>
struct Transformer<T>::LayerCache {
  Matrix<T> x_in, ln1_out, o_tok, x_mid, ln2_out, u, g;
  Vector<T> ln1_mean, ln1_rstd, ln2_mean, ln2_rstd;
  nbody::AttentionShard<T> shard;
  nbody::AttentionRun<T> run;
};

template <class T>
Transformer<T>::Transformer(const ModelShape& shape, const AttentionPlan& plan, nbody::ScheduleContext& ctx)
    : shape_(shape),
      plan_(plan),
      ctx_(ctx),
      attention_(plan.options),
      n_(ctx.shard_tokens()),
      positions_(ctx.shard_positions(ctx.shard())) {
  require(plan.options.heads == shape.heads && plan.options.kv_heads == shape.kv_heads &&
              plan.options.head_dim == shape.head_dim,
          "the attention plan does not match the model shape");
}

template <class T>
void Transformer<T>::forward_layer(Parameters<T>& p, int l, Matrix<T>& x, LayerCache& c) {
  using perf::Phase;
  const int d = shape_.d_model, heads = shape_.heads, kv = shape_.kv_heads, hd = shape_.head_dim;
  set_layer(l);
  phase(Phase::layer_norm, [&] {
    c.x_in = Matrix<T>("Model::x_in", n_, d);
    Kokkos::deep_copy(c.x_in, x);
    c.ln1_out = Matrix<T>("Model::ln1_out", n_, d);
    c.ln1_mean = Vector<T>("Model::ln1_mean", n_);
    c.ln1_rstd = Vector<T>("Model::ln1_rstd", n_);
    kernels::layer_norm_forward<T>(x, p.vector(layer_name(l, "ln1.weight")), p.vector(layer_name(l, "ln1.bias")),
                                   c.ln1_out, c.ln1_mean, c.ln1_rstd);
  });
  phase(Phase::projection, [&] {
    Matrix<T> q("Model::q", n_, heads * hd), k("Model::k", n_, kv * hd), v("Model::v", n_, kv * hd);
    linear_forward(c.ln1_out, p.matrix(layer_name(l, "attn.wq.weight")), Vector<T>(), q);
    linear_forward(c.ln1_out, p.matrix(layer_name(l, "attn.wk.weight")), Vector<T>(), k);
    linear_forward(c.ln1_out, p.matrix(layer_name(l, "attn.wv.weight")), Vector<T>(), v);
    // Head-major packed blocks for the schedule; rotary on global positions.
    c.shard.q = nbody::Buffer<T>("Model::q_heads", std::size_t(heads) * n_ * hd);
    c.shard.kv = nbody::Buffer<T>("Model::kv_heads", 2 * std::size_t(kv) * n_ * hd);
    to_head_major(q, heads, hd, c.shard.q.data());
    to_head_major(k, kv, hd, c.shard.kv.data());
    to_head_major(v, kv, hd, c.shard.kv.data() + std::size_t(kv) * n_ * hd);
    kernels::apply_rotary<T>(heads_view(c.shard.q.data(), heads, n_, hd), positions_, shape_.rotary_base);
    kernels::apply_rotary<T>(heads_view(c.shard.kv.data(), kv, n_, hd), positions_, shape_.rotary_base);
    nbody::allocate_outputs(attention_, n_, c.shard);
  });
  c.run = nbody::attention_forward(ctx_, plan_.kind, attention_, c.shard);  // traced by the schedule
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
    c.ln2_out = Matrix<T>("Model::ln2_out", n_, d);
    c.ln2_mean = Vector<T>("Model::ln2_mean", n_);
    c.ln2_rstd = Vector<T>("Model::ln2_rstd", n_);
    kernels::layer_norm_forward<T>(x, p.vector(layer_name(l, "ln2.weight")), p.vector(layer_name(l, "ln2.bias")),
                                   c.ln2_out, c.ln2_mean, c.ln2_rstd);
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
}

template <class T>
void Transformer<T>::backward_layer(Parameters<T>& p, int l, Matrix<T>& dx, LayerCache& c) {
  using perf::Phase;
  const int d = shape_.d_model, heads = shape_.heads, kv = shape_.kv_heads, hd = shape_.head_dim;
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
    c.shard.d_o = nbody::Buffer<T>("Model::do_heads", std::size_t(heads) * n_ * hd);
    to_head_major(do_tok, heads, hd, c.shard.d_o.data());
  });
  nbody::attention_backward(ctx_, plan_.kind, plan_.rotate, attention_, c.run, c.shard);  // traced by the schedule
  Matrix<T> dln1("Model::dln1", n_, d);
  phase(Phase::projection, [&] {
    // The schedule's gradients are for the rotated q and k: rotate them back.
    kernels::apply_rotary<T>(heads_view(c.shard.dq.data(), heads, n_, hd), positions_, shape_.rotary_base, true);
    kernels::apply_rotary<T>(heads_view(c.shard.dkv.data(), kv, n_, hd), positions_, shape_.rotary_base, true);
    Matrix<T> dq("Model::dq", n_, heads * hd), dk("Model::dk", n_, kv * hd), dv("Model::dv", n_, kv * hd);
    to_token_major(c.shard.dq.data(), heads, hd, dq);
    to_token_major(c.shard.dkv.data(), kv, hd, dk);
    to_token_major(c.shard.dkv.data() + std::size_t(kv) * n_ * hd, kv, hd, dv);
    linear_backward(dq, c.ln1_out, p.matrix(layer_name(l, "attn.wq.weight")),
                    p.grad_matrix(layer_name(l, "attn.wq.weight")), Vector<T>(), dln1, T(0));
    linear_backward(dk, c.ln1_out, p.matrix(layer_name(l, "attn.wk.weight")),
                    p.grad_matrix(layer_name(l, "attn.wk.weight")), Vector<T>(), dln1, T(1));
    linear_backward(dv, c.ln1_out, p.matrix(layer_name(l, "attn.wv.weight")),
                    p.grad_matrix(layer_name(l, "attn.wv.weight")), Vector<T>(), dln1, T(1));
  });
  phase(Phase::layer_norm, [&] {
    kernels::layer_norm_backward<T>(dln1, c.x_in, p.vector(layer_name(l, "ln1.weight")), c.ln1_mean, c.ln1_rstd,
                                    dres, p.grad_vector(layer_name(l, "ln1.weight")),
                                    p.grad_vector(layer_name(l, "ln1.bias")));
    add_in_place(dx, dres);
  });
}

template <class T>
LossParts Transformer<T>::run(Parameters<T>& p, const std::vector<index_t>& tokens, const std::vector<index_t>& targets,
                              bool backward, std::int64_t total_valid) {
  using perf::Phase;
  require(static_cast<index_t>(tokens.size()) == n_ && static_cast<index_t>(targets.size()) == n_,
          "the model expects " + std::to_string(n_) + " tokens and targets on this process");
  const int d = shape_.d_model;
  const auto token_view = to_device(tokens, "Model::tokens");
  const auto target_view = to_device(targets, "Model::targets");
  Matrix<T> x("Model::x", n_, d);
  set_layer(-1);
  phase(Phase::embedding, [&] { embedding_forward(p.matrix("embed.weight"), token_view, x); });
  std::vector<LayerCache> caches(static_cast<std::size_t>(shape_.layers));
  for (int l = 0; l < shape_.layers; ++l) forward_layer(p, l, x, caches[static_cast<std::size_t>(l)]);
  set_layer(-1);
  Matrix<T> lnf_out("Model::lnf_out", n_, d), logits("Model::logits", n_, shape_.vocab);
  Vector<T> lnf_mean("Model::lnf_mean", n_), lnf_rstd("Model::lnf_rstd", n_);
  phase(Phase::layer_norm, [&] {
    kernels::layer_norm_forward<T>(x, p.vector("ln_f.weight"), p.vector("ln_f.bias"), lnf_out, lnf_mean, lnf_rstd);
  });
  phase(Phase::projection, [&] { linear_forward(lnf_out, p.matrix("lm_head.weight"), Vector<T>(), logits); });
  LossParts parts;
  phase(Phase::loss, [&] {
    const auto ce = kernels::cross_entropy_forward<T>(logits, target_view);
    parts = {ce.sum, static_cast<std::int64_t>(ce.valid_rows)};
  });
  if (!backward) return parts;

  Matrix<T> dlogits("Model::dlogits", n_, shape_.vocab), dlnf("Model::dlnf", n_, d), dx("Model::dx", n_, d);
  phase(Phase::loss, [&] {
    kernels::cross_entropy_backward<T>(logits, target_view, 1.0 / static_cast<double>(total_valid), dlogits);
  });
  phase(Phase::projection, [&] {
    linear_backward(dlogits, lnf_out, p.matrix("lm_head.weight"), p.grad_matrix("lm_head.weight"), Vector<T>(), dlnf,
                    T(0));
  });
  phase(Phase::layer_norm, [&] {
    kernels::layer_norm_backward<T>(dlnf, x, p.vector("ln_f.weight"), lnf_mean, lnf_rstd, dx,
                                    p.grad_vector("ln_f.weight"), p.grad_vector("ln_f.bias"));
  });
  for (int l = shape_.layers - 1; l >= 0; --l) backward_layer(p, l, dx, caches[static_cast<std::size_t>(l)]);
  set_layer(-1);
  phase(Phase::embedding, [&] { embedding_backward(p.grad_matrix("embed.weight"), token_view, dx); });
  return parts;
}

template class Transformer<float>;
template class Transformer<double>;

}  // namespace wf::model

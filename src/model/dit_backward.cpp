// The DiT's backward, its final layer and loss, and one pass (dit.hpp); the forward of the
// blocks is dit.cpp.
#include <string>

#include "core/device_copy.hpp"
#include "core/region.hpp"
#include "kernels/gelu.hpp"
#include "kernels/layer_norm.hpp"
#include "kernels/modulation.hpp"
#include "kernels/mse.hpp"
#include "kernels/silu.hpp"
#include "kernels/sinusoidal.hpp"
#include "model/dit.hpp"
#include "model/dit_detail.hpp"

namespace wf::model {

using namespace dit_detail;

/// From the summed gradient of silu(c) back through the t_embedder's MLP.
template <class T>
void DiT<T>::condition_backward(Parameters<T>& p, Conditioning& cond) {
  const int d = shape_.d_model;
  const ExecSpace& space = ctx_.compute_space();
  Matrix<T> d_c("Model::d_c", 1, d), d_hidden_act("Model::d_t_hidden_act", 1, d), d_hidden("Model::d_t_hidden", 1, d);
  kernels::silu_backward<T>(space, flat(cond.c), flat(cond.d_c_act), flat(d_c));
  linear_backward(d_c, cond.hidden_act, p.matrix("t_embedder.mlp.2.weight"), p.grad_matrix("t_embedder.mlp.2.weight"),
                  p.grad_vector("t_embedder.mlp.2.bias"), d_hidden_act, T(0));
  kernels::silu_backward<T>(space, flat(cond.hidden), flat(d_hidden_act), flat(d_hidden));
  linear_backward(d_hidden, cond.frequencies, p.matrix("t_embedder.mlp.0.weight"),
                  p.grad_matrix("t_embedder.mlp.0.weight"), p.grad_vector("t_embedder.mlp.0.bias"), Matrix<T>(), T(0));
}

template <class T>
void DiT<T>::modulation_backward(Parameters<T>& p, const std::string& prefix, Conditioning& cond,
                                 const Matrix<T>& d_mod) {
  linear_backward(d_mod, cond.c_act, p.matrix(prefix + ".weight"), p.grad_matrix(prefix + ".weight"),
                  p.grad_vector(prefix + ".bias"), cond.d_c_act, T(1));
}

/// Backward of norm_and_modulate: writes the shift and scale chunks of d_mod, adds to dx.
template <class T>
void DiT<T>::norm_and_modulate_backward(const Matrix<T>& d_modulated, const Matrix<T>& x, const Matrix<T>& normed,
                                        const Vector<T>& mean, const Vector<T>& rstd, const Matrix<T>& mod,
                                        Matrix<T>& d_mod, int first, Matrix<T>& dx) {
  const int d = shape_.d_model;
  Matrix<T> d_normed("Model::d_normed", n_, d), d_input("Model::d_norm_input", n_, d);
  kernels::modulate_backward<T>(ctx_.compute_space(), d_modulated, normed, chunk(mod, first + 1, d), d_normed,
                                chunk(d_mod, first, d), chunk(d_mod, first + 1, d));
  kernels::layer_norm_backward_input<T>(d_normed, x, ones_, mean, rstd, d_input);
  add_in_place(dx, d_input);
}

template <class T>
nbody::ScheduleTimes DiT<T>::backward_block(Parameters<T>& p, int l, Matrix<T>& dx, BlockCache& c,
                                            Conditioning& cond) {
  const ProfilingRegion region("Model::dit_backward_block");
  const int d = shape_.d_model;
  const ExecSpace& space = ctx_.compute_space();
  set_layer(l);
  Matrix<T> d_mod("Model::d_modulation", 1, 6 * std::size_t(d));
  Matrix<T> d_branch("Model::d_branch", n_, d), d_modulated("Model::d_modulated", n_, d);
  // MLP branch: x_out = x_mid + gate_mlp * y(modulate(LN(x_mid))).
  phase(Phase::mlp_other, [&] {
    kernels::gated_residual_backward<T>(space, dx, chunk(c.mod, gate_mlp, d), c.y, d_branch, chunk(d_mod, gate_mlp, d));
  });
  mlp_backward(p, l, c, d_branch, d_modulated);
  phase(Phase::layer_norm, [&] {
    norm_and_modulate_backward(d_modulated, c.x_mid, c.h2, c.mean2, c.rstd2, c.mod, d_mod, shift_mlp, dx);
  });
  // Attention branch: x_mid = x_in + gate_attention * attn(modulate(LN(x_in))).
  phase(Phase::mlp_other, [&] {
    kernels::gated_residual_backward<T>(space, dx, chunk(c.mod, gate_attention, d), c.attn_out, d_branch,
                                        chunk(d_mod, gate_attention, d));
  });
  const nbody::ScheduleTimes times = attention_backward(p, l, c, d_branch, d_modulated);
  phase(Phase::layer_norm, [&] {
    norm_and_modulate_backward(d_modulated, c.x_in, c.h1, c.mean1, c.rstd1, c.mod, d_mod, shift_attention, dx);
  });
  phase(Phase::projection, [&] { modulation_backward(p, block_name(l, "adaLN_modulation.1"), cond, d_mod); });
  return times;
}

/// From the gradient of the projected attention output to that of the modulated input (written).
template <class T>
nbody::ScheduleTimes DiT<T>::attention_backward(Parameters<T>& p, int l, BlockCache& c, const Matrix<T>& d_out,
                                                Matrix<T>& d_modulated) {
  const int heads = shape_.heads, kv = shape_.kv_heads, hd = shape_.head_dim;
  phase(Phase::projection, [&] {
    Matrix<T> do_tok("Model::do_tok", n_, heads * hd);
    linear_backward(d_out, c.o_tok, p.matrix(block_name(l, "attn.wo.weight")),
                    p.grad_matrix(block_name(l, "attn.wo.weight")), p.grad_vector(block_name(l, "attn.wo.bias")),
                    do_tok, T(0));
    c.shard.d_output = nbody::Buffer<T>("Model::do_heads", std::size_t(heads) * n_ * hd);
    to_head_major(do_tok, heads, hd, c.shard.d_output.data());
  });
  const nbody::ScheduleTimes times =
      nbody::schedule_backward(ctx_, plan_.schedule, plan_.rotate, attention_, c.run, c.shard, trace_);
  phase(Phase::projection, [&] {
    Matrix<T> dq("Model::dq", n_, heads * hd), dk("Model::dk", n_, kv * hd), dv("Model::dv", n_, kv * hd);
    to_token_major(c.shard.d_targets.data(), heads, hd, dq);
    to_token_major(c.shard.d_sources.data(), kv, hd, dk);
    to_token_major(c.shard.d_sources.data() + std::size_t(kv) * n_ * hd, kv, hd, dv);
    const std::pair<const char*, Matrix<T>*> projections[] = {{"attn.wq", &dq}, {"attn.wk", &dk}, {"attn.wv", &dv}};
    T beta = T(0);
    for (const auto& [name, grad] : projections) {
      const std::string w = block_name(l, name) + std::string(".weight"), b = block_name(l, name) + std::string(".bias");
      linear_backward(*grad, c.a, p.matrix(w), p.grad_matrix(w), p.grad_vector(b), d_modulated, beta);
      beta = T(1);
    }
  });
  return times;
}

/// From the gradient of the MLP output to that of its modulated input (written).
template <class T>
void DiT<T>::mlp_backward(Parameters<T>& p, int l, BlockCache& c, const Matrix<T>& d_out, Matrix<T>& d_modulated) {
  Matrix<T> dg("Model::dg", n_, shape_.mlp_dim);
  phase(Phase::projection, [&] {
    linear_backward(d_out, c.g, p.matrix(block_name(l, "mlp.fc2.weight")), p.grad_matrix(block_name(l, "mlp.fc2.weight")),
                    p.grad_vector(block_name(l, "mlp.fc2.bias")), dg, T(0));
  });
  phase(Phase::mlp_other, [&] { kernels::gelu_backward<T>(flat(c.u), flat(dg), flat(dg)); });
  phase(Phase::projection, [&] {
    linear_backward(dg, c.m, p.matrix(block_name(l, "mlp.fc1.weight")), p.grad_matrix(block_name(l, "mlp.fc1.weight")),
                    p.grad_vector(block_name(l, "mlp.fc1.bias")), d_modulated, T(0));
  });
}

/// The final layer and this shard's sum of squared errors against the noise.
template <class T>
double DiT<T>::head_forward(Parameters<T>& p, const Matrix<T>& x, const Conditioning& cond, const DiffusionRows& rows,
                            HeadCache& head) {
  phase(Phase::projection, [&] { head.mod = modulation(p, "final_layer.adaLN_modulation.1", cond, 2); });
  phase(Phase::layer_norm, [&] { norm_and_modulate(x, head.mod, 0, head.normed, head.mean, head.rstd, head.modulated); });
  phase(Phase::projection, [&] {
    head.out = Matrix<T>("Model::prediction", n_, shape_.patch_dim);
    linear_forward(head.modulated, p.matrix("final_layer.linear.weight"), p.vector("final_layer.linear.bias"), head.out);
  });
  double sum = 0;
  phase(Phase::loss, [&] {
    head.target = matrix_from<T>(rows.noise, n_, shape_.patch_dim, "Model::noise");
    sum = kernels::squared_error_sum<T>(ctx_.compute_space(), flat(head.out), flat(head.target));
  });
  return sum;
}

/// dx = the gradient of the mean loss at the final layer's input (x after the blocks).
template <class T>
void DiT<T>::head_backward(Parameters<T>& p, const Matrix<T>& x, HeadCache& head, Conditioning& cond,
                           std::int64_t total_elements, Matrix<T>& dx) {
  const int d = shape_.d_model;
  Matrix<T> d_out("Model::d_prediction", n_, shape_.patch_dim), d_modulated("Model::d_modulated", n_, d);
  Matrix<T> d_mod("Model::d_final_modulation", 1, 2 * std::size_t(d));
  phase(Phase::loss, [&] {
    kernels::squared_error_backward<T>(ctx_.compute_space(), flat(head.out), flat(head.target),
                                       1.0 / static_cast<double>(total_elements), flat(d_out));
  });
  phase(Phase::projection, [&] {
    linear_backward(d_out, head.modulated, p.matrix("final_layer.linear.weight"),
                    p.grad_matrix("final_layer.linear.weight"), p.grad_vector("final_layer.linear.bias"), d_modulated,
                    T(0));
  });
  phase(Phase::layer_norm,
        [&] { norm_and_modulate_backward(d_modulated, x, head.normed, head.mean, head.rstd, head.mod, d_mod, 0, dx); });
  phase(Phase::projection, [&] { modulation_backward(p, "final_layer.adaLN_modulation.1", cond, d_mod); });
}

template <class T>
PassResult DiT<T>::run(Parameters<T>& p, const DiffusionRows& rows, double timestep, bool backward,
                       std::int64_t total_elements) {
  const ProfilingRegion region(backward ? "Model::dit_forward_backward" : "Model::dit_forward");
  const std::size_t elements = static_cast<std::size_t>(n_) * shape_.patch_dim;
  require(rows.noisy.size() == elements && rows.noise.size() == elements,
          "the DiT expects " + std::to_string(n_) + " rows of " + std::to_string(shape_.patch_dim) +
              " noisy latents and noise on this process");
  PassResult result;
  Conditioning cond;
  const Matrix<T> noisy = matrix_from<T>(rows.noisy, n_, shape_.patch_dim, "Model::noisy");
  Matrix<T> x("Model::x", n_, shape_.d_model);
  set_layer(-1);
  phase(Phase::embedding, [&] {
    condition_forward(p, timestep, cond);
    linear_forward(noisy, p.matrix("x_embedder.weight"), p.vector("x_embedder.bias"), x);
    Matrix<T> position("Model::pos_embed", n_, shape_.d_model);
    kernels::sinusoidal_embedding<T>(ctx_.compute_space(), positions_, kernels::SinusoidalOrder::sin_first, position);
    add_in_place(x, position);
  });
  std::vector<BlockCache> caches(static_cast<std::size_t>(shape_.layers));
  for (int l = 0; l < shape_.layers; ++l)
    result.attention += forward_block(p, l, x, caches[static_cast<std::size_t>(l)], cond);
  set_layer(-1);
  HeadCache head;
  result.loss = {head_forward(p, x, cond, rows, head), static_cast<std::int64_t>(elements)};
  if (!backward) return result;

  Matrix<T> dx("Model::dx", n_, shape_.d_model);
  head_backward(p, x, head, cond, total_elements, dx);
  for (int l = shape_.layers - 1; l >= 0; --l)
    result.attention += backward_block(p, l, dx, caches[static_cast<std::size_t>(l)], cond);
  set_layer(-1);
  phase(Phase::embedding, [&] {
    linear_backward(dx, noisy, p.matrix("x_embedder.weight"), p.grad_matrix("x_embedder.weight"),
                    p.grad_vector("x_embedder.bias"), Matrix<T>(), T(0));
    condition_backward(p, cond);
  });
  return result;
}

#define WF_DIT_BACKWARD_INSTANTIATE(T)                                                                               \
  template PassResult DiT<T>::run(Parameters<T>&, const DiffusionRows&, double, bool, std::int64_t);

WF_DIT_BACKWARD_INSTANTIATE(float)
WF_DIT_BACKWARD_INSTANTIATE(double)
#undef WF_DIT_BACKWARD_INSTANTIATE

}  // namespace wf::model

#include "model/dit.hpp"

#include <string>

#include "core/device_copy.hpp"
#include "core/region.hpp"
#include "kernels/gelu.hpp"
#include "kernels/layer_norm.hpp"
#include "kernels/modulation.hpp"
#include "kernels/mse.hpp"
#include "kernels/silu.hpp"
#include "kernels/sinusoidal.hpp"
#include "model/dit_detail.hpp"

namespace wf::model {

using namespace dit_detail;

template <class T>
DiT<T>::DiT(const ModelShape& shape, const AttentionPlan& plan, nbody::ScheduleContext& ctx, TraceRecorder* trace)
    : TracedPhases(trace),
      shape_(shape),
      plan_(plan),
      ctx_(ctx),
      attention_(plan.options, ctx.compute_space()),
      n_(ctx.shard_tokens()),
      positions_(ctx.shard_positions(ctx.shard())),
      ones_("Model::norm_ones", shape.d_model),
      zeros_("Model::norm_zeros", shape.d_model) {
  require(shape.kind == ModelKind::dit, "the DiT needs a DiT model shape");
  require(plan.options.heads == shape.heads && plan.options.kv_heads == shape.kv_heads &&
              plan.options.head_dim == shape.head_dim && plan.options.mask == kernels::MaskKind::none,
          "the attention plan does not match the DiT (bidirectional attention of the model's heads)");
  require(shape.d_model % 2 == 0 && shape.timestep_dim % 2 == 0,
          "the DiT's sinusoidal embeddings need an even model.d_model and model.timestep_dim");
  Kokkos::deep_copy(ones_, T(1));
}

template <class T>
void DiT<T>::condition_forward(Parameters<T>& p, double timestep, Conditioning& cond) {
  const int d = shape_.d_model;
  const ExecSpace& space = ctx_.compute_space();
  cond.frequencies = Matrix<T>("Model::t_frequencies", 1, shape_.timestep_dim);
  Kokkos::View<double*, MemSpace> t("Model::timestep", 1);
  Kokkos::deep_copy(t, timestep);
  kernels::sinusoidal_embedding<T>(space, t, kernels::SinusoidalOrder::cos_first, cond.frequencies);
  cond.hidden = Matrix<T>("Model::t_hidden", 1, d);
  cond.hidden_act = Matrix<T>("Model::t_hidden_act", 1, d);
  cond.c = Matrix<T>("Model::c", 1, d);
  cond.c_act = Matrix<T>("Model::c_act", 1, d);
  cond.d_c_act = Matrix<T>("Model::d_c_act", 1, d);
  linear_forward(cond.frequencies, p.matrix("t_embedder.mlp.0.weight"), p.vector("t_embedder.mlp.0.bias"), cond.hidden);
  kernels::silu_forward<T>(space, flat(cond.hidden), flat(cond.hidden_act));
  linear_forward(cond.hidden_act, p.matrix("t_embedder.mlp.2.weight"), p.vector("t_embedder.mlp.2.bias"), cond.c);
  kernels::silu_forward<T>(space, flat(cond.c), flat(cond.c_act));
}

/// adaLN_modulation (SiLU then a linear layer) of silu(c): [1][chunks d_model].
template <class T>
Matrix<T> DiT<T>::modulation(Parameters<T>& p, const std::string& prefix, const Conditioning& cond, int chunks) {
  Matrix<T> mod("Model::modulation", 1, std::size_t(chunks) * shape_.d_model);
  linear_forward(cond.c_act, p.matrix(prefix + ".weight"), p.vector(prefix + ".bias"), mod);
  return mod;
}

/// modulated = modulate(LN(x), shift, scale), shift = chunk `first` of mod, scale the next one.
template <class T>
void DiT<T>::norm_and_modulate(const Matrix<T>& x, const Matrix<T>& mod, int first, Matrix<T>& normed,
                               Vector<T>& mean, Vector<T>& rstd, Matrix<T>& modulated) {
  const int d = shape_.d_model;
  normed = Matrix<T>("Model::normed", n_, d);
  modulated = Matrix<T>("Model::modulated", n_, d);
  mean = Vector<T>("Model::norm_mean", n_);
  rstd = Vector<T>("Model::norm_rstd", n_);
  kernels::layer_norm_forward<T>(x, ones_, zeros_, normed, mean, rstd, dit_norm_eps);
  kernels::modulate_forward<T>(ctx_.compute_space(), normed, chunk(mod, first, d), chunk(mod, first + 1, d), modulated);
}

template <class T>
nbody::ScheduleTimes DiT<T>::forward_block(Parameters<T>& p, int l, Matrix<T>& x, BlockCache& c,
                                           const Conditioning& cond) {
  const ProfilingRegion region("Model::dit_forward_block");
  const int d = shape_.d_model;
  const ExecSpace& space = ctx_.compute_space();
  set_layer(l);
  phase(Phase::projection, [&] { c.mod = modulation(p, block_name(l, "adaLN_modulation.1"), cond, 6); });
  phase(Phase::layer_norm, [&] {
    c.x_in = copy_of(x, "Model::x_in");
    norm_and_modulate(x, c.mod, shift_attention, c.h1, c.mean1, c.rstd1, c.a);
  });
  const nbody::ScheduleTimes times = attention_forward(p, l, x, c);
  phase(Phase::mlp_other,
        [&] { kernels::gated_residual_forward<T>(space, x, chunk(c.mod, gate_attention, d), c.attn_out); });
  phase(Phase::layer_norm, [&] {
    c.x_mid = copy_of(x, "Model::x_mid");
    norm_and_modulate(x, c.mod, shift_mlp, c.h2, c.mean2, c.rstd2, c.m);
  });
  mlp_forward(p, l, x, c);
  phase(Phase::mlp_other, [&] { kernels::gated_residual_forward<T>(space, x, chunk(c.mod, gate_mlp, d), c.y); });
  return times;
}

/// q, k, v of the modulated input (head-major, the schedule's blocks), the schedule, wo.
template <class T>
nbody::ScheduleTimes DiT<T>::attention_forward(Parameters<T>& p, int l, const Matrix<T>&, BlockCache& c) {
  const int heads = shape_.heads, kv = shape_.kv_heads, hd = shape_.head_dim;
  phase(Phase::projection, [&] {
    Matrix<T> q("Model::q", n_, heads * hd), k("Model::k", n_, kv * hd), v("Model::v", n_, kv * hd);
    linear_forward(c.a, p.matrix(block_name(l, "attn.wq.weight")), p.vector(block_name(l, "attn.wq.bias")), q);
    linear_forward(c.a, p.matrix(block_name(l, "attn.wk.weight")), p.vector(block_name(l, "attn.wk.bias")), k);
    linear_forward(c.a, p.matrix(block_name(l, "attn.wv.weight")), p.vector(block_name(l, "attn.wv.bias")), v);
    c.shard.targets = nbody::Buffer<T>("Model::q_heads", std::size_t(heads) * n_ * hd);
    c.shard.sources = nbody::Buffer<T>("Model::kv_heads", 2 * std::size_t(kv) * n_ * hd);
    to_head_major(q, heads, hd, c.shard.targets.data());
    to_head_major(k, kv, hd, c.shard.sources.data());
    to_head_major(v, kv, hd, c.shard.sources.data() + std::size_t(kv) * n_ * hd);
    nbody::allocate_outputs(attention_, n_, c.shard);
  });
  c.run = nbody::schedule_forward(ctx_, plan_.schedule, attention_, c.shard, trace_);  // traced by the schedule
  phase(Phase::projection, [&] {
    c.o_tok = Matrix<T>("Model::o_tok", n_, heads * hd);
    to_token_major(c.shard.results.data(), heads, hd, c.o_tok);  // O is the first segment
    c.attn_out = Matrix<T>("Model::attn_out", n_, shape_.d_model);
    linear_forward(c.o_tok, p.matrix(block_name(l, "attn.wo.weight")), p.vector(block_name(l, "attn.wo.bias")),
                   c.attn_out);
  });
  return c.run.times;
}

template <class T>
void DiT<T>::mlp_forward(Parameters<T>& p, int l, const Matrix<T>&, BlockCache& c) {
  c.u = Matrix<T>("Model::u", n_, shape_.mlp_dim);
  c.g = Matrix<T>("Model::g", n_, shape_.mlp_dim);
  c.y = Matrix<T>("Model::y", n_, shape_.d_model);
  phase(Phase::projection, [&] {
    linear_forward(c.m, p.matrix(block_name(l, "mlp.fc1.weight")), p.vector(block_name(l, "mlp.fc1.bias")), c.u);
  });
  phase(Phase::mlp_other, [&] { kernels::gelu_forward<T>(flat(c.u), flat(c.g)); });
  phase(Phase::projection, [&] {
    linear_forward(c.g, p.matrix(block_name(l, "mlp.fc2.weight")), p.vector(block_name(l, "mlp.fc2.bias")), c.y);
  });
}

template class DiT<float>;
template class DiT<double>;

}  // namespace wf::model

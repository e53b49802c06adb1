#include "problems/train_model.hpp"

#include <numeric>

#include "model/data.hpp"
#include "perf/flops.hpp"

namespace wf::problems {

template <class T>
TrainModel<T>::TrainModel(const config::RunConfig& cfg, const TrainSetup& setup, nbody::ScheduleContext& ctx,
                          TraceRecorder* trace)
    : cfg_(cfg), setup_(setup), ctx_(ctx) {
  if (setup.shape.kind == ModelKind::dit)
    dit_ = std::make_unique<model::DiT<T>>(setup.shape, setup.plan, ctx, trace);
  else
    gpt_ = std::make_unique<model::Transformer<T>>(setup.shape, setup.plan, ctx, trace);
}

template <class T>
model::PassResult TrainModel<T>::step(model::Parameters<T>& params, std::int64_t sample) {
  const index_t n_total = cfg_.attention.seq_len;
  if (dit_) {
    const model::DiffusionSample drawn = model::diffusion_sample(setup_.diffusion, sample);
    const auto rows = model::diffusion_rows(setup_.diffusion, drawn, ctx_.sharding().positions(ctx_.shard(), 1));
    return dit_->run(params, rows, static_cast<double>(drawn.timestep), true,
                     n_total * static_cast<std::int64_t>(setup_.shape.patch_dim));
  }
  const auto global = setup_.fixed_tokens.empty() ? model::make_tokens(setup_.data, sample) : setup_.fixed_tokens;
  const auto tokens = model::shard_tokens(global, ctx_.sharding(), ctx_.shard());
  const auto targets = model::shard_tokens(model::targets(global), ctx_.sharding(), ctx_.shard());
  return gpt_->run(params, tokens, targets, true, n_total - 1);
}

template <class T>
double TrainModel<T>::loss_count() const {
  const double n_total = static_cast<double>(cfg_.attention.seq_len);
  return dit_ ? n_total * setup_.shape.patch_dim : n_total - 1;
}

template <class T>
std::vector<model::NamedDataset> TrainModel<T>::sample_data(std::int64_t sample) const {
  if (!dit_) return {};
  const model::DiffusionSample drawn = model::diffusion_sample(setup_.diffusion, sample);
  std::vector<index_t> positions(static_cast<std::size_t>(cfg_.attention.seq_len));
  std::iota(positions.begin(), positions.end(), index_t(0));
  model::DiffusionRows rows = model::diffusion_rows(setup_.diffusion, drawn, positions);
  const std::vector<std::uint64_t> dims = {static_cast<std::uint64_t>(cfg_.attention.seq_len),
                                           static_cast<std::uint64_t>(setup_.shape.patch_dim)};
  return {{"/data/noisy", dims, std::move(rows.noisy)},
          {"/data/noise", dims, std::move(rows.noise)},
          {"/data/timestep", {}, {static_cast<double>(drawn.timestep)}}};
}

double train_step_flops(const TrainSetup& setup, std::int64_t seq_len) {
  const auto& s = setup.shape;
  if (s.kind == ModelKind::dit)
    return perf::dit_step_flops(s.patch_dim, s.d_model, s.layers, s.heads, s.kv_heads, s.head_dim, s.mlp_dim, seq_len);
  return perf::transformer_step_flops(s.vocab, s.d_model, s.layers, s.heads, s.kv_heads, s.head_dim, s.mlp_dim,
                                      seq_len);
}

template class TrainModel<float>;
template class TrainModel<double>;

}  // namespace wf::problems

// The model a training run steps, GPT or DiT (model.kind), behind one interface for the loop
// of train_problem.cpp: one forward and backward of a sample on this shard, the count the summed
// loss is divided by, the FLOPs of a step, and what a gradient dump records of the sample.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "config/run_config.hpp"
#include "core/trace.hpp"
#include "model/checkpoint.hpp"
#include "model/dit.hpp"
#include "model/transformer.hpp"
#include "problems/train_setup.hpp"

namespace wf::problems {

template <class T>
class TrainModel {
 public:
  /// \brief The model of setup.shape.kind on `ctx` (whose sharding is setup.sharding).
  TrainModel(const config::RunConfig& cfg, const TrainSetup& setup, nbody::ScheduleContext& ctx, TraceRecorder* trace);

  /// \brief Forward and backward of sample `sample` on this shard: adds this shard's gradients
  /// to params.grads; loss_sum is this shard's part of the loss before the division by loss_count().
  model::PassResult step(model::Parameters<T>& params, std::int64_t sample);

  /// \brief N - 1 predicted tokens (GPT), N x patch_dim elements (DiT).
  double loss_count() const;

  /// \brief What a gradient dump (model.grads_out) records of sample `sample` besides the
  /// parameters: nothing for the GPT; for the DiT /data/noisy and /data/noise [N][patch_dim]
  /// and /data/timestep, so that a PyTorch model can recompute the loss (docs/weights.md).
  std::vector<model::NamedDataset> sample_data(std::int64_t sample) const;

 private:
  const config::RunConfig& cfg_;
  const TrainSetup& setup_;
  nbody::ScheduleContext& ctx_;
  std::unique_ptr<model::Transformer<T>> gpt_;
  std::unique_ptr<model::DiT<T>> dit_;
};

/// \brief FLOPs of one training step of the setup's model (perf/flops.hpp).
double train_step_flops(const TrainSetup& setup, std::int64_t seq_len);

}  // namespace wf::problems

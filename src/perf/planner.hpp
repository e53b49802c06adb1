// The planner: every plan of the tuning space (schedule, team size c, arrangement, rotate
// side) for a model on a machine, costed and ranked. A training step is the layers' attention
// (cost_model.hpp) plus their dense products at the gemm rate (flops.hpp's count), the
// gradient all-reduce over every rank (the communicator's ring, alpha-beta) and nothing else
// (element-wise work and the optimizer are not timed). Memory per device counts parameters,
// gradients, the AdamW moments, the activations the backward keeps and the schedules' buffers.
#pragma once

#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "perf/cost_model.hpp"

namespace wf::perf {

/// \brief What a plan is for: the attention layer and, for training, the rest of the model.
struct ModelSpec {
  AttentionShape attention;
  bool train = false;  ///< false: one attention layer forward + backward (the attention problem)
  int layers = 1, d_model = 0, mlp_dim = 0, vocab = 0;
};

/// \brief Everything predicted for one plan.
struct PlanPrediction {
  Plan plan;
  AttentionCost attention;       ///< one layer
  double dense_seconds = 0;      ///< all layers and the head, forward + backward
  double allreduce_seconds = 0;  ///< the gradient all-reduce
  double step_seconds = 0;
  double tokens_per_second = 0;
  double memory_gib = 0;  ///< per device
  bool fits = true;       ///< memory_gib <= the machine's device memory
  /// \brief Seconds of communication not hidden behind compute, per step.
  double exposed_seconds() const { return step_seconds - dense_seconds - layers_compute; }
  double layers_compute = 0;  ///< attention compute of all layers
};

/// \brief The model of a deck: its attention layer, and the GPT when run.problem = "train"
/// (wire scalars of run.precision).
ModelSpec model_spec_from_config(const config::RunConfig& cfg);

/// \brief Every valid plan on `ranks` processes: Ring (rotate q and kv), WallFacer for every c
/// > 1 with c^2 | ranks in both arrangements and both rotate sides, Ulysses when ranks divides
/// the heads and kv heads.
std::vector<Plan> candidate_plans(const ModelSpec& model, int ranks);

/// \brief The prediction of one plan.
PlanPrediction predict_plan(const Plan& plan, const ModelSpec& model, const config::Machine& machine, int ranks);

/// \brief Every candidate, best first: plans that fit in memory before those that do not, then
/// by step time.
std::vector<PlanPrediction> rank_plans(const ModelSpec& model, const config::Machine& machine, int ranks);

/// \brief Bytes per device of a plan (see the top of this file); `ranks` processes.
double plan_memory_bytes(const Plan& plan, const ModelSpec& model, int ranks);

/// \brief "wallfacer c=2 team-major rotate=q", a plan's name in tables.
std::string describe_plan(const Plan& plan);

}  // namespace wf::perf

#include "perf/planner.hpp"

#include <algorithm>

#include "perf/flops.hpp"

namespace wf::perf {
namespace {

/// Per-token widths (scalars) of a model's tensors.
struct Widths {
  double d, hq, hkv, heads, mlp, vocab;
  explicit Widths(const ModelSpec& m)
      : d(m.d_model),
        hq(double(m.attention.traffic.heads) * m.attention.traffic.head_dim),
        hkv(double(m.attention.traffic.kv_heads) * m.attention.traffic.head_dim),
        heads(m.attention.traffic.heads),
        mlp(m.mlp_dim),
        vocab(m.vocab) {}
};

/// Parameters of the GPT (model/parameters.cpp's layout).
double parameter_count(const ModelSpec& m) {
  if (!m.train) return 0.0;
  const Widths w(m);
  const double layer = 4 * w.d + w.d * (2 * w.hq + 2 * w.hkv) + 2 * w.d * w.mlp + w.mlp + w.d;
  return 2 * w.vocab * w.d + m.layers * layer + 2 * w.d;
}

/// Scalars per token the forward keeps for the backward in one layer: the transformer's
/// cache (training only), the schedule's inputs and results, and its forward state.
double kept_per_token(const Plan& plan, const ModelSpec& m, int team_size) {
  const Widths w(m);
  const double dense = m.train ? 4 * w.d + w.hq + 2 * w.mlp + 4 : 0.0;
  const double shard = w.hq + 2 * w.hkv + w.hq + w.heads;  // Q, K, V, O, lse
  const double state = plan.schedule == Schedule::ulysses ? shard  // head-shard copies
                                                          : (team_size > 1 ? team_size * w.hq : 0.0) + team_size * 2 * w.hkv;
  return dense + shard + state;
}

/// Scalars per token of the largest transient buffers of one layer (forward or backward).
double buffers_per_token(const Plan& plan, const ModelSpec& m, int team_size) {
  const Widths w(m);
  const double c = team_size;
  if (plan.schedule == Schedule::ulysses) return 3 * (w.hq + 2 * w.hkv) + 3 * (w.hq + 2 * w.hkv);
  const double forward = 2 * c * w.hq + 2 * c * 2 * w.hkv + c * 2 * w.hkv + 2 * c * (w.hq + w.heads);
  const double travelling = plan.rotate == RotateSide::query ? c * (2 * w.hq + 2 * w.heads) : c * 2 * w.hkv;
  const double accumulator = plan.rotate == RotateSide::query ? c * w.hq : c * 2 * w.hkv;
  const double backward = 2 * travelling + 4 * accumulator + c * 2 * w.hkv + w.hq + 2 * w.hkv + c * (w.hq + 2 * w.heads);
  return std::max(forward, backward);
}

/// The gradient all-reduce: the communicator's ring over every rank in rank order,
/// 2 (P - 1) steps of one chunk to the next rank.
double allreduce_seconds(const ModelSpec& m, const NetworkModel& network, int ranks) {
  if (!m.train || ranks == 1) return 0.0;
  const double chunk = parameter_count(m) / ranks * double(m.attention.traffic.scalar_bytes);
  std::vector<Flow> step;
  for (int r = 0; r < ranks; ++r) step.push_back({r, (r + 1) % ranks, chunk});
  return 2.0 * (ranks - 1) * network.phase_seconds(step);
}

/// Forward + backward of every dense product (3 x the forward's, flops.hpp's convention).
double dense_seconds(const ModelSpec& m, const config::Machine& machine, const Placement& placement) {
  if (!m.train) return 0.0;
  const Widths w(m);
  const double n = static_cast<double>(m.attention.traffic.seq_len) / placement.ranks;
  const double layer = gemm_flops(n, 2 * w.hq + 2 * w.hkv, w.d) + gemm_flops(n, 2 * w.mlp, w.d);
  const double flops = 3.0 * (m.layers * layer + gemm_flops(n, w.vocab, w.d));
  return flops / (machine.gemm_tflops * 1e12 / placement.ranks_per_device);
}

}  // namespace

ModelSpec model_spec_from_config(const config::RunConfig& cfg) {
  ModelSpec m;
  m.attention.traffic = {cfg.attention.seq_len, cfg.attention.heads, cfg.kv_heads(), cfg.attention.head_dim,
                         cfg.run.precision == Precision::fp32 ? std::size_t(4) : std::size_t(8)};
  m.attention.causal = cfg.attention.causal;
  m.train = cfg.run.problem == Problem::train;
  if (m.train) {
    m.layers = cfg.model.layers;
    m.d_model = cfg.model.d_model;
    m.mlp_dim = cfg.model.mlp_dim == 0 ? 4 * cfg.model.d_model : cfg.model.mlp_dim;
    m.vocab = cfg.model.vocab;
  }
  return m;
}

std::vector<Plan> candidate_plans(const ModelSpec& model, int ranks) {
  std::vector<Plan> plans;
  for (const RotateSide side : {RotateSide::query, RotateSide::key})
    plans.push_back({Schedule::ring, 1, Arrangement::team_major, side});
  for (int c = 2; c * c <= ranks; ++c) {
    if (ranks % (c * c) != 0) continue;
    for (const Arrangement arrangement : {Arrangement::team_major, Arrangement::ring_major})
      for (const RotateSide side : {RotateSide::query, RotateSide::key})
        plans.push_back({Schedule::wallfacer, c, arrangement, side});
  }
  const auto& a = model.attention.traffic;
  if (a.heads % ranks == 0 && a.kv_heads % ranks == 0)
    plans.push_back({Schedule::ulysses, 1, Arrangement::team_major, RotateSide::query});
  return plans;
}

double plan_memory_bytes(const Plan& plan, const ModelSpec& m, int ranks) {
  const int c = plan.schedule == Schedule::wallfacer ? plan.team_size : 1;
  const double n = static_cast<double>(m.attention.traffic.seq_len) / ranks;
  const double s = double(m.attention.traffic.scalar_bytes);
  const double optimizer = 4.0 * parameter_count(m);  // parameters, gradients, two AdamW moments
  const double head = m.train ? n * (m.vocab + 2.0 * m.d_model) : 0.0;
  const double kept = m.layers * n * kept_per_token(plan, m, c);
  return s * (optimizer + kept + head + n * buffers_per_token(plan, m, c));
}

PlanPrediction predict_plan(const Plan& plan, const ModelSpec& model, const config::Machine& machine, int ranks) {
  const NetworkModel network(machine, place_ranks(machine, ranks));
  PlanPrediction p;
  p.plan = plan;
  p.attention = predict_attention_cost(plan, model.attention, network, machine);
  const int layers = model.train ? model.layers : 1;
  p.dense_seconds = dense_seconds(model, machine, network.placement());
  p.allreduce_seconds = allreduce_seconds(model, network, ranks);
  p.layers_compute = layers * (p.attention.forward_compute + p.attention.backward_compute);
  p.step_seconds = layers * (p.attention.forward + p.attention.backward) + p.dense_seconds + p.allreduce_seconds;
  p.tokens_per_second = static_cast<double>(model.attention.traffic.seq_len) / p.step_seconds;
  // Ranks sharing a device (oversubscribed) share its memory.
  p.memory_gib = plan_memory_bytes(plan, model, ranks) * network.placement().ranks_per_device / double(1 << 30);
  p.fits = p.memory_gib <= machine.device_memory_gib;
  return p;
}

std::vector<PlanPrediction> rank_plans(const ModelSpec& model, const config::Machine& machine, int ranks) {
  std::vector<PlanPrediction> ranked;
  for (const Plan& plan : candidate_plans(model, ranks)) ranked.push_back(predict_plan(plan, model, machine, ranks));
  std::stable_sort(ranked.begin(), ranked.end(), [](const PlanPrediction& a, const PlanPrediction& b) {
    if (a.fits != b.fits) return a.fits;
    return a.step_seconds < b.step_seconds;
  });
  return ranked;
}

std::string describe_plan(const Plan& plan) {
  if (plan.schedule == Schedule::ulysses) return "ulysses";
  std::string text = name_of(plan.schedule);
  if (plan.schedule == Schedule::wallfacer)
    text += " c=" + std::to_string(plan.team_size) + " " + name_of(plan.arrangement);
  return text + " rotate=" + name_of(plan.rotate);
}

}  // namespace wf::perf

#include "problems/train_setup.hpp"

#include <algorithm>
#include <cmath>

#include "comm/log.hpp"
#include "comm/reductions.hpp"
#include "core/memory_watch.hpp"
#include "core/compat.hpp"
#include "perf/report.hpp"

namespace wf::problems {

namespace {

void check_dit_deck(const config::RunConfig& cfg) {
  require(!cfg.attention.causal,
          "model.kind = \"dit\" attends in both directions: set attention.causal = false");
  require(cfg.model.d_model % 2 == 0, "model.d_model = " + std::to_string(cfg.model.d_model) +
                                          " must be even for the DiT's sin-cos position embedding");
  require(cfg.model.timestep_dim % 2 == 0, "model.timestep_dim = " + std::to_string(cfg.model.timestep_dim) +
                                               " must be even (cos and sin halves)");
  require(!cfg.model.tokens_from_weights, "model.tokens_from_weights = true reads GPT tokens; model.kind = \"dit\" "
                                          "trains on synthetic latents");
}

}  // namespace

model::ModelShape model_shape(const config::RunConfig& cfg) {
  model::ModelShape shape;
  shape.kind = cfg.model.kind;
  shape.patch_dim = cfg.model.patch_dim;
  shape.timestep_dim = cfg.model.timestep_dim;
  shape.vocab = cfg.model.vocab;
  shape.d_model = cfg.model.d_model;
  shape.layers = cfg.model.layers;
  shape.heads = cfg.attention.heads;
  shape.kv_heads = cfg.kv_heads();
  shape.head_dim = cfg.attention.head_dim;
  shape.mlp_dim = cfg.model.mlp_dim > 0 ? cfg.model.mlp_dim : 4 * cfg.model.d_model;
  shape.rotary_base = cfg.model.rotary_base;
  return shape;
}

void check_train_deck(const config::RunConfig& cfg) {
  if (cfg.model.kind == ModelKind::dit) return check_dit_deck(cfg);
  require(cfg.attention.head_dim % 2 == 0, "attention.head_dim = " + std::to_string(cfg.attention.head_dim) +
                                               " must be even for the rotary embedding (run.problem = \"train\")");
  require(cfg.attention.causal, "run.problem = \"train\" trains a decoder: set attention.causal = true");
}

namespace {

model::OptimizerSettings optimizer_settings(const config::RunConfig& cfg) {
  const auto& t = cfg.train;
  return {t.learning_rate, t.weight_decay, t.adam_beta1, t.adam_beta2, t.adam_eps, t.clip_norm};
}

}  // namespace

TrainSetup make_train_setup(const config::RunConfig& cfg, const ParallelSetup& parallel) {
  check_train_deck(cfg);
  TrainSetup s;
  s.shape = model_shape(cfg);
  s.plan = {parallel.attention, parallel.main.schedule, parallel.rotate};
  s.optimizer = optimizer_settings(cfg);
  const bool gpt = cfg.model.kind == ModelKind::gpt;
  s.sharding = make_sharding(cfg.attention.seq_len, parallel.world->size(), gpt, "attention.seq_len");
  s.diffusion = {cfg.attention.seq_len, cfg.model.patch_dim, cfg.run.seed, cfg.model.diffusion_steps};
  s.data = {cfg.model.data, cfg.attention.seq_len, cfg.model.vocab, cfg.run.seed, cfg.model.pairs};
  if (!gpt) return s;
  model::check_data_options(s.data);
  if (cfg.model.tokens_from_weights) {
    require(!cfg.model.weights_in.empty(), "model.tokens_from_weights = true needs model.weights_in");
    s.fixed_tokens = model::load_tokens(cfg.model.weights_in, cfg.attention.seq_len, parallel.world->mpi_comm());
    for (auto t : s.fixed_tokens)
      require(t >= 0 && t < cfg.model.vocab, cfg.model.weights_in + ": /data/tokens holds " + std::to_string(t) +
                                                 ", outside [0, model.vocab = " + std::to_string(cfg.model.vocab) + ")");
  }
  return s;
}

std::string describe_train_setup(const config::RunConfig& cfg, const TrainSetup& s, const comm::Communicator& world) {
  const auto layout = model::parameter_layout(s.shape);  // sizes only, nothing allocated
  const std::size_t parameters = layout.empty() ? 0 : layout.back().offset + layout.back().size;
  const bool dit = s.shape.kind == ModelKind::dit;
  const std::string inputs = dit ? "patches of " + std::to_string(s.shape.patch_dim) + ", timestep embedding " +
                                       std::to_string(s.shape.timestep_dim) + ", bidirectional attention"
                                 : "vocab " + std::to_string(s.shape.vocab);
  const std::string data = dit ? "denoising of synthetic latents, " + std::to_string(cfg.model.diffusion_steps) +
                                     " diffusion steps"
                               : std::string(name_of(cfg.model.data)) + " data";
  return "problem train: " + std::string(dit ? "DiT" : "GPT") + " with " + std::to_string(s.shape.layers) +
         " layers, d_model " + std::to_string(s.shape.d_model) + ", " + std::to_string(s.shape.heads) + " heads (" +
         std::to_string(s.shape.kv_heads) + " kv) of " + std::to_string(s.shape.head_dim) + ", mlp " +
         std::to_string(s.shape.mlp_dim) + ", " + inputs + ": " + std::to_string(parameters) +
         " parameters; sequence " + std::to_string(cfg.attention.seq_len) + " tokens (" + data + "), " +
         name_of(cfg.run.precision) + ", schedule " +
         name_of(cfg.parallel.schedule) + " (team size " + std::to_string(cfg.parallel.team_size) + ", rotate " +
         name_of(cfg.parallel.rotate) +
         (cfg.parallel.schedule == Schedule::ulysses_wallfacer
              ? ", head groups of " + std::to_string(cfg.parallel.head_group_size)
              : std::string()) +
         ") on " + std::to_string(world.size()) + " ranks, " +
         world.backend_description() + ", Kokkos " + compat::default_execution_space_name();
}

template <class T>
model::TrainingState initial_state(const config::RunConfig& cfg, model::Parameters<T>& params, MPI_Comm comm,
                                   bool main_run) {
  params.initialize(cfg.run.seed);
  const bool allow = cfg.run.allow_non_finite;
  if (!cfg.model.weights_in.empty()) model::load_weights(params, cfg.model.weights_in, comm, allow);
  model::TrainingState state{0, cfg.run.seed, 0};
  if (main_run && !cfg.train.restart_from.empty()) {
    state = model::read_checkpoint(params, cfg.train.restart_from, comm, allow);
    require(state.seed == cfg.run.seed, "train.restart_from = " + cfg.train.restart_from + " was written with seed " +
                                            std::to_string(state.seed) + ", but run.seed = " +
                                            std::to_string(cfg.run.seed) + " (the data stream would differ)");
    const std::int64_t last = std::int64_t(cfg.bench.warmup) + cfg.train.steps;
    require(state.step < last, "train.restart_from = " + cfg.train.restart_from + " is at step " +
                                   std::to_string(state.step) + ", but this run ends at step " + std::to_string(last) +
                                   " (bench.warmup + train.steps): nothing left to train; raise train.steps");
    comm::log_root("restarted from " + cfg.train.restart_from + " after step " + std::to_string(state.step));
  }
  return state;
}

ScheduleSummary reduce_summary(const ScheduleSummary& local, MPI_Comm comm) {
  ScheduleSummary reduced = local;
  for (double& seconds : reduced.phase_seconds) seconds = comm::reduce_min_avg_max(comm, seconds).avg;
  for (double& seconds : reduced.exposed_seconds) seconds = comm::reduce_min_avg_max(comm, seconds).avg;
  reduced.exposed_in_flight = comm::reduce_min_avg_max(comm, local.exposed_in_flight).avg;
  reduced.peak_mib = comm::reduce_min_avg_max(comm, local.peak_mib).max;
  reduced.memory_space_peak_mib = comm::reduce_min_avg_max(comm, local.memory_space_peak_mib).max;
  reduced.memory_space_predicted_mib = comm::reduce_min_avg_max(comm, local.memory_space_predicted_mib).max;
  return reduced;
}

namespace {

double exposed_total(const ScheduleSummary& s) {
  double total = 0;
  for (const double seconds : s.exposed_seconds) total += seconds;
  return total;
}

/// Exposed communication split into bytes in flight and waiting for a neighbour, then by kind
/// (the kinds no schedule waited for are left out).
template <class Row>
void add_exposed_rows(Row& row, const std::vector<ScheduleSummary>& summaries) {
  row(
      "  exposed: bytes in flight [s]", [](const ScheduleSummary& s) { return s.exposed_in_flight; }, 4);
  row(
      "  exposed: waiting for a neighbour [s]",
      [](const ScheduleSummary& s) { return exposed_total(s) - s.exposed_in_flight; }, 4);
  for (int k = 0; k < nbody::kWaitKinds; ++k) {
    const bool any =
        std::any_of(summaries.begin(), summaries.end(), [k](const auto& s) { return s.exposed_seconds[k] > 0; });
    if (any)
      row(
          std::string("  exposed: ") + nbody::wait_kind_name(static_cast<nbody::WaitKind>(k)) + " [s]",
          [k](const ScheduleSummary& s) { return s.exposed_seconds[k]; }, 4);
  }
}

std::string performance_line(const config::RunConfig& cfg, const TrainSetup& setup, const ScheduleSummary& s,
                             int ranks) {
  perf::PerformanceLine line;
  line.add("problem", "train").add("schedule", name_of(s.schedule)).add("team_size", std::to_string(s.team_size));
  line.add("model", name_of(setup.shape.kind));
  line.add("ranks", std::to_string(ranks)).add("N", std::to_string(cfg.attention.seq_len));
  line.add("layers", std::to_string(setup.shape.layers)).add("d_model", std::to_string(setup.shape.d_model));
  line.add("precision", name_of(cfg.run.precision)).add("step_s", s.step_seconds, 4);
  line.add("tokens_per_s", s.tokens_per_second, 1).add("tflops", s.tflops, 5);
  line.add("fraction_of_peak", s.fraction_of_peak, 4).add("final_loss", s.final_loss, 4);
  line.add("exposed_s", exposed_total(s), 4).add("exposed_in_flight_s", s.exposed_in_flight, 4);
  return line.str();
}

}  // namespace

std::vector<io::SummaryValue> print_train_summary(const config::RunConfig& cfg, const TrainSetup& setup,
                                                  const std::vector<ScheduleSummary>& summaries, int ranks) {
  std::vector<std::string> header = {"per step (timed steps; phases averaged over ranks)"};
  for (const auto& s : summaries) header.push_back(std::string(name_of(s.schedule)) + " c=" + std::to_string(s.team_size));
  perf::Table table(header);
  auto row = [&](const std::string& name, auto value, int digits) {
    std::vector<std::string> cells = {name};
    for (const auto& s : summaries) cells.push_back(perf::fixed(value(s), digits));
    table.add_row(cells);
  };
  row("step time [s]", [](const ScheduleSummary& s) { return s.step_seconds; }, 4);
  row("tokens/s", [](const ScheduleSummary& s) { return s.tokens_per_second; }, 1);
  row("model TFLOP/s", [](const ScheduleSummary& s) { return s.tflops; }, 5);
  row("fraction of peak", [](const ScheduleSummary& s) { return s.fraction_of_peak; }, 4);
  const char* phases[6] = {"attention compute [s]", "exposed point-to-point [s]", "attention collectives [s]",
                           "other compute [s]", "gradient all-reduce [s]", "optimizer [s]"};
  for (std::size_t p = 0; p < 6; ++p) {
    row(
        phases[p], [p](const ScheduleSummary& s) { return s.phase_seconds[p]; }, 4);
    if (p == attention_collectives) add_exposed_rows(row, summaries);
  }
  row("peak resident memory per rank [MiB]", [](const ScheduleSummary& s) { return s.peak_mib; }, 1);
  const std::string space = memory_space_name();
  row("peak " + space + " memory per rank [MiB]", [](const ScheduleSummary& s) { return s.memory_space_peak_mib; }, 1);
  row("  predicted [MiB]", [](const ScheduleSummary& s) { return s.memory_space_predicted_mib; }, 1);
  row("final loss", [](const ScheduleSummary& s) { return s.final_loss; }, 4);
  const std::string baseline = setup.shape.kind == ModelKind::dit
                                   ? "the loss of predicting no noise is about 1"
                                   : "ln(vocab) = " + perf::fixed(std::log(double(cfg.model.vocab)), 4);
  comm::log_root("\nsummary (" + baseline + ")\n" + table.str());
  for (const auto& s : summaries) comm::log_root(performance_line(cfg, setup, s, ranks));
  const ScheduleSummary& m = summaries.front();
  std::vector<io::SummaryValue> values = {
      {"step_seconds", m.step_seconds, "s"},
      {"tokens_per_second", m.tokens_per_second, "tokens/s"},
      {"model_tflops", m.tflops, "TFLOP/s"},
      {"fraction_of_peak", m.fraction_of_peak, "1"},
      {"attention_compute_seconds", m.phase_seconds[attention_compute], "s"},
      {"exposed_p2p_seconds", m.phase_seconds[exposed_p2p], "s"},
      {"attention_collective_seconds", m.phase_seconds[attention_collectives], "s"},
      {"exposed_in_flight_seconds", m.exposed_in_flight, "s"},
      {"exposed_neighbour_wait_seconds", exposed_total(m) - m.exposed_in_flight, "s"},
      {"other_compute_seconds", m.phase_seconds[other_compute], "s"},
      {"gradient_allreduce_seconds", m.phase_seconds[gradient_allreduce], "s"},
      {"optimizer_seconds", m.phase_seconds[optimizer], "s"},
      {"peak_resident_mib", m.peak_mib, "MiB"},
      {"memory_space_peak_mib", m.memory_space_peak_mib, "MiB"},
      {"memory_space_predicted_mib", m.memory_space_predicted_mib, "MiB"},
      {"final_loss", m.final_loss, "nats"}};
  for (int k = 0; k < nbody::kWaitKinds; ++k)
    values.push_back({std::string("exposed_") + nbody::wait_kind_key(static_cast<nbody::WaitKind>(k)) + "_seconds",
                      m.exposed_seconds[k], "s"});
  return values;
}

template model::TrainingState initial_state<float>(const config::RunConfig&, model::Parameters<float>&, MPI_Comm, bool);
template model::TrainingState initial_state<double>(const config::RunConfig&, model::Parameters<double>&, MPI_Comm,
                                                    bool);

}  // namespace wf::problems

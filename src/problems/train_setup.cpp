#include "problems/train_setup.hpp"

#include <algorithm>
#include <cmath>

#include "core/compat.hpp"
#include "core/log.hpp"
#include "perf/flops.hpp"
#include "perf/report.hpp"

namespace wf::problems {

std::unique_ptr<comm::Communicator> make_world_communicator(const config::RunConfig& cfg, MPI_Comm comm) {
  const comm::CommOptions options{cfg.parallel.deadline_seconds, cfg.parallel.ranks_per_node};
  return cfg.parallel.backend == "nccl" ? comm::make_nccl_communicator(comm, options)
                                        : comm::make_mpi_communicator(comm, options);
}

GridSetup make_schedule_grid(const config::RunConfig& cfg, const std::string& schedule, int processes) {
  const nbody::ScheduleKind kind = schedule == "ring"      ? nbody::ScheduleKind::ring
                                   : schedule == "ulysses" ? nbody::ScheduleKind::ulysses
                                                           : nbody::ScheduleKind::wallfacer;
  const int team_size = kind == nbody::ScheduleKind::wallfacer ? cfg.parallel.team_size : 1;
  nbody::check_schedule(kind, processes, team_size, cfg.attention.heads, cfg.kv_heads());
  const auto arrangement =
      cfg.parallel.arrangement == "ring-major" ? comm::Arrangement::ring_major : comm::Arrangement::team_major;
  return {comm::ProcessGrid(processes, team_size, arrangement), kind};
}

TrainSetup make_train_setup(const config::RunConfig& cfg, MPI_Comm comm) {
  int processes = 1;
  MPI_Comm_size(comm, &processes);
  TrainSetup s;
  s.shape.vocab = cfg.model.vocab;
  s.shape.d_model = cfg.model.d_model;
  s.shape.layers = cfg.model.layers;
  s.shape.heads = cfg.attention.heads;
  s.shape.kv_heads = cfg.kv_heads();
  s.shape.head_dim = cfg.attention.head_dim;
  s.shape.mlp_dim = cfg.model.mlp_dim > 0 ? cfg.model.mlp_dim : 4 * cfg.model.d_model;
  s.shape.rotary_base = cfg.model.rotary_base;
  require(cfg.attention.head_dim % 2 == 0, "attention.head_dim = " + std::to_string(cfg.attention.head_dim) +
                                               " must be even for the rotary embedding (run.problem = \"train\")");
  require(cfg.attention.causal, "run.problem = \"train\" trains a decoder: set attention.causal = true");
  auto& o = s.plan.options;
  o.heads = s.shape.heads;
  o.kv_heads = s.shape.kv_heads;
  o.head_dim = s.shape.head_dim;
  o.scale = cfg.attention_scale();
  o.mask = kernels::MaskKind::causal;
  o.q_tile = cfg.attention.q_tile;
  o.kv_tile = cfg.attention.kv_tile;
  o.impl = cfg.attention.impl == "fused" ? kernels::TileImpl::fused : kernels::TileImpl::blas;
  s.plan.rotate = cfg.parallel.rotate == "kv" ? nbody::RotateSide::key : nbody::RotateSide::query;
  s.plan.kind = make_schedule_grid(cfg, cfg.parallel.schedule, processes).kind;  // checks the grid too
  s.sharding = nbody::Sharding(cfg.attention.seq_len, processes, true);
  s.data.mode = cfg.model.data == "uniform" ? model::DataMode::uniform : model::DataMode::recall;
  s.data.seq_len = cfg.attention.seq_len;
  s.data.vocab = cfg.model.vocab;
  s.data.seed = cfg.run.seed;
  s.data.pairs = cfg.model.pairs;
  model::check_data_options(s.data);
  if (cfg.model.tokens_from_weights) {
    require(!cfg.model.weights_in.empty(), "model.tokens_from_weights = true needs model.weights_in");
    s.fixed_tokens = model::load_tokens(cfg.model.weights_in, cfg.attention.seq_len, comm);
    for (auto t : s.fixed_tokens)
      require(t >= 0 && t < cfg.model.vocab, cfg.model.weights_in + ": /data/tokens holds " + std::to_string(t) +
                                                 ", outside [0, model.vocab = " + std::to_string(cfg.model.vocab) + ")");
  }
  return s;
}

std::string describe_train_setup(const config::RunConfig& cfg, const TrainSetup& s, const comm::Communicator& world) {
  const model::Parameters<float> probe(s.shape);  // sizes only
  return "problem train: GPT with " + std::to_string(s.shape.layers) + " layers, d_model " +
         std::to_string(s.shape.d_model) + ", " + std::to_string(s.shape.heads) + " heads (" +
         std::to_string(s.shape.kv_heads) + " kv) of " + std::to_string(s.shape.head_dim) + ", mlp " +
         std::to_string(s.shape.mlp_dim) + ", vocab " + std::to_string(s.shape.vocab) + ": " +
         std::to_string(probe.total_size()) + " parameters; sequence " + std::to_string(cfg.attention.seq_len) +
         " tokens (" + cfg.model.data + " data), " + cfg.run.precision + ", schedule " + cfg.parallel.schedule +
         " (team size " + std::to_string(cfg.parallel.team_size) + ", rotate " + cfg.parallel.rotate + ") on " +
         std::to_string(world.size()) + " ranks, " + world.backend_description() + ", Kokkos " +
         compat::default_execution_space_name();
}

template <class T>
model::TrainingState initial_state(const config::RunConfig& cfg, model::Parameters<T>& params, MPI_Comm comm,
                                   bool main_run) {
  params.initialize(cfg.run.seed);
  if (!cfg.model.weights_in.empty()) model::load_weights(params, cfg.model.weights_in, comm);
  model::TrainingState state{0, cfg.run.seed, 0};
  if (main_run && !cfg.train.restart_from.empty()) {
    state = model::read_checkpoint(params, cfg.train.restart_from, comm);
    require(state.seed == cfg.run.seed, "train.restart_from = " + cfg.train.restart_from + " was written with seed " +
                                            std::to_string(state.seed) + ", but run.seed = " +
                                            std::to_string(cfg.run.seed) + " (the data stream would differ)");
    log_root("restarted from " + cfg.train.restart_from + " after step " + std::to_string(state.step));
  }
  return state;
}

ScheduleSummary summarize(const config::RunConfig& cfg, const TrainSetup& setup, const std::string& schedule,
                          const comm::ProcessGrid& grid, int timed_steps, double timed_seconds, double peak_gflops,
                          MPI_Comm comm) {
  ScheduleSummary s;
  s.schedule = schedule;
  s.team_size = grid.team_size();
  s.timed_steps = timed_steps;
  s.step_seconds = timed_steps > 0 ? timed_seconds / timed_steps : 0.0;
  const double flops = perf::transformer_step_flops(setup.shape.vocab, setup.shape.d_model, setup.shape.layers,
                                                    setup.shape.heads, setup.shape.kv_heads, setup.shape.head_dim,
                                                    setup.shape.mlp_dim, cfg.attention.seq_len);
  const double peak = perf::reduce_min_avg_max(comm, peak_gflops).avg * grid.processes();
  if (s.step_seconds > 0) {
    s.tokens_per_second = static_cast<double>(cfg.attention.seq_len) / s.step_seconds;
    s.tflops = flops / s.step_seconds * 1e-12;
    s.fraction_of_peak = flops / s.step_seconds * 1e-9 / peak;
  }
  return s;
}

std::vector<perf::SummaryValue> print_train_summary(const config::RunConfig& cfg, const TrainSetup& setup,
                                                    std::vector<ScheduleSummary>& summaries, MPI_Comm comm) {
  std::vector<std::string> header = {"per step (timed steps; phases averaged over ranks)"};
  for (const auto& s : summaries) header.push_back(s.schedule + " c=" + std::to_string(s.team_size));
  perf::Table table(header);
  const char* phases[6] = {"attention compute [s]", "exposed point-to-point [s]", "attention collectives [s]",
                           "other compute [s]", "gradient all-reduce [s]", "optimizer [s]"};
  auto row = [&](const std::string& name, auto value, int digits) {
    std::vector<std::string> cells = {name};
    for (auto& s : summaries) cells.push_back(perf::fixed(value(s), digits));
    table.add_row(cells);
  };
  row("step time [s]", [](ScheduleSummary& s) { return s.step_seconds; }, 4);
  row("tokens/s", [](ScheduleSummary& s) { return s.tokens_per_second; }, 1);
  row("model TFLOP/s", [](ScheduleSummary& s) { return s.tflops; }, 5);
  row("fraction of peak", [](ScheduleSummary& s) { return s.fraction_of_peak; }, 4);
  for (int p = 0; p < 6; ++p) {
    for (auto& s : summaries) s.phase_seconds[p] = perf::reduce_min_avg_max(comm, s.phase_seconds[p]).avg;
    row(phases[p], [p](ScheduleSummary& s) { return s.phase_seconds[static_cast<std::size_t>(p)]; }, 4);
  }
  for (auto& s : summaries) s.peak_mib = perf::reduce_min_avg_max(comm, s.peak_mib).max;
  row("peak resident memory per rank [MiB]", [](ScheduleSummary& s) { return s.peak_mib; }, 1);
  row("final loss", [](ScheduleSummary& s) { return s.final_loss; }, 4);
  log_root("\nsummary (ln(vocab) = " + perf::fixed(std::log(double(cfg.model.vocab)), 4) + ")\n" + table.str());
  int ranks = 1;
  MPI_Comm_size(comm, &ranks);
  for (const auto& s : summaries) {
    perf::PerformanceLine line;
    line.add("problem", "train").add("schedule", s.schedule).add("team_size", std::to_string(s.team_size));
    line.add("ranks", std::to_string(ranks)).add("N", std::to_string(cfg.attention.seq_len));
    line.add("layers", std::to_string(setup.shape.layers)).add("d_model", std::to_string(setup.shape.d_model));
    line.add("precision", cfg.run.precision).add("step_s", s.step_seconds, 4);
    line.add("tokens_per_s", s.tokens_per_second, 1).add("tflops", s.tflops, 5);
    line.add("fraction_of_peak", s.fraction_of_peak, 4).add("final_loss", s.final_loss, 4);
    log_root(line.str());
  }
  const ScheduleSummary& m = summaries.front();
  return {{"step_seconds", m.step_seconds, "s"},
          {"tokens_per_second", m.tokens_per_second, "tokens/s"},
          {"model_tflops", m.tflops, "TFLOP/s"},
          {"fraction_of_peak", m.fraction_of_peak, "1"},
          {"attention_compute_seconds", m.phase_seconds[0], "s"},
          {"exposed_p2p_seconds", m.phase_seconds[1], "s"},
          {"attention_collective_seconds", m.phase_seconds[2], "s"},
          {"other_compute_seconds", m.phase_seconds[3], "s"},
          {"gradient_allreduce_seconds", m.phase_seconds[4], "s"},
          {"optimizer_seconds", m.phase_seconds[5], "s"},
          {"peak_resident_mib", m.peak_mib, "MiB"},
          {"final_loss", m.final_loss, "nats"}};
}

template model::TrainingState initial_state<float>(const config::RunConfig&, model::Parameters<float>&, MPI_Comm, bool);
template model::TrainingState initial_state<double>(const config::RunConfig&, model::Parameters<double>&, MPI_Comm,
                                                    bool);

}  // namespace wf::problems

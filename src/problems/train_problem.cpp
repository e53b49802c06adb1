// Problem "train": the sequence-parallel GPT training benchmark. Warm-up then timed steps of
// forward, backward, gradient all-reduce and AdamW; per-step loss, time, tokens/s, gradient
// norm; a summary with model TFLOP/s and time per phase; HDF5 results, checkpoints, weights.
#include <sys/resource.h>

#include <Kokkos_Core.hpp>
#include <cmath>
#include <filesystem>

#include "core/log.hpp"
#include "io/results.hpp"
#include "kernels/adamw.hpp"
#include "model/checkpoint.hpp"
#include "model/data.hpp"
#include "model/transformer.hpp"
#include "perf/flops.hpp"
#include "perf/gemm_rate.hpp"
#include "perf/report.hpp"
#include "problems/problem.hpp"
#include "problems/train_setup.hpp"

namespace wf::problems {
namespace {

/// Seconds per phase summed over the timed steps (this rank).
struct PhaseSums {
  double model = 0, attention_compute = 0, exposed = 0, collectives = 0, allreduce = 0, optimizer = 0;
};

/// The whole training run with one schedule: returns what the summary needs.
template <class T>
struct RunOutcome {
  std::vector<perf::StepRecord> steps;
  PhaseSums sums;
  int timed_steps = 0;
  double timed_seconds = 0;
};

template <class T>
RunOutcome<T> train(const config::RunConfig& cfg, const TrainSetup& setup, comm::Communicator& world, MPI_Comm comm,
                    nbody::ScheduleContext& ctx, model::Parameters<T>& params, model::TrainingState& state,
                    perf::TraceRecorder& trace, bool write_side_files) {
  model::Transformer<T> net(setup.shape, setup.plan, ctx);
  const index_t n_total = cfg.attention.seq_len;
  const int total_steps = cfg.bench.warmup + cfg.train.steps;
  const double flops = perf::transformer_step_flops(setup.shape.vocab, setup.shape.d_model, setup.shape.layers,
                                                    setup.shape.heads, setup.shape.kv_heads, setup.shape.head_dim,
                                                    setup.shape.mlp_dim, n_total);
  RunOutcome<T> out;
  ctx.trace = &trace;
  for (; state.step < total_steps;) {
    const std::int64_t step = state.step;
    trace.set_step(static_cast<std::int32_t>(step));
    const auto global = setup.fixed_tokens.empty() ? model::make_tokens(setup.data, state.data_sample) : setup.fixed_tokens;
    const auto tokens = model::shard_tokens(global, ctx.sharding(), ctx.shard());
    const auto targets = model::shard_tokens(model::targets(global), ctx.sharding(), ctx.shard());
    world.barrier({"step start", 0});
    ctx.times = {};
    Stopwatch step_watch("Train::step");
    params.zero_grads();
    Stopwatch model_watch("Train::model");
    const double begin = trace.now();
    const auto parts = net.run(params, tokens, targets, true, n_total - 1);
    const double model_seconds = model_watch.stop();
    double loss = parts.loss_sum;
    Stopwatch reduce_watch("Train::allreduce");
    world.all_reduce_sum(&loss, 1, {"loss all-reduce", 0});
    loss /= static_cast<double>(n_total - 1);
    world.all_reduce_sum(params.grads.data(), params.total_size(), {"gradient all-reduce", 0});
    const double reduce_seconds = reduce_watch.stop();
    trace.record(perf::Phase::grad_allreduce, begin + model_seconds, begin + model_seconds + reduce_seconds);
    if (step == 0 && write_side_files && !cfg.model.grads_out.empty()) {
      model::write_grads_and_loss(params, loss, cfg.model.grads_out, comm);
      log_root("wrote " + cfg.model.grads_out + " (parameters, gradients and loss of step 1)");
    }
    Stopwatch optimizer_watch("Train::optimizer");
    const double grad_norm = std::sqrt(kernels::grad_norm_squared<T>(params.grads));
    if (cfg.train.clip_norm > 0 && grad_norm > cfg.train.clip_norm)
      kernels::scale_in_place<T>(params.grads, cfg.train.clip_norm / grad_norm);
    kernels::adamw_step<T>(params.values, params.grads, params.adam_m, params.adam_v, static_cast<int>(step + 1),
                           cfg.train.learning_rate, 0.9, 0.95, 1e-8, cfg.train.weight_decay);
    const double optimizer_seconds = optimizer_watch.stop();
    const double step_seconds = step_watch.stop();
    trace.record(perf::Phase::optimizer, begin + model_seconds + reduce_seconds,
                 begin + model_seconds + reduce_seconds + optimizer_seconds);
    ++state.step;
    ++state.data_sample;
    const bool timed = step >= cfg.bench.warmup;
    // The slowest rank sets the step time.
    const double seconds = perf::reduce_min_avg_max(comm, step_seconds).max;
    out.steps.push_back({step, loss, seconds, static_cast<double>(n_total) / seconds, grad_norm, timed});
    if (timed) {
      ++out.timed_steps;
      out.timed_seconds += seconds;
      out.sums.model += model_seconds;
      out.sums.attention_compute += ctx.times.compute;
      out.sums.exposed += ctx.times.ring_wait;
      out.sums.collectives += ctx.times.collectives;
      out.sums.allreduce += reduce_seconds;
      out.sums.optimizer += optimizer_seconds;
    }
    log_root("  step " + std::to_string(step + 1) + "/" + std::to_string(total_steps) + (timed ? "" : " (warm-up)") +
             ": loss " + perf::fixed(loss, 4) + ", " + perf::fixed(seconds, 3) + " s, " +
             perf::fixed(static_cast<double>(n_total) / seconds, 0) + " tokens/s, " +
             perf::fixed(flops / seconds * 1e-12, 4) + " TFLOP/s, grad norm " + perf::fixed(grad_norm, 4));
    if (write_side_files && cfg.train.checkpoint_every > 0 && state.step % cfg.train.checkpoint_every == 0) {
      const std::string path = model::checkpoint_path(cfg.train.checkpoint_prefix, state.step);
      model::write_checkpoint(params, state, cfg.deck_text, path, comm);
      log_root("  wrote checkpoint " + path);
    }
  }
  ctx.trace = nullptr;
  return out;
}

/// Rank 0 creates the folder of an output path (results/, checkpoints); everyone waits.
void ensure_parent_directory(const std::string& path, MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (rank == 0 && !parent.empty()) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
  }
  MPI_Barrier(comm);
}

double peak_resident_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
}

}  // namespace

template <class T>
bool run_train_problem(const config::RunConfig& cfg, MPI_Comm comm) {
  const TrainSetup setup = make_train_setup(cfg, comm);
  auto world = make_world_communicator(cfg, comm);
  const double gemm_gflops = cfg.train.peak_gflops > 0 ? cfg.train.peak_gflops
                                                       : perf::measure_gemm_gflops<T>(cfg.bench.gemm_size, 3);
  log_root(describe_train_setup(cfg, setup, *world) + "\npeak per rank: " + perf::fixed(gemm_gflops, 1) + " GFLOP/s (" +
           (cfg.train.peak_gflops > 0 ? "train.peak_gflops" : "KokkosBlas::gemm rate measured now") + ")");

  if (!cfg.train.results.empty()) ensure_parent_directory(cfg.train.results, comm);
  if (cfg.train.checkpoint_every > 0) ensure_parent_directory(cfg.train.checkpoint_prefix, comm);
  if (!cfg.model.grads_out.empty()) ensure_parent_directory(cfg.model.grads_out, comm);
  std::vector<std::string> schedules = {cfg.parallel.schedule};
  if (!cfg.train.compare_schedule.empty() && cfg.train.restart_from.empty()) schedules.push_back(cfg.train.compare_schedule);
  std::vector<ScheduleSummary> summaries;
  std::vector<perf::StepRecord> main_steps;
  perf::TraceRecorder trace(world->rank(), cfg.train.trace);
  for (std::size_t s = 0; s < schedules.size(); ++s) {
    const bool main_run = s == 0;
    const auto grid_setup = make_schedule_grid(cfg, schedules[s], world->size());
    nbody::ScheduleContext ctx(*world, grid_setup.grid, setup.sharding);
    TrainSetup run_setup = setup;
    run_setup.plan.kind = grid_setup.kind;
    model::Parameters<T> params(setup.shape);
    model::TrainingState state = initial_state<T>(cfg, params, comm, main_run);
    if (!main_run) log_root("\ncomparison run: parallel.schedule = \"" + schedules[s] + "\"");
    world->barrier({"trace origin", 0});
    if (main_run) trace.reset_origin();
    perf::TraceRecorder scratch(world->rank(), false);
    const auto outcome = train<T>(cfg, run_setup, *world, comm, ctx, params, state, main_run ? trace : scratch, main_run);
    ScheduleSummary summary = summarize(cfg, setup, schedules[s], grid_setup.grid, outcome.timed_steps,
                                        outcome.timed_seconds, gemm_gflops, comm);
    const double steps = std::max(1, outcome.timed_steps);
    summary.phase_seconds = {outcome.sums.attention_compute / steps, outcome.sums.exposed / steps,
                             outcome.sums.collectives / steps,
                             (outcome.sums.model - outcome.sums.attention_compute - outcome.sums.exposed -
                              outcome.sums.collectives) / steps,
                             outcome.sums.allreduce / steps, outcome.sums.optimizer / steps};
    summary.final_loss = outcome.steps.empty() ? 0.0 : outcome.steps.back().loss;
    summary.peak_mib = peak_resident_mib();
    summaries.push_back(summary);
    if (main_run) main_steps = outcome.steps;
  }
  const auto results = print_train_summary(cfg, setup, summaries, comm);
  if (!cfg.train.results.empty()) {
    io::RunResults local;
    local.summary = results;
    local.steps = main_steps;
    local.phase_seconds = trace.totals();
    local.events = trace.events();
    local.deck_text = cfg.deck_text;
    local.problem = "train";
    io::write_results(cfg.train.results, local, comm);
    log_root("wrote " + cfg.train.results);
  }
  return true;
}

template bool run_train_problem<float>(const config::RunConfig&, MPI_Comm);
template bool run_train_problem<double>(const config::RunConfig&, MPI_Comm);

}  // namespace wf::problems

// Problem "train": the sequence-parallel training benchmark (GPT or DiT, train_model.hpp).
// Warm-up then timed steps of forward, backward, gradient all-reduce and AdamW; per-step loss,
// time, tokens/s, gradient norm; a summary with model TFLOP/s and time per phase; HDF5
// results, checkpoints, weights.
#include <sys/resource.h>

#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "comm/collective_errors.hpp"
#include "comm/log.hpp"
#include "comm/reductions.hpp"
#include "comm/transfer_cost.hpp"
#include "core/memory_watch.hpp"
#include "core/region.hpp"
#include "io/results.hpp"
#include "kernels/adamw.hpp"
#include "perf/gemm_rate.hpp"
#include "perf/report.hpp"
#include "problems/problem.hpp"
#include "problems/tile_choice.hpp"
#include "problems/train_memory.hpp"
#include "problems/train_model.hpp"
#include "problems/train_setup.hpp"
#include "problems/train_verify.hpp"

namespace wf::problems {
namespace {

/// Seconds per phase summed over the timed steps (this rank).
struct PhaseSums {
  double model = 0, attention_compute = 0, exposed = 0, collectives = 0, allreduce = 0, optimizer = 0;
  std::array<nbody::ExposedWait, nbody::kWaitKinds> exposed_by_kind{};
};

/// The whole training run with one schedule: what the summary needs.
struct RunOutcome {
  std::optional<bool> verified;  ///< run.verify on the first step
  std::vector<io::StepRecord> steps;
  PhaseSums sums;
  int timed_steps = 0;
  double timed_seconds = 0;
};

/// What one training run works with (one schedule; the main run writes the side files).
struct TrainingRun {
  const config::RunConfig& cfg;
  const TrainSetup& setup;
  nbody::ScheduleContext& ctx;
  TraceRecorder& trace;
  bool main_run;
};

/// What one step measured on this rank.
struct StepTimes {
  double model = 0, reduce = 0, optimizer = 0, step = 0;
  nbody::ScheduleTimes attention;
  std::optional<bool> verified;  ///< run.verify's verdict on the first step of the main run
};

double step_flops(const TrainingRun& run) { return train_step_flops(run.setup, run.cfg.attention.seq_len); }

/// Clipping and AdamW on the summed gradients, whose norm (before clipping) is `grad_norm`.
template <class T>
void optimizer_step(const model::OptimizerSettings& o, model::Parameters<T>& params, std::int64_t step,
                    double grad_norm) {
  if (o.clip_norm > 0 && grad_norm > o.clip_norm) kernels::scale_in_place<T>(params.grads, o.clip_norm / grad_norm);
  kernels::adamw_step<T>(params.values, params.grads, params.adam_m, params.adam_v, static_cast<int>(step + 1),
                         o.learning_rate, o.beta1, o.beta2, o.eps, o.weight_decay);
}

std::string number_text(double value) {
  if (std::isnan(value)) return "nan";
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

/// Stops the run on every rank, before anything is written with it, when the step's loss or
/// gradient norm is NaN or infinite: the message names the step and the first rank whose own
/// part (local loss, local gradients) was not finite. The reduced values, and so the decision,
/// are the same on every rank.
void stop_if_non_finite(const TrainingRun& run, std::int64_t step, double local_loss, double local_grad_squared,
                        double loss, double grad_norm) {
  if (run.cfg.run.allow_non_finite || (std::isfinite(loss) && std::isfinite(grad_norm))) return;
  const std::string at = "training stopped at step " + std::to_string(step + 1) + ": ";
  const std::string after = " (nothing written with it; run.allow_non_finite = true lets training go on)";
  const bool local_ok = std::isfinite(local_loss) && std::isfinite(local_grad_squared);
  comm::require_on_all_ranks(run.ctx.world().mpi_comm(), local_ok,
                             at + (std::isfinite(local_loss) ? "the local gradients hold non-finite values"
                                                             : "the local loss is " + number_text(local_loss)) + after);
  throw Error(at + "the loss is " + number_text(loss) + " and the gradient norm " + number_text(grad_norm) +
              " after the all-reduce, though every rank's own part was finite (an overflow: lower "
              "train.learning_rate?)" + after);
}

/// One step: forward, backward, gradient all-reduce, optimizer. Returns the loss (every rank).
template <class T>
double one_step(const TrainingRun& run, TrainModel<T>& net, model::Parameters<T>& params,
                model::TrainingState& state, StepTimes& times, double& grad_norm) {
  const ProfilingRegion region("Train::step");
  comm::Communicator& world = run.ctx.world();
  world.barrier({"step start", 0});
  Stopwatch step_watch("Train::step");
  params.zero_grads();
  const double begin = run.trace.now();
  Stopwatch model_watch("Train::model");
  const model::PassResult pass = net.step(params, state.data_sample);
  times.model = model_watch.stop();
  times.attention = pass.attention;
  double loss = pass.loss.loss_sum;
  const double local_loss = loss;
  const double local_grad_squared = run.cfg.run.allow_non_finite ? 0.0 : kernels::grad_norm_squared<T>(params.grads);
  Stopwatch reduce_watch("Train::allreduce");
  world.all_reduce_sum(&loss, 1, {"loss all-reduce", 0});
  loss /= net.loss_count();
  world.all_reduce_sum(params.grads.data(), params.total_size(), {"gradient all-reduce", 0});
  times.reduce = reduce_watch.stop();
  run.trace.record(Phase::grad_allreduce, begin + times.model, begin + times.model + times.reduce);
  Stopwatch norm_watch("Train::optimizer");
  grad_norm = std::sqrt(kernels::grad_norm_squared<T>(params.grads));
  times.optimizer = norm_watch.stop();
  stop_if_non_finite(run, state.step, local_loss, local_grad_squared, loss, grad_norm);
  if (state.step == 0 && run.main_run && !run.cfg.model.grads_out.empty()) {
    model::write_grads_and_loss(params, loss, run.cfg.model.grads_out, world.mpi_comm(),
                                net.sample_data(state.data_sample));
    comm::log_root("wrote " + run.cfg.model.grads_out + " (parameters, gradients and loss of step 1)");
  }
  if (state.step == 0 && run.main_run && run.cfg.run.verify)
    times.verified = verify_first_step(run.cfg, run.setup, params, loss, state.data_sample, world.mpi_comm());
  Stopwatch optimizer_watch("Train::optimizer");
  optimizer_step(run.setup.optimizer, params, state.step, grad_norm);
  times.optimizer += optimizer_watch.stop();
  times.step = step_watch.stop();
  const double optimizer_begin = begin + times.model + times.reduce;
  run.trace.record(Phase::optimizer, optimizer_begin, optimizer_begin + times.optimizer);
  return loss;
}

void add_timed_step(RunOutcome& out, const StepTimes& t, double seconds) {
  ++out.timed_steps;
  out.timed_seconds += seconds;
  out.sums.model += t.model;
  out.sums.attention_compute += t.attention.compute;
  out.sums.exposed += t.attention.ring_wait;
  out.sums.collectives += t.attention.collectives;
  for (int k = 0; k < nbody::kWaitKinds; ++k) out.sums.exposed_by_kind[k] += t.attention.exposed[k];
  out.sums.allreduce += t.reduce;
  out.sums.optimizer += t.optimizer;
}

/// Warm-up and timed steps from `state` on, with progress lines and checkpoints.
template <class T>
RunOutcome train(const TrainingRun& run, model::Parameters<T>& params, model::TrainingState& state) {
  const ProfilingRegion region("Train::run");
  TrainModel<T> net(run.cfg, run.setup, run.ctx, &run.trace);
  const auto& cfg = run.cfg;
  const index_t n_total = cfg.attention.seq_len;
  const int total_steps = cfg.bench.warmup + cfg.train.steps;
  RunOutcome out;
  while (state.step < total_steps) {
    const std::int64_t step = state.step;
    run.trace.set_step(static_cast<std::int32_t>(step));
    StepTimes times;
    double grad_norm = 0;
    const double loss = one_step(run, net, params, state, times, grad_norm);
    if (times.verified) out.verified = times.verified;
    ++state.step;
    ++state.data_sample;
    const bool timed = step >= cfg.bench.warmup;
    const double seconds =
        comm::reduce_min_avg_max(run.ctx.world().mpi_comm(), times.step, "reduction of the step time").max;  // slowest
    out.steps.push_back({step, loss, seconds, static_cast<double>(n_total) / seconds, grad_norm, timed});
    if (timed) add_timed_step(out, times, seconds);
    comm::log_root("  step " + std::to_string(step + 1) + "/" + std::to_string(total_steps) +
                   (timed ? "" : " (warm-up)") + ": loss " + perf::fixed(loss, 4) + ", " + perf::fixed(seconds, 3) +
                   " s, " + perf::fixed(static_cast<double>(n_total) / seconds, 0) + " tokens/s, " +
                   perf::fixed(step_flops(run) / seconds * 1e-12, 4) + " TFLOP/s, grad norm " +
                   perf::fixed(grad_norm, 4));
    if (run.main_run && cfg.train.checkpoint_every > 0 && state.step % cfg.train.checkpoint_every == 0) {
      const std::string path = model::checkpoint_path(cfg.train.checkpoint_prefix, state.step);
      model::write_checkpoint(params, state, cfg.deck_text, path, run.ctx.world().mpi_comm(), cfg.run.allow_non_finite);
      comm::log_root("  wrote checkpoint " + path);
    }
  }
  return out;
}

/// Rank 0 creates the folder of an output path (results/, checkpoints); everyone waits.
void ensure_parent_directory(const std::string& path, comm::Communicator& world) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (world.rank() == 0 && !parent.empty()) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
  }
  world.barrier({"output directory", 0});
}

double peak_resident_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
}

/// The per-rank summary of one run (reduce_summary makes it the run's).
template <class T>
ScheduleSummary summarize(const TrainingRun& run, const RunOutcome& outcome, double peak_gflops) {
  ScheduleSummary s;
  s.schedule = run.setup.plan.schedule;
  s.team_size = run.ctx.grid().team_size();
  s.timed_steps = outcome.timed_steps;
  s.step_seconds = outcome.timed_steps > 0 ? outcome.timed_seconds / outcome.timed_steps : 0.0;
  const double flops = step_flops(run);
  const double peak = comm::reduce_min_avg_max(run.ctx.world().mpi_comm(), peak_gflops).avg * run.ctx.world().size();
  if (s.step_seconds > 0) {
    s.tokens_per_second = static_cast<double>(run.cfg.attention.seq_len) / s.step_seconds;
    s.tflops = flops / s.step_seconds * 1e-12;
    s.fraction_of_peak = flops / s.step_seconds * 1e-9 / peak;
  }
  const double steps = std::max(1, outcome.timed_steps);
  const PhaseSums& sums = outcome.sums;
  s.phase_seconds = {sums.attention_compute / steps, sums.exposed / steps, sums.collectives / steps,
                     (sums.model - sums.attention_compute - sums.exposed - sums.collectives) / steps,
                     sums.allreduce / steps, sums.optimizer / steps};
  for (int k = 0; k < nbody::kWaitKinds; ++k) {
    s.exposed_seconds[k] = sums.exposed_by_kind[k].seconds / steps;
    s.exposed_in_flight += sums.exposed_by_kind[k].in_flight / steps;
  }
  s.final_loss = outcome.steps.empty() ? 0.0 : outcome.steps.back().loss;
  s.peak_mib = peak_resident_mib();
  s.memory_space_peak_mib = static_cast<double>(memory_space_peak_bytes()) / (1 << 20);
  s.memory_space_predicted_mib =
      static_cast<double>(predicted_train_memory_bytes(run.setup.shape, run.setup.plan, run.ctx.shard_tokens(),
                                                       s.team_size, run.ctx.world().size(), sizeof(T))) /
      (1 << 20);
  return s;
}

/// The schedules to run: the deck's, then train.compare_schedule (not on a restart).
std::vector<Schedule> schedules_to_run(const config::RunConfig& cfg) {
  std::vector<Schedule> schedules = {cfg.parallel.schedule};
  if (cfg.train.compare_schedule && cfg.train.restart_from.empty()) schedules.push_back(*cfg.train.compare_schedule);
  return schedules;
}

void prepare_output_directories(const config::RunConfig& cfg, comm::Communicator& world) {
  if (!cfg.train.results.empty()) ensure_parent_directory(cfg.train.results, world);
  if (cfg.train.checkpoint_every > 0) ensure_parent_directory(cfg.train.checkpoint_prefix, world);
  if (!cfg.model.grads_out.empty()) ensure_parent_directory(cfg.model.grads_out, world);
}

}  // namespace

template <class T>
bool run_train_problem(const config::RunConfig& cfg, MPI_Comm comm) {
  const ProfilingRegion region("Problems::train");
  check_train_deck(cfg);
  start_memory_watch();
  ParallelSetup parallel = make_parallel_setup(cfg, comm);
  parallel.attention = resolve_tile_path<T>(cfg, parallel.attention, parallel.main, parallel.world->mpi_comm());
  comm::Communicator& world = *parallel.world;
  const TrainSetup setup = make_train_setup(cfg, parallel);
  check_train_verify_size(cfg, setup);
  const double gemm_gflops = cfg.train.peak_gflops > 0 ? cfg.train.peak_gflops
                                                       : perf::measure_gemm_gflops<T>(cfg.bench.gemm_size, 3);
  comm::log_root(describe_train_setup(cfg, setup, world) + "\npeak per rank: " + perf::fixed(gemm_gflops, 1) +
                 " GFLOP/s (" + (cfg.train.peak_gflops > 0 ? "train.peak_gflops" : "KokkosBlas::gemm rate measured now") +
                 ")");
  // The yardstick that splits exposed waits: an exchange of one shard's activations timed alone.
  const comm::TransferCost transfer_cost = comm::measure_transfer_cost(
      world, static_cast<std::size_t>(setup.sharding.shard_tokens()) * setup.shape.d_model * sizeof(T));
  if (world.size() > 1)
    comm::log_root("transfer probe (ring neighbours, timed alone): latency " +
                   perf::fixed(transfer_cost.latency * 1e6, 1) + " us, " +
                   perf::fixed(transfer_cost.seconds_per_byte > 0 ? 1e-9 / transfer_cost.seconds_per_byte : 0.0, 2) +
                   " GB/s");
  prepare_output_directories(cfg, world);
  std::vector<ScheduleSummary> summaries;
  std::vector<io::StepRecord> main_steps;
  bool verified = true;  // run.verify's verdict (the same on every rank)
  TraceRecorder trace(world.rank(), cfg.train.trace);
  for (const Schedule schedule : schedules_to_run(cfg)) {
    const bool main_run = summaries.empty();
    nbody::ScheduleContext ctx = make_schedule_context(world, choose_schedule(cfg, schedule, world.size()), setup.sharding);
    ctx.set_transfer_cost(transfer_cost);
    TrainSetup run_setup = setup;
    run_setup.plan.schedule = schedule;
    model::Parameters<T> params(setup.shape);
    model::TrainingState state = initial_state<T>(cfg, params, world.mpi_comm(), main_run);
    if (!main_run) comm::log_root("\ncomparison run: parallel.schedule = \"" + std::string(name_of(schedule)) + "\"");
    world.barrier({"trace origin", 0});
    reset_memory_space_peak();
    if (main_run) trace.reset_origin();
    TraceRecorder scratch(world.rank(), false);
    const TrainingRun run{cfg, run_setup, ctx, main_run ? trace : scratch, main_run};
    const RunOutcome outcome = train<T>(run, params, state);
    summaries.push_back(reduce_summary(summarize<T>(run, outcome, gemm_gflops), world.mpi_comm()));
    if (main_run) main_steps = outcome.steps;
    if (outcome.verified) verified = *outcome.verified;
  }
  const auto results = print_train_summary(cfg, setup, summaries, world.size());
  if (!cfg.train.results.empty()) {
    io::RunResults local;
    local.summary = results;
    local.steps = main_steps;
    local.phase_seconds = trace.totals();
    local.events = trace.events();
    local.deck_text = cfg.deck_text;
    local.problem = "train";
    io::write_results(cfg.train.results, local, world.mpi_comm());
    comm::log_root("wrote " + cfg.train.results);
  }
  return verified;
}

template bool run_train_problem<float>(const config::RunConfig&, MPI_Comm);
template bool run_train_problem<double>(const config::RunConfig&, MPI_Comm);

}  // namespace wf::problems

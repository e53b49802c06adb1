// Problem "attention": distributed forward and backward of one attention layer through the
// configured schedule (ring, wallfacer multi-ring, ulysses, ulysses-wallfacer), timed, with the traffic of every
// rank next to the traffic model, optional HDF5 input/output and verification.
#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "comm/collective_errors.hpp"
#include "comm/log.hpp"
#include "comm/transfer_cost.hpp"
#include "config/machine.hpp"
#include "core/device_copy.hpp"
#include "core/region.hpp"
#include "nbody/attention_interaction.hpp"
#include "nbody/schedule.hpp"
#include "perf/report.hpp"
#include "perf/traffic_model.hpp"
#include "problems/attention_data.hpp"
#include "problems/attention_pairs.hpp"
#include "problems/attention_report.hpp"
#include "problems/parallel_setup.hpp"
#include "problems/problem.hpp"
#include "problems/result_comparison.hpp"
#include "problems/tile_choice.hpp"

namespace wf::problems {
namespace {

/// One repetition: forward then backward, wall seconds and schedule times of each.
struct Repetition {
  double forward_seconds = 0, backward_seconds = 0;
  nbody::ScheduleTimes forward_times, backward_times;
  comm::TrafficCounters traffic;
  std::uint64_t forward_bytes = 0;  ///< counted during the forward
};

template <class T>
Repetition run_once(nbody::ScheduleContext& ctx, const ParallelSetup& parallel, nbody::AttentionInteraction<T>& inter,
                    nbody::ShardBlocks<T>& shard) {
  Repetition rep;
  ctx.world().barrier({"start of repetition", 0});
  ctx.world().traffic().clear();
  Stopwatch forward_watch("Problem::attention_forward");
  const auto run = nbody::schedule_forward(ctx, parallel.main.schedule, inter, shard);
  rep.forward_seconds = forward_watch.stop();
  rep.forward_times = run.times;
  rep.forward_bytes = ctx.world().traffic().total_bytes();
  Stopwatch backward_watch("Problem::attention_backward");
  rep.backward_times = nbody::schedule_backward(ctx, parallel.main.schedule, parallel.rotate, inter, run, shard);
  rep.backward_seconds = backward_watch.stop();
  rep.traffic = ctx.world().traffic();
  return rep;
}

/// Own-shard outputs on the host.
template <class T>
AttentionOutputs<T> shard_outputs(const kernels::AttentionOptions& o, const nbody::ShardBlocks<T>& shard, index_t n) {
  const std::size_t q_size = std::size_t(o.heads) * n * o.head_dim, kv_size = std::size_t(o.kv_heads) * n * o.head_dim;
  return {to_host(shard.results, 0, q_size), to_host(shard.results, q_size, std::size_t(o.heads) * n),
          to_host(shard.d_targets, 0, q_size), to_host(shard.d_sources, 0, kv_size),
          to_host(shard.d_sources, kv_size, kv_size)};
}

/// The shard's device blocks from its host inputs, outputs allocated.
template <class T>
nbody::ShardBlocks<T> device_shard(const nbody::AttentionInteraction<T>& inter, const AttentionInputs<T>& in,
                                   index_t n) {
  nbody::ShardBlocks<T> shard;
  shard.targets = to_device(in.q, "Problem::q");
  shard.sources = to_device(in.kv, "Problem::kv");
  shard.d_output = to_device(in.d_o, "Problem::do");
  nbody::allocate_outputs(inter, n, shard);
  return shard;
}

/// The single-process result (the same schedule code on one process), rows of this shard.
template <class T>
AttentionOutputs<T> single_process_outputs(const config::RunConfig& cfg, const std::vector<index_t>& positions,
                                           MPI_Comm comm) {
  const ProfilingRegion region("Problems::attention_single_process");
  const index_t total = cfg.attention.seq_len;
  auto self = comm::make_mpi_communicator(MPI_COMM_SELF, {cfg.parallel.deadline_seconds, 1});
  nbody::ScheduleContext ctx(*self, comm::ProcessGrid(1, 1, Arrangement::team_major), nbody::Sharding(total, 1, false));
  nbody::AttentionInteraction<T> inter(attention_options(cfg));
  nbody::ShardBlocks<T> shard = device_shard(inter, load_whole_attention_inputs<T>(cfg, comm), total);
  const auto run = nbody::schedule_forward(ctx, Schedule::ring, inter, shard);
  nbody::schedule_backward(ctx, Schedule::ring, RotateSide::query, inter, run, shard);
  const auto all = shard_outputs(inter.options(), shard, total);
  // Tokens of the whole run are at their own index: the rows of `positions`.
  const auto& o = inter.options();
  return {rows_of_heads(all.o, o.heads, total, o.head_dim, positions), rows_of_heads(all.lse, o.heads, total, 1, positions),
          rows_of_heads(all.dq, o.heads, total, o.head_dim, positions),
          rows_of_heads(all.dk, o.kv_heads, total, o.head_dim, positions),
          rows_of_heads(all.dv, o.kv_heads, total, o.head_dim, positions)};
}

/// Collective: throws on every rank when an output of some rank is NaN or infinite (nothing is
/// written then).
template <class T>
void require_finite_outputs(const AttentionOutputs<T>& out, MPI_Comm comm) {
  const std::pair<const char*, const std::vector<T>*> tensors[] = {
      {"O", &out.o}, {"lse", &out.lse}, {"dQ", &out.dq}, {"dK", &out.dk}, {"dV", &out.dv}};
  std::string bad;
  for (const auto& [name, values] : tensors)
    if (bad.empty() && !std::all_of(values->begin(), values->end(), [](T v) { return std::isfinite(v); })) bad = name;
  comm::collectively(comm, [&] {
    require(bad.empty(), "the attention outputs hold non-finite values (" + bad +
                             "): nothing written (run.allow_non_finite = true writes them)");
  });
}

/// run.verify recomputes the whole layer on every rank: refuse sizes where that takes forever.
void check_verify_size(const config::RunConfig& cfg) {
  if (!cfg.run.verify) return;
  const auto& a = cfg.attention;
  const double work = double(a.heads) * double(a.seq_len) * double(a.seq_len) * a.head_dim;
  require(work <= std::pow(2.0, 34), "run.verify recomputes the whole layer on every rank: heads N^2 head_dim = " +
                                         perf::fixed(work, 0) + " exceeds 2^34; lower attention.seq_len or set "
                                         "run.verify = false");
}

std::string describe_attention_run(const config::RunConfig& cfg, const ParallelSetup& parallel,
                                   const nbody::Sharding& sharding) {
  const std::string layout = parallel.main.describe() + (parallel.main.schedule == Schedule::ulysses
                                                             ? std::string()
                                                             : std::string(", rotate ") + name_of(parallel.rotate));
  return "problem attention: schedule " + std::string(name_of(parallel.main.schedule)) + ", " + layout + ", " +
         (sharding.zigzag() ? "zigzag" : "contiguous") + " shards of " + std::to_string(sharding.shard_tokens()) +
         " tokens, " + name_of(cfg.run.precision) + ", tile path " +
         name_of(kernels::effective_impl<MemSpace>(parallel.attention.impl)) +
         "\ncommunicator: " + parallel.world->backend_description();
}

/// Warm-up and timed repetitions with progress lines; the best timed one (forward + backward).
template <class T>
Repetition best_repetition(const config::RunConfig& cfg, nbody::ScheduleContext& ctx, const ParallelSetup& parallel,
                           nbody::AttentionInteraction<T>& inter, nbody::ShardBlocks<T>& shard) {
  std::vector<Repetition> timed;
  for (int r = 0; r < cfg.bench.warmup + cfg.bench.repeats; ++r) {
    const Repetition rep = run_once(ctx, parallel, inter, shard);
    const bool warm = r < cfg.bench.warmup;
    comm::log_root(std::string("  ") + (warm ? "warm-up " : "run ") +
                   std::to_string(warm ? r + 1 : r + 1 - cfg.bench.warmup) + "/" +
                   std::to_string(warm ? cfg.bench.warmup : cfg.bench.repeats) + ": forward " +
                   perf::fixed(rep.forward_seconds, 3) + " s, backward " + perf::fixed(rep.backward_seconds, 3) + " s");
    if (!warm) timed.push_back(rep);
  }
  return *std::min_element(timed.begin(), timed.end(), [](const Repetition& a, const Repetition& b) {
    return a.forward_seconds + a.backward_seconds < b.forward_seconds + b.backward_seconds;
  });
}

/// The report of the best repetition, with the traffic model of this rank.
template <class T>
AttentionReport make_report(const config::RunConfig& cfg, nbody::ScheduleContext& ctx, const ParallelSetup& parallel,
                            const nbody::AttentionInteraction<T>& inter, const Repetition& best) {
  AttentionReport report;
  report.kind = parallel.main.schedule;
  report.side = parallel.rotate;
  report.forward_seconds = best.forward_seconds;
  report.backward_seconds = best.backward_seconds;
  report.forward_times = best.forward_times;
  report.backward_times = best.backward_times;
  report.traffic = best.traffic;
  report.forward_bytes = best.forward_bytes;
  report.transfer = ctx.transfer_cost();
  const perf::AttentionTrafficShape shape{cfg.attention.seq_len, cfg.attention.heads, cfg.kv_heads(),
                                          cfg.attention.head_dim, sizeof(T)};
  const comm::Communicator& world = ctx.world();
  const perf::LinkOf link = [&](int, int peer) { return world.link_class(peer); };
  const auto& grid = parallel.main.grid;
  const auto& heads = parallel.main.heads;
  report.pairs = count_attention_pairs(ctx.sharding(), parallel.main, inter.options(), world.rank(), world.mpi_comm());
  report.predicted =
      perf::predict_attention_traffic(report.kind, report.side, grid, heads, shape, world.rank(), link, true, true);
  report.predicted_forward =
      perf::predict_attention_traffic(report.kind, report.side, grid, heads, shape, world.rank(), link, true, false);
  // The cost model plans Ring, WallFacer and Ulysses (not the hybrid); printed by rank 0 only.
  if (!cfg.parallel.machine.empty() && !heads && world.rank() == 0) {
    const config::Machine machine = config::load_machine(cfg.parallel.machine);
    const perf::NetworkModel network(machine, perf::place_ranks(machine, world.size()));
    const perf::Plan plan{report.kind, grid.team_size(), grid.arrangement(), report.side};
    report.model = perf::predict_attention_cost(plan, {shape, cfg.attention.causal}, network, machine);
  }
  return report;
}

}  // namespace

template <class T>
bool run_attention_problem(const config::RunConfig& cfg, MPI_Comm comm) {
  const ProfilingRegion region("Problems::attention");
  ParallelSetup parallel = make_parallel_setup(cfg, comm);
  const nbody::Sharding sharding =
      make_sharding(cfg.attention.seq_len, parallel.world->size(), cfg.attention.causal, "attention.seq_len");
  check_verify_size(cfg);
  parallel.attention = resolve_tile_path<T>(cfg, parallel.attention, parallel.main, parallel.world->mpi_comm());
  nbody::ScheduleContext ctx = make_schedule_context(*parallel.world, parallel.main, sharding);
  nbody::AttentionInteraction<T> inter(parallel.attention, ctx.compute_space());
  // The yardstick of exposed waits, before the repetitions that use it.
  ctx.set_transfer_cost(
      comm::measure_transfer_cost(ctx.world(), inter.source_layout().size(ctx.team_tokens()) * sizeof(T)));
  comm::log_root(describe_attention_run(cfg, parallel, sharding));

  nbody::ShardBlocks<T> shard =
      device_shard(inter, load_attention_inputs<T>(cfg, sharding, ctx.shard(), comm), sharding.shard_tokens());
  const Repetition best = best_repetition(cfg, ctx, parallel, inter, shard);
  // Same verdict on every rank (reduced inside): a mismatch is a bug in a schedule or the model.
  require(print_attention_report(cfg, parallel.main, make_report(cfg, ctx, parallel, inter, best), comm),
          "the bytes or messages counted differ from the traffic model (see the table above)");

  const auto outputs = shard_outputs(inter.options(), shard, sharding.shard_tokens());
  // Verify before writing: a failed verification commits nothing (and reads the inputs while
  // they are certainly intact).
  bool verified = true;
  if (cfg.run.verify) {
    const auto expected = single_process_outputs<T>(cfg, sharding.positions(ctx.shard(), 1), comm);
    verified = print_verification(outputs, expected, std::numeric_limits<T>::epsilon(), comm);
  }
  if (cfg.attention.output.empty()) return verified;
  if (!verified) {
    comm::log_root("verification failed: " + cfg.attention.output + " not written");
    return false;
  }
  if (!cfg.run.allow_non_finite) require_finite_outputs(outputs, comm);
  write_attention_outputs(cfg, sharding, ctx.shard(), outputs, comm);
  comm::log_root("wrote " + cfg.attention.output);
  return true;
}

template bool run_attention_problem<float>(const config::RunConfig&, MPI_Comm);
template bool run_attention_problem<double>(const config::RunConfig&, MPI_Comm);

}  // namespace wf::problems

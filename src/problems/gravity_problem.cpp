// The gravity problem: softened direct-sum n-body forces on the engine's schedules (DESIGN 2.1,
// last paragraph). P processes hold P contiguous shards of the bodies; the process with grid
// coordinates (team t, local a) holds shard t c + a, and the multi-ring forward (c = 1: the
// ring) with GravityInteraction leaves it the forces on its own bodies. The report gives
// min/avg/max over ranks, the momentum check over all bodies and, with run.verify, every
// rank's forces against a naive double-precision evaluation.
#include <Kokkos_Core.hpp>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "comm/log.hpp"
#include "comm/mpi_util.hpp"
#include "comm/reductions.hpp"
#include "core/compat.hpp"
#include "core/region.hpp"
#include "core/timer.hpp"
#include "nbody/gravity_interaction.hpp"
#include "nbody/multi_ring.hpp"
#include "perf/flops.hpp"
#include "perf/report.hpp"
#include "problems/gravity_bodies.hpp"
#include "problems/parallel_setup.hpp"
#include "problems/problem.hpp"

namespace wf::problems {
namespace {

std::string sci(double value) {
  std::ostringstream out;
  out.precision(2);
  out << std::scientific << value;
  return out.str();
}

/// The timed repetition with the shortest wall time, and the schedule's breakdown of it.
struct Timing {
  double best = std::numeric_limits<double>::infinity(), mean = 0.0;
  nbody::ScheduleTimes best_times;
};

/// One tolerance for both checks: tol = 8 sqrt(N) eps(T). A sum of N rounded pair forces errs
/// by about sqrt(N) ulps of sum_j |F_ij| (rounding errors of random sign; N ulps is the worst
/// case). Measured on Plummer spheres (N = 2 .. 16384, softening 1e-4 .. 1, host build):
/// verification error <= 1.0 sqrt(N) eps in float and <= 1.3 sqrt(N) eps in double (where the
/// naive double sum's own rounding is part of it); the momentum ratio |sum F| / sum |F| stays
/// below 0.7 eps (errors of different bodies partly cancel). The distributed sum adds the same
/// N pair forces in another order (G source blocks per team member, c partials per team).
template <class T>
double force_tolerance(index_t n) {
  return 8.0 * std::sqrt(static_cast<double>(n)) * static_cast<double>(std::numeric_limits<T>::epsilon());
}

/// Checks what the schedules cannot run (the same verdict on every rank: the inputs are).
void check_gravity_parallel(const config::RunConfig& cfg, int ranks) {
  const bool hybrid = cfg.parallel.schedule == Schedule::ulysses_wallfacer;
  require(cfg.parallel.schedule != Schedule::ulysses && !hybrid,
          "parallel.schedule = \"" + std::string(name_of(cfg.parallel.schedule)) + "\": the " +
              (hybrid ? "Ulysses x WallFacer" : "Ulysses") +
              " schedule splits attention heads; gravity runs with ring or wallfacer");
  require(cfg.gravity.bodies % ranks == 0, "gravity.bodies = " + std::to_string(cfg.gravity.bodies) +
                                               " must be divisible by the number of processes = " +
                                               std::to_string(ranks) + " (one contiguous shard of bodies per process)");
}

template <class T>
Timing time_evaluations(const config::RunConfig& cfg, nbody::ScheduleContext& ctx, nbody::GravityInteraction<T>& inter,
                        const nbody::ShardBlocks<T>& shard) {
  Timing timing;
  for (int r = 0; r < cfg.bench.warmup + cfg.bench.repeats; ++r) {
    ctx.world().barrier({"start of evaluation", 0});
    Stopwatch watch("Gravity::evaluate");
    const auto result = nbody::multi_ring_forward(ctx, inter, shard);  // bodies are targets and sources
    const double seconds = watch.stop();
    if (r < cfg.bench.warmup) continue;
    timing.mean += seconds / cfg.bench.repeats;
    if (seconds < timing.best) {
      timing.best = seconds;
      timing.best_times = result.times;
    }
  }
  return timing;
}

/// Newton's third law: sum_i F_i vanishes in exact arithmetic. Returns |sum F| / sum |F| over
/// all bodies (the same on every rank).
double momentum_ratio(const std::vector<double>& force, index_t shard_n, MPI_Comm comm) {
  std::vector<double> totals(4, 0.0);  // sum of F (x, y, z) and sum of |F|
  for (index_t i = 0; i < shard_n; ++i) {
    const double* fi = &force[3 * static_cast<std::size_t>(i)];
    for (int c = 0; c < 3; ++c) totals[c] += fi[c];
    totals[3] += std::sqrt(fi[0] * fi[0] + fi[1] * fi[1] + fi[2] * fi[2]);
  }
  totals = comm::sum_over_ranks(comm, totals);
  const double sum_norm = std::sqrt(totals[0] * totals[0] + totals[1] * totals[1] + totals[2] * totals[2]);
  return totals[3] > 0.0 ? sum_norm / totals[3] : sum_norm;
}

std::string timing_table(const Timing& timing, double interactions, int ranks, MPI_Comm comm) {
  perf::Table table({"per evaluation (over ranks)", "min", "avg", "max"});
  auto add = [&](const std::string& label, double value, int digits) {
    const comm::MinAvgMax r = comm::reduce_min_avg_max(comm, value);
    table.add_row({label, perf::fixed(r.min, digits), perf::fixed(r.avg, digits), perf::fixed(r.max, digits)});
  };
  add("time best [s]", timing.best, 6);
  add("time mean [s]", timing.mean, 6);
  add("  compute [s]", timing.best_times.compute, 6);
  add("  exposed point-to-point wait [s]", timing.best_times.ring_wait, 6);
  add("  collectives [s]", timing.best_times.collectives, 6);
  add("  reorders and copies [s]", timing.best_times.other, 6);
  add("GFLOP/s of the rank (best)", perf::gravity_flops_per_interaction * interactions / ranks / timing.best * 1e-9, 3);
  return table.str() + "(compute .. copies: the breakdown of each rank's best evaluation)\n";
}

/// run.verify: every rank's forces against the naive double sum; prints and returns the verdict.
template <class T>
bool verify_forces(const config::RunConfig& cfg, const reference::GravityBodies& all, index_t first, index_t shard_n,
                   const std::vector<double>& force, MPI_Comm comm, std::ostream& out) {
  const auto& gc = cfg.gravity;
  const double bound = force_tolerance<T>(gc.bodies);
  // Per body |F - F_naive| / sum_j |F_ij|: the error against the scale of the sum, robust to
  // bodies whose pair forces cancel (relative to |F_i| itself it would be unbounded).
  const ShardVerification local = verify_shard(all, first, shard_n, force, gc.softening, gc.gravitational_constant);
  const double error = comm::reduce_min_avg_max(comm, local.worst_error).max;
  const std::uint64_t checked = comm::sum_over_ranks(comm, static_cast<std::uint64_t>(local.checked));
  const bool passed = comm::true_on_all_ranks(comm, local.worst_error <= bound);  // false for NaN as well
  out << (passed ? "verification passed" : "verification FAILED") << ": max relative error " << sci(error)
      << " (|F_i - F_naive_i| / sum_j |F_ij| over " << checked << " of " << gc.bodies
      << " bodies, every rank its own, tolerance " << sci(bound) << " = 8 sqrt(N) eps(" << precision_name<T>() << "))\n";
  return passed;
}

std::string performance_line(const config::RunConfig& cfg, const comm::ProcessGrid& grid, const char* precision,
                             double time, double gflops) {
  perf::PerformanceLine line;
  line.add("problem", "gravity").add("schedule", name_of(cfg.parallel.schedule));
  line.add("team_size", std::to_string(grid.team_size())).add("ranks", std::to_string(grid.processes()));
  line.add("precision", precision).add("bodies", std::to_string(cfg.gravity.bodies));
  line.add("tile", std::to_string(cfg.gravity.tile)).add("time_s", time, 6).add("gflops", gflops, 3);
  return line.str();
}

}  // namespace

template <class T>
bool run_gravity_problem(const config::RunConfig& cfg, MPI_Comm comm) {
  const ProfilingRegion region("Problems::gravity");
  const auto& gc = cfg.gravity;
  const int ranks = comm::size_of(comm);
  check_gravity_parallel(cfg, ranks);
  ParallelSetup parallel = make_parallel_setup(cfg, comm);  // the grid checks team_size against P
  const comm::ProcessGrid& grid = parallel.main.grid;
  const index_t n = gc.bodies;
  nbody::ScheduleContext ctx(*parallel.world, grid, make_sharding(n, ranks, false, "gravity.bodies"));
  nbody::GravityInteraction<T> inter({gc.softening, gc.gravitational_constant, gc.tile}, ctx.compute_space());

  // The whole system on every rank (deterministic in the seed), then the own shard.
  const reference::GravityBodies all = plummer_bodies<T>(n, cfg.run.seed);
  const index_t shard_n = ctx.shard_tokens(), first = index_t(ctx.shard()) * shard_n;
  nbody::ShardBlocks<T> shard;
  shard.targets = shard.sources = pack_bodies<T>(slice_bodies(all, first, shard_n));
  shard.results = nbody::Buffer<T>("Gravity::forces", inter.result_layout().size(shard_n));
  const Timing timing = time_evaluations(cfg, ctx, inter, shard);

  // Every process interacts its team's c n targets with G blocks of c n sources: N^2 / P
  // interactions, N^2 in all. The run is as fast as its slowest rank.
  const double interactions = static_cast<double>(n) * static_cast<double>(n);
  const double slowest = comm::reduce_min_avg_max(comm, timing.best).max;
  const double gflops = perf::gravity_flops_per_interaction * interactions / slowest * 1e-9;
  const std::vector<double> f = forces_on_host(shard.results);
  const double momentum = momentum_ratio(f, shard_n, comm), bound = force_tolerance<T>(n);
  bool ok = momentum <= bound;  // false for NaN as well; the same on every rank

  std::ostringstream out;
  out << "gravity: " << n << " bodies (Plummer sphere, total mass 1), softening " << gc.softening << ", G "
      << gc.gravitational_constant << ", tile " << gc.tile << ", " << precision_name<T>() << ", Kokkos "
      << compat::default_execution_space_name() << "\nschedule " << (grid.team_size() == 1 ? "ring" : "wallfacer")
      << " (parallel.schedule = " << name_of(cfg.parallel.schedule) << "): " << grid.describe() << "; " << ranks
      << " contiguous shards of " << shard_n << " bodies\ncommunicator: " << parallel.world->backend_description()
      << "\n"
      << timing_table(timing, interactions, ranks, comm) << "GFLOP/s total: " << perf::fixed(gflops, 3) << " ("
      << perf::gravity_flops_per_interaction << " flops x N^2 = " << sci(interactions)
      << " interactions / slowest rank's best time)\nmomentum check: |sum F| / sum |F| over all " << n
      << " bodies = " << sci(momentum) << " (bound 8 sqrt(N) eps = " << sci(bound) << ") "
      << (ok ? "ok" : "FAILED") << "\n";
  if (cfg.run.verify) ok = verify_forces<T>(cfg, all, first, shard_n, f, comm, out) && ok;
  out << performance_line(cfg, grid, precision_name<T>(), slowest, gflops);
  comm::log_root(out.str());
  return ok;  // the same on every rank
}

template bool run_gravity_problem<float>(const config::RunConfig&, MPI_Comm);
template bool run_gravity_problem<double>(const config::RunConfig&, MPI_Comm);

}  // namespace wf::problems

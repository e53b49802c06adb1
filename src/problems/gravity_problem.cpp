// The gravity problem: softened direct-sum n-body forces on the engine's schedules (DESIGN 2.1,
// last paragraph). P processes hold P contiguous shards of the bodies; the process with grid
// coordinates (team t, local a) holds shard t c + a, and the multi-ring forward (c = 1: the
// ring) with GravityInteraction leaves it the forces on its own bodies. The report gives
// min/avg/max over ranks, the momentum check over all bodies and, with run.verify, every
// rank's forces against a naive double-precision evaluation.
#include <mpi.h>

#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "comm/process_grid.hpp"
#include "core/compat.hpp"
#include "core/error.hpp"
#include "core/timer.hpp"
#include "core/types.hpp"
#include "nbody/gravity_interaction.hpp"
#include "nbody/multi_ring.hpp"
#include "perf/flops.hpp"
#include "perf/report.hpp"
#include "problems/gravity_bodies.hpp"
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

/// Checks what the schedules cannot run (the same verdict on every rank: the inputs are).
void check_gravity_parallel(const config::RunConfig& cfg, int ranks) {
  require(cfg.parallel.schedule != "ulysses",
          "parallel.schedule = \"ulysses\": the Ulysses schedule splits attention heads; gravity runs with ring or "
          "wallfacer");
  require(cfg.gravity.bodies % ranks == 0, "gravity.bodies = " + std::to_string(cfg.gravity.bodies) +
                                               " must be divisible by the number of processes = " +
                                               std::to_string(ranks) + " (one contiguous shard of bodies per process)");
}

void add_row(perf::Table& table, MPI_Comm comm, const std::string& label, double value, int digits) {
  const perf::MinAvgMax r = perf::reduce_min_avg_max(comm, value);
  table.add_row({label, perf::fixed(r.min, digits), perf::fixed(r.avg, digits), perf::fixed(r.max, digits)});
}

}  // namespace

template <class T>
bool run_gravity_problem(const config::RunConfig& cfg, MPI_Comm comm) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  const auto& gc = cfg.gravity;
  const auto& pc = cfg.parallel;
  check_gravity_parallel(cfg, ranks);
  const int team_size = pc.schedule == "ring" ? 1 : pc.team_size;
  const auto arrangement =
      pc.arrangement == "ring-major" ? comm::Arrangement::ring_major : comm::Arrangement::team_major;
  const comm::ProcessGrid grid(ranks, team_size, arrangement);  // throws unless team_size^2 divides P
  const index_t n = gc.bodies;
  const nbody::Sharding sharding(n, ranks, false);

  const comm::CommOptions options{pc.deadline_seconds, pc.ranks_per_node};
  const std::unique_ptr<comm::Communicator> world =
      pc.backend == "nccl" ? comm::make_nccl_communicator(comm, options) : comm::make_mpi_communicator(comm, options);
  nbody::ScheduleContext ctx(*world, grid, sharding);
  nbody::GravityInteraction<T> inter(kernels::GravityOptions{gc.softening, gc.gravitational_constant, gc.tile});

  // The whole system on every rank (deterministic in the seed), then the own shard.
  const reference::GravityBodies all = plummer_bodies<T>(n, cfg.run.seed);
  const index_t shard_n = sharding.shard_tokens(), first = index_t(ctx.shard()) * shard_n;
  const nbody::Buffer<T> bodies = pack_bodies<T>(slice_bodies(all, first, shard_n));
  const nbody::Buffer<T> forces("Gravity::forces", inter.result_layout().size(shard_n));

  Timing timing;
  for (int r = 0; r < cfg.bench.warmup + cfg.bench.repeats; ++r) {
    world->barrier({"start of evaluation", 0});
    ctx.times = {};
    Stopwatch watch("Gravity::evaluate");
    nbody::multi_ring_forward(ctx, inter, bodies, bodies, forces);  // bodies are targets and sources
    const double seconds = watch.stop();
    if (r < cfg.bench.warmup) continue;
    timing.mean += seconds / cfg.bench.repeats;
    if (seconds < timing.best) {
      timing.best = seconds;
      timing.best_times = ctx.times;
    }
  }
  const perf::MinAvgMax best_r = perf::reduce_min_avg_max(comm, timing.best);
  // Every process interacts its team's c n targets with G blocks of c n sources: N^2 / P
  // interactions, N^2 in all. The run is as fast as its slowest rank.
  const double interactions = static_cast<double>(n) * static_cast<double>(n);
  const double gflops = perf::gravity_flops_per_interaction * interactions / best_r.max * 1e-9;

  // One tolerance for both checks: tol = 8 sqrt(N) eps(T). A sum of N rounded pair forces errs
  // by about sqrt(N) ulps of sum_j |F_ij| (rounding errors of random sign; N ulps is the worst
  // case). Measured on Plummer spheres (N = 2 .. 16384, softening 1e-4 .. 1, host build):
  // verification error <= 1.0 sqrt(N) eps in float and <= 1.3 sqrt(N) eps in double (where the
  // naive double sum's own rounding is part of it); the momentum ratio |sum F| / sum |F| stays
  // below 0.7 eps (errors of different bodies partly cancel). Newton's third law: sum_i F_i
  // vanishes in exact arithmetic. The distributed sum adds the same N pair forces, grouped into
  // G source blocks per team member and c partial forces per team (the team reduce-scatter):
  // another order of the same N-term sum, under the same bound.
  const std::vector<double> f = forces_on_host(forces);
  double totals[4] = {0.0, 0.0, 0.0, 0.0};  // sum of F (x, y, z) and sum of |F|, then over ranks
  for (index_t i = 0; i < shard_n; ++i) {
    const double* fi = &f[3 * static_cast<std::size_t>(i)];
    for (int c = 0; c < 3; ++c) totals[c] += fi[c];
    totals[3] += std::sqrt(fi[0] * fi[0] + fi[1] * fi[1] + fi[2] * fi[2]);
  }
  MPI_Allreduce(MPI_IN_PLACE, totals, 4, MPI_DOUBLE, MPI_SUM, comm);
  const double eps = static_cast<double>(std::numeric_limits<T>::epsilon());
  const double bound = 8.0 * std::sqrt(static_cast<double>(n)) * eps;
  const double sum_norm = std::sqrt(totals[0] * totals[0] + totals[1] * totals[1] + totals[2] * totals[2]);
  const double momentum = totals[3] > 0.0 ? sum_norm / totals[3] : sum_norm;
  int momentum_ok = momentum <= bound ? 1 : 0;                           // 0 for NaN as well
  MPI_Allreduce(MPI_IN_PLACE, &momentum_ok, 1, MPI_INT, MPI_MIN, comm);  // one verdict on every rank
  bool ok = momentum_ok == 1;

  std::ostringstream out;
  out << "gravity: " << n << " bodies (Plummer sphere, total mass 1), softening " << gc.softening << ", G "
      << gc.gravitational_constant << ", tile " << gc.tile << ", " << precision_name(precision_of<T>()) << ", Kokkos "
      << compat::default_execution_space_name() << "\n"
      << "schedule " << (team_size == 1 ? "ring" : "wallfacer") << " (parallel.schedule = " << pc.schedule
      << "): " << grid.describe() << "; " << ranks << " contiguous shards of " << shard_n << " bodies\n"
      << "communicator: " << world->backend_description() << "\n";
  perf::Table table({"per evaluation (over ranks)", "min", "avg", "max"});
  table.add_row({"time best [s]", perf::fixed(best_r.min, 6), perf::fixed(best_r.avg, 6), perf::fixed(best_r.max, 6)});
  add_row(table, comm, "time mean [s]", timing.mean, 6);
  add_row(table, comm, "  compute [s]", timing.best_times.compute, 6);
  add_row(table, comm, "  exposed point-to-point wait [s]", timing.best_times.ring_wait, 6);
  add_row(table, comm, "  collectives [s]", timing.best_times.collectives, 6);
  add_row(table, comm, "  reorders and copies [s]", timing.best_times.other, 6);
  add_row(table, comm, "GFLOP/s of the rank (best)",
          perf::gravity_flops_per_interaction * interactions / ranks / timing.best * 1e-9, 3);
  out << table.str();
  out << "(compute .. copies: the breakdown of each rank's best evaluation)\n"
      << "GFLOP/s total: " << perf::fixed(gflops, 3) << " (" << perf::gravity_flops_per_interaction
      << " flops x N^2 = " << sci(interactions) << " interactions / slowest rank's best time)\n"
      << "momentum check: |sum F| / sum |F| over all " << n << " bodies = " << sci(momentum)
      << " (bound 8 sqrt(N) eps = " << sci(bound) << ") " << (momentum_ok ? "ok" : "FAILED") << "\n";

  if (cfg.run.verify) {
    // Per body |F - F_naive| / sum_j |F_ij|: the error against the scale of the sum, robust to
    // bodies whose pair forces cancel (relative to |F_i| itself it would be unbounded).
    const ShardVerification local = verify_shard(all, first, shard_n, f, gc.softening, gc.gravitational_constant);
    const double error = perf::reduce_min_avg_max(comm, local.worst_error).max;
    unsigned long long checked = local.checked;
    MPI_Allreduce(MPI_IN_PLACE, &checked, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
    int passed = local.worst_error <= bound ? 1 : 0;  // 0 for NaN as well
    MPI_Allreduce(MPI_IN_PLACE, &passed, 1, MPI_INT, MPI_MIN, comm);
    ok = ok && passed == 1;
    out << (passed ? "verification passed" : "verification FAILED") << ": max relative error " << sci(error)
        << " (|F_i - F_naive_i| / sum_j |F_ij| over " << checked << " of " << n
        << " bodies, every rank its own, tolerance " << sci(bound) << " = 8 sqrt(N) eps("
        << precision_name(precision_of<T>()) << "))\n";
  }

  perf::PerformanceLine line;
  line.add("problem", "gravity")
      .add("schedule", pc.schedule)
      .add("team_size", std::to_string(team_size))
      .add("ranks", std::to_string(ranks))
      .add("precision", precision_name(precision_of<T>()))
      .add("bodies", std::to_string(n))
      .add("tile", std::to_string(gc.tile))
      .add("time_s", best_r.max, 6)
      .add("gflops", gflops, 3);
  out << line.str() << "\n";
  if (rank == 0) std::cout << out.str() << std::flush;
  return ok;  // the same on every rank
}

template bool run_gravity_problem<float>(const config::RunConfig&, MPI_Comm);
template bool run_gravity_problem<double>(const config::RunConfig&, MPI_Comm);

}  // namespace wf::problems

// The gravity problem: softened direct-sum n-body forces through the engine's block update
// (kernels/gravity.hpp). Every rank evaluates the whole system on its own (the distributed
// schedules come later); the report gives min/avg/max over ranks, the momentum check and,
// with run.verify, the comparison with a naive double-precision evaluation.
#include <mpi.h>

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/compat.hpp"
#include "core/timer.hpp"
#include "core/types.hpp"
#include "kernels/gravity.hpp"
#include "kernels/gravity_reference.hpp"
#include "perf/flops.hpp"
#include "perf/report.hpp"
#include "problems/problem.hpp"

namespace wf::problems {
namespace {

/// Host copy of the bodies in double, holding exactly the values the kernel sees (rounded to T).
using Bodies = reference::GravityBodies;

/// A Plummer sphere (unit scale radius, truncated at 10) centred on the origin, masses
/// uniform in [0.5, 1.5] scaled to a total of 1. Deterministic in `seed`.
template <class T>
Bodies plummer_bodies(index_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const double pi = 3.14159265358979323846;
  Bodies b;
  b.pos.resize(3 * static_cast<std::size_t>(n));
  b.mass.resize(static_cast<std::size_t>(n));
  double total = 0.0;
  for (std::size_t i = 0; i < b.mass.size(); ++i) {
    double r = 0.0;
    do {  // inverse of the cumulative mass M(r) = r^3 / (1 + r^2)^(3/2)
      const double x = std::max(unit(gen), 1e-12);
      r = 1.0 / std::sqrt(std::pow(x, -2.0 / 3.0) - 1.0);
    } while (!(r <= 10.0));
    const double cos_theta = 2.0 * unit(gen) - 1.0, phi = 2.0 * pi * unit(gen);
    const double sin_theta = std::sqrt(1.0 - cos_theta * cos_theta);
    b.pos[3 * i + 0] = r * sin_theta * std::cos(phi);
    b.pos[3 * i + 1] = r * sin_theta * std::sin(phi);
    b.pos[3 * i + 2] = r * cos_theta;
    b.mass[i] = 0.5 + unit(gen);
    total += b.mass[i];
  }
  for (auto& x : b.pos) x = static_cast<double>(static_cast<T>(x));
  for (auto& m : b.mass) m = static_cast<double>(static_cast<T>(m / total));
  return b;
}

/// Largest over (all or 256 sampled) targets of |F_i - F_naive_i| / sum_j |F_ij|.
double verification_error(const Bodies& b, const std::vector<double>& force, double softening, double g,
                          std::size_t& checked) {
  const std::size_t n = b.mass.size();
  checked = n <= 8192 ? n : 256;
  std::vector<std::size_t> targets;
  Bodies sampled;
  for (std::size_t k = 0; k < checked; ++k) {
    const std::size_t i = checked == n ? k : k * n / checked;
    targets.push_back(i);
    sampled.pos.insert(sampled.pos.end(), b.pos.begin() + 3 * i, b.pos.begin() + 3 * i + 3);
    sampled.mass.push_back(b.mass[i]);
  }
  const auto ref = reference::gravity_reference(sampled, b, softening, g);
  double worst = 0.0;
  for (std::size_t k = 0; k < checked; ++k) {
    const std::size_t i = targets[k];
    const double* f = &ref.force[3 * k];
    const double magnitude = ref.magnitude_sum[k];
    double diff2 = 0.0;
    for (int c = 0; c < 3; ++c) diff2 += (force[3 * i + c] - f[c]) * (force[3 * i + c] - f[c]);
    const double error = magnitude > 0.0 ? std::sqrt(diff2) / magnitude : std::sqrt(diff2);
    if (!(error <= worst)) worst = error;  // NaN wins
  }
  return worst;
}

std::string sci(double value) {
  std::ostringstream out;
  out.precision(2);
  out << std::scientific << value;
  return out.str();
}

}  // namespace

template <class T>
bool run_gravity_problem(const config::RunConfig& cfg, MPI_Comm comm) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  const auto& gc = cfg.gravity;
  const index_t n = gc.bodies;
  const kernels::GravityOptions opt{gc.softening, gc.gravitational_constant, gc.tile};
  const Bodies bodies = plummer_bodies<T>(n, cfg.run.seed);

  Kokkos::View<T* [3], Kokkos::LayoutRight, MemSpace> pos("Gravity::pos", n);
  Kokkos::View<T*, MemSpace> mass("Gravity::mass", n);
  kernels::ForceView<T, MemSpace> force("Gravity::force", n);
  {
    auto pos_host = Kokkos::create_mirror_view(pos);
    auto mass_host = Kokkos::create_mirror_view(mass);
    for (index_t i = 0; i < n; ++i) {
      for (int c = 0; c < 3; ++c) pos_host(i, c) = static_cast<T>(bodies.pos[3 * i + c]);
      mass_host(i) = static_cast<T>(bodies.mass[i]);
    }
    Kokkos::deep_copy(pos, pos_host);
    Kokkos::deep_copy(mass, mass_host);
  }
  const kernels::ParticleBlock<T, MemSpace> all{pos, mass};
  auto evaluate = [&]() {
    Kokkos::deep_copy(force, T(0));
    kernels::gravity_update(opt, all, all, force);
  };

  for (int w = 0; w < cfg.bench.warmup; ++w) evaluate();
  double best = std::numeric_limits<double>::infinity(), total = 0.0;
  for (int r = 0; r < cfg.bench.repeats; ++r) {
    Stopwatch watch("Gravity::evaluate");
    evaluate();
    const double seconds = watch.stop();
    best = std::min(best, seconds);
    total += seconds;
  }
  const double mean = total / cfg.bench.repeats;
  const double flops = perf::gravity_flops_per_interaction * static_cast<double>(n) * static_cast<double>(n);
  const perf::MinAvgMax best_r = perf::reduce_min_avg_max(comm, best);
  const perf::MinAvgMax mean_r = perf::reduce_min_avg_max(comm, mean);
  const perf::MinAvgMax rate_r = perf::reduce_min_avg_max(comm, flops / best * 1e-9);

  // One tolerance for both checks: tol = 8 sqrt(N) eps(T). A sum of N rounded pair forces errs
  // by about sqrt(N) ulps of sum_j |F_ij| (rounding errors of random sign; N ulps is the worst
  // case). Measured on Plummer spheres (N = 2 .. 16384, softening 1e-4 .. 1, host build):
  // verification error <= 1.0 sqrt(N) eps in float and <= 1.3 sqrt(N) eps in double (where the
  // naive double sum's own rounding is part of it); the momentum ratio |sum F| / sum |F| stays
  // below 0.7 eps (errors of different bodies partly cancel). Newton's third law: sum_i F_i
  // vanishes in exact arithmetic.
  std::vector<double> f(3 * static_cast<std::size_t>(n));
  {
    auto host = Kokkos::create_mirror_view(force);
    Kokkos::deep_copy(host, force);
    for (index_t i = 0; i < n; ++i)
      for (int c = 0; c < 3; ++c) f[3 * i + c] = static_cast<double>(host(i, c));
  }
  double sum[3] = {0.0, 0.0, 0.0}, magnitude = 0.0;
  for (index_t i = 0; i < n; ++i) {
    for (int c = 0; c < 3; ++c) sum[c] += f[3 * i + c];
    magnitude += std::sqrt(f[3 * i] * f[3 * i] + f[3 * i + 1] * f[3 * i + 1] + f[3 * i + 2] * f[3 * i + 2]);
  }
  const double eps = static_cast<double>(std::numeric_limits<T>::epsilon());
  const double bound = 8.0 * std::sqrt(static_cast<double>(n)) * eps;
  const double momentum_local =
      magnitude > 0.0 ? std::sqrt(sum[0] * sum[0] + sum[1] * sum[1] + sum[2] * sum[2]) / magnitude : 0.0;
  const double momentum = perf::reduce_min_avg_max(comm, momentum_local).max;
  int momentum_ok = momentum_local <= bound ? 1 : 0;  // 0 for NaN as well; same on every rank
  MPI_Allreduce(MPI_IN_PLACE, &momentum_ok, 1, MPI_INT, MPI_MIN, comm);
  bool ok = momentum_ok == 1;

  std::ostringstream out;
  out << "gravity: " << n << " bodies (Plummer sphere, total mass 1), softening " << gc.softening << ", G "
      << gc.gravitational_constant << ", tile " << gc.tile << ", " << precision_name(precision_of<T>()) << ", " << ranks
      << " rank(s), each evaluating all bodies, Kokkos " << compat::default_execution_space_name() << "\n";
  perf::Table table({"per evaluation (over ranks)", "min", "avg", "max"});
  table.add_row({"time best [s]", perf::fixed(best_r.min, 6), perf::fixed(best_r.avg, 6), perf::fixed(best_r.max, 6)});
  table.add_row({"time mean [s]", perf::fixed(mean_r.min, 6), perf::fixed(mean_r.avg, 6), perf::fixed(mean_r.max, 6)});
  table.add_row({"GFLOP/s (best)", perf::fixed(rate_r.min, 3), perf::fixed(rate_r.avg, 3), perf::fixed(rate_r.max, 3)});
  out << table.str();
  out << "momentum check: |sum F| / sum |F| = " << sci(momentum) << " (bound 8 sqrt(N) eps = " << sci(bound) << ") "
      << (momentum_ok ? "ok" : "FAILED") << "\n";

  if (cfg.run.verify) {
    // Per body |F - F_naive| / sum_j |F_ij|: the error against the scale of the sum, robust to
    // bodies whose pair forces cancel (relative to |F_i| itself it would be unbounded).
    std::size_t checked = 0;
    const double local = verification_error(bodies, f, gc.softening, gc.gravitational_constant, checked);
    const double error = perf::reduce_min_avg_max(comm, local).max;
    int passed = local <= bound ? 1 : 0;
    MPI_Allreduce(MPI_IN_PLACE, &passed, 1, MPI_INT, MPI_MIN, comm);
    ok = ok && passed == 1;
    out << (passed ? "verification passed" : "verification FAILED") << ": max relative error " << sci(error)
        << " (|F_i - F_naive_i| / sum_j |F_ij| over " << checked << " of " << n << " bodies, tolerance " << sci(bound)
        << " = 8 sqrt(N) eps(" << precision_name(precision_of<T>()) << "))\n";
  }

  perf::PerformanceLine line;
  line.add("problem", "gravity")
      .add("precision", precision_name(precision_of<T>()))
      .add("bodies", std::to_string(n))
      .add("tile", std::to_string(gc.tile))
      .add("ranks", std::to_string(ranks))
      .add("time_s", best_r.avg, 6)
      .add("gflops", rate_r.avg, 3);
  out << line.str() << "\n";
  if (rank == 0) std::cout << out.str() << std::flush;
  return ok;  // the same on every rank
}

template bool run_gravity_problem<float>(const config::RunConfig&, MPI_Comm);
template bool run_gravity_problem<double>(const config::RunConfig&, MPI_Comm);

}  // namespace wf::problems

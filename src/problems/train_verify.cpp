#include "problems/train_verify.hpp"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <string>
#include <vector>

#include "comm/log.hpp"
#include "comm/reductions.hpp"
#include "core/region.hpp"
#include "perf/report.hpp"
#include "problems/train_model.hpp"

namespace wf::problems {
namespace {

std::string sci(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3e", v);
  return text;
}

double norm(const std::vector<double>& v, std::size_t first, std::size_t count) {
  double sum = 0;
  for (std::size_t i = first; i < first + count; ++i) sum += v[i] * v[i];
  return std::sqrt(sum);
}

template <class T>
std::vector<double> host_gradients(const model::Parameters<T>& params) {
  const auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), params.grads);
  return std::vector<double>(host.data(), host.data() + host.span());
}

/// The single-process run of `sample` from params.values: its loss and gradients.
template <class T>
std::pair<double, std::vector<double>> one_process_step(const config::RunConfig& cfg, const TrainSetup& setup,
                                                        const model::Parameters<T>& params, std::int64_t sample) {
  auto self = comm::make_mpi_communicator(MPI_COMM_SELF, {cfg.parallel.deadline_seconds, 1});
  TrainSetup single = setup;
  single.sharding = nbody::Sharding(setup.sharding.tokens(), 1, setup.sharding.zigzag());
  single.plan.schedule = Schedule::ring;
  nbody::ScheduleContext ctx(*self, comm::ProcessGrid(1, 1, Arrangement::team_major), single.sharding);
  model::Parameters<T> reference(setup.shape);
  Kokkos::deep_copy(reference.values, params.values);
  reference.zero_grads();
  TrainModel<T> net(cfg, single, ctx, nullptr);
  const model::PassResult pass = net.step(reference, sample);
  return {pass.loss.loss_sum / net.loss_count(), host_gradients(reference)};
}

}  // namespace

void check_train_verify_size(const config::RunConfig& cfg, const TrainSetup& setup) {
  if (!cfg.run.verify) return;
  const double flops = train_step_flops(setup, cfg.attention.seq_len);
  require(flops <= 1e12, "run.verify recomputes the first training step on one process: " + perf::fixed(flops, 0) +
                             " FLOPs exceed 10^12; lower attention.seq_len or the model, or set run.verify = false");
}

template <class T>
bool verify_first_step(const config::RunConfig& cfg, const TrainSetup& setup, const model::Parameters<T>& params,
                       double loss, std::int64_t sample, MPI_Comm comm) {
  const ProfilingRegion region("Problems::train_verify");
  const auto [expected_loss, expected] = one_process_step(cfg, setup, params, sample);
  const std::vector<double> got = host_gradients(params);
  const double tolerance = sizeof(T) == sizeof(double) ? 1e-10 : 1e-4;
  const double floor = 1e-6 * norm(expected, 0, expected.size());
  double worst = std::abs(loss - expected_loss) / std::max(std::abs(expected_loss), 1e-300);
  std::string worst_name = "loss";
  for (const auto& info : params.infos()) {
    std::vector<double> difference(info.size);
    for (std::size_t i = 0; i < info.size; ++i) difference[i] = got[info.offset + i] - expected[info.offset + i];
    const double error = norm(difference, 0, info.size) / std::max(norm(expected, info.offset, info.size), floor);
    if (!(error <= worst)) worst_name = info.name;  // NaN counts as the worst
    worst = std::isnan(error) ? 1e300 : std::max(worst, error);
  }
  const double worst_over_ranks = comm::reduce_min_avg_max(comm, worst).max;
  const bool ok = comm::true_on_all_ranks(comm, worst <= tolerance);
  comm::log_root("verification of step 1 against one process: loss " + perf::fixed(loss, 10) + " (one process " +
                 perf::fixed(expected_loss, 10) + "); worst relative error " + sci(worst_over_ranks) + " (" +
                 worst_name + " on rank 0)\nverification " + (ok ? "passed" : "FAILED") + ": tolerance " +
                 sci(tolerance));
  return ok;
}

template bool verify_first_step<float>(const config::RunConfig&, const TrainSetup&, const model::Parameters<float>&,
                                       double, std::int64_t, MPI_Comm);
template bool verify_first_step<double>(const config::RunConfig&, const TrainSetup&, const model::Parameters<double>&,
                                        double, std::int64_t, MPI_Comm);

}  // namespace wf::problems

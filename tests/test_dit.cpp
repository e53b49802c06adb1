// The DiT: finite-difference check of every parameter tensor's gradient in double on one
// process; loss and gradients of the distributed model equal to the single-process ones for
// every schedule the rank count allows (Ring, WallFacer, Ulysses with copied kv heads, the
// Ulysses x WallFacer hybrid); the diffusion data are a function of (seed, sample, position).
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>

#include "comm/communicator.hpp"
#include "model/diffusion_data.hpp"
#include "model/dit.hpp"
#include "model_test_util.hpp"
#include "mpi_test_util.hpp"
#include "test_util.hpp"

namespace {

using wf::index_t;
using wf::RotateSide;
using wf::model::DiffusionOptions;
using wf::model::ModelShape;
using wf::model::Parameters;
using ScheduleKind = wf::Schedule;
using wf::testing::world_size;

/// 2 blocks, d_model 8, 8 heads of 2 sharing 2 kv heads, mlp 12, patches of 3, 6 frequencies.
ModelShape dit_shape() {
  ModelShape s;
  s.kind = wf::ModelKind::dit;
  s.d_model = 8;
  s.layers = 2;
  s.heads = 8;
  s.kv_heads = 2;
  s.head_dim = 2;
  s.mlp_dim = 12;
  s.patch_dim = 3;
  s.timestep_dim = 6;
  return s;
}

struct Result {
  double loss = 0;
  std::vector<double> grads;
};

double norm(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x * x;
  return std::sqrt(sum);
}

struct Case {
  ScheduleKind kind = ScheduleKind::ring;
  int team_size = 1;
  RotateSide side = RotateSide::query;
};

/// Loss (mean over N x patch_dim) and gradients summed over the ranks of comm, on sample 3.
Result run_dit(MPI_Comm comm, const ModelShape& shape, const Case& c, const DiffusionOptions& data,
               Parameters<double>& params, bool backward) {
  int p = 1;
  MPI_Comm_size(comm, &p);
  auto world = wf::comm::make_mpi_communicator(comm, {});
  const wf::nbody::Sharding sharding(data.seq_len, p, false);
  wf::nbody::ScheduleContext ctx = wf::testing::make_context(*world, c.kind, c.team_size, sharding);
  wf::model::DiT<double> model(shape, wf::testing::attention_plan(shape, c.kind, c.side, wf::kernels::MaskKind::none), ctx);
  const auto sample = wf::model::diffusion_sample(data, 3);
  const auto rows = wf::model::diffusion_rows(data, sample, sharding.positions(ctx.shard(), 1));
  const std::int64_t total = data.seq_len * shape.patch_dim;
  params.zero_grads();
  const auto pass = model.run(params, rows, double(sample.timestep), backward, total);
  Result r;
  double sum = pass.loss.loss_sum;
  MPI_Allreduce(MPI_IN_PLACE, &sum, 1, MPI_DOUBLE, MPI_SUM, comm);
  r.loss = sum / double(total);
  if (backward) {
    auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), params.grads);
    r.grads.assign(host.data(), host.data() + host.span());
    MPI_Allreduce(MPI_IN_PLACE, r.grads.data(), static_cast<int>(r.grads.size()), MPI_DOUBLE, MPI_SUM, comm);
  }
  return r;
}

/// Seeded parameters with larger weights than the init's 0.02.
void randomize(Parameters<double>& params) {
  params.initialize(3);
  wf::testing::add_noise(params, 9, 0.4);
}

TEST(DiT, GradientsMatchFiniteDifferences) {
  ModelShape shape = dit_shape();
  shape.heads = 2;
  shape.kv_heads = 1;
  shape.head_dim = 4;
  const DiffusionOptions data{12, shape.patch_dim, 5, 1000};
  Parameters<double> params(shape);
  randomize(params);
  const auto analytic = run_dit(MPI_COMM_SELF, shape, {}, data, params, true);
  wf::testing::expect_gradients_match_differences(
      params, analytic.grads, [&] { return run_dit(MPI_COMM_SELF, shape, {}, data, params, false).loss; }, 1e-8, 1e-6);
}

TEST(DiT, DistributedEqualsSingleProcessForEverySchedule) {
  const int p = world_size();
  const ModelShape shape = dit_shape();
  const DiffusionOptions data{8 * p, shape.patch_dim, 11, 1000};
  Parameters<double> params(shape);
  randomize(params);
  const auto single = run_dit(MPI_COMM_SELF, shape, {}, data, params, true);
  std::vector<Case> cases = {{ScheduleKind::ring, 1, RotateSide::query}, {ScheduleKind::ring, 1, RotateSide::key}};
  if (p % 4 == 0) cases.push_back({ScheduleKind::wallfacer, 2, RotateSide::query});
  if (8 % p == 0) cases.push_back({ScheduleKind::ulysses, 1, RotateSide::query});  // kv heads copied on 4, 8
  if (p % 2 == 0) cases.push_back({ScheduleKind::ulysses_wallfacer, (p / 2) % 4 == 0 ? 2 : 1, RotateSide::key});
  // The key biases' gradients are 0 in exact arithmetic (softmax does not change when every
  // score of a query shifts alike): errors are measured against 1e-6 of the whole gradient's norm
  // at least.
  const double floor = 1e-6 * norm(single.grads);
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(wf::name_of(c.kind)) + " c=" + std::to_string(c.team_size));
    const auto dist = run_dit(MPI_COMM_WORLD, shape, c, data, params, true);
    EXPECT_NEAR(dist.loss, single.loss, 1e-12 * std::abs(single.loss));
    for (const auto& info : params.infos()) {
      std::vector<double> difference;
      for (std::size_t i = info.offset; i < info.offset + info.size; ++i) difference.push_back(dist.grads[i] - single.grads[i]);
      const std::vector<double> b(single.grads.begin() + info.offset, single.grads.begin() + info.offset + info.size);
      EXPECT_LE(norm(difference), 1e-11 * std::max(norm(b), floor)) << info.name;
    }
  }
}

TEST(DiT, DataDependOnSeedSampleAndPositionOnly) {
  const DiffusionOptions data{64, 4, 7, 1000};
  const auto sample = wf::model::diffusion_sample(data, 2);
  std::vector<index_t> all(64), some = {5, 6, 40};
  for (index_t i = 0; i < 64; ++i) all[static_cast<std::size_t>(i)] = i;
  const auto whole = wf::model::diffusion_rows(data, sample, all), part = wf::model::diffusion_rows(data, sample, some);
  for (std::size_t r = 0; r < some.size(); ++r)
    for (int k = 0; k < 4; ++k) {
      const std::size_t at = static_cast<std::size_t>(some[r]) * 4 + k, got = r * 4 + k;
      EXPECT_EQ(part.noisy[got], whole.noisy[at]);
      EXPECT_EQ(part.noise[got], whole.noise[at]);
    }
  EXPECT_EQ(wf::model::diffusion_rows(data, wf::model::diffusion_sample(data, 2), all).noise, whole.noise);
  EXPECT_NE(wf::model::diffusion_rows(data, wf::model::diffusion_sample(data, 3), all).noise, whole.noise);
  EXPECT_GE(sample.timestep, 0);
  EXPECT_LT(sample.timestep, 1000);
  EXPECT_NEAR(sample.signal_scale * sample.signal_scale + sample.noise_scale * sample.noise_scale, 1.0, 1e-15);
  // The noise is standard normal: mean and variance of 256 x 64 draws within 4 standard errors.
  const DiffusionOptions wide{256, 64, 7, 1000};
  std::vector<index_t> positions(256);
  for (index_t i = 0; i < 256; ++i) positions[static_cast<std::size_t>(i)] = i;
  const auto noise = wf::model::diffusion_rows(wide, wf::model::diffusion_sample(wide, 0), positions).noise;
  double mean = 0, square = 0;
  for (double v : noise) mean += v / noise.size(), square += v * v / noise.size();
  EXPECT_NEAR(mean, 0.0, 4 / std::sqrt(double(noise.size())));
  EXPECT_NEAR(square, 1.0, 4 * std::sqrt(2.0 / noise.size()));
  EXPECT_NEAR(wf::model::alpha_bar(1000, 0), 1 - 1e-4, 1e-15);
  EXPECT_LT(wf::model::alpha_bar(1000, 999), 1e-4);
}

}  // namespace

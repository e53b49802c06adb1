// The whole transformer: finite-difference check of every parameter tensor's gradient in
// double on one process, and loss and gradients of the distributed model (every schedule the
// rank count allows) equal to the single-process ones.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <random>

#include "comm/communicator.hpp"
#include "model/transformer.hpp"
#include "mpi_test_util.hpp"
#include "model_test_util.hpp"
#include "test_util.hpp"

namespace {

using wf::index_t;
using wf::model::ModelShape;
using wf::model::Parameters;
using wf::model::Transformer;
using ScheduleKind = wf::Schedule;
using wf::RotateSide;

using wf::testing::world_size;

ModelShape tiny_shape() { return wf::testing::tiny_model_shape(); }

std::vector<index_t> random_tokens(index_t n, int vocab, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<index_t> t(static_cast<std::size_t>(n));
  for (auto& x : t) x = static_cast<index_t>(gen() % static_cast<std::uint64_t>(vocab));
  return t;
}

/// Loss (mean over the N - 1 targets) and, optionally, gradients summed over all ranks of comm.
struct Result {
  double loss = 0;
  std::vector<double> grads;
};

Result run_model(MPI_Comm comm, const ModelShape& shape, ScheduleKind kind, RotateSide side, int team_size,
                 const std::vector<index_t>& global_tokens, Parameters<double>& params, bool backward) {
  int p = 1;
  MPI_Comm_size(comm, &p);
  const index_t n_total = static_cast<index_t>(global_tokens.size());
  auto world = wf::comm::make_mpi_communicator(comm, {});
  const wf::nbody::Sharding sharding(n_total, p, true);
  wf::nbody::ScheduleContext ctx = wf::testing::make_context(*world, kind, team_size, sharding);
  Transformer<double> model(shape, wf::testing::attention_plan(shape, kind, side, wf::kernels::MaskKind::causal), ctx);
  std::vector<index_t> tokens, targets;
  for (index_t pos : sharding.positions(ctx.shard(), 1)) {
    tokens.push_back(global_tokens[static_cast<std::size_t>(pos)]);
    targets.push_back(pos + 1 < n_total ? global_tokens[static_cast<std::size_t>(pos + 1)] : -1);
  }
  params.zero_grads();
  const auto pass = model.run(params, tokens, targets, backward, n_total - 1);
  Result r;
  double loss_sum = pass.loss.loss_sum;
  MPI_Allreduce(MPI_IN_PLACE, &loss_sum, 1, MPI_DOUBLE, MPI_SUM, comm);
  r.loss = loss_sum / double(n_total - 1);
  if (backward) {
    auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), params.grads);
    r.grads.assign(host.data(), host.data() + host.span());
    MPI_Allreduce(MPI_IN_PLACE, r.grads.data(), static_cast<int>(r.grads.size()), MPI_DOUBLE, MPI_SUM, comm);
  }
  return r;
}

TEST(Model, GradientsMatchFiniteDifferences) {
  const ModelShape shape = tiny_shape();
  const auto tokens = random_tokens(12, shape.vocab, 5);
  Parameters<double> params(shape);
  params.initialize(3);
  wf::testing::add_noise(params, 9, 0.3);
  const auto analytic = run_model(MPI_COMM_SELF, shape, ScheduleKind::ring, RotateSide::query, 1, tokens,
                                  params, true);
  wf::testing::expect_gradients_match_differences(
      params, analytic.grads,
      [&] { return run_model(MPI_COMM_SELF, shape, ScheduleKind::ring, RotateSide::query, 1, tokens, params, false).loss; },
      1e-7, 1e-6);
}

TEST(Model, DistributedEqualsSingleProcess) {
  const int p = world_size();
  const ModelShape shape = tiny_shape();
  const auto tokens = random_tokens(16 * p, shape.vocab, 7);
  Parameters<double> params(shape);
  params.initialize(11);
  const auto single = run_model(MPI_COMM_SELF, shape, ScheduleKind::ring, RotateSide::query, 1, tokens,
                                params, true);
  struct Case {
    ScheduleKind kind;
    int team_size;
    RotateSide side;
  };
  std::vector<Case> cases = {{ScheduleKind::ring, 1, RotateSide::query},
                             {ScheduleKind::ring, 1, RotateSide::key}};
  if (p % 4 == 0) cases.push_back({ScheduleKind::wallfacer, 2, RotateSide::query});
  if (p % 2 == 0) cases.push_back({ScheduleKind::ulysses_wallfacer, (p / 2) % 4 == 0 ? 2 : 1, RotateSide::key});
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(wf::name_of(c.kind)) + " c=" + std::to_string(c.team_size));
    const auto dist = run_model(MPI_COMM_WORLD, shape, c.kind, c.side, c.team_size, tokens, params, true);
    EXPECT_NEAR(dist.loss, single.loss, 1e-12 * std::abs(single.loss));
    for (const auto& info : params.infos()) {
      const std::vector<double> a(dist.grads.begin() + info.offset, dist.grads.begin() + info.offset + info.size);
      const std::vector<double> b(single.grads.begin() + info.offset, single.grads.begin() + info.offset + info.size);
      EXPECT_LE(wf::testing::relative_error(a, b), 1e-11) << info.name;
    }
  }
}

// Ulysses splits the heads over the ranks: 8 heads run it on 1, 2, 4 and 8 ranks; with 2 kv
// heads they are copied to the ranks that read them on 4 and 8 ranks.
class ModelUlysses : public ::testing::TestWithParam<int> {};

TEST_P(ModelUlysses, EqualsSingleProcess) {
  const int p = world_size();
  ModelShape shape = tiny_shape();
  shape.heads = 8;
  shape.kv_heads = GetParam();
  shape.head_dim = 2;
  const auto tokens = random_tokens(16 * p, shape.vocab, 19);
  Parameters<double> params(shape);
  params.initialize(23);
  const auto single = run_model(MPI_COMM_SELF, shape, ScheduleKind::ring, RotateSide::query, 1, tokens,
                                params, true);
  const auto dist = run_model(MPI_COMM_WORLD, shape, ScheduleKind::ulysses, RotateSide::query, 1, tokens,
                              params, true);
  EXPECT_NEAR(dist.loss, single.loss, 1e-12 * std::abs(single.loss));
  for (const auto& info : params.infos()) {
    const std::vector<double> a(dist.grads.begin() + info.offset, dist.grads.begin() + info.offset + info.size);
    const std::vector<double> b(single.grads.begin() + info.offset, single.grads.begin() + info.offset + info.size);
    EXPECT_LE(wf::testing::relative_error(a, b), 1e-11) << info.name;
  }
}

INSTANTIATE_TEST_SUITE_P(KvHeads, ModelUlysses, ::testing::Values(8, 2));

}  // namespace

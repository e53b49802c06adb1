// Distributed attention (ring, WallFacer multi-ring, Ulysses) forward and backward equals
// the single-process result, for every schedule and team size this rank count allows,
// causal and not, MHA and grouped-query, both rotate sides, float and double; the counters
// equal the traffic model; runs are reproducible and independent of the arrangement.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "mpi_test_util.hpp"
#include "perf/traffic_model.hpp"
#include "problems/parallel_setup.hpp"
#include "schedule_runner.hpp"

namespace {

using wf::Arrangement;
using wf::RotateSide;
using ScheduleKind = wf::Schedule;
using wf::testing::ScheduleCase;
using wf::testing::world_size;

/// Team sizes valid for P: 1, 2 when 4 | P, and sqrt(P) when P is a square.
std::vector<int> team_sizes(int p) {
  std::vector<int> sizes = {1};
  if (p % 4 == 0) sizes.push_back(2);
  const int root = static_cast<int>(std::lround(std::sqrt(p)));
  if (root * root == p && root > 2) sizes.push_back(root);
  return sizes;
}

std::vector<ScheduleCase> all_cases() {
  const int p = world_size();
  std::vector<ScheduleCase> cases;
  for (bool causal : {false, true})
    for (int kv_heads : {8, 2}) {
      for (int c : team_sizes(p))
        for (RotateSide side : {RotateSide::query, RotateSide::key}) {
          ScheduleCase sc;
          sc.kind = c == 1 ? ScheduleKind::ring : ScheduleKind::wallfacer;
          sc.team_size = c;
          sc.causal = causal;
          sc.heads = 8;
          sc.kv_heads = kv_heads;
          sc.rotate = side;
          cases.push_back(sc);
        }
      if (kv_heads % p == 0) {
        ScheduleCase sc;
        sc.kind = ScheduleKind::ulysses;
        sc.causal = causal;
        sc.heads = 8;
        sc.kv_heads = kv_heads;
        cases.push_back(sc);
      }
    }
  return cases;
}

std::string describe(const ScheduleCase& c) {
  std::ostringstream os;
  os << wf::name_of(c.kind) << " c=" << c.team_size << " causal=" << c.causal << " heads=" << c.heads
     << " kv_heads=" << c.kv_heads << " rotate=" << wf::name_of(c.rotate) << " " << wf::name_of(c.arrangement);
  return os.str();
}

template <class T>
void check_against_single_process(double tolerance) {
  for (const ScheduleCase& c : all_cases()) {
    SCOPED_TRACE(describe(c));
    const auto run = wf::testing::run_schedule<T>(c);
    using wf::testing::max_scaled_error;
    using wf::testing::relative_error;
    EXPECT_LE(relative_error(run.got.o, run.expected.o), tolerance) << "O";
    EXPECT_LE(max_scaled_error(run.got.lse, run.expected.lse), tolerance) << "lse";
    EXPECT_LE(relative_error(run.got.dq, run.expected.dq), tolerance) << "dQ";
    EXPECT_LE(relative_error(run.got.dk, run.expected.dk), tolerance) << "dK";
    EXPECT_LE(relative_error(run.got.dv, run.expected.dv), tolerance) << "dV";
  }
}

TEST(Schedules, DoubleEqualsSingleProcess) { check_against_single_process<double>(1e-12); }

// Float: different summation orders (merge of partials, reduce-scatter) cost a few eps.
TEST(Schedules, FloatEqualsSingleProcess) { check_against_single_process<float>(16 * wf::testing::eps<float>()); }

TEST(Schedules, CountersEqualTrafficModel) {
  const int p = world_size();
  for (const ScheduleCase& c : all_cases()) {
    SCOPED_TRACE(describe(c));
    const auto run = wf::testing::run_schedule<float>(c);
    const wf::comm::ProcessGrid grid(p, c.team_size, c.arrangement);
    wf::perf::AttentionTrafficShape shape{c.tokens_per_rank * p, c.heads, c.kv_heads, c.head_dim, sizeof(float)};
    auto world = wf::comm::make_mpi_communicator(MPI_COMM_WORLD, {});
    const wf::perf::LinkOf link = [&](int a, int b) {
      (void)a;
      return world->link_class(b);
    };
    const int rank = wf::testing::world_rank();
    const auto predicted = wf::perf::predict_attention_traffic(c.kind, c.rotate, grid, shape, rank, link, true, true);
    for (int cls = 0; cls < 2; ++cls) {
      EXPECT_EQ(run.traffic.bytes[cls], predicted.bytes[cls]) << "link class " << cls;
      EXPECT_EQ(run.traffic.messages[cls], predicted.messages[cls]) << "link class " << cls;
    }
    // The forward alone against the closed form of the docs.
    const auto forward = wf::perf::predict_attention_traffic(c.kind, c.rotate, grid, shape, rank, link, true, false);
    const bool self = grid.initial_send_target(rank) == rank;
    EXPECT_EQ(static_cast<double>(forward.total_bytes()),
              wf::perf::closed_form_forward_elements(c.kind, p, c.team_size, shape, self) * sizeof(float));
  }
}

// The WallFacer claim (the target at P = 8), by the counters: with c = 2 the forward
// point-to-point bytes are at most 1/c of Ring's plus the initial send.
TEST(Schedules, TeamSizeTwoCutsRingTraffic) {
  const int p = world_size();
  if (p % 4 != 0) GTEST_SKIP() << "team size 2 needs 4 | P (runs in test_schedules_np4 and _np8)";
  ScheduleCase ring;
  ring.heads = ring.kv_heads = 8;
  ScheduleCase wallfacer = ring;
  wallfacer.kind = ScheduleKind::wallfacer;
  wallfacer.team_size = 2;
  const auto r = wf::testing::run_schedule<float>(ring), w = wf::testing::run_schedule<float>(wallfacer);
  const double initial_send = 2.0 * wallfacer.team_size * wallfacer.tokens_per_rank * wallfacer.kv_heads *
                              wallfacer.head_dim * sizeof(float);
  EXPECT_GT(r.forward_p2p_bytes, 0.0);
  EXPECT_LE(w.forward_p2p_bytes, r.forward_p2p_bytes / wallfacer.team_size + initial_send);
  EXPECT_LT(w.forward_p2p_bytes, r.forward_p2p_bytes);
}

TEST(Schedules, RepeatedRunsAreBitwiseIdentical) {
  for (const ScheduleCase& c : all_cases()) {
    SCOPED_TRACE(describe(c));
    const auto a = wf::testing::run_schedule<float>(c), b = wf::testing::run_schedule<float>(c);
    EXPECT_EQ(a.got.o, b.got.o);
    EXPECT_EQ(a.got.lse, b.got.lse);
    EXPECT_EQ(a.got.dq, b.got.dq);
    EXPECT_EQ(a.got.dk, b.got.dk);
    EXPECT_EQ(a.got.dv, b.got.dv);
  }
}

/// The global result (every shard, gathered in shard order) of one tensor.
std::vector<double> gather_global(const std::vector<double>& local, int shard) {
  const int p = world_size();
  std::vector<double> all(local.size() * static_cast<std::size_t>(p));
  std::vector<int> shards(static_cast<std::size_t>(p));
  MPI_Allgather(local.data(), static_cast<int>(local.size()), MPI_DOUBLE, all.data(), static_cast<int>(local.size()),
                MPI_DOUBLE, MPI_COMM_WORLD);
  MPI_Allgather(&shard, 1, MPI_INT, shards.data(), 1, MPI_INT, MPI_COMM_WORLD);
  std::vector<double> ordered(all.size());
  for (int r = 0; r < p; ++r)
    std::copy(all.begin() + r * local.size(), all.begin() + (r + 1) * local.size(),
              ordered.begin() + shards[static_cast<std::size_t>(r)] * local.size());
  return ordered;
}

TEST(Schedules, ResultsDoNotDependOnArrangement) {
  for (ScheduleCase c : all_cases()) {
    if (c.kind != ScheduleKind::wallfacer) continue;
    SCOPED_TRACE(describe(c));
    c.arrangement = Arrangement::team_major;
    const auto a = wf::testing::run_schedule<double>(c);
    c.arrangement = Arrangement::ring_major;
    const auto b = wf::testing::run_schedule<double>(c);
    EXPECT_EQ(gather_global(a.got.o, a.shard), gather_global(b.got.o, b.shard));
    EXPECT_EQ(gather_global(a.got.dq, a.shard), gather_global(b.got.dq, b.shard));
    EXPECT_EQ(gather_global(a.got.dk, a.shard), gather_global(b.got.dk, b.shard));
  }
}

TEST(Schedules, InvalidGridsFailOnEveryRank) {
  const int p = world_size();
  EXPECT_THROW(wf::comm::ProcessGrid(p, 3, Arrangement::team_major), wf::Error);  // 9 does not divide P
  wf::config::RunConfig cfg;
  cfg.parallel.team_size = 2;
  EXPECT_EQ(wf::problems::choose_schedule(cfg, ScheduleKind::ring, p).grid.team_size(), 1);  // ring means c = 1
  EXPECT_THROW(wf::nbody::Sharding(2 * p + 1, p, true), wf::Error);  // zigzag needs 2P | N
  EXPECT_THROW(wf::problems::make_sharding(2 * p + 1, p, true, "attention.seq_len"), wf::Error);
  if (p > 1) {
    EXPECT_THROW(wf::nbody::Sharding(p + 1, p, false), wf::Error);  // P | N
    cfg.attention.heads = 8 * p;
    cfg.attention.kv_heads = p + 1;
    EXPECT_THROW(wf::problems::choose_schedule(cfg, ScheduleKind::ulysses, p), wf::Error);  // P | kv_heads
  }
}

}  // namespace

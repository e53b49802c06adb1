// Distributed attention (ring, WallFacer multi-ring, Ulysses, Ulysses x WallFacer) forward and
// backward equals the single-process result, for every schedule and team size this rank count
// allows, causal and not, MHA and grouped-query (kv heads copied when there are fewer than the
// ranks that split the heads), both rotate sides, float and double; the counters equal the
// traffic model; runs are reproducible and independent of the arrangement and head placement.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "kernels/head_partition.hpp"
#include "mpi_test_util.hpp"
#include "perf/traffic_model.hpp"
#include "problems/parallel_setup.hpp"
#include "schedule_runner.hpp"

namespace {

using wf::Arrangement;
using wf::HeadPlacement;
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

/// The hybrid with u = 2 (when 2 | P) and every team size its ring groups of P / 2 allow.
void add_hybrid_cases(std::vector<ScheduleCase>& cases, bool causal, int kv_heads) {
  const int p = world_size();
  if (p % 2 != 0) return;
  for (int c : team_sizes(p / 2))
    for (RotateSide side : {RotateSide::query, RotateSide::key}) {
      ScheduleCase sc;
      sc.kind = ScheduleKind::ulysses_wallfacer;
      sc.head_group_size = 2;
      sc.team_size = c;
      sc.causal = causal;
      sc.heads = 8;
      sc.kv_heads = kv_heads;
      sc.rotate = side;
      cases.push_back(sc);
    }
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
      if (8 % p == 0) {  // P | heads; kv heads are copied when kv_heads < P
        ScheduleCase sc;
        sc.kind = ScheduleKind::ulysses;
        sc.causal = causal;
        sc.heads = 8;
        sc.kv_heads = kv_heads;
        cases.push_back(sc);
      }
      add_hybrid_cases(cases, causal, kv_heads);
    }
  return cases;
}

/// Ulysses (every P dividing the heads) and the hybrid (u = 2 or 4) with 8 heads and kv_heads =
/// 1, 2, 4, and 6 heads with 3 kv heads (3 query heads per part, 2 per kv head: a kv head in two
/// parts, and twice in one part): kv heads copied to the ranks whose query heads read them.
std::vector<ScheduleCase> copied_kv_cases() {
  const int p = world_size();
  std::vector<ScheduleCase> cases;
  for (const auto& [heads, kv_heads] : {std::pair{8, 1}, std::pair{8, 2}, std::pair{8, 4}, std::pair{6, 3}})
    for (bool causal : {false, true}) {
      ScheduleCase sc;
      sc.heads = heads;
      sc.kv_heads = kv_heads;
      sc.causal = causal;
      if (heads % p == 0) {
        sc.kind = ScheduleKind::ulysses;
        cases.push_back(sc);
      }
      for (int u : {2, 4}) {
        if (p % u != 0 || heads % u != 0) continue;
        sc.kind = ScheduleKind::ulysses_wallfacer;
        sc.head_group_size = u;
        sc.team_size = (p / u) % 4 == 0 ? 2 : 1;
        sc.rotate = u == 2 ? RotateSide::query : RotateSide::key;
        cases.push_back(sc);
      }
    }
  return cases;
}

/// The cases the slower tests (repetition, arrangement, two nodes) run: every one of Ring,
/// WallFacer and Ulysses, and of the hybrid the causal grouped-query ones (its parts are
/// WallFacer's and Ulysses' code, tested on every case above).
std::vector<ScheduleCase> sampled_cases() {
  std::vector<ScheduleCase> cases;
  for (const ScheduleCase& c : all_cases())
    if (c.kind != ScheduleKind::ulysses_wallfacer || (c.causal && c.kv_heads == 2)) cases.push_back(c);
  return cases;
}

std::string describe(const ScheduleCase& c) {
  std::ostringstream os;
  os << wf::name_of(c.kind) << " c=" << c.team_size << " causal=" << c.causal << " heads=" << c.heads
     << " kv_heads=" << c.kv_heads << " rotate=" << wf::name_of(c.rotate) << " " << wf::name_of(c.arrangement);
  if (c.kind == ScheduleKind::ulysses_wallfacer) os << " u=" << c.head_group_size << " " << wf::name_of(c.placement);
  return os.str();
}

template <class T>
void check_against_single_process(double tolerance, const std::vector<ScheduleCase>& cases) {
  for (const ScheduleCase& c : cases) {
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

TEST(Schedules, DoubleEqualsSingleProcess) { check_against_single_process<double>(1e-12, all_cases()); }

// Float: different summation orders (merge of partials, reduce-scatter) cost a few eps.
TEST(Schedules, FloatEqualsSingleProcess) {
  check_against_single_process<float>(16 * wf::testing::eps<float>(), all_cases());
}

TEST(Schedules, CopiedKvHeadsEqualSingleProcess) { check_against_single_process<double>(1e-12, copied_kv_cases()); }

/// The counters of every case against the traffic model, per link class, and the forward
/// against the closed form. `ranks_per_node` > 0 splits the ranks into nodes (two link classes).
void check_counters(const std::vector<ScheduleCase>& cases, int ranks_per_node) {
  const int p = world_size();
  const wf::comm::CommOptions options{120.0, ranks_per_node};
  auto world = wf::comm::make_mpi_communicator(MPI_COMM_WORLD, options);
  const wf::perf::LinkOf link = [&](int, int b) { return world->link_class(b); };
  const int rank = wf::testing::world_rank();
  for (const ScheduleCase& c : cases) {
    SCOPED_TRACE(describe(c) + " ranks_per_node=" + std::to_string(ranks_per_node));
    const auto run = wf::testing::run_schedule<float>(c, options);
    const wf::comm::ProcessGrid grid = wf::testing::case_grid(c, p);
    const auto heads = wf::testing::case_heads(c, p);
    wf::perf::AttentionTrafficShape shape{c.tokens_per_rank * p, c.heads, c.kv_heads, c.head_dim, sizeof(float)};
    const auto predicted =
        wf::perf::predict_attention_traffic(c.kind, c.rotate, grid, heads, shape, rank, link, true, true);
    for (int cls = 0; cls < 2; ++cls) {
      EXPECT_EQ(run.traffic.bytes[cls], predicted.bytes[cls]) << "link class " << cls;
      EXPECT_EQ(run.traffic.messages[cls], predicted.messages[cls]) << "link class " << cls;
    }
    // The forward alone against the closed form of the docs.
    const auto forward = wf::perf::predict_attention_traffic(c.kind, c.rotate, grid, heads, shape, rank, link, true, false);
    const int grid_rank = heads ? heads->ring_rank(rank) : rank;
    // One of the ranks the own team's block starts at (the direct initial send)?
    const std::vector<int> holders = grid.initial_block_holders(grid.coordinates(grid_rank).team);
    const bool self = std::find(holders.begin(), holders.end(), grid_rank) != holders.end();
    const double closed = heads ? wf::perf::closed_form_hybrid_forward_elements(p, c.head_group_size, c.team_size,
                                                                                shape, self)
                                : wf::perf::closed_form_forward_elements(c.kind, p, c.team_size, shape, self);
    EXPECT_EQ(static_cast<double>(forward.total_bytes()), closed * sizeof(float));
  }
}

TEST(Schedules, CountersEqualTrafficModel) {
  check_counters(all_cases(), 0);
  check_counters(copied_kv_cases(), 0);
}

// Two nodes of P/2 ranks (parallel.ranks_per_node): the model splits every transfer by link
// class exactly; with consecutive head groups the hybrid's all-to-alls stay inside a node.
TEST(Schedules, CountersPerLinkClassOnTwoNodes) {
  const int p = world_size();
  if (p < 4) GTEST_SKIP() << "two nodes of at least two ranks (runs with 4 and 8 ranks)";
  std::vector<ScheduleCase> cases = sampled_cases();
  for (ScheduleCase c : copied_kv_cases()) {
    c.placement = HeadPlacement::strided;
    cases.push_back(c);
  }
  check_counters(cases, p / 2);
}

// The WallFacer claim (the target at P = 8), by the counters: with c = 2 the forward
// ring bytes are at most 1/c of Ring's plus the initial send. The point-to-point bytes also hold
// the posted team all-gather of Q and reduce-scatter of (O, lse): (c - 1) n (2 H d + H) scalars.
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
  const double team = (wallfacer.team_size - 1.0) * wallfacer.tokens_per_rank *
                      (2.0 * wallfacer.heads * wallfacer.head_dim + wallfacer.heads) * sizeof(float);
  const double w_ring = w.forward_p2p_bytes - team;
  EXPECT_GT(r.forward_p2p_bytes, 0.0);
  EXPECT_LE(w_ring, r.forward_p2p_bytes / wallfacer.team_size + initial_send);
  EXPECT_LT(w_ring, r.forward_p2p_bytes);
}

// Every exposed wait is filed by what it waits for, and split against the transfer cost: the
// kinds add up to the waits; a yardstick far slower than any transfer charges every wait to
// bytes in flight, a zero one everything to waiting for a neighbour.
TEST(Schedules, ExposedWaitsAreFiledByKindAndSplit) {
  const int p = world_size();
  if (p == 1) GTEST_SKIP() << "nothing is waited for on one rank";
  using wf::nbody::WaitKind;
  for (const double seconds_per_byte : {0.0, 1.0}) {
    ScheduleCase ring;
    ring.transfer_cost = {0.0, seconds_per_byte};
    std::vector<ScheduleCase> cases = {ring};
    if (p % 4 == 0) {
      ScheduleCase wallfacer = ring;
      wallfacer.kind = ScheduleKind::wallfacer;
      wallfacer.team_size = 2;
      cases.push_back(wallfacer);
    }
    if (ring.heads % p == 0) {
      ScheduleCase ulysses = ring;
      ulysses.kind = ScheduleKind::ulysses;
      cases.push_back(ulysses);
    }
    for (const ScheduleCase& c : cases) {
      SCOPED_TRACE(describe(c) + ", seconds per byte " + std::to_string(seconds_per_byte));
      const wf::nbody::ScheduleTimes t = wf::testing::run_schedule<float>(c).times;
      const wf::nbody::ExposedWait total = t.exposed_total();
      EXPECT_NEAR(total.seconds, t.ring_wait + t.collectives, 1e-9);
      EXPECT_NEAR(total.in_flight, seconds_per_byte > 0 ? total.seconds : 0.0, 1e-9);
      const auto waited = [&](WaitKind kind) { return t.exposed[static_cast<int>(kind)].seconds > 0; };
      if (c.kind == ScheduleKind::ring) {
        EXPECT_TRUE(waited(WaitKind::ring));
      }
      if (c.kind == ScheduleKind::ulysses) {
        EXPECT_TRUE(waited(WaitKind::all_to_all));
      }
      if (c.kind == ScheduleKind::wallfacer) {
        for (WaitKind kind :
             {WaitKind::team_gather, WaitKind::initial_send, WaitKind::team_reduce, WaitKind::key_gradient_return})
          EXPECT_TRUE(waited(kind)) << wf::nbody::wait_kind_name(kind);
        EXPECT_EQ(waited(WaitKind::ring), p > 4);  // G = P / 4 ring steps
        EXPECT_FALSE(waited(WaitKind::all_to_all));
      }
    }
  }
}

TEST(Schedules, RepeatedRunsAreBitwiseIdentical) {
  for (const ScheduleCase& c : sampled_cases()) {
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
  for (ScheduleCase c : sampled_cases()) {
    if (c.kind != ScheduleKind::wallfacer && c.kind != ScheduleKind::ulysses_wallfacer) continue;
    SCOPED_TRACE(describe(c));
    c.arrangement = Arrangement::team_major;
    const auto a = wf::testing::run_schedule<double>(c);
    c.arrangement = Arrangement::ring_major;
    c.placement = HeadPlacement::strided;
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
    cfg.attention.heads = p + 1;
    cfg.attention.kv_heads = 1;
    EXPECT_THROW(wf::problems::choose_schedule(cfg, ScheduleKind::ulysses, p), wf::Error);  // P | heads
  }
  // The hybrid: u | P, u | heads, c^2 | P / u.
  cfg.attention.heads = 8;
  cfg.parallel.head_group_size = 3;
  wf::testing::expect_error_containing(
      [&] { wf::problems::choose_schedule(cfg, ScheduleKind::ulysses_wallfacer, 12); }, {"parallel.head_group_size = 3", "attention.heads = 8"});
  cfg.parallel.head_group_size = 2;
  wf::testing::expect_error_containing(
      [&] { wf::problems::choose_schedule(cfg, ScheduleKind::ulysses_wallfacer, 6); }, {"the ranks of a ring group, P / parallel.head_group_size = 3"});
  wf::testing::expect_error_containing(
      [&] { wf::problems::choose_schedule(cfg, ScheduleKind::ulysses_wallfacer, 3); }, {"the process count (3)"});
  const auto hybrid = wf::problems::choose_schedule(cfg, ScheduleKind::ulysses_wallfacer, 8);
  EXPECT_EQ(hybrid.grid.processes(), 4);
  EXPECT_EQ(hybrid.processes(), 8);
  EXPECT_EQ(hybrid.head_group_size(), 2);
}

// The hybrid's ranks: consecutive head groups are u consecutive ranks, strided ones r apart; a
// ring group's shard j is the u shards of head group j, merged in head-rank order.
TEST(Schedules, HeadGroupsAndMergedShards) {
  const wf::comm::HeadGroups consecutive(8, 2, HeadPlacement::consecutive), strided(8, 2, HeadPlacement::strided);
  EXPECT_EQ(consecutive.rank_of(1, 3), 7);
  EXPECT_EQ(consecutive.head_rank(7), 1);
  EXPECT_EQ(consecutive.ring_rank(7), 3);
  EXPECT_EQ(strided.rank_of(1, 3), 7);
  EXPECT_EQ(strided.rank_of(0, 3), 3);
  EXPECT_EQ(strided.head_rank(5), 1);
  EXPECT_EQ(strided.ring_rank(5), 1);
  for (int rank = 0; rank < 8; ++rank) {
    EXPECT_EQ(consecutive.rank_of(consecutive.head_rank(rank), consecutive.ring_rank(rank)), rank);
    EXPECT_EQ(strided.rank_of(strided.head_rank(rank), strided.ring_rank(rank)), rank);
  }
  EXPECT_THROW(wf::comm::HeadGroups(8, 3, HeadPlacement::consecutive), wf::Error);
  const wf::nbody::Sharding base(32, 8, true), merged = base.merged(2);
  EXPECT_EQ(merged.shards(), 4);
  EXPECT_EQ(merged.shard_tokens(), 8);
  std::vector<wf::index_t> expected = base.positions(2, 1), second = base.positions(3, 1);
  expected.insert(expected.end(), second.begin(), second.end());
  EXPECT_EQ(merged.positions(1, 1), expected);
  EXPECT_EQ(merged.positions(0, 4), base.positions(0, 8));
  EXPECT_THROW(base.merged(3), wf::Error);
}

// kv slots of the head partition: the plain split when P | kv_heads, copies otherwise, and every
// query head's slot holds the kv head it reads (DESIGN 2.7).
TEST(Schedules, HeadPartitionCopiesKvHeads) {
  for (int kv : {1, 2, 4, 8})
    for (int parts : {1, 2, 4, 8}) {
      const wf::kernels::HeadPartition split{8, kv, parts};
      EXPECT_EQ(split.without_copies(), kv % parts == 0) << kv << " " << parts;
      for (int part = 0; part < parts; ++part)
        for (int i = 0; i < split.query_heads(); ++i) {
          const int head = part * split.query_heads() + i;
          EXPECT_EQ(split.kv_head(part, i / split.queries_per_slot()), head / (8 / kv)) << kv << " " << parts;
        }
    }
  const wf::kernels::HeadPartition odd{6, 3, 2};  // 3 query heads per part, 2 per kv head
  EXPECT_EQ(odd.kv_slots(), 3);
  EXPECT_EQ(odd.kv_head(0, 0), 0);
  EXPECT_EQ(odd.kv_head(0, 2), 1);
  EXPECT_EQ(odd.kv_head(1, 0), 1);
}

}  // namespace

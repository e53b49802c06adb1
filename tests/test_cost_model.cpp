// The cost model and planner against hand-computed cases: the paper's LLaMA-30B worked example
// (bytes per GPU per layer, forward), alpha-beta phases with and without a shared NIC, a whole
// Ring and Ulysses layer on two ranks, the pair count against the sharding's positions, plan
// ranking on toy machines whose answer is obvious, machine files (good and bad), and the
// command line of plan and calibrate and the deck rules of parallel.schedule = "auto".
#include <gtest/gtest.h>

#include <cmath>

#include "config/command_line.hpp"
#include "config/deck.hpp"
#include "config/machine.hpp"
#include "nbody/sharding.hpp"
#include "perf/cost_model.hpp"
#include "perf/flops.hpp"
#include "perf/planner.hpp"

namespace {

using wf::Arrangement;
using wf::RotateSide;
using wf::Schedule;
using wf::config::Machine;
using wf::perf::Flow;

constexpr double gib = 1024.0 * 1024.0 * 1024.0;

Machine toy_machine(int nodes, int devices, double intra_gbs, double intra_us, int nics, double nic_gbs, double inter_us) {
  Machine m;
  m.name = "toy";
  m.nodes = nodes;
  m.devices_per_node = devices;
  m.device_memory_gib = 1000.0;
  m.gemm_tflops = 1e-3;
  m.attention_forward_tflops = 1e-3;  // 1e9 FLOP/s: compute times easy to write down
  m.attention_backward_tflops = 1e-3;
  m.intra_node = {intra_gbs, intra_us};
  m.nics_per_node = nics;
  m.nic_bandwidth_gbs = nic_gbs;
  m.inter_node_latency_us = inter_us;
  return m;
}

/// Bytes world rank `rank` sends in `phases` of the forward.
double sent_bytes(const std::vector<wf::perf::PlannedSend>& sends, std::initializer_list<wf::perf::SendPhase> phases,
                  std::size_t scalar_bytes) {
  double bytes = 0;
  for (const auto& s : sends)
    for (const auto phase : phases)
      if (s.phase == phase) bytes += s.elements * double(scalar_bytes);
  return bytes;
}

// LLaMA-30B: hidden 6656 = 52 heads x 128, N = 65536, P = 64, C = 4, bf16, one layer forward, per GPU.
TEST(CostModel, PaperWorkedExampleLlama30B) {
  using wf::perf::SendPhase;
  const wf::perf::AttentionTrafficShape shape{65536, 52, 52, 128, 2};
  const wf::comm::ProcessGrid ring(64, 1, Arrangement::team_major), wallfacer(64, 4, Arrangement::team_major);
  const double ring_bytes = sent_bytes(wf::perf::attention_sends(Schedule::ring, RotateSide::query, ring, shape, 0, true, false),
                                       {SendPhase::ring_shift, SendPhase::initial_send}, 2);
  EXPECT_EQ(ring_bytes, 2.0 * 65536 * 6656 * 63 / 64 * 2);  // 2 N H (P-1)/P elements
  EXPECT_NEAR(ring_bytes / gib, 1.600, 5e-4);
  // Rank 1 (team 0, local 1): its team's block starts at ranks 0, 16, 32, 48 (local 0 of teams 0, 4, 8, 12).
  const auto sends = wf::perf::attention_sends(Schedule::wallfacer, RotateSide::query, wallfacer, shape, 1, true, false);
  const double collectives = sent_bytes(sends, {SendPhase::gather_targets, SendPhase::reduce_results}, 2);
  const double lse = 3.0 * 52 * 1024 * 2;  // (c - 1) heads N / P scalars, sent with O for the exact merge
  // The paper's collectives, 4 N H (c-1)/P = 0.152 GiB, include the K, V all-gather, 2 N H (c-1)/P =
  // 0.076 GiB, whose block was only the payload of the initial send: the direct initial send drops it.
  const double kv_gather = 2.0 * 65536 * 6656 * 3 / 64 * 2;
  EXPECT_NEAR((collectives - lse + kv_gather) / gib, 0.152, 5e-4);
  EXPECT_EQ(collectives - lse, 2.0 * 65536 * 6656 * 3 / 64 * 2);  // 2 N H (c-1)/P: Q gathered, O reduced
  EXPECT_NEAR(kv_gather / gib, 0.076, 5e-4);
  const double point_to_point = sent_bytes(sends, {SendPhase::initial_send, SendPhase::ring_shift}, 2);
  // G = 4 transfers of 2 c N H / P: G - 1 ring shifts and the initial send, now c = 4 messages of the own shard.
  EXPECT_EQ(point_to_point, 4.0 * (2.0 * 4 * 65536 * 6656 / 64) * 2);
  EXPECT_NEAR(point_to_point / gib, 0.406, 5e-4);
  std::size_t initial_messages = 0;
  for (const auto& s : sends) initial_messages += s.phase == SendPhase::initial_send;
  EXPECT_EQ(initial_messages, 4u);
}

TEST(CostModel, AlphaBetaPhases) {
  const Machine m = toy_machine(2, 2, 10.0, 5.0, 1, 1.0, 20.0);
  const wf::perf::NetworkModel network(m, wf::perf::place_ranks(m, 4));
  bool shared = false;
  EXPECT_DOUBLE_EQ(network.phase_seconds({{0, 1, 1e6}}, &shared), 5e-6 + 1e6 / 10e9);
  EXPECT_DOUBLE_EQ(network.phase_seconds({{0, 1, 1e6}, {1, 0, 1e6}}, &shared), 5e-6 + 1e6 / 10e9);  // two directions
  EXPECT_FALSE(shared);
  EXPECT_DOUBLE_EQ(network.phase_seconds({{0, 2, 1e6}}, &shared), 20e-6 + 1e6 / 1e9);
  EXPECT_FALSE(shared);
  // Two ranks of node 0 send off the node: they share its one NIC.
  EXPECT_DOUBLE_EQ(network.phase_seconds({{0, 2, 1e6}, {1, 3, 1e6}}, &shared), 20e-6 + 2e6 / 1e9);
  EXPECT_TRUE(shared);
  // Two flows of one rank share its port.
  const Machine four = toy_machine(1, 4, 10.0, 5.0, 1, 1.0, 20.0);
  const wf::perf::NetworkModel one_node(four, wf::perf::place_ranks(four, 4));
  EXPECT_DOUBLE_EQ(one_node.phase_seconds({{0, 1, 1e6}, {0, 2, 1e6}}), 5e-6 + 2e6 / 10e9);
}

// Ring on two ranks, no mask: N = 256 (n = 128), 2 heads of 16, float; 1e9 FLOP/s.
TEST(CostModel, RingLayerByHand) {
  const Machine m = toy_machine(1, 2, 10.0, 5.0, 1, 1.0, 20.0);
  const wf::perf::NetworkModel network(m, wf::perf::place_ranks(m, 2));
  const wf::perf::AttentionShape shape{{256, 2, 2, 16, 4}, false};
  const auto cost = wf::perf::predict_attention_cost({Schedule::ring, 1, Arrangement::team_major, RotateSide::query},
                                                     shape, network, m);
  const double step_forward = 4.0 * 16 * 2 * 128 * 128 / 1e9, step_backward = 10.0 * 16 * 2 * 128 * 128 / 1e9;
  EXPECT_DOUBLE_EQ(cost.forward, 2 * step_forward);  // the K, V shift (8.3 us) hides behind step 0
  // Backward: two steps, then the last dQ hop (n H) and the dK, dV return (2 n H_kv) together.
  EXPECT_DOUBLE_EQ(cost.backward, 2 * step_backward + 5e-6 + (128.0 * 32 + 2 * 128.0 * 32) * 4 / 10e9);
  EXPECT_DOUBLE_EQ(cost.forward_compute + cost.backward_compute, 2 * step_forward + 2 * step_backward);
  const double forward_shift = 2.0 * 128 * 32, query_shift = 128.0 * (2 * 32 + 2 * 2), dq_hops = 2 * 128.0 * 32,
               dkv_return = 2.0 * 128 * 32;
  EXPECT_EQ(cost.bytes[0], (forward_shift + query_shift + dq_hops + dkv_return) * 4);
  EXPECT_FALSE(cost.contention);
}

TEST(CostModel, UlyssesLayerByHand) {
  const Machine m = toy_machine(1, 2, 10.0, 5.0, 1, 1.0, 20.0);
  const wf::perf::NetworkModel network(m, wf::perf::place_ranks(m, 2));
  const wf::perf::AttentionShape shape{{256, 2, 2, 16, 4}, false};
  const auto cost = wf::perf::predict_attention_cost({Schedule::ulysses, 1, Arrangement::team_major, RotateSide::query},
                                                     shape, network, m);
  // Each all-to-all sends one chunk of n / P tokens x the segment's width to the other rank.
  const double q = 32.0 * 64 * 4, kv = 64.0 * 64 * 4, o = 34.0 * 64 * 4;
  const double compute = 4.0 * 256 * 256 * 16 * 2 / 2 / 1e9;
  EXPECT_DOUBLE_EQ(cost.forward, 3 * 5e-6 + q / 10e9 + kv / 10e9 + o / 10e9 + compute);
  EXPECT_DOUBLE_EQ(cost.backward, 3 * 5e-6 + (q + q + kv) / 10e9 + compute * 10 / 4);
}

// The model's pair count per (team block, key block) is the mask over the sharding's positions.
TEST(CostModel, TeamBlockPairsMatchPositions) {
  for (int p : {2, 4, 8, 16})
    for (int c = 1; c * c <= p; ++c) {
      if (p % (c * c)) continue;
      for (bool causal : {true, false}) {
        const wf::index_t n_total = 8 * p;
        const wf::nbody::Sharding sharding(n_total, p, causal);
        for (int qt = 0; qt < p / c; ++qt)
          for (int kt = 0; kt < p / c; ++kt) {
            const auto qpos = sharding.positions(qt * c, c), kpos = sharding.positions(kt * c, c);
            double pairs = 0;
            for (auto i : qpos)
              for (auto j : kpos) pairs += !causal || j <= i;
            EXPECT_EQ(wf::perf::team_block_pairs(n_total, p, c, causal, qt, kt), pairs)
                << "P=" << p << " c=" << c << " causal=" << causal << " teams " << qt << "," << kt;
          }
      }
    }
}

// No compute cost, free bandwidth, 1 ms latency between nodes and none inside: the plan with
// the fewest rounds of messages between nodes wins. WallFacer c = 4 team-major keeps every
// collective inside a node and has no ring step (G = 1): one round for the initial send, one
// for the key gradients' return; every other plan has more.
TEST(Planner, ObviousBestOnSlowNetwork) {
  Machine m = toy_machine(4, 4, 1e6, 0.0, 4, 1e6, 1000.0);
  m.attention_forward_tflops = m.attention_backward_tflops = m.gemm_tflops = 1e9;
  wf::perf::ModelSpec model;
  model.attention = {{16 * 64, 4, 4, 16, 4}, false};  // 16 ranks do not divide 4 heads: no Ulysses
  const auto ranked = wf::perf::rank_plans(model, m, 16);
  ASSERT_FALSE(ranked.empty());
  EXPECT_EQ(ranked.front().plan.schedule, Schedule::wallfacer);
  EXPECT_EQ(ranked.front().plan.team_size, 4);
  EXPECT_EQ(ranked.front().plan.arrangement, Arrangement::team_major);
  for (const auto& p : ranked) {
    if (p.plan.schedule == Schedule::ring) {
      EXPECT_GT(p.step_seconds, 2 * ranked.front().step_seconds);
    }
  }
  EXPECT_EQ(ranked.size(), 2u + 4u * 2u);  // ring x 2 rotate sides; c = 2, 4 x 2 arrangements x 2 sides
}

// Memory between Ring's and WallFacer's needs: only Ring fits and comes first.
TEST(Planner, PlansThatDoNotFitComeLast) {
  Machine m = toy_machine(1, 4, 10.0, 5.0, 1, 1.0, 20.0);
  wf::perf::ModelSpec model;
  model.attention = {{4096, 8, 8, 64, 4}, true};
  const double ring = wf::perf::plan_memory_bytes({Schedule::ring, 1, Arrangement::team_major, RotateSide::key}, model, 4);
  const double team = wf::perf::plan_memory_bytes({Schedule::wallfacer, 2, Arrangement::team_major, RotateSide::key}, model, 4);
  ASSERT_LT(ring, team);
  m.device_memory_gib = (ring + team) / 2 / gib;
  const auto ranked = wf::perf::rank_plans(model, m, 4);
  EXPECT_TRUE(ranked.front().fits);
  for (const auto& p : ranked) EXPECT_EQ(p.fits, p.plan.schedule != Schedule::wallfacer) << wf::perf::describe_plan(p.plan);
}

TEST(MachineFile, ReadsTheShippedFilesAndRoundTrips) {
  for (const char* name : {"h100_8x8", "a100_2x16", "a100_4x8", "a100_8x4"}) {
    const Machine m = wf::config::load_machine(std::string(WF_SOURCE_DIR) + "/inputs/machines/" + name + ".toml");
    EXPECT_EQ(m.devices() % 32, 0) << name;
    const Machine again = wf::config::machine_from_toml(wf::config::machine_to_toml(m), "again");
    EXPECT_EQ(again.gemm_tflops, m.gemm_tflops);
    EXPECT_EQ(again.intra_node.bandwidth_gbs, m.intra_node.bandwidth_gbs);
    EXPECT_EQ(again.device_network_gbs(), m.device_network_gbs());
  }
}

std::string machine_error(const std::string& text) {
  try {
    wf::config::machine_from_toml(text, "bad.toml");
  } catch (const wf::config::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(MachineFile, BadFilesNameTheKey) {
  const std::string good = wf::config::machine_to_toml(toy_machine(1, 2, 10.0, 5.0, 1, 1.0, 20.0));
  EXPECT_NE(machine_error(good + "\n[extra]\nx = 1\n").find("unknown key 'extra.x'"), std::string::npos);
  std::string missing = good;
  missing.erase(missing.find("gemm_tflops"), missing.find('\n', missing.find("gemm_tflops")) - missing.find("gemm_tflops"));
  EXPECT_NE(machine_error(missing).find("missing key 'compute.gemm_tflops'"), std::string::npos);
  std::string negative = good;
  negative.replace(negative.find("nodes = 1"), 9, "nodes = 0");
  EXPECT_NE(machine_error(negative).find("machine.nodes"), std::string::npos);
  std::string nan = good;
  nan.replace(nan.find("gemm_tflops = 0.001"), 19, "gemm_tflops = nan");
  EXPECT_NE(machine_error(nan).find("compute.gemm_tflops"), std::string::npos);
  EXPECT_NE(machine_error("[machine\n").find("bad.toml: TOML syntax error"), std::string::npos);
  EXPECT_NE(machine_error("").find("missing key 'machine.name'"), std::string::npos);
}

wf::config::CommandLine parse(std::vector<std::string> arguments) {
  arguments.insert(arguments.begin(), "wallfacer");
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  return wf::config::parse_command_line(static_cast<int>(argv.size()), argv.data());
}

template <class F>
std::string config_error_of(F&& f) {
  try {
    f();
  } catch (const wf::config::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(PlanCommandLine, PlanAndCalibrateOptions) {
  const auto plan = parse({"plan", "deck.toml", "--machine", "m.toml", "--ranks=64", "--scalar-bytes", "2", "--csv",
                           "p.csv", "--h5=p.h5", "--set", "attention.heads=4"});
  EXPECT_EQ(plan.command, wf::config::Command::plan);
  EXPECT_EQ(plan.deck_path, "deck.toml");
  EXPECT_EQ(plan.machine_path, "m.toml");
  EXPECT_EQ(plan.ranks, 64);
  EXPECT_EQ(plan.scalar_bytes, 2);
  EXPECT_EQ(plan.csv_path, "p.csv");
  EXPECT_EQ(plan.hdf5_path, "p.h5");
  EXPECT_EQ(plan.overrides, std::vector<std::string>{"attention.heads=4"});
  const auto calibrate = parse({"calibrate", "--output", "host.toml"});
  EXPECT_EQ(calibrate.command, wf::config::Command::calibrate);
  EXPECT_EQ(calibrate.output_path, "host.toml");
  EXPECT_EQ(parse({"deck.toml"}).command, wf::config::Command::run);
}

TEST(PlanCommandLine, Errors) {
  EXPECT_NE(config_error_of([] { parse({"plan", "deck.toml"}); }).find("needs --machine"), std::string::npos);
  EXPECT_NE(config_error_of([] { parse({"plan", "--machine", "m.toml"}); }).find("needs a deck"), std::string::npos);
  EXPECT_NE(config_error_of([] { parse({"deck.toml", "--machine", "m.toml"}); }).find("belongs to 'wallfacer plan'"),
            std::string::npos);
  EXPECT_NE(config_error_of([] { parse({"calibrate", "deck.toml"}); }).find("takes no deck"), std::string::npos);
  EXPECT_NE(config_error_of([] { parse({"plan", "d.toml", "--machine", "m", "--ranks", "0"}); }).find("--ranks 0"),
            std::string::npos);
  EXPECT_NE(config_error_of([] { parse({"plan", "d.toml", "--machine"}); }).find("'--machine' needs a value"),
            std::string::npos);
}

TEST(AutoSchedule, DeckRules) {
  const std::string attention = "[run]\nproblem = \"attention\"\n[parallel]\nschedule = \"auto\"\n";
  EXPECT_NE(config_error_of([&] { wf::config::config_from_toml(attention, "d.toml"); }).find("needs parallel.machine"),
            std::string::npos);
  const auto cfg = wf::config::config_from_toml(attention + "machine = \"m.toml\"\n", "d.toml");
  EXPECT_EQ(cfg.parallel.schedule, Schedule::automatic);
  EXPECT_NE(config_error_of([&] {
              wf::config::config_from_toml(attention + "machine = \"m.toml\"\n", "d.toml", {"run.problem=gravity"});
            }).find("plans attention"),
            std::string::npos);
  EXPECT_NE(config_error_of([&] { wf::config::config_from_toml("", "d.toml", {"train.compare_schedule=auto"}); })
                .find("train.compare_schedule"),
            std::string::npos);
}

}  // namespace

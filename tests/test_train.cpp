// The training benchmark end to end: the recall task's loss falls well below ln(vocab), a run
// restarted from a checkpoint continues bitwise like an uninterrupted one, the first step's
// gradients and the results file are written, bad weight files fail cleanly on every rank.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <map>
#include <string>

#include "config/deck.hpp"
#include "io/hdf5.hpp"
#include "io/results.hpp"
#include "model/checkpoint.hpp"
#include "mpi_test_util.hpp"
#include "problems/problem.hpp"
#include "problems/train_setup.hpp"

namespace {

using wf::testing::world_size;

/// A folder in the temp dir, the same on every rank.


wf::config::RunConfig tiny(const std::vector<std::string>& overrides) {
  const std::string here = __FILE__;
  return wf::config::load_config(here.substr(0, here.find_last_of('/')) + "/decks/tiny_train.toml", overrides);
}

TEST(Train, RecallLossFallsWellBelowUniform) {
  const wf::testing::TempDir temp("train_loss");  // removed at the end
  const std::string& dir = temp.path();
  const auto cfg = tiny({"train.steps=60", "train.results=\"" + dir + "/r.h5\""});
  ASSERT_TRUE(wf::problems::run_problem(cfg, MPI_COMM_WORLD));
  const auto results = wf::io::read_results(dir + "/r.h5", MPI_COMM_WORLD);
  ASSERT_EQ(results.steps.size(), 61u);
  double last = 0;
  for (std::size_t i = results.steps.size() - 5; i < results.steps.size(); ++i) last += results.steps[i].loss / 5;
  const double uniform = std::log(32.0);
  EXPECT_NEAR(results.steps.front().loss, uniform, 0.25 * uniform);  // starts near ln(vocab)
  EXPECT_LT(last, 0.75 * uniform) << "mean loss of the last 5 steps";
  // Every rank's phases and transfers are in the trace.
  std::vector<int> ranks_seen(static_cast<std::size_t>(world_size()), 0);
  for (const auto& e : results.events) ranks_seen[static_cast<std::size_t>(e.rank)] = 1;
  for (int seen : ranks_seen) EXPECT_EQ(seen, 1);
}

TEST(Train, RestartFromCheckpointIsBitwiseIdentical) {
  const wf::testing::TempDir temp("train_restart");  // removed at the end
  const std::string& dir = temp.path();
  // Uninterrupted: 6 steps, checkpoints every 3.
  ASSERT_TRUE(wf::problems::run_problem(
      tiny({"train.steps=5", "bench.warmup=1", "train.checkpoint_every=3", "train.checkpoint_prefix=\"" + dir + "/a\""}),
      MPI_COMM_WORLD));
  // Restarted from step 3 to 6.
  ASSERT_TRUE(wf::problems::run_problem(
      tiny({"train.steps=5", "bench.warmup=1", "train.checkpoint_every=3", "train.checkpoint_prefix=\"" + dir + "/b\"",
            "train.restart_from=\"" + wf::model::checkpoint_path(dir + "/a", 3) + "\""}),
      MPI_COMM_WORLD));
  const auto cfg = tiny({});
  const auto parallel = wf::problems::make_parallel_setup(cfg, MPI_COMM_WORLD);
  const auto setup = wf::problems::make_train_setup(cfg, parallel);
  wf::model::Parameters<float> a(setup.shape), b(setup.shape);
  const auto state_a = wf::model::read_checkpoint(a, wf::model::checkpoint_path(dir + "/a", 6), MPI_COMM_WORLD);
  const auto state_b = wf::model::read_checkpoint(b, wf::model::checkpoint_path(dir + "/b", 6), MPI_COMM_WORLD);
  EXPECT_EQ(state_a.step, 6);
  EXPECT_EQ(state_b.step, 6);
  EXPECT_EQ(state_a.data_sample, state_b.data_sample);
  auto equal = [](const auto& x, const auto& y) {
    auto hx = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), x);
    auto hy = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), y);
    for (std::size_t i = 0; i < hx.span(); ++i)
      if (hx(i) != hy(i)) return false;
    return true;
  };
  EXPECT_TRUE(equal(a.values, b.values));
  EXPECT_TRUE(equal(a.adam_m, b.adam_m));
  EXPECT_TRUE(equal(a.adam_v, b.adam_v));
}

TEST(Train, WritesFirstStepGradientsAndReadsThemBackAsWeights) {
  const wf::testing::TempDir temp("train_grads");  // removed at the end
  const std::string& dir = temp.path();
  ASSERT_TRUE(wf::problems::run_problem(
      tiny({"train.steps=1", "bench.warmup=0", "model.grads_out=\"" + dir + "/g.h5\""}), MPI_COMM_WORLD));
  // The file's /params load as weights; a run from them starts from the same loss.
  ASSERT_TRUE(wf::problems::run_problem(
      tiny({"train.steps=1", "bench.warmup=0", "model.weights_in=\"" + dir + "/g.h5\"",
            "train.results=\"" + dir + "/r.h5\""}),
      MPI_COMM_WORLD));
}

// The memory high-water mark of the run's memory space is in the summary next to the
// prediction (docs/model.md, "Memory"), for the tile path of the deck and the gemm path.
TEST(Train, MemoryHighWaterNextToPrediction) {
  const wf::testing::TempDir temp("train_memory");  // removed at the end
  for (const char* impl : {"blas", "gemm"}) {
    const std::string path = temp.path() + "/" + impl + ".h5";
    ASSERT_TRUE(wf::problems::run_problem(tiny({"train.steps=2", "bench.warmup=0", std::string("attention.impl=") + impl,
                                                "train.results=\"" + path + "\""}),
                                          MPI_COMM_WORLD));
    const auto results = wf::io::read_results(path, MPI_COMM_WORLD);
    double peak = 0, predicted = 0;
    for (const auto& value : results.summary) {
      if (value.name == "memory_space_peak_mib") peak = value.value;
      if (value.name == "memory_space_predicted_mib") predicted = value.value;
    }
    ASSERT_GT(predicted, 0.0) << impl;
    EXPECT_GT(peak, 0.75 * predicted) << impl << ": measured " << peak << " MiB, predicted " << predicted << " MiB";
    EXPECT_LT(peak, 1.25 * predicted) << impl << ": measured " << peak << " MiB, predicted " << predicted << " MiB";
  }
}

// The summary splits exposed communication into bytes in flight and waiting for a neighbour,
// and by kind; the kinds add up to the exposed phases (docs/communication.md).
TEST(Train, ExposedCommunicationSplitInTheSummary) {
  const wf::testing::TempDir temp("train_exposed");  // removed at the end
  const std::string path = temp.path() + "/r.h5";
  const int team = world_size() % 4 == 0 ? 2 : 1;
  ASSERT_TRUE(
      wf::problems::run_problem(tiny({"train.steps=2", "bench.warmup=0", "parallel.team_size=" + std::to_string(team),
                                      "train.results=\"" + path + "\""}),
                                MPI_COMM_WORLD));
  std::map<std::string, double> summary;
  for (const auto& value : wf::io::read_results(path, MPI_COMM_WORLD).summary) summary[value.name] = value.value;
  for (const char* name : {"exposed_p2p_seconds", "attention_collective_seconds", "exposed_in_flight_seconds",
                           "exposed_neighbour_wait_seconds", "exposed_ring_seconds", "exposed_team_gather_seconds",
                           "exposed_initial_send_seconds", "exposed_team_reduce_seconds",
                           "exposed_key_gradient_return_seconds", "exposed_all_to_all_seconds"})
    ASSERT_EQ(summary.count(name), 1u) << name;
  const double exposed = summary["exposed_p2p_seconds"] + summary["attention_collective_seconds"];
  double kinds = 0;
  for (const char* kind : {"ring", "team_gather", "initial_send", "team_reduce", "key_gradient_return", "all_to_all"})
    kinds += summary[std::string("exposed_") + kind + "_seconds"];
  EXPECT_NEAR(kinds, exposed, 1e-9);
  EXPECT_NEAR(summary["exposed_in_flight_seconds"] + summary["exposed_neighbour_wait_seconds"], exposed, 1e-9);
  EXPECT_GE(summary["exposed_in_flight_seconds"], 0.0);
  EXPECT_GE(summary["exposed_neighbour_wait_seconds"], -1e-12);
  if (world_size() > 1) {
    EXPECT_GT(exposed, 0.0);
  }
  if (team > 1) {
    EXPECT_GT(summary["exposed_team_gather_seconds"], 0.0);
  }
}

TEST(Train, BadWeightFileFailsOnEveryRank) {
  const wf::testing::TempDir temp("train_bad");  // removed at the end
  const std::string& dir = temp.path();
  {
    auto file = wf::io::OutputFile::create(dir + "/w.h5", MPI_COMM_WORLD);
    const double x = 1.0;
    wf::io::write_all<double>(file, "/params/embed.weight", {1}, &x);
    file.commit();
  }
  using wf::testing::expect_error_containing;
  expect_error_containing(
      [&] { wf::problems::run_problem(tiny({"model.weights_in=\"" + dir + "/w.h5\""}), MPI_COMM_WORLD); },
      {"/params/embed.weight has shape [1]"});
  expect_error_containing(
      [&] { wf::problems::run_problem(tiny({"model.weights_in=\"" + dir + "/missing.h5\""}), MPI_COMM_WORLD); },
      {"missing.h5"});
}

}  // namespace

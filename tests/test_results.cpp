// Results file (io/results.hpp) and trace recorder (core/trace.hpp): exact round trips of every
// section with a different number of events per rank (one rank with none), min/avg/max of the
// timers, atomic writes, errors on every rank. Runs on 1, 2 and 4 ranks. With WF_RESULTS_DEMO
// set, also writes a demo results file there (for the plot_tools test).
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/compat.hpp"
#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "io/results.hpp"
#include "mpi_test_util.hpp"
#include "core/trace.hpp"
#include "wf_config.hpp"

using wf::io::RunResults;
using wf::Phase;
using wf::TraceEvent;

namespace {

const MPI_Comm world = MPI_COMM_WORLD;
constexpr std::size_t phase_count = static_cast<std::size_t>(Phase::count_);

using wf::testing::exists_anywhere;
using wf::testing::expect_error;
using wf::testing::TempDir;
using wf::testing::world_rank;
using wf::testing::world_size;

// ---------------------------------------------------------------- the data of a test run

/// Events of rank r: r + 2 of them on even ranks, none on odd ranks (so counts differ, and with
/// two or more ranks one rank has none).
int event_count(int r) { return r % 2 == 1 ? 0 : r + 2; }

TraceEvent event_of(int r, int i) {
  TraceEvent e;
  e.rank = r;
  e.step = 3 + i;
  e.layer = i % 3 - 1;  // -1 (outside the layers), 0, 1
  e.phase = static_cast<std::int32_t>((r + i) % static_cast<int>(phase_count));
  e.ring_step = i % 2 == 0 ? -1 : i;
  e.peer = i % 2 == 0 ? -1 : (r + 1) % world_size();
  e.bytes = i % 2 == 0 ? 0 : (std::uint64_t{1} << 40) + 12345u * static_cast<std::uint64_t>(i + r);
  e.begin = 0.1 * r + 1.0 / 3.0 * i + 1e-9;  // needs every bit of a double
  e.end = e.begin + 0.7 / (i + 1);
  return e;
}

/// Seconds of phase p on rank r: dyadic, so sums and means over 1, 2 or 4 ranks are exact.
double seconds_of(int r, std::size_t p) { return 0.5 * (r + 1) + 0.25 * static_cast<double>(p * (r % 3 + 1)); }

const char* const deck =
    "[run]\nproblem = \"transformer\"\n\n[parallel]\nschedule = \"wallfacer\"\nteam_size = 2\n"
    "# a comment with \"quotes\", tabs\tand non-ASCII: \xc3\xa9\xe2\x86\x92\n";

/// What rank r passes to write_results; summary and steps differ per rank (only rank 0's count).
RunResults local_results(int r) {
  RunResults local;
  local.problem = r == 0 ? "transformer" : "not rank 0's";
  local.deck_text = r == 0 ? deck : "ignored";
  local.ranks = 12345;  // ignored: the communicator's size is written
  local.summary = {{"tokens_per_second", 12345.678901234567, "tokens/s"},
                   {"step_seconds", 0.1 + r, "s"},
                   {"loss", 2.5, ""},
                   {"a_last_but_not_alphabetical", -1e-300, "1"}};
  if (r != 0) local.summary.push_back({"only_on_rank_" + std::to_string(r), 1.0, "x"});
  for (int s = 0; s < 5 + r; ++s)
    local.steps.push_back({s + 10, 10.0 / (s + 1), 0.25 + s / 7.0, 1e5 / 3.0 + s, 1.0 / (s + 3), s >= 2});
  for (std::size_t p = 0; p < phase_count; ++p) local.phase_seconds[p] = seconds_of(r, p);
  for (int i = 0; i < event_count(r); ++i) local.events.push_back(event_of(r, i));
  return local;
}

void expect_same_event(const TraceEvent& a, const TraceEvent& b) {
  EXPECT_EQ(a.rank, b.rank);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.layer, b.layer);
  EXPECT_EQ(a.phase, b.phase);
  EXPECT_EQ(a.ring_step, b.ring_step);
  EXPECT_EQ(a.peer, b.peer);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.begin, b.begin);
  EXPECT_EQ(a.end, b.end);
}

// ---------------------------------------------------------------- trace recorder

TEST(Trace, PhaseNamesAreDistinctAndKnown) {
  std::set<std::string> names;
  for (std::size_t p = 0; p < phase_count; ++p) names.insert(wf::phase_name(static_cast<Phase>(p)));
  EXPECT_EQ(names.size(), phase_count);
  EXPECT_STREQ(wf::phase_name(Phase::embedding), "embedding");
  EXPECT_STREQ(wf::phase_name(Phase::interaction), "interaction");
  EXPECT_STREQ(wf::phase_name(Phase::p2p_wait), "p2p_wait");
  EXPECT_STREQ(wf::phase_name(Phase::collective), "collective");
  EXPECT_STREQ(wf::phase_name(Phase::other), "other");
  EXPECT_EQ(wf::io::phase_names_text().substr(0, 21), "embedding\nlayer_norm\n");
}

TEST(Trace, RecorderKeepsTotalsAndEvents) {
  wf::TraceRecorder recorder(7, true);
  recorder.set_step(2);
  recorder.record(Phase::projection, 1.0, 1.5);
  recorder.set_layer(4);
  recorder.record(Phase::p2p_wait, 2.0, 2.25, 3, 5, 4096);
  recorder.record(Phase::projection, 3.0, 3.125);
  EXPECT_EQ(recorder.totals()[static_cast<std::size_t>(Phase::projection)], 0.625);
  EXPECT_EQ(recorder.totals()[static_cast<std::size_t>(Phase::p2p_wait)], 0.25);
  EXPECT_EQ(recorder.totals()[static_cast<std::size_t>(Phase::loss)], 0.0);
  ASSERT_EQ(recorder.events().size(), 3u);
  TraceEvent expected;
  expected.rank = 7;
  expected.step = 2;
  expected.layer = -1;
  expected.phase = static_cast<std::int32_t>(Phase::projection);
  expected.begin = 1.0;
  expected.end = 1.5;
  expect_same_event(recorder.events()[0], expected);
  expected.layer = 4;
  expected.phase = static_cast<std::int32_t>(Phase::p2p_wait);
  expected.ring_step = 3;
  expected.peer = 5;
  expected.bytes = 4096;
  expected.begin = 2.0;
  expected.end = 2.25;
  expect_same_event(recorder.events()[1], expected);

  recorder.clear_totals();
  for (const double total : recorder.totals()) EXPECT_EQ(total, 0.0);
  EXPECT_EQ(recorder.events().size(), 3u) << "clear_totals keeps the events";
}

TEST(Trace, RecorderWithoutEventsKeepsTotalsOnly) {
  wf::TraceRecorder recorder(0, false);
  recorder.record(Phase::optimizer, 0.5, 0.75);
  recorder.record(Phase::optimizer, 1.0, 1.5);
  EXPECT_EQ(recorder.totals()[static_cast<std::size_t>(Phase::optimizer)], 0.75);
  EXPECT_TRUE(recorder.events().empty());
}

TEST(Trace, ClockStartsAtTheOriginAndIncreases) {
  wf::TraceRecorder recorder(0, true);
  const double first = recorder.now();
  EXPECT_GE(first, 0.0);
  EXPECT_LT(first, 1.0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double second = recorder.now();
  EXPECT_GE(second, first + 0.015);
  recorder.reset_origin();
  EXPECT_LT(recorder.now(), second);
}

// ---------------------------------------------------------------- round trips

TEST(Results, RoundTripIsExact) {
  TempDir dir("results");
  const std::string path = dir.file("results.h5");
  wf::io::write_results(path, local_results(world_rank()), world);
  EXPECT_FALSE(exists_anywhere(path + ".tmp"));
  const RunResults back = wf::io::read_results(path, world);
  const RunResults root = local_results(0);

  EXPECT_EQ(back.software, "WallFacer");
  EXPECT_EQ(back.version, WF_VERSION_STRING);
  EXPECT_EQ(back.git_hash, WF_GIT_HASH);
  EXPECT_TRUE(std::regex_match(back.date, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"))) << back.date;
  EXPECT_EQ(back.kokkos_backend, wf::compat::default_execution_space_name());
  EXPECT_EQ(back.ranks, world_size());
  EXPECT_EQ(back.problem, "transformer");
  EXPECT_EQ(back.deck_text, deck);

  // Rank 0's summary, in the order given.
  ASSERT_EQ(back.summary.size(), root.summary.size());
  for (std::size_t i = 0; i < root.summary.size(); ++i) {
    EXPECT_EQ(back.summary[i].name, root.summary[i].name);
    EXPECT_EQ(back.summary[i].value, root.summary[i].value);
    EXPECT_EQ(back.summary[i].unit, root.summary[i].unit);
  }

  // Rank 0's steps.
  ASSERT_EQ(back.steps.size(), root.steps.size());
  for (std::size_t i = 0; i < root.steps.size(); ++i) {
    EXPECT_EQ(back.steps[i].step, root.steps[i].step);
    EXPECT_EQ(back.steps[i].loss, root.steps[i].loss);
    EXPECT_EQ(back.steps[i].seconds, root.steps[i].seconds);
    EXPECT_EQ(back.steps[i].tokens_per_second, root.steps[i].tokens_per_second);
    EXPECT_EQ(back.steps[i].grad_norm, root.steps[i].grad_norm);
    EXPECT_EQ(back.steps[i].timed, root.steps[i].timed);
  }

  // Every rank's timers, and min/avg/max over the ranks.
  ASSERT_EQ(back.rank_phase_seconds.size(), static_cast<std::size_t>(world_size()));
  for (std::size_t p = 0; p < phase_count; ++p) {
    double min = seconds_of(0, p), max = min, sum = 0.0;
    for (int r = 0; r < world_size(); ++r) {
      EXPECT_EQ(back.rank_phase_seconds[static_cast<std::size_t>(r)][p], seconds_of(r, p));
      min = std::min(min, seconds_of(r, p));
      max = std::max(max, seconds_of(r, p));
      sum += seconds_of(r, p);
    }
    EXPECT_EQ(back.phase_min[p], min) << "phase " << p;
    EXPECT_EQ(back.phase_avg[p], sum / world_size()) << "phase " << p;
    EXPECT_EQ(back.phase_max[p], max) << "phase " << p;
    EXPECT_EQ(back.phase_seconds[p], seconds_of(world_rank(), p));
  }

  // Every rank's events, in rank order.
  std::vector<TraceEvent> expected;
  for (int r = 0; r < world_size(); ++r)
    for (int i = 0; i < event_count(r); ++i) expected.push_back(event_of(r, i));
  ASSERT_EQ(back.events.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    expect_same_event(back.events[i], expected[i]);
  }
}

TEST(Results, EmptyRunRoundTrips) {
  TempDir dir("results");
  const std::string path = dir.file("empty.h5");
  RunResults local;  // no summary, steps or events; zero timers
  wf::io::write_results(path, local, world);
  const RunResults back = wf::io::read_results(path, world);
  EXPECT_TRUE(back.summary.empty());
  EXPECT_TRUE(back.steps.empty());
  EXPECT_TRUE(back.events.empty());
  EXPECT_EQ(back.problem, "");
  EXPECT_EQ(back.deck_text, "");
  ASSERT_EQ(back.rank_phase_seconds.size(), static_cast<std::size_t>(world_size()));
  for (std::size_t p = 0; p < phase_count; ++p) EXPECT_EQ(back.phase_max[p], 0.0);
}

TEST(Results, DatasetsHaveTheDocumentedShapesAndTypes) {
  TempDir dir("results");
  const std::string path = dir.file("layout.h5");
  wf::io::write_results(path, local_results(world_rank()), world);
  auto file = wf::io::InputFile::open(path, world);
  std::uint64_t total = 0;
  for (int r = 0; r < world_size(); ++r) total += static_cast<std::uint64_t>(event_count(r));
  const std::uint64_t p = phase_count, steps = local_results(0).steps.size();
  using Dims = std::vector<std::uint64_t>;
  EXPECT_EQ(wf::io::dataset_dims(file, "/summary/tokens_per_second"), Dims{});
  EXPECT_EQ(wf::io::read_attribute<std::string>(file, "/summary/tokens_per_second", "unit"), "tokens/s");
  for (const char* name : {"step", "loss", "seconds", "tokens_per_second", "grad_norm", "timed"})
    EXPECT_EQ(wf::io::dataset_dims(file, std::string("/steps/") + name), Dims{steps}) << name;
  EXPECT_EQ(wf::io::dataset_dims(file, "/timers/seconds"), (Dims{static_cast<std::uint64_t>(world_size()), p}));
  for (const char* name : {"min", "avg", "max"})
    EXPECT_EQ(wf::io::dataset_dims(file, std::string("/timers/") + name), Dims{p}) << name;
  for (const char* name : {"rank", "step", "layer", "phase", "ring_step", "peer", "bytes", "begin", "end"})
    EXPECT_EQ(wf::io::dataset_dims(file, std::string("/trace/") + name), Dims{total}) << name;
  EXPECT_EQ(wf::io::read_attribute<std::string>(file, "/timers", "phases"), wf::io::phase_names_text());
  EXPECT_EQ(wf::io::read_attribute<std::string>(file, "/trace", "phases"), wf::io::phase_names_text());
  EXPECT_EQ(wf::io::read_attribute<std::int64_t>(file, "/", "ranks"), world_size());

  // Element types, as h5py and numpy see them.
  const auto type_of = [&](const std::string& name) {
    const wf::io::DatasetHandle dataset(H5Dopen2(file.id(), name.c_str(), H5P_DEFAULT), name);
    const wf::io::DatatypeHandle type(H5Dget_type(dataset.get()), name);
    return std::make_pair(H5Tget_class(type.get()), H5Tget_size(type.get()));
  };
  EXPECT_EQ(type_of("/trace/rank"), std::make_pair(H5T_INTEGER, std::size_t{4}));
  EXPECT_EQ(type_of("/trace/peer"), std::make_pair(H5T_INTEGER, std::size_t{4}));
  EXPECT_EQ(type_of("/trace/bytes"), std::make_pair(H5T_INTEGER, std::size_t{8}));
  EXPECT_EQ(type_of("/trace/begin"), std::make_pair(H5T_FLOAT, std::size_t{8}));
  EXPECT_EQ(type_of("/steps/step"), std::make_pair(H5T_INTEGER, std::size_t{8}));
  EXPECT_EQ(type_of("/steps/timed"), std::make_pair(H5T_INTEGER, std::size_t{1}));
  EXPECT_EQ(type_of("/summary/loss"), std::make_pair(H5T_FLOAT, std::size_t{8}));
}

// ---------------------------------------------------------------- atomic writes and errors

TEST(Results, FailedWriteLeavesNoFile) {
  TempDir dir("results");
  const std::string path = dir.file("failed.h5");
  RunResults local = local_results(world_rank());
  local.summary.push_back({"loss", 3.0, ""});  // a duplicate name: fails after the file was created
  expect_error([&] { wf::io::write_results(path, local, world); }, {"failed.h5", "/summary/loss", "already exists"});
  EXPECT_FALSE(exists_anywhere(path));
  EXPECT_FALSE(exists_anywhere(path + ".tmp"));
}

TEST(Results, FailedWriteKeepsThePreviousFile) {
  TempDir dir("results");
  const std::string path = dir.file("kept.h5");
  wf::io::write_results(path, local_results(world_rank()), world);
  RunResults bad = local_results(world_rank());
  bad.problem = "overwritten";
  bad.summary.push_back({"tokens_per_second", 1.0, "tokens/s"});
  expect_error([&] { wf::io::write_results(path, bad, world); }, {"kept.h5", "already exists"});
  EXPECT_FALSE(exists_anywhere(path + ".tmp"));
  EXPECT_EQ(wf::io::read_results(path, world).problem, "transformer");
}

TEST(Results, BadSummaryNameFailsOnEveryRank) {
  TempDir dir("results");
  const std::string path = dir.file("bad_name.h5");
  RunResults local = local_results(world_rank());
  local.summary.push_back({"tokens/s", 1.0, ""});
  expect_error([&] { wf::io::write_results(path, local, world); }, {"bad_name.h5", "summary name 'tokens/s'"});
  EXPECT_FALSE(exists_anywhere(path));
  EXPECT_FALSE(exists_anywhere(path + ".tmp"));
}

TEST(Results, ReadingAFileThatIsNotAResultsFileFails) {
  TempDir dir("results");
  const std::string path = dir.file("other.h5");
  {
    auto file = wf::io::OutputFile::create(path, world);
    wf::io::write_attribute(file, "/", "software", "WallFacer");
    const double x = 1.0;
    wf::io::write_all<double>(file, "/output/x", {}, &x);
    file.commit();
  }
  expect_error([&] { wf::io::read_results(path, world); }, {"other.h5", "version"});
  expect_error([&] { wf::io::read_results(dir.file("missing.h5"), world); }, {"missing.h5"});
}

TEST(Results, ReadingAFileWithoutADatasetNamesIt) {
  TempDir dir("results");
  const std::string path = dir.file("partial.h5");
  {
    auto file = wf::io::OutputFile::create(path, world);
    for (const char* name : {"software", "version", "git_hash", "date", "kokkos_backend", "problem", "deck"})
      wf::io::write_attribute(file, "/", name, "x");
    wf::io::write_attribute(file, "/", "ranks", world_size());
    const double x = 1.0;
    wf::io::write_all<double>(file, "/summary/x", {}, &x);
    wf::io::write_attribute(file, "/summary/x", "unit", "s");
    file.commit();
  }
  expect_error([&] { wf::io::read_results(path, world); }, {"partial.h5", "/steps/step"});
}

// ---------------------------------------------------------------- a demo file for the plot tools

/// A plausible run: 8 steps (2 of warm-up) of 2 layers; in each layer a projection overlapped
/// by a team all-gather, then a ring of attention tiles ending in exposed p2p waits.
RunResults demo_results(int r, int size) {
  RunResults run;
  run.problem = "transformer";
  run.deck_text =
      "[run]\nproblem = \"transformer\"\nsteps = 8\nwarmup_steps = 2\n\n[attention]\nseq_len = 4096\n"
      "heads = 8\nhead_dim = 64\n\n[parallel]\nschedule = \"wallfacer\"\nteam_size = 2\nrotate = \"q\"\n";
  const int ring = std::max(size, 4), layers = 2, steps = 8, warmup = 2;
  const auto ms = [](double x) { return 1e-3 * x; };
  double t = 0.0;
  int step = 0, layer = -1;
  const auto add = [&](Phase phase, double begin, double end, int ring_step = -1, int peer = -1,
                       std::uint64_t bytes = 0) {
    TraceEvent e;
    e.rank = r;
    e.step = step;
    e.layer = layer;
    e.phase = static_cast<std::int32_t>(phase);
    e.begin = begin;
    e.end = end;
    e.ring_step = ring_step;
    e.peer = peer;
    e.bytes = bytes;
    run.events.push_back(e);
    run.phase_seconds[static_cast<std::size_t>(phase)] += end - begin;
  };
  for (int s = 0; s < steps; ++s) {
    const double step_begin = t;
    step = s;
    add(Phase::embedding, t, t + ms(0.3));
    t += ms(0.3);
    for (layer = 0; layer < layers; ++layer) {
      add(Phase::layer_norm, t, t + ms(0.2));
      t += ms(0.2);
      add(Phase::collective, t, t + ms(0.9), -1, (r + 1) % size, 1u << 20);  // overlaps the projection
      add(Phase::projection, t, t + ms(1.2));
      t += ms(1.2);
      for (int k = 0; k < ring; ++k) {
        const double compute = ms(0.8 + 0.1 * ((r + k) % 3)), wait = ms(0.05 + 0.1 * ((r * 7 + k * 3) % 4));
        add(Phase::interaction, t, t + compute, k);
        t += compute;
        add(Phase::p2p_wait, t, t + wait, k, (r + 1) % size, 1u << 18);
        t += wait;
      }
      add(Phase::mlp_other, t, t + ms(0.6));
      t += ms(0.6);
      add(Phase::projection, t, t + ms(1.5));
      t += ms(1.5);
    }
    layer = -1;
    add(Phase::loss, t, t + ms(0.4));
    t += ms(0.4);
    double last = t;  // the all-reduce ends on every rank when the slowest rank's part is done
    MPI_Allreduce(&t, &last, 1, MPI_DOUBLE, MPI_MAX, world);
    add(Phase::grad_allreduce, t, last + ms(1.0));
    t = last + ms(1.0);
    add(Phase::optimizer, t, t + ms(0.5));
    t += ms(0.5) + (s < warmup ? ms(3.0) : 0.0);  // warm-up steps are slower
    const double seconds = t - step_begin, tokens = 4096.0;
    run.steps.push_back({s, 10.4 * std::exp(-0.15 * s) + 0.5, seconds, tokens / seconds, 2.0 / (1 + s), s >= warmup});
  }
  double timed_seconds = 0.0;
  int timed = 0;
  for (const auto& step : run.steps)
    if (step.timed) {
      timed_seconds += step.seconds;
      ++timed;
    }
  run.summary = {{"tokens_per_second", 4096.0 * timed / timed_seconds, "tokens/s"},
                 {"step_seconds", timed_seconds / timed, "s"},
                 {"final_loss", run.steps.back().loss, ""}};
  return run;
}

TEST(Results, DemoFileForThePlotTools) {
  const char* path = std::getenv("WF_RESULTS_DEMO");
  if (path == nullptr || *path == '\0') GTEST_SKIP() << "WF_RESULTS_DEMO is not set";
  wf::io::write_results(path, demo_results(world_rank(), world_size()), world);
  const RunResults back = wf::io::read_results(path, world);
  EXPECT_EQ(back.steps.size(), 8u);
  EXPECT_FALSE(back.events.empty());
}

}  // namespace

// The pieces behind the promises under faults and bad input (docs/robustness.md): the roll
// call's verdict, deadlines, bounded deck reading, the shared configuration, output paths, the
// files of a run and the memory estimate. The faults themselves (stopped and killed ranks) are
// in tests/cli/faults.sh. Runs on 1 and 2 ranks.
#include <gtest/gtest.h>
#include <mpi.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "comm/deadline.hpp"
#include "comm/roll_call.hpp"
#include "config/command_line.hpp"
#include "config/deck.hpp"
#include "core/error.hpp"
#include "io/checksum.hpp"
#include "io/output_path.hpp"
#include "mpi_test_util.hpp"
#include "problems/memory_estimate.hpp"
#include "problems/run_files.hpp"
#include "problems/shared_config.hpp"

namespace fs = std::filesystem;
using wf::testing::error_message;
using wf::testing::TempDir;
using wf::testing::world_rank;
using wf::testing::world_size;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

wf::comm::RollCallReply waiting(const std::string& operation, double seconds) {
  return {true, {wf::comm::RankPosition::waiting, operation, seconds}};
}

// ---------------------------------------------------------------- the roll call's verdict

TEST(RollCall, PositionsTravelAsOneLine) {
  const wf::comm::RankPosition p{wf::comm::RankPosition::failing, "bad deck: x = 3", 0.0};
  const auto back = wf::comm::RankPosition::decode(p.encode());
  EXPECT_EQ(back.kind, p.kind);
  EXPECT_EQ(back.text, p.text);
  EXPECT_EQ(wf::comm::RankPosition::decode("garbled").text, "garbled");
  EXPECT_EQ(waiting("team all-gather Q step 0", 4.25).position.describe(),
            "waiting in 'team all-gather Q step 0' for 4.2 s");
}

TEST(RollCall, SilentRanksAreNamedFirst) {
  std::vector<wf::comm::RollCallReply> replies(4, waiting("ring shift step 1", 4.0));
  replies[2] = {};  // no answer: stopped
  const std::string verdict =
      wf::comm::compose_verdict(1, "rank 1: ring shift step 1: receive from rank 2 not complete after 4.0 s", 0.4, replies);
  EXPECT_EQ(verdict.rfind("rank 2 does not respond (stopped, hung or gone", 0), 0u) << verdict;
  EXPECT_TRUE(contains(verdict, "rank 1: ring shift step 1: receive from rank 2")) << verdict;
  EXPECT_EQ(wf::comm::choose_reporter(1, replies), 0);
  replies[0] = {};
  EXPECT_EQ(wf::comm::choose_reporter(1, replies), 1);  // rank 0 is gone: the lowest that answered
  EXPECT_EQ(wf::comm::rank_list({0, 2}), "ranks 0 and 2");
}

TEST(RollCall, AFailureBeatsTheWaitsItCaused) {
  std::vector<wf::comm::RollCallReply> replies(3, waiting("error agreement", 4.0));
  replies[1] = {true, {wf::comm::RankPosition::failing, "cannot open 'x.h5'", 0.0}};
  EXPECT_EQ(wf::comm::compose_verdict(0, "rank 0: barrier not complete after 4.0 s", 0.4, replies),
            "rank 1: cannot open 'x.h5'");
}

TEST(RollCall, RanksThatNeverArrivedAreNamed) {
  std::vector<wf::comm::RollCallReply> replies(3, waiting("reduction of the step time", 4.0));
  replies[2] = {true, {wf::comm::RankPosition::computing, "loss all-reduce step 0", 3.9}};
  const std::string verdict =
      wf::comm::compose_verdict(0, "rank 0: reduction of the step time not complete after 4.0 s", 0.4, replies);
  EXPECT_TRUE(contains(verdict, "every rank responds, but rank 2 has not arrived: rank 2 computing")) << verdict;
}

// ---------------------------------------------------------------- deadlines

TEST(Deadline, TooShortDeadlinesAreRefused) {
  EXPECT_THROW(wf::comm::set_deadline_seconds(1e-300), wf::Error);
  EXPECT_THROW(wf::comm::set_deadline_seconds(std::nan("")), wf::Error);
  const double before = wf::comm::deadline_seconds();
  wf::comm::set_deadline_seconds(1.0);
  EXPECT_EQ(wf::comm::deadline_seconds(), 1.0);
  wf::comm::set_deadline_seconds(before);
  EXPECT_EQ(wf::comm::roll_call_seconds(1.0), 0.2);
  EXPECT_EQ(wf::comm::roll_call_seconds(4.0), 0.4);
  EXPECT_EQ(wf::comm::roll_call_seconds(1000.0), 5.0);
}

TEST(Deadline, CompletedCollectivesReturn) {
  int value = world_rank() + 1, sum = 0;
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Iallreduce(&value, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD, &request);
  wf::comm::wait_with_deadline(request, "test reduction");
  EXPECT_EQ(sum, world_size() * (world_size() + 1) / 2);
  EXPECT_EQ(request, MPI_REQUEST_NULL);
}

// ---------------------------------------------------------------- decks

TEST(DeckFile, PipesDevicesAndDirectoriesEndWithOneMessage) {
  TempDir dir("deck_file");
  if (world_rank() != 0) return;  // local calls
  const std::string fifo = dir.file("deck.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] {  // a pipe that delivers a deck is fine
    std::ofstream out(fifo);
    out << "[run]\nproblem = \"gravity\"\n";
  });
  EXPECT_EQ(wf::config::read_deck_text(fifo), "[run]\nproblem = \"gravity\"\n");
  writer.join();
  EXPECT_TRUE(contains(error_message([] { wf::config::read_deck_text("/dev/zero"); }),
                       "cannot read deck '/dev/zero': more than 1 MiB"));
  EXPECT_TRUE(contains(error_message([&] { wf::config::read_deck_text(dir.path()); }), "it is a directory"));
  std::ofstream(dir.file("binary.toml")) << std::string("[run]\0x", 7);
  EXPECT_TRUE(contains(error_message([&] { wf::config::read_deck_text(dir.file("binary.toml")); }), "binary data"));
}

TEST(DeckFile, HugeKeysAreCutAndGetNoSuggestion) {
  const std::string key = "attention." + std::string(2 << 20, 'h');
  const auto start = std::chrono::steady_clock::now();
  const std::string message = error_message([&] { wf::config::config_from_toml("", "", {key + "=1"}); });
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
  EXPECT_LT(message.size(), 400u) << message.substr(0, 400);
  EXPECT_TRUE(contains(message, "(2097162 characters)")) << message.substr(0, 400);
  EXPECT_TRUE(contains(error_message([] { wf::config::config_from_toml("", "", {"attention.haeds=2"}); }),
                       "did you mean 'attention.heads'"));
  EXPECT_EQ(wf::config::clip_for_message("short"), "short");
}

TEST(DeckFile, KokkosOptionsAreKnownOrRefused) {
  const char* known[] = {"wallfacer", "deck.toml", "--kokkos-num-threads=2", "--kokkos-disable-warnings"};
  EXPECT_EQ(wf::config::parse_command_line(4, const_cast<char**>(known)).deck_path, "deck.toml");
  const char* unknown[] = {"wallfacer", "deck.toml", "--kokkos-num-thread=2"};
  EXPECT_TRUE(contains(error_message([&] { wf::config::parse_command_line(3, const_cast<char**>(unknown)); }),
                       "unknown Kokkos option '--kokkos-num-thread=2'"));
}

TEST(SharedConfig, RanksAgreeOrFailTogether) {
  TempDir dir("shared_config");
  const std::string deck = dir.file("deck.toml");
  if (world_rank() == 0) std::ofstream(deck) << "[run]\nproblem = \"gravity\"\n[parallel]\ndeadline_seconds = 30\n";
  MPI_Barrier(MPI_COMM_WORLD);
  wf::config::RunConfig cfg;
  ASSERT_EQ(wf::problems::load_shared_config(deck, {"gravity.bodies=64"}, MPI_COMM_WORLD, cfg), 0);
  EXPECT_EQ(cfg.gravity.bodies, 64);
  EXPECT_EQ(wf::comm::deadline_seconds(), 30.0);
  wf::comm::set_deadline_seconds(wf::comm::default_deadline_seconds);
  if (world_size() < 2) return;
  // Different overrides per rank: the ranks would run different problems.
  ::testing::internal::CaptureStderr();
  const int code = wf::problems::load_shared_config(
      deck, {"gravity.bodies=" + std::to_string(64 * (world_rank() + 1))}, MPI_COMM_WORLD, cfg);
  const std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(code, 0);
  if (world_rank() == 0) {
    EXPECT_TRUE(contains(printed, "rank 1 differs from rank 0")) << printed;
  }
  wf::comm::set_deadline_seconds(wf::comm::default_deadline_seconds);
}

// ---------------------------------------------------------------- output paths

TEST(OutputPath, StaleTemporariesAndPlainReasons) {
  TempDir dir("output_path");
  if (world_rank() != 0) return;
  const std::string victim = dir.file("victim.txt"), path = dir.file("out.h5"), temporary = path + ".tmp";
  std::ofstream(victim) << "precious";
  fs::create_symlink(victim, temporary);
  wf::io::prepare_temporary_file(path, temporary);
  EXPECT_FALSE(fs::is_symlink(temporary));
  EXPECT_TRUE(fs::is_regular_file(temporary));
  std::ifstream kept(victim);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), "precious");
  fs::remove(temporary);
  fs::create_directory(temporary);
  EXPECT_TRUE(contains(error_message([&] { wf::io::prepare_temporary_file(path, temporary); }),
                       "a directory of that name is in the way"));
  const std::string under = victim + "/out.h5";
  EXPECT_TRUE(contains(error_message([&] { wf::io::prepare_temporary_file(under, under + ".tmp"); }),
                       "'" + victim + "' is not a directory"));
  const std::string missing = dir.file("no/such/out.h5");
  EXPECT_TRUE(contains(error_message([&] { wf::io::prepare_temporary_file(missing, missing + ".tmp"); }),
                       "does not exist"));
  // sysfs refuses new files even to root (permission denied, or read-only where mounted so).
  EXPECT_TRUE(contains(error_message([] { wf::io::prepare_temporary_file("/sys/wf.h5", "/sys/wf.h5.tmp"); }),
                       "(cannot write in the directory '/sys')"));
  EXPECT_EQ(wf::io::plain_reason(ENOSPC), "no space left on device");
}

TEST(OutputPath, SameFileThroughAnyName) {
  TempDir dir("same_file");
  if (world_rank() != 0) return;
  const std::string file = dir.file("in.h5");
  std::ofstream(file) << "x";
  fs::create_symlink(file, dir.file("alias.h5"));
  fs::create_hard_link(file, dir.file("hard.h5"));
  EXPECT_TRUE(wf::io::same_file(file, dir.file("alias.h5")));
  EXPECT_TRUE(wf::io::same_file(file, dir.file("hard.h5")));
  EXPECT_TRUE(wf::io::same_file(dir.file("new.h5"), dir.path() + "/./sub/../new.h5"));
  EXPECT_FALSE(wf::io::same_file(file, dir.file("other.h5")));
  EXPECT_FALSE(wf::io::same_file("", ""));
}

TEST(RunFiles, OutputsThatWouldDestroyInputsAreRefused) {
  wf::config::RunConfig cfg;
  cfg.run.problem = wf::Problem::attention;
  cfg.attention.input = "data/in.h5";
  cfg.attention.output = "data/./in.h5";
  EXPECT_TRUE(contains(error_message([&] { wf::problems::check_run_files(cfg); }),
                       "attention.output = 'data/./in.h5' is the same file as attention.input = 'data/in.h5'"));
  cfg.attention.output = "data/out.h5";
  EXPECT_NO_THROW(wf::problems::check_run_files(cfg));
  cfg.run.problem = wf::Problem::train;
  cfg.train.results = "r.h5";
  cfg.model.grads_out = "r.h5";
  EXPECT_TRUE(contains(error_message([&] { wf::problems::check_run_files(cfg); }),
                       "model.grads_out = 'r.h5' is the same file as train.results"));
  cfg.model.grads_out = "";
  cfg.model.weights_in = "ckpt_step000010.h5";
  cfg.train.checkpoint_every = 5;
  cfg.train.checkpoint_prefix = "ckpt";
  EXPECT_TRUE(contains(error_message([&] { wf::problems::check_run_files(cfg); }),
                       "writes 'ckpt_step000010.h5', the same file as model.weights_in"));
}

// ---------------------------------------------------------------- memory and checksums

TEST(MemoryEstimate, GrowsWithTheSettingsThatDriveIt) {
  wf::config::RunConfig cfg;
  cfg.run.problem = wf::Problem::gravity;
  cfg.gravity.bodies = 1000;
  EXPECT_EQ(wf::problems::estimate_memory(cfg, 4).bytes_per_rank, 32000.0);
  cfg.run.problem = wf::Problem::attention;
  cfg.run.verify = false;
  cfg.attention.seq_len = 1024;
  cfg.attention.heads = cfg.attention.kv_heads = 2;
  cfg.attention.head_dim = 8;
  cfg.parallel.team_size = 2;
  const double s = 4, n = 256, d = 8;  // fp32, 1024 tokens on 4 ranks
  EXPECT_EQ(wf::problems::estimate_memory(cfg, 4).bytes_per_rank,
            24 * n * d * s + 2 * n * s + 2 * n * d * s * 12);
  EXPECT_TRUE(contains(wf::problems::estimate_memory(cfg, 4).drivers, "attention.seq_len = 1024"));
  EXPECT_GT(wf::problems::available_memory_bytes(), 0.0);
  EXPECT_EQ(wf::problems::bytes_text(3.0 * 1024 * 1024 * 1024), "3.0 GiB");
}

TEST(Checksum, FnvOfKnownText) {
  EXPECT_EQ(wf::io::checksum_text(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(wf::io::checksum_hex(wf::io::checksum_text("a")), "af63dc4c8601ec8c");
}

}  // namespace

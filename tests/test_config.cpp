// Decks, overrides, validation, the command line, and collective error reporting.
// Runs with 1 and 2 ranks: every rank runs every test (files written here are per rank).
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "comm/collective_errors.hpp"
#include "config/command_line.hpp"
#include "config/deck.hpp"
#include "core/error.hpp"
#include "mpi_test_util.hpp"

namespace wf::config {
namespace {

using wf::testing::world_rank;
using wf::testing::world_size;

// The message of the ConfigError that `action` throws ("" and a test failure if none).
template <class Action>
std::string config_error_of(Action action) {
  try {
    action();
  } catch (const ConfigError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

std::string deck_error(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return config_error_of([&] { config_from_toml(text, "inputs/x.toml", overrides); });
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const std::string bad_decks_dir = [] {
  const std::string here = __FILE__;
  return here.substr(0, here.find_last_of('/') + 1) + "decks/";
}();

// ---------------------------------------------------------------- defaults and good decks

TEST(Deck, DefaultsValidate) {
  EXPECT_NO_THROW(validate(RunConfig{}));
  const RunConfig config = load_config("", {});
  EXPECT_EQ(config.attention.heads, 8);
  EXPECT_EQ(config.deck_path, "");
  EXPECT_FALSE(config.deck_text.empty());
}

TEST(Deck, FullDeckParses) {
  const std::string deck = R"(
[run]
problem = "gravity"
precision = "double"
seed = 7
verify = true

[attention]
seq_len = 512
heads = 16
kv_heads = 4
head_dim = 32
causal = true
scale = 1              # an integer is fine for a float key
impl = "both"
q_tile = 64
kv_tile = 32

[gravity]
bodies = 1000
softening = 0.05
gravitational_constant = 6.674e-11
tile = 128

[bench]
warmup = 0
repeats = 5
gemm_size = 256
dense_baseline = false
)";
  const RunConfig c = config_from_toml(deck, "full.toml", {});
  EXPECT_EQ(c.run.problem, wf::Problem::gravity);
  EXPECT_EQ(c.run.precision, wf::Precision::fp64);
  EXPECT_EQ(c.run.seed, 7u);
  EXPECT_TRUE(c.run.verify);
  EXPECT_EQ(c.attention.seq_len, 512);
  EXPECT_EQ(c.attention.heads, 16);
  EXPECT_EQ(c.attention.kv_heads, 4);
  EXPECT_EQ(c.kv_heads(), 4);
  EXPECT_EQ(c.attention.head_dim, 32);
  EXPECT_TRUE(c.attention.causal);
  EXPECT_EQ(c.attention.scale, 1.0);
  EXPECT_EQ(c.attention_scale(), 1.0);
  EXPECT_EQ(c.attention.impl, wf::TileChoice::both);
  EXPECT_EQ(c.attention.q_tile, 64);
  EXPECT_EQ(c.attention.kv_tile, 32);
  EXPECT_EQ(c.gravity.bodies, 1000);
  EXPECT_EQ(c.gravity.softening, 0.05);
  EXPECT_EQ(c.gravity.gravitational_constant, 6.674e-11);
  EXPECT_EQ(c.gravity.tile, 128);
  EXPECT_EQ(c.bench.warmup, 0);
  EXPECT_EQ(c.bench.repeats, 5);
  EXPECT_EQ(c.bench.gemm_size, 256);
  EXPECT_FALSE(c.bench.dense_baseline);
  EXPECT_EQ(c.deck_path, "full.toml");
  EXPECT_EQ(c.deck_text, to_toml(c));
}

TEST(Deck, MissingKeysKeepDefaultsAndScaleResolves) {
  const RunConfig c = config_from_toml("[attention]\nhead_dim = 16\n", "x.toml", {});
  EXPECT_EQ(c.attention.heads, 8);
  EXPECT_EQ(c.kv_heads(), 8);
  EXPECT_DOUBLE_EQ(c.attention_scale(), 0.25);
}

TEST(Deck, OverridesWinOverTheDeck) {
  const RunConfig c = config_from_toml(
      "[attention]\nheads = 8\nimpl = \"blas\"\n", "x.toml",
      {"attention.heads=4", "attention.impl=fused", "run.verify=true", "gravity.softening = 2.5",
       "attention.scale=1", "run.problem=\"gravity\"", "attention.heads=2"});
  EXPECT_EQ(c.attention.heads, 2);  // the last override wins
  EXPECT_EQ(c.attention.impl, wf::TileChoice::fused);
  EXPECT_TRUE(c.run.verify);
  EXPECT_EQ(c.gravity.softening, 2.5);
  EXPECT_EQ(c.attention.scale, 1.0);
  EXPECT_EQ(c.run.problem, wf::Problem::gravity);
}

TEST(Deck, OverridesGoThroughTheSameChecks) {
  const std::string range = deck_error("", {"attention.heads=-3"});
  EXPECT_EQ(range, "--set attention.heads=-3: attention.heads = -3 is out of range [1, 1024]");
  const std::string type = deck_error("", {"run.verify=yes"});
  EXPECT_TRUE(contains(type, "--set run.verify=yes: run.verify: expected a boolean")) << type;
  const std::string unknown = deck_error("", {"attention.head_dims=64"});
  EXPECT_TRUE(contains(unknown, "unknown key 'attention.head_dims'")) << unknown;
  EXPECT_TRUE(contains(unknown, "did you mean 'attention.head_dim'")) << unknown;
  // A cross check caused by an override names both sources.
  const std::string cross = deck_error("[attention]\nkv_heads = 4\n", {"attention.heads=6"});
  EXPECT_TRUE(contains(cross, "inputs/x.toml, --set attention.heads=6: attention.kv_heads = 4"))
      << cross;
}

TEST(Deck, MalformedOverride) {
  const std::string no_equals = deck_error("", {"attention.heads"});
  EXPECT_TRUE(contains(no_equals, "--set attention.heads: malformed override")) << no_equals;
  const std::string empty_key = deck_error("", {"=8"});
  EXPECT_TRUE(contains(empty_key, "--set =8: malformed override: empty key")) << empty_key;
}

// ---------------------------------------------------------------- one test per kind of bad deck

TEST(BadDeck, UnknownKey) {
  const std::string m = deck_error("[attention]\nhead_dims = 64\n");
  EXPECT_EQ(
      m, "inputs/x.toml: unknown key 'attention.head_dims' (did you mean 'attention.head_dim'?)");
}

TEST(BadDeck, UnknownSectionAndTopLevelKey) {
  const std::string section = deck_error("[atention]\nheads = 8\n");
  EXPECT_TRUE(contains(section, "inputs/x.toml: unknown section [atention]")) << section;
  EXPECT_TRUE(contains(section, "did you mean [attention]")) << section;
  const std::string top = deck_error("heads = 8\n");
  EXPECT_TRUE(contains(top, "unknown key 'heads' (did you mean 'attention.heads'?)")) << top;
}

TEST(BadDeck, WrongTypes) {
  EXPECT_EQ(deck_error("[attention]\nheads = \"eight\"\n"),
            "inputs/x.toml: attention.heads: expected an integer, got a string (\"eight\")");
  EXPECT_EQ(deck_error("[attention]\nheads = 8.0\n"),
            "inputs/x.toml: attention.heads: expected an integer, got a float (8.0)");
  const std::string float_key = deck_error("[gravity]\nsoftening = \"small\"\n");
  EXPECT_TRUE(contains(float_key, "gravity.softening: expected a number, got a string"))
      << float_key;
  const std::string bool_key = deck_error("[run]\nverify = 1\n");
  EXPECT_TRUE(contains(bool_key, "run.verify: expected a boolean")) << bool_key;
  EXPECT_TRUE(contains(bool_key, "got an integer (1)")) << bool_key;
  const std::string string_key = deck_error("[attention]\nimpl = 2\n");
  EXPECT_TRUE(contains(string_key, "attention.impl: expected a string")) << string_key;
  const std::string table = deck_error("[attention.heads]\nx = 1\n");
  EXPECT_TRUE(contains(table, "attention.heads: expected an integer, got a table")) << table;
}

TEST(BadDeck, OutOfRange) {
  EXPECT_EQ(deck_error("[attention]\nhead_dim = 0\n"),
            "inputs/x.toml: attention.head_dim = 0 is out of range [1, 1024]");
  const std::string seq = deck_error("[attention]\nseq_len = 1099511627777\n");
  EXPECT_TRUE(contains(seq, "attention.seq_len = 1099511627777 is out of range [1, 2^40]")) << seq;
  const std::string soft = deck_error("[gravity]\nsoftening = 0.0\n");
  EXPECT_TRUE(contains(soft, "gravity.softening = 0.0 is out of range (expected > 0, finite)"))
      << soft;
  const std::string inf = deck_error("[attention]\nscale = inf\n");
  EXPECT_TRUE(contains(inf, "attention.scale = inf is out of range")) << inf;
  EXPECT_TRUE(contains(deck_error("[run]\nseed = -1\n"), "run.seed = -1 is out of range"));
  EXPECT_TRUE(contains(deck_error("[bench]\ngemm_size = 8\n"), "bench.gemm_size = 8"));
}

TEST(BadDeck, BadEnumString) {
  EXPECT_EQ(deck_error("[attention]\nimpl = \"fast\"\n"),
            "inputs/x.toml: attention.impl = \"fast\" is not allowed "
            "(expected \"blas\" | \"fused\" | \"gemm\" | \"both\" | \"auto\")");
  EXPECT_TRUE(contains(deck_error("[run]\nprecision = \"half\"\n"), "run.precision = \"half\""));
}

TEST(BadDeck, KvHeadsMustDivideHeads) {
  const std::string m = deck_error("[attention]\nheads = 8\nkv_heads = 3\n");
  EXPECT_TRUE(
      contains(m, "inputs/x.toml: attention.kv_heads = 3 does not divide attention.heads = 8"))
      << m;
}

TEST(BadDeck, FusedTileTooBig) {
  const std::string m =
      deck_error("[attention]\nimpl = \"fused\"\nq_tile = 4096\nkv_tile = 4096\n");
  EXPECT_TRUE(contains(m, "attention.q_tile = 4096 and attention.kv_tile = 4096 need")) << m;
  EXPECT_TRUE(contains(m, "limit of 1048576 bytes")) << m;
  EXPECT_TRUE(contains(m, "lower attention.q_tile")) << m;
  // The same tiles are fine when the fused path is not run.
  EXPECT_NO_THROW(config_from_toml("[attention]\nq_tile = 4096\nkv_tile = 4096\n", "x", {}));
  // Double precision needs twice the scratch: 128 x 128 tiles with head_dim 1024 do not fit.
  EXPECT_NO_THROW(config_from_toml("", "", {"attention.impl=both", "attention.head_dim=512"}));
  EXPECT_TRUE(contains(
      deck_error("", {"attention.impl=both", "attention.head_dim=1024", "run.precision=double"}),
      "attention.q_tile"));
}

TEST(BadDeck, DenseBaselineTooLarge) {
  const std::string m = deck_error("[attention]\nseq_len = 65536\n");
  EXPECT_TRUE(contains(m, "bench.dense_baseline")) << m;
  EXPECT_TRUE(contains(m, "attention.seq_len = 65536")) << m;
  // Fine without the baseline, or for the gravity problem.
  EXPECT_NO_THROW(
      config_from_toml("[attention]\nseq_len = 65536\n", "x", {"bench.dense_baseline=false"}));
  EXPECT_NO_THROW(config_from_toml("[attention]\nseq_len = 65536\n", "x", {"run.problem=gravity"}));
}

TEST(BadDeck, TomlSyntaxError) {
  const std::string m = deck_error("[attention]\nheads = = 8\n");
  EXPECT_TRUE(contains(m, "inputs/x.toml:2:")) << m;
  EXPECT_TRUE(contains(m, ": TOML syntax error: ")) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << "one line";
}

TEST(BadDeck, MissingFile) {
  const std::string m = config_error_of([] { load_config("no/such/deck.toml", {}); });
  EXPECT_TRUE(contains(m, "cannot open deck 'no/such/deck.toml'")) << m;
}

TEST(BadDeck, ValidateCatchesHandBuiltConfigs) {
  RunConfig config;
  config.attention.heads = -3;
  const std::string m = config_error_of([&] { validate(config); });
  EXPECT_EQ(m, "attention.heads = -3 is out of range [1, 1024]");
  config.deck_path = "mine.toml";
  EXPECT_TRUE(contains(config_error_of([&] { validate(config); }), "mine.toml: attention.heads"));
}

// The decks the CLI tests use: each loads, fails, and names its key.
TEST(BadDeck, RepositoryDecks) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"bad_unknown_key.toml", "attention.head_dims"},
      {"bad_wrong_type.toml", "attention.heads"},
      {"bad_out_of_range.toml", "attention.head_dim"},
      {"bad_kv_heads.toml", "attention.kv_heads"},
      {"bad_tile.toml", "attention.q_tile"}};
  for (const auto& [file, key] : cases) {
    const std::string path = bad_decks_dir + file;
    const std::string m = config_error_of([&] { load_config(path, {}); });
    EXPECT_TRUE(contains(m, path + ": ")) << m;
    EXPECT_TRUE(contains(m, key)) << m;
    EXPECT_FALSE(contains(m, "cannot open")) << m;
  }
}

// ---------------------------------------------------------------- to_toml and the registry

TEST(Deck, ToTomlRoundTrips) {
  RunConfig c;
  c.run.problem = wf::Problem::gravity;
  c.run.precision = wf::Precision::fp64;
  c.run.seed = 123456789012345ull;
  c.run.verify = true;
  c.attention.seq_len = 1000;
  c.attention.heads = 12;
  c.attention.kv_heads = 3;
  c.attention.head_dim = 48;
  c.attention.causal = true;
  c.attention.scale = 0.1;  // not exact in binary: must still round-trip
  c.attention.impl = wf::TileChoice::both;
  c.attention.q_tile = 32;
  c.attention.kv_tile = 16;
  c.gravity.bodies = 777;
  c.gravity.softening = 1.0 / 3.0;
  c.gravity.gravitational_constant = 2.0;
  c.gravity.tile = 64;
  c.bench.warmup = 2;
  c.bench.repeats = 9;
  c.bench.gemm_size = 100;
  c.bench.dense_baseline = false;
  const std::string text = to_toml(c);
  const RunConfig back = config_from_toml(text, "round_trip", {});
  for (const DeckKey& key : deck_keys())
    EXPECT_EQ(key.get(back), key.get(c)) << key.name << " in\n" << text;
  EXPECT_EQ(back.run.seed, c.run.seed);
  EXPECT_EQ(back.gravity.softening, c.gravity.softening);
  EXPECT_EQ(back.attention.scale, c.attention.scale);
  EXPECT_EQ(back.deck_text, text);
}

TEST(Deck, RegistryCoversEveryKeyOnce) {
  const std::string text = to_toml(RunConfig{});
  const std::string help = describe_keys();
  std::vector<std::string> names;
  for (const DeckKey& key : deck_keys()) {
    EXPECT_EQ(std::count(names.begin(), names.end(), key.name), 0) << key.name;
    names.push_back(key.name);
    EXPECT_TRUE(contains(text, "\n" + key.leaf() + " ")) << key.name;
    EXPECT_TRUE(contains(help, key.name)) << key.name;
    EXPECT_FALSE(key.check(key.get(RunConfig{}))) << key.name << " default out of range";
  }
  EXPECT_EQ(names.size(), 62u);
  EXPECT_TRUE(contains(help, "attention.heads"));
  EXPECT_TRUE(contains(help, "[1, 1024]"));
}

// docs/decks.md has a table row "| `leaf` | type | `default` |" for every key.
TEST(Deck, ReferenceDocumentsEveryKey) {
  const std::string here = __FILE__;
  const std::string path = here.substr(0, here.find_last_of('/')) + "/../docs/decks.md";
  std::ifstream file(path);
  ASSERT_TRUE(file) << "cannot read " << path;
  const std::string docs((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  for (const DeckKey& key : deck_keys()) {
    EXPECT_TRUE(contains(docs, "### `[" + key.section() + "]`")) << key.section();
    const std::string row =
        "| `" + key.leaf() + "` | " + key.type_name() + " | `" + key.default_text() + "` |";
    EXPECT_TRUE(contains(docs, row)) << "docs/decks.md lacks the row " << row;
  }
}

// ---------------------------------------------------------------- command line

CommandLine parse(std::vector<std::string> arguments) {
  arguments.insert(arguments.begin(), "wallfacer");
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

TEST(CommandLineTest, DeckAndOverrides) {
  const CommandLine c = parse(
      {"deck.toml", "--set", "attention.heads=4", "--set=run.verify=true", "--kokkos-threads=2"});
  EXPECT_EQ(c.deck_path, "deck.toml");
  EXPECT_EQ(c.overrides, (std::vector<std::string>{"attention.heads=4", "run.verify=true"}));
  EXPECT_FALSE(c.help);
  EXPECT_FALSE(c.version);
}

TEST(CommandLineTest, HelpAndVersion) {
  EXPECT_TRUE(parse({"-h"}).help);
  EXPECT_TRUE(parse({"--help"}).help);
  EXPECT_TRUE(parse({"--version"}).version);
  EXPECT_EQ(parse({}).deck_path, "");
  const std::string usage = usage_text();
  EXPECT_TRUE(contains(usage, "wallfacer DECK.toml [--set section.key=value ...]"));
  EXPECT_TRUE(contains(usage, "attention.kv_tile"));
}

TEST(CommandLineTest, Errors) {
  EXPECT_EQ(config_error_of([] {
              parse({"deck.toml", "--frobnicate"});
            }),
            "unknown option '--frobnicate' (see --help)");
  EXPECT_TRUE(contains(config_error_of([] { parse({"a.toml", "b.toml"}); }), "more than one deck"));
  EXPECT_TRUE(contains(config_error_of([] {
                         parse({"a.toml", "--set"});
                       }),
                       "'--set' needs a value"));
  EXPECT_TRUE(contains(config_error_of([] {
                         parse({"--set", "--help"});
                       }),
                       "'--set' needs a value"));
  EXPECT_TRUE(contains(config_error_of([] { parse({"--set="}); }), "'--set' needs a value"));
}

// ---------------------------------------------------------------- collective errors

TEST(CollectiveErrors, LastRankFailureReachesEveryRank) {
  const int size = world_size();
  const int rank = world_rank();
  const int failing = size - 1;  // with one rank, rank 0 is the failing one
  const bool ok = rank != failing;
  const std::string local = ok ? "" : "deck is bad on rank " + std::to_string(rank);

  std::string message;
  EXPECT_FALSE(wf::comm::all_ranks_ok(MPI_COMM_WORLD, ok, local, message));
  const std::string expected_tail = "deck is bad on rank " + std::to_string(failing);
  // error.cpp names the rank unless every rank failed (with one rank, rank 0 failing is all).
  const std::string expected =
      size > 1 ? "rank " + std::to_string(failing) + ": " + expected_tail : expected_tail;
  EXPECT_EQ(message, expected);

  ::testing::internal::CaptureStderr();
  const int code = wf::comm::collective_exit_code(MPI_COMM_WORLD, ok, local);
  const std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(code, 0);
  if (rank == 0) {
    EXPECT_TRUE(contains(printed, "error: " + expected)) << printed;
  } else {
    EXPECT_EQ(printed, "");  // one message, from rank 0 only
  }

  std::string unused;
  EXPECT_TRUE(wf::comm::all_ranks_ok(MPI_COMM_WORLD, true, "", unused));
  EXPECT_EQ(wf::comm::collective_exit_code(MPI_COMM_WORLD, true, ""), 0);
}

TEST(CollectiveErrors, AllRanksFailingGiveOneUnprefixedMessage) {
  const int rank = world_rank();
  std::string message;
  EXPECT_FALSE(wf::comm::all_ranks_ok(MPI_COMM_WORLD, false, "bad " + std::to_string(rank), message));
  EXPECT_EQ(message, "bad 0");  // the lowest rank's message; no rank named, all failed alike
}

TEST(CollectiveErrors, LowestFailingRankIsNamed) {
  const int size = world_size();
  const int rank = world_rank();
  const bool ok = rank == 0 && size > 1;  // every rank but 0 fails (with one rank: rank 0 fails)
  std::string message;
  EXPECT_FALSE(wf::comm::all_ranks_ok(MPI_COMM_WORLD, ok, "bad " + std::to_string(rank), message));
  EXPECT_EQ(message, size > 1 ? "rank 1: bad 1" : "bad 0");
}

TEST(CollectiveErrors, ConfigErrorOnOneRankFailsAll) {
  // Only the last rank gets a bad override; every rank must learn of it.
  const int size = world_size();
  const int rank = world_rank();
  std::vector<std::string> overrides;
  if (rank == size - 1) overrides.push_back("attention.heads=-3");
  bool ok = true;
  std::string local;
  try {
    load_config("", overrides);
  } catch (const ConfigError& error) {
    ok = false;
    local = error.what();
  }
  std::string message;
  EXPECT_FALSE(wf::comm::all_ranks_ok(MPI_COMM_WORLD, ok, local, message));
  EXPECT_TRUE(contains(message, "attention.heads = -3 is out of range")) << message;
}

}  // namespace
}  // namespace wf::config

// Every deck shipped in inputs/ loads and validates (the GPU decks too, on any machine).
TEST(Deck, ShippedDecksAreValid) {
  const std::string here = __FILE__;
  const std::string inputs = here.substr(0, here.find_last_of('/')) + "/../inputs";
  int decks = 0;
  for (const auto& entry : std::filesystem::directory_iterator(inputs)) {
    if (entry.path().extension() != ".toml") continue;
    ++decks;
    EXPECT_NO_THROW(wf::config::load_config(entry.path().string(), {})) << entry.path();
  }
  EXPECT_GE(decks, 8);
}

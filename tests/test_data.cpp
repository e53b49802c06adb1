// Training data (src/model/data): deterministic in (seed, sample), in range, the recall format
// as documented in model/data.hpp, next-token targets, shards that reassemble the sequence, errors
// that name the deck key, and uniform tokens that pass chi-square tests.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "model/data.hpp"
#include "mpi_test_util.hpp"

namespace {

using wf::DataMode;
using wf::model::DataOptions;
using Tokens = std::vector<std::int64_t>;

DataOptions recall(std::int64_t seq_len, int vocab, int pairs = 0, std::uint64_t seed = 11) {
  DataOptions o;
  o.mode = DataMode::recall;
  o.seq_len = seq_len;
  o.vocab = vocab;
  o.seed = seed;
  o.pairs = pairs;
  return o;
}

DataOptions uniform(std::int64_t seq_len, int vocab, std::uint64_t seed = 11) {
  DataOptions o = recall(seq_len, vocab, 0, seed);
  o.mode = DataMode::uniform;
  return o;
}

/// FNV-1a over the token ids.
std::uint64_t checksum(const Tokens& tokens) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (std::int64_t t : tokens)
    for (int b = 0; b < 8; ++b) {
      h ^= (static_cast<std::uint64_t>(t) >> (8 * b)) & 0xFF;
      h *= 0x100000001B3ull;
    }
  return h;
}

/// Upper 1 - 2.9e-7 quantile (z = 5) of chi-square with k degrees of freedom, by the
/// Wilson-Hilferty cube-root normal approximation (accurate to a few percent for k >= 6, far
/// below the margin a broken generator produces: one empty bin alone adds its expected count).
double chi_square_bound(int k) {
  const double z = 5.0, a = 2.0 / (9.0 * k);
  return k * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

double chi_square(const std::vector<double>& counts, double expected) {
  double x = 0.0;
  for (double c : counts) x += (c - expected) * (c - expected) / expected;
  return x;
}

using wf::testing::error_message;

struct Entry {
  std::int64_t position, key, value;
};

/// Parses a recall sample by the rules of model/data.hpp, checking them as it goes.
void check_recall_structure(const DataOptions& o, std::int64_t sample) {
  SCOPED_TRACE("seq_len " + std::to_string(o.seq_len) + " vocab " + std::to_string(o.vocab) + " sample " +
               std::to_string(sample));
  const Tokens tokens = wf::model::make_tokens(o, sample);
  const auto ids = wf::model::recall_vocab(o.vocab);
  const std::int64_t n = o.seq_len, quarter = n / 4;
  ASSERT_EQ(static_cast<std::int64_t>(tokens.size()), n);
  auto is_key = [&](std::int64_t t) { return t >= ids.first_key && t < ids.first_key + ids.keys; };
  auto is_value = [&](std::int64_t t) { return t >= ids.first_value && t < ids.first_value + ids.values; };

  EXPECT_EQ(tokens[0], wf::model::kSeparatorToken);
  std::vector<Entry> pairs, queries;
  std::set<std::int64_t> structured{0};  // positions that belong to the separator, pairs and queries
  for (std::int64_t i = 1; i < n; ++i) {
    const std::int64_t t = tokens[static_cast<std::size_t>(i)];
    EXPECT_NE(t, wf::model::kSeparatorToken) << "separator at " << i;
    if (t == wf::model::kQueryToken) {
      ASSERT_LT(i + 2, n) << "query cut off at " << i;
      EXPECT_GE(i, n - quarter) << "query outside the final quarter";
      EXPECT_EQ((i - (n - quarter)) % 3, 0) << "query not on a three-token slot";
      const std::int64_t key = tokens[static_cast<std::size_t>(i + 1)], value = tokens[static_cast<std::size_t>(i + 2)];
      EXPECT_TRUE(is_key(key)) << "query at " << i << " asks " << key;
      EXPECT_TRUE(is_value(value)) << "query at " << i << " answers " << value;
      queries.push_back({i, key, value});
      structured.insert({i, i + 1, i + 2});
      i += 2;
    } else if (is_key(t)) {
      ASSERT_LT(i + 1, quarter) << "key outside the first quarter at " << i;
      EXPECT_EQ(i % 2, 1) << "pair not on a two-token slot";
      const std::int64_t value = tokens[static_cast<std::size_t>(i + 1)];
      EXPECT_TRUE(is_value(value)) << "key at " << i << " followed by " << value;
      pairs.push_back({i, t, value});
      structured.insert({i, i + 1});
      i += 1;
    } else {
      EXPECT_TRUE(t == wf::model::kFillerToken || is_value(t)) << "distractor " << t << " at " << i;
    }
  }

  const int expected_pairs = wf::model::recall_pairs(o);
  EXPECT_EQ(static_cast<int>(pairs.size()), expected_pairs);
  EXPECT_EQ(static_cast<int>(queries.size()), expected_pairs);
  std::map<std::int64_t, Entry> by_key;
  for (const Entry& p : pairs) EXPECT_TRUE(by_key.emplace(p.key, p).second) << "key " << p.key << " repeated";
  std::set<std::int64_t> asked;
  Tokens expected_recall;
  const Tokens next = wf::model::targets(tokens);
  for (const Entry& q : queries) {
    EXPECT_TRUE(asked.insert(q.key).second) << "key " << q.key << " asked twice";
    const auto it = by_key.find(q.key);
    ASSERT_NE(it, by_key.end()) << "query at " << q.position << " asks key " << q.key << " never paired";
    EXPECT_LT(it->second.position, q.position);
    EXPECT_EQ(it->second.value, q.value) << "query at " << q.position;
    expected_recall.push_back(q.position + 1);
    EXPECT_EQ(next[static_cast<std::size_t>(q.position + 1)], it->second.value);
  }
  EXPECT_EQ(asked.size(), by_key.size()) << "every pair is asked";
  EXPECT_EQ(wf::model::recall_positions(o, sample), expected_recall);
}

TEST(Data, DeterministicInSeedAndSample) {
  for (const DataOptions& o : {recall(512, 64), uniform(512, 64)}) {
    const Tokens a = wf::model::make_tokens(o, 5);
    EXPECT_EQ(a, wf::model::make_tokens(o, 5));
    EXPECT_NE(a, wf::model::make_tokens(o, 6));
    EXPECT_NE(a, wf::model::make_tokens(o, -5));
    DataOptions other_seed = o;
    other_seed.seed = o.seed + 1;
    EXPECT_NE(a, wf::model::make_tokens(other_seed, 5));
  }
  // Recall layouts differ between samples too, not only the distractors.
  EXPECT_NE(wf::model::recall_positions(recall(512, 64), 1), wf::model::recall_positions(recall(512, 64), 2));
}

// The stream is part of the data format (runs are reproducible across builds and machines):
// these checksums change only when the format does; then update them on purpose.
TEST(Data, StreamIsPinned) {
  EXPECT_EQ(checksum(wf::model::make_tokens(recall(256, 32, 0, 7), 3)), 0x10403996f0fe5066ull);
  EXPECT_EQ(checksum(wf::model::make_tokens(uniform(256, 32, 7), 3)), 0x78a2c276cff73088ull);
}

TEST(Data, SameOnEveryRank) {
  const std::uint64_t local = checksum(wf::model::make_tokens(recall(4096, 256, 0, 99), 17)) ^
                              checksum(wf::model::make_tokens(uniform(4096, 256, 99), 17));
  std::uint64_t low = local, high = local;
  MPI_Allreduce(MPI_IN_PLACE, &low, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &high, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  EXPECT_EQ(low, high);
}

TEST(Data, TokensInRange) {
  for (const DataOptions& o :
       {recall(16, 16), recall(1000, 16), recall(4096, 300), uniform(2, 2), uniform(999, 7), uniform(4096, 50257)})
    for (std::int64_t sample = 0; sample < 20; ++sample) {
      const Tokens t = wf::model::make_tokens(o, sample);
      ASSERT_EQ(static_cast<std::int64_t>(t.size()), o.seq_len);
      EXPECT_GE(*std::min_element(t.begin(), t.end()), 0);
      EXPECT_LT(*std::max_element(t.begin(), t.end()), o.vocab);
    }
}

TEST(Data, RecallStructure) {
  for (const DataOptions& o : {recall(16, 16), recall(17, 16), recall(100, 16, 2), recall(100, 16, 6), recall(1024, 64),
                               recall(4096, 256), recall(4099, 256, 5), recall(4096, 256, 64, 3)})
    for (std::int64_t sample = 0; sample < 40; ++sample) check_recall_structure(o, sample);
  EXPECT_TRUE(wf::model::recall_positions(uniform(64, 16), 0).empty());
}

TEST(Data, RecallPairCount) {
  EXPECT_EQ(wf::model::recall_pairs(recall(16, 16)), 1);         // N / 32 = 0, at least 1
  EXPECT_EQ(wf::model::recall_pairs(recall(64, 256)), 2);        // N / 32
  EXPECT_EQ(wf::model::recall_pairs(recall(1024, 256)), 32);     // N / 32
  EXPECT_EQ(wf::model::recall_pairs(recall(4096, 256)), 64);     // at most 64
  EXPECT_EQ(wf::model::recall_pairs(recall(1 << 20, 256)), 64);  // at most 64
  EXPECT_EQ(wf::model::recall_pairs(recall(1024, 16)), 6);       // only (16 - 3) / 2 = 6 key ids
  EXPECT_EQ(wf::model::recall_pairs(recall(1024, 16, 3)), 3);    // as asked
  EXPECT_EQ(wf::model::recall_pairs(uniform(1024, 16)), 0);
  const auto ids = wf::model::recall_vocab(16);
  EXPECT_EQ(ids.first_key, 3);
  EXPECT_EQ(ids.keys, 6);
  EXPECT_EQ(ids.first_value, 9);
  EXPECT_EQ(ids.values, 7);
}

TEST(Data, RecallDistractorsAreFairCoinsOverValues) {
  // recall_floor assumes a distractor is filler with probability 1/2, else a uniform value id.
  const DataOptions o = recall(4096, 40);
  const auto ids = wf::model::recall_vocab(o.vocab);
  std::vector<double> value_counts(static_cast<std::size_t>(ids.values), 0.0);
  double filler = 0.0, distractors = 0.0;
  for (std::int64_t sample = 0; sample < 16; ++sample) {
    const Tokens t = wf::model::make_tokens(o, sample);
    // Distractors live between the first and the last quarter (no pair or query there).
    for (std::int64_t i = o.seq_len / 4; i < o.seq_len - o.seq_len / 4; ++i) {
      const std::int64_t token = t[static_cast<std::size_t>(i)];
      distractors += 1.0;
      if (token == wf::model::kFillerToken)
        filler += 1.0;
      else
        value_counts.at(static_cast<std::size_t>(token - ids.first_value)) += 1.0;
    }
  }
  // Binomial(distractors, 1/2): five standard deviations.
  EXPECT_NEAR(filler, distractors / 2, 5.0 * std::sqrt(distractors / 4));
  const double values = distractors - filler;
  EXPECT_LT(chi_square(value_counts, values / static_cast<double>(ids.values)),
            chi_square_bound(static_cast<int>(ids.values) - 1));
}

TEST(Data, Targets) {
  const Tokens tokens = wf::model::make_tokens(recall(64, 16), 0);
  const Tokens next = wf::model::targets(tokens);
  ASSERT_EQ(next.size(), tokens.size());
  for (std::size_t i = 0; i + 1 < tokens.size(); ++i) EXPECT_EQ(next[i], tokens[i + 1]) << i;
  EXPECT_EQ(next.back(), -1);
  EXPECT_EQ(std::count(next.begin(), next.end(), -1), 1);  // N - 1 positions count in the loss
  EXPECT_EQ(wf::model::targets({7}), Tokens{-1});
  EXPECT_TRUE(wf::model::targets({}).empty());
}

TEST(Data, ZigzagStorageOrder) {
  Tokens global(8);
  std::iota(global.begin(), global.end(), std::int64_t(100));
  const wf::nbody::Sharding zigzag(8, 2, true), contiguous(8, 2, false);
  EXPECT_EQ(wf::model::shard_tokens(global, zigzag, 0), (Tokens{100, 101, 106, 107}));  // chunks 0 and 3
  EXPECT_EQ(wf::model::shard_tokens(global, zigzag, 1), (Tokens{102, 103, 104, 105}));  // chunks 1 and 2
  EXPECT_EQ(wf::model::shard_tokens(global, contiguous, 1), (Tokens{104, 105, 106, 107}));
}

TEST(Data, ShardsReassembleTheSequence) {
  const DataOptions o = recall(256, 32);
  const Tokens tokens = wf::model::make_tokens(o, 4), next = wf::model::targets(tokens);
  for (int shards : {1, 2, 4, 8})
    for (bool zigzag : {false, true}) {
      SCOPED_TRACE(std::to_string(shards) + (zigzag ? " zigzag" : " contiguous"));
      const wf::nbody::Sharding sharding(o.seq_len, shards, zigzag);
      Tokens tokens_back(tokens.size(), -7), next_back(next.size(), -7);
      std::vector<int> seen(tokens.size(), 0);
      for (int s = 0; s < shards; ++s) {
        const Tokens mine = wf::model::shard_tokens(tokens, sharding, s);
        const Tokens mine_next = wf::model::shard_tokens(next, sharding, s);
        const auto positions = sharding.positions(s, 1);
        ASSERT_EQ(mine.size(), positions.size());
        ASSERT_EQ(static_cast<std::int64_t>(mine.size()), o.seq_len / shards);
        for (std::size_t i = 0; i < positions.size(); ++i) {
          const auto p = static_cast<std::size_t>(positions[i]);
          tokens_back[p] = mine[i];
          next_back[p] = mine_next[i];
          ++seen[p];
        }
      }
      EXPECT_EQ(tokens_back, tokens);
      EXPECT_EQ(next_back, next);
      EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), o.seq_len) << "every position in exactly one shard";
    }
}

TEST(Data, ShardTokensRejectsMismatches) {
  const wf::nbody::Sharding sharding(16, 2, true);
  EXPECT_NE(error_message([&] { wf::model::shard_tokens(Tokens(15), sharding, 0); }).find("16"), std::string::npos);
  EXPECT_THROW(wf::model::shard_tokens(Tokens(16), sharding, 2), wf::Error);
  EXPECT_THROW(wf::model::shard_tokens(Tokens(16), sharding, -1), wf::Error);
}

TEST(Data, ErrorsNameTheDeckKey) {
  const std::string small_vocab = error_message([] { wf::model::make_tokens(recall(64, 15), 0); });
  EXPECT_NE(small_vocab.find("model.vocab"), std::string::npos) << small_vocab;
  EXPECT_NE(small_vocab.find("16"), std::string::npos) << small_vocab;
  EXPECT_NO_THROW(wf::model::make_tokens(recall(64, 16), 0));
  EXPECT_NO_THROW(wf::model::make_tokens(uniform(64, 15), 0));  // uniform data has no special ids
  EXPECT_NE(error_message([] { wf::model::make_tokens(uniform(64, 1), 0); }).find("model.vocab"), std::string::npos);
  EXPECT_NE(error_message([] { wf::model::make_tokens(recall(15, 64), 0); }).find("attention.seq_len"),
            std::string::npos);
  EXPECT_NE(error_message([] { wf::model::make_tokens(uniform(1, 64), 0); }).find("attention.seq_len"),
            std::string::npos);
  // 64 tokens: 7 two-token slots in [1, 16) and 5 three-token slots in [48, 64).
  EXPECT_NO_THROW(wf::model::make_tokens(recall(64, 256, 5), 0));
  const std::string too_many = error_message([] { wf::model::make_tokens(recall(64, 256, 6), 0); });
  EXPECT_NE(too_many.find("model.pairs"), std::string::npos) << too_many;
  EXPECT_NE(too_many.find("and 5"), std::string::npos) << too_many;
  EXPECT_NE(error_message([] { wf::model::recall_positions(recall(64, 256, -1), 0); }).find("model.pairs"),
            std::string::npos);
  EXPECT_NE(error_message([] { wf::model::recall_floor(recall(64, 10)); }).find("model.vocab"), std::string::npos);
}

TEST(Data, UniformHistogram) {
  // 2^16 tokens over 64 ids: 1024 expected per id; chi-square with 63 degrees of freedom.
  const DataOptions o = uniform(1 << 16, 64, 2024);
  const Tokens t = wf::model::make_tokens(o, 0);
  std::vector<double> counts(64, 0.0);
  for (std::int64_t token : t) counts.at(static_cast<std::size_t>(token)) += 1.0;
  EXPECT_LT(chi_square(counts, double(t.size()) / 64), chi_square_bound(63));

  // Neighbours independent: (t_i, t_i+1) over 16 x 16 cells, 256 expected per cell.
  const DataOptions small = uniform((1 << 16) + 1, 16, 2024);
  const Tokens u = wf::model::make_tokens(small, 1);
  std::vector<double> cells(256, 0.0);
  for (std::size_t i = 0; i + 1 < u.size(); ++i) cells.at(static_cast<std::size_t>(u[i] * 16 + u[i + 1])) += 1.0;
  EXPECT_LT(chi_square(cells, double(u.size() - 1) / 256), chi_square_bound(255));

  // Samples independent: the first token of 4096 samples over 16 ids.
  std::vector<double> first(16, 0.0);
  for (std::int64_t sample = 0; sample < 4096; ++sample)
    first.at(static_cast<std::size_t>(wf::model::make_tokens(uniform(2, 16, 5), sample)[0])) += 1.0;
  EXPECT_LT(chi_square(first, 4096.0 / 16), chi_square_bound(15));
}

TEST(Data, LossFloors) {
  EXPECT_DOUBLE_EQ(wf::model::uniform_loss(50257), std::log(50257.0));
  EXPECT_DOUBLE_EQ(wf::model::recall_floor(uniform(64, 16)), std::log(16.0));
  // By hand for N = 64, vocab 16 (K = 6 keys, V = 7 values), 2 pairs: C(7, 2) pair slots,
  // 6 x 5 ordered keys, 7^2 values, C(5, 2) query slots, 2! query orders, and
  // 64 - 1 - 5 x 2 = 53 distractors of entropy ln 2 + ln(7) / 2, over 63 predicted positions.
  const double by_hand = (std::log(21.0) + std::log(30.0) + 2 * std::log(7.0) + std::log(10.0) + std::log(2.0) +
                          53 * (std::log(2.0) + 0.5 * std::log(7.0))) /
                         63;
  EXPECT_NEAR(wf::model::recall_floor(recall(64, 16, 2)), by_hand, 1e-12);
  for (const DataOptions& o : {recall(16, 16), recall(4096, 256), recall(1 << 16, 50257)}) {
    const double floor = wf::model::recall_floor(o);
    EXPECT_GT(floor, 0.0);
    EXPECT_LT(floor, wf::model::uniform_loss(o.vocab));
  }
}

}  // namespace

#include "model/data.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "core/error.hpp"
#include "model/random_stream.hpp"

namespace wf::model {
namespace {

constexpr int kMinRecallVocab = 16;         // 3 special ids + at least 6 keys and 7 values
constexpr std::int64_t kMinRecallLen = 16;  // a quarter of 4 tokens: one pair slot, one query slot
constexpr std::int64_t kAutoPairsMax = 64;
constexpr std::int64_t kAutoTokensPerPair = 32;

/// The first `count` entries of a uniformly shuffled 0..n-1 (partial Fisher-Yates): a uniform
/// ordered choice of `count` distinct values.
std::vector<std::int64_t> choose_distinct(Stream& stream, std::int64_t n, std::int64_t count) {
  std::vector<std::int64_t> items(static_cast<std::size_t>(n));
  std::iota(items.begin(), items.end(), std::int64_t(0));
  for (std::int64_t i = 0; i < count; ++i) {
    const auto j = i + static_cast<std::int64_t>(stream.below(static_cast<std::uint64_t>(n - i)));
    std::swap(items[static_cast<std::size_t>(i)], items[static_cast<std::size_t>(j)]);
  }
  items.resize(static_cast<std::size_t>(count));
  return items;
}

/// Geometry of a recall sample (see the header).
struct RecallLayout {
  std::int64_t quarter = 0, pair_slots = 0, query_slots = 0, query_begin = 0;
};

RecallLayout recall_layout(std::int64_t seq_len) {
  RecallLayout g;
  g.quarter = seq_len / 4;
  g.pair_slots = (g.quarter - 1) / 2;  // position 0 is the separator
  g.query_slots = g.quarter / 3;
  g.query_begin = seq_len - g.quarter;
  return g;
}

/// The largest number of pairs the vocabulary and the slots allow.
std::int64_t max_pairs(const DataOptions& o) {
  const RecallLayout g = recall_layout(o.seq_len);
  return std::min({recall_vocab(o.vocab).keys, g.pair_slots, g.query_slots});
}

/// One recall sample: tokens, and (when asked) the positions of the queried keys.
std::vector<std::int64_t> make_recall(const DataOptions& o, std::int64_t sample, std::vector<std::int64_t>* recalled) {
  const RecallVocab ids = recall_vocab(o.vocab);
  const RecallLayout g = recall_layout(o.seq_len);
  const std::int64_t pairs = recall_pairs(o);
  Stream stream(o.seed, sample);

  // The order of the draws is part of the data format: changing it changes every sample.
  std::vector<std::int64_t> pair_slots = choose_distinct(stream, g.pair_slots, pairs);
  std::sort(pair_slots.begin(), pair_slots.end());
  const std::vector<std::int64_t> keys = choose_distinct(stream, ids.keys, pairs);
  std::vector<std::int64_t> values(static_cast<std::size_t>(pairs));
  for (auto& v : values) v = static_cast<std::int64_t>(stream.below(static_cast<std::uint64_t>(ids.values)));
  std::vector<std::int64_t> query_slots = choose_distinct(stream, g.query_slots, pairs);
  std::sort(query_slots.begin(), query_slots.end());
  const std::vector<std::int64_t> asked = choose_distinct(stream, pairs, pairs);  // a permutation

  constexpr std::int64_t kUnset = -1;
  std::vector<std::int64_t> tokens(static_cast<std::size_t>(o.seq_len), kUnset);
  tokens[0] = kSeparatorToken;
  for (std::int64_t p = 0; p < pairs; ++p) {
    const auto at = static_cast<std::size_t>(1 + 2 * pair_slots[static_cast<std::size_t>(p)]);
    tokens[at] = ids.first_key + keys[static_cast<std::size_t>(p)];
    tokens[at + 1] = ids.first_value + values[static_cast<std::size_t>(p)];
  }
  if (recalled) recalled->clear();
  for (std::int64_t q = 0; q < pairs; ++q) {
    const auto at = static_cast<std::size_t>(g.query_begin + 3 * query_slots[static_cast<std::size_t>(q)]);
    const auto p = static_cast<std::size_t>(asked[static_cast<std::size_t>(q)]);
    tokens[at] = kQueryToken;
    tokens[at + 1] = ids.first_key + keys[p];
    tokens[at + 2] = ids.first_value + values[p];
    if (recalled) recalled->push_back(static_cast<std::int64_t>(at + 1));  // its target is the value
  }
  for (auto& t : tokens)
    if (t == kUnset)
      t = stream.coin()
              ? kFillerToken
              : ids.first_value + static_cast<std::int64_t>(stream.below(static_cast<std::uint64_t>(ids.values)));
  return tokens;
}

/// ln(n! / (n - k)!): ordered choices of k distinct items out of n.
double log_falling(std::int64_t n, std::int64_t k) {
  return std::lgamma(static_cast<double>(n) + 1.0) - std::lgamma(static_cast<double>(n - k) + 1.0);
}

}  // namespace

RecallVocab recall_vocab(int vocab) {
  RecallVocab r;
  const std::int64_t free_ids = std::max<std::int64_t>(std::int64_t(vocab) - r.first_key, 0);
  r.keys = free_ids / 2;
  r.first_value = r.first_key + r.keys;
  r.values = free_ids - r.keys;
  return r;
}

void check_data_options(const DataOptions& o) {
  if (o.mode == DataMode::uniform) {
    require(o.vocab >= 2, "model.vocab = " + std::to_string(o.vocab) + " must be at least 2");
    require(o.seq_len >= 2, "attention.seq_len = " + std::to_string(o.seq_len) +
                                " must be at least 2 (the loss needs a position with a next token)");
    return;
  }
  require(o.vocab >= kMinRecallVocab,
          "model.vocab = " + std::to_string(o.vocab) + " is too small for recall data: it needs at least " +
              std::to_string(kMinRecallVocab) + " (3 special ids, then key ids and value ids)");
  require(o.seq_len >= kMinRecallLen, "attention.seq_len = " + std::to_string(o.seq_len) +
                                          " is too short for recall data: it needs at least " +
                                          std::to_string(kMinRecallLen) + " tokens");
  require(o.pairs >= 0 && o.pairs <= max_pairs(o),
          "model.pairs = " + std::to_string(o.pairs) + " must be between 0 (choose) and " +
              std::to_string(max_pairs(o)) + " for model.vocab = " + std::to_string(o.vocab) +
              " and attention.seq_len = " + std::to_string(o.seq_len) +
              " (distinct keys, two-token slots in the first quarter, three-token slots in the last)");
}

int recall_pairs(const DataOptions& o) {
  check_data_options(o);
  if (o.mode == DataMode::uniform) return 0;
  if (o.pairs > 0) return o.pairs;
  // Enough pairs that recall is a visible part of the task, few enough that most of the
  // sequence is distractors the queries must reach across.
  const std::int64_t wanted = std::max<std::int64_t>(1, std::min(o.seq_len / kAutoTokensPerPair, kAutoPairsMax));
  return static_cast<int>(std::min(wanted, max_pairs(o)));
}

std::vector<std::int64_t> make_tokens(const DataOptions& o, std::int64_t sample) {
  check_data_options(o);
  if (o.mode == DataMode::recall) return make_recall(o, sample, nullptr);
  Stream stream(o.seed, sample);
  std::vector<std::int64_t> tokens(static_cast<std::size_t>(o.seq_len));
  for (auto& t : tokens) t = static_cast<std::int64_t>(stream.below(static_cast<std::uint64_t>(o.vocab)));
  return tokens;
}

std::vector<std::int64_t> targets(const std::vector<std::int64_t>& tokens) {
  std::vector<std::int64_t> out(tokens.size(), -1);
  for (std::size_t i = 0; i + 1 < tokens.size(); ++i) out[i] = tokens[i + 1];
  return out;
}

std::vector<std::int64_t> recall_positions(const DataOptions& o, std::int64_t sample) {
  check_data_options(o);
  std::vector<std::int64_t> positions;
  if (o.mode == DataMode::recall) make_recall(o, sample, &positions);
  return positions;
}

double uniform_loss(int vocab) { return std::log(static_cast<double>(vocab)); }

double recall_floor(const DataOptions& o) {
  check_data_options(o);
  if (o.mode == DataMode::uniform) return uniform_loss(o.vocab);
  // Position 0 is fixed and the sequence determines every choice of make_recall (keys and the
  // marker occur only where placed), so H(tokens 1..N-1 | token 0) is the sum of the entropies
  // of the choices, and by the chain rule that sum is the best expected total log-loss.
  const RecallVocab ids = recall_vocab(o.vocab);
  const RecallLayout g = recall_layout(o.seq_len);
  const std::int64_t p = recall_pairs(o);
  const double log_values = std::log(static_cast<double>(ids.values));
  const double log_binomial_pairs = log_falling(g.pair_slots, p) - log_falling(p, p);
  const double log_binomial_queries = log_falling(g.query_slots, p) - log_falling(p, p);
  const double structure =
      log_binomial_pairs + log_falling(ids.keys, p) + double(p) * log_values + log_binomial_queries + log_falling(p, p);
  const std::int64_t distractors = o.seq_len - 1 - 5 * p;
  const double per_distractor = std::log(2.0) + 0.5 * log_values;  // filler 1/2, each value 1/(2V)
  return (structure + double(distractors) * per_distractor) / double(o.seq_len - 1);
}

std::vector<std::int64_t> shard_tokens(const std::vector<std::int64_t>& global, const nbody::Sharding& sharding,
                                       int shard) {
  require(static_cast<index_t>(global.size()) == sharding.tokens(),
          "shard_tokens: the sequence has " + std::to_string(global.size()) + " entries but the sharding splits " +
              std::to_string(sharding.tokens()) + " tokens");
  require(shard >= 0 && shard < sharding.shards(), "shard_tokens: shard " + std::to_string(shard) +
                                                       " does not exist (there are " +
                                                       std::to_string(sharding.shards()) + ")");
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(sharding.shard_tokens()));
  for (const index_t position : sharding.positions(shard, 1)) out.push_back(global[static_cast<std::size_t>(position)]);
  return out;
}

}  // namespace wf::model

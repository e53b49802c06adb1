// Training data: synthetic token sequences for the transformer (DESIGN 3, src/model/).
//
// Every rank builds the whole global sequence of a sample (tokens are cheap; the activations
// are what is sharded) and then keeps its shard with shard_tokens(). The sequence depends on
// (seed, sample) only: never on the rank or the process count, so a run on P processes trains
// on exactly the data of a run on one. The generator is our own (splitmix64 and unbiased
// rejection sampling, no std:: distributions), so the data are also the same on every compiler
// and standard library; test_data pins the stream with a checksum.
//
// Two modes (DataMode):
//
// uniform: token i is i.i.d. uniform in [0, vocab). Nothing can be learnt; the loss of any
//   model is at least ln(vocab) (uniform_loss).
//
// recall: a long-range associative recall task: the loss falls below the distractor level only
//   if attention reaches from the end of the sequence back to its beginning, that is across
//   shards. Token ids (vocab >= 16):
//     0                      filler (also a distractor, see below)
//     1                      query marker
//     2                      separator: position 0 of every sample (a beginning-of-sample mark;
//                            it appears nowhere else)
//     [3, 3 + K)             key ids,   K = (vocab - 3) / 2
//     [3 + K, vocab)         value ids, V = vocab - 3 - K
//   With N = seq_len, Q = N / 4 (rounded down) and p = recall_pairs(options):
//     position 0             separator
//     context [1, Q)         p pairs "key value", one per two-token slot (slot j holds positions
//                            1 + 2j and 2 + 2j); the p slots are a uniform random subset of the
//                            (Q - 1) / 2 slots; keys are distinct, values i.i.d. uniform
//     query part [N - Q, N)  p queries "marker key value", one per three-token slot (slot j
//                            starts at N - Q + 3j); the p slots are a uniform random subset of the
//                            Q / 3 slots; every key of the context is asked exactly once, in
//                            uniform random order, followed by the value it was paired with
//     every other position   a distractor: filler with probability 1/2, else a uniform value id
//                            (never a key, marker or separator, so each key occurs exactly twice)
//   The value of a query is predictable only by attending back to its pair: recall_positions()
//   lists the positions whose target is such a value (the key of each query), for measuring
//   recall accuracy apart from the loss. recall_floor() is the lowest expected loss a model can
//   reach on this data.
#pragma once

#include <cstdint>
#include <vector>

#include "core/enums.hpp"
#include "nbody/sharding.hpp"

namespace wf::model {

/// \brief What make_tokens() builds.
struct DataOptions {
  DataMode mode = DataMode::recall;
  std::int64_t seq_len = 0;  ///< N, tokens per sample (attention.seq_len)
  int vocab = 0;             ///< token ids are in [0, vocab) (model.vocab)
  std::uint64_t seed = 0;    ///< with the sample number, the only source of randomness
  int pairs = 0;             ///< recall: key-value pairs per sample; 0 chooses (recall_pairs)
};

/// Special token ids of the recall mode.
constexpr std::int64_t kFillerToken = 0;
constexpr std::int64_t kQueryToken = 1;
constexpr std::int64_t kSeparatorToken = 2;

/// \brief The id ranges of the recall mode: keys [first_key, first_key + keys), values
/// [first_value, first_value + values).
struct RecallVocab {
  std::int64_t first_key = 3, keys = 0, first_value = 0, values = 0;
};

/// \brief The key and value id ranges for a vocabulary of `vocab` ids (vocab >= 16).
RecallVocab recall_vocab(int vocab);

/// \brief Throws wf::Error naming the deck key (model.vocab, attention.seq_len, model.pairs)
/// when the options cannot make data of their mode.
void check_data_options(const DataOptions& options);

/// \brief Key-value pairs per recall sample: options.pairs, or when that is 0,
/// min(seq_len / 32, 64) (at least 1) capped by the key ids and the slots there are.
/// 0 in uniform mode. Throws like check_data_options().
int recall_pairs(const DataOptions& options);

/// \brief The whole global sequence of sample `sample`: seq_len token ids in [0, vocab),
/// a function of (seed, sample) only. Throws like check_data_options().
std::vector<std::int64_t> make_tokens(const DataOptions& options, std::int64_t sample);

/// \brief Next-token targets: targets[i] = tokens[i + 1], and -1 (ignored by the loss) at the
/// last position, so the loss is the mean over the N - 1 positions with a next token
/// (DESIGN 2.7).
std::vector<std::int64_t> targets(const std::vector<std::int64_t>& tokens);

/// \brief Ascending positions whose target is a recalled value (the key of each query) in
/// sample `sample`; empty in uniform mode.
std::vector<std::int64_t> recall_positions(const DataOptions& options, std::int64_t sample);

/// \brief ln(vocab): the loss of a model that knows nothing (uniform predictions).
double uniform_loss(int vocab);

/// \brief The lowest expected loss (mean over the N - 1 predicted positions) that any model can
/// reach: the entropy of a sample given its first token over N - 1, exact because the sequence
/// determines every random choice that made it. ln(vocab) in uniform mode. A model that reaches
/// it predicts every recalled value (0 loss there); one that cannot see the pairs pays at least
/// ln(recall_vocab(vocab).values) more at each recall position.
double recall_floor(const DataOptions& options);

/// \brief The entries of `global` (tokens or targets, one per global position) that shard
/// `shard` holds, in its storage order (zigzag: chunk s, then chunk 2P-1-s). Throws wf::Error
/// when global does not have sharding.tokens() entries or the shard does not exist.
std::vector<std::int64_t> shard_tokens(const std::vector<std::int64_t>& global, const nbody::Sharding& sharding,
                                       int shard);

}  // namespace wf::model

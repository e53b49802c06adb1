// Which tokens each process holds (DESIGN 2.2). The process with grid coordinates (team t,
// local a) holds logical shard s = t c + a whatever the arrangement, so results do not depend
// on how teams are placed on ranks. Contiguous: shard s is tokens [s N/P, (s+1) N/P).
// Zigzag (causal runs): 2P chunks of N/(2P); shard s holds chunks s and 2P-1-s, so every
// shard has the same causal work.
// Merged (the hybrid's ring groups): shard s of a sharding merged by u is the u shards
// s u .. s u + u - 1 of the base sharding, back to back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/types.hpp"

namespace wf::nbody {

/// \brief Tokens [begin, begin + count) of the global sequence.
struct TokenRange {
  index_t begin = 0, count = 0;
};

/// \brief How the sequence is split over P shards.
class Sharding {
 public:
  /// \brief Throws wf::Error when N is not divisible by P (contiguous) or 2P (zigzag).
  Sharding(index_t tokens, int shards, bool zigzag) : tokens_(tokens), shards_(shards), zigzag_(zigzag) {
    const index_t parts = zigzag ? 2 * index_t(shards) : index_t(shards);
    require(tokens % parts == 0, "a sequence of " + std::to_string(tokens) + " tokens cannot be split into " +
                                     std::to_string(parts) + (zigzag ? " zigzag chunks" : " shards"));
  }
  index_t tokens() const { return tokens_; }
  int shards() const { return shards_ / merged_; }
  bool zigzag() const { return zigzag_; }
  index_t shard_tokens() const { return tokens_ / shards(); }

  /// \brief This sharding with every `count` consecutive shards merged into one (shard s holds
  /// the shards s count .. s count + count - 1 of this one, in order). Throws wf::Error unless
  /// count divides shards().
  Sharding merged(int count) const {
    require(count >= 1 && shards() % count == 0, "cannot merge " + std::to_string(shards()) + " shards by " +
                                                     std::to_string(count));
    Sharding result = *this;
    result.merged_ = merged_ * count;
    return result;
  }

  /// \brief The ranges of shard s, in the order its tokens are stored.
  std::vector<TokenRange> ranges(int shard) const {
    std::vector<TokenRange> all;
    for (int base = shard * merged_; base < (shard + 1) * merged_; ++base)
      for (const TokenRange& range : base_ranges(base)) all.push_back(range);
    return all;
  }

  /// \brief Global positions of shards [first, first + count), in storage order.
  std::vector<index_t> positions(int first_shard, int count) const {
    std::vector<index_t> pos;
    for (int s = first_shard; s < first_shard + count; ++s)
      for (const TokenRange& r : ranges(s))
        for (index_t i = 0; i < r.count; ++i) pos.push_back(r.begin + i);
    return pos;
  }

 private:
  /// The ranges of shard `shard` of the sharding before any merge.
  std::vector<TokenRange> base_ranges(int shard) const {
    const index_t base_tokens = tokens_ / shards_;
    if (!zigzag_) return {{shard * base_tokens, base_tokens}};
    const index_t chunk = tokens_ / (2 * index_t(shards_));
    return {{shard * chunk, chunk}, {(2 * index_t(shards_) - 1 - shard) * chunk, chunk}};
  }

  index_t tokens_;
  int shards_;      ///< before any merge
  bool zigzag_;
  int merged_ = 1;  ///< base shards per shard
};

}  // namespace wf::nbody

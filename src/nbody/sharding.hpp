// Which tokens each process holds (DESIGN 2.2). The process with grid coordinates (team t,
// local a) holds logical shard s = t c + a whatever the arrangement, so results do not depend
// on how teams are placed on ranks. Contiguous: shard s is tokens [s N/P, (s+1) N/P).
// Zigzag (causal runs): 2P chunks of N/(2P); shard s holds chunks s and 2P-1-s, so every
// shard has the same causal work.
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
  int shards() const { return shards_; }
  bool zigzag() const { return zigzag_; }
  index_t shard_tokens() const { return tokens_ / shards_; }

  /// \brief The ranges of shard s, in the order its tokens are stored.
  std::vector<TokenRange> ranges(int shard) const {
    if (!zigzag_) return {{shard * shard_tokens(), shard_tokens()}};
    const index_t chunk = tokens_ / (2 * index_t(shards_));
    return {{shard * chunk, chunk}, {(2 * index_t(shards_) - 1 - shard) * chunk, chunk}};
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
  index_t tokens_;
  int shards_;
  bool zigzag_;
};

}  // namespace wf::nbody

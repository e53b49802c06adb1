// Tiling of a (query block, key block) pair and the mask statistics of its tiles.
#pragma once

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <vector>

#include "kernels/attention_types.hpp"

namespace wf::kernels {

/// \brief Row ranges of consecutive tiles of a block, with the position range of each.
struct TileRanges {
  std::vector<index_t> begin, end, min_pos, max_pos;
  std::size_t count() const { return begin.size(); }
};

/// \brief Splits `pos` (host-accessible) into tiles of `tile` tokens.
template <class HostPositions>
TileRanges tile_ranges(const HostPositions& pos, int tile) {
  TileRanges ranges;
  const index_t n = static_cast<index_t>(pos.extent(0));
  for (index_t b = 0; b < n; b += tile) {
    const index_t e = std::min<index_t>(b + tile, n);
    index_t lo = pos(b), hi = pos(b);
    for (index_t i = b; i < e; ++i) {
      lo = std::min(lo, pos(i));
      hi = std::max(hi, pos(i));
    }
    ranges.begin.push_back(b);
    ranges.end.push_back(e);
    ranges.min_pos.push_back(lo);
    ranges.max_pos.push_back(hi);
  }
  return ranges;
}

/// \brief What the tile loop over (q_pos x k_pos) computes, per head (positions on the host).
template <class HostPositions>
TileStats count_tiles(const AttentionOptions& opt, const HostPositions& q_pos,
                      const HostPositions& k_pos) {
  const TileRanges q_tiles = tile_ranges(q_pos, opt.q_tile);
  const TileRanges k_tiles = tile_ranges(k_pos, opt.kv_tile);
  TileStats stats;
  for (std::size_t qt = 0; qt < q_tiles.count(); ++qt) {
    for (std::size_t kt = 0; kt < k_tiles.count(); ++kt) {
      const TileMask cls = classify_tile(opt.mask, q_tiles.min_pos[qt], q_tiles.max_pos[qt],
                                         k_tiles.min_pos[kt], k_tiles.max_pos[kt]);
      if (cls == TileMask::empty) {
        ++stats.tiles_skipped;
        continue;
      }
      ++stats.tiles_computed;
      if (cls == TileMask::full) {
        stats.pairs_unmasked += (q_tiles.end[qt] - q_tiles.begin[qt]) * (k_tiles.end[kt] - k_tiles.begin[kt]);
        continue;
      }
      ++stats.tiles_partial;
      for (index_t i = q_tiles.begin[qt]; i < q_tiles.end[qt]; ++i)
        for (index_t j = k_tiles.begin[kt]; j < k_tiles.end[kt]; ++j)
          stats.pairs_unmasked += pair_visible(opt.mask, q_pos(i), k_pos(j));
    }
  }
  return stats;
}

/// \brief count_tiles for positions in any memory space.
template <class Mem>
TileStats count_tiles_of(const AttentionOptions& opt, const PositionView<Mem>& q_pos,
                         const PositionView<Mem>& k_pos) {
  const auto q_host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), q_pos);
  const auto k_host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), k_pos);
  return count_tiles(opt, q_host, k_host);
}

}  // namespace wf::kernels

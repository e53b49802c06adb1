// Tiling of a (query block, key block) pair: tiles never straddle a jump in positions (a
// zigzag shard or a team block holds several runs of consecutive positions), so that causal
// classification is exact, and the tiles the mask cuts through are refined into blocks of a few
// query rows, so that the pairs computed stay close to the pairs needed whatever N, P and tile.
#pragma once

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/attention_types.hpp"

namespace wf::kernels {

/// Query rows per block when a tile is cut by the causal mask (the blas path): the masked part
/// computed in vain is rows^2 / 2 pairs per block instead of tile^2 / 2 per tile.
constexpr int diagonal_block_rows = 16;

/// \brief Row ranges of consecutive tiles of a block, with the position range of each. Every
/// tile holds consecutive positions: min_pos is its first row's, max_pos its last row's.
struct TileRanges {
  std::vector<index_t> begin, end, min_pos, max_pos;
  std::size_t count() const { return begin.size(); }
};

/// \brief Splits `pos` (host-accessible) into tiles of at most `tile` rows, starting a new tile
/// wherever the positions jump (pos(i) != pos(i - 1) + 1).
template <class HostPositions>
TileRanges tile_ranges(const HostPositions& pos, int tile) {
  TileRanges ranges;
  const index_t n = static_cast<index_t>(pos.extent(0));
  for (index_t b = 0; b < n;) {
    index_t e = b + 1;
    while (e < n && e - b < tile && pos(e) == pos(e - 1) + 1) ++e;
    ranges.begin.push_back(b);
    ranges.end.push_back(e);
    ranges.min_pos.push_back(pos(b));
    ranges.max_pos.push_back(pos(e - 1));
    b = e;
  }
  return ranges;
}

/// \brief TileRanges in a memory space the kernels read (the fused path's tiles).
template <class Mem>
struct DeviceTiles {
  Kokkos::View<index_t*, Mem> begin, end, min_pos, max_pos;
  int count = 0;
};

/// \brief The tiles of `ranges`, copied to memory space Mem.
template <class Mem>
DeviceTiles<Mem> device_tiles(const TileRanges& ranges) {
  const auto copy = [&](const std::vector<index_t>& host, const char* label) {
    Kokkos::View<index_t*, Mem> view(std::string(label), host.size());
    Kokkos::deep_copy(view, Kokkos::View<const index_t*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>(
                                host.data(), host.size()));
    return view;
  };
  return {copy(ranges.begin, "Kernels::tile_begin"), copy(ranges.end, "Kernels::tile_end"),
          copy(ranges.min_pos, "Kernels::tile_min_pos"), copy(ranges.max_pos, "Kernels::tile_max_pos"),
          static_cast<int>(ranges.count())};
}

/// \brief Rows [q0, q1) against keys [k0, k1): one gemm-sized block of work; `masked` when the
/// mask must be applied element by element.
struct TileBlock {
  index_t q0, q1, k0, k1;
  bool masked;
};

namespace tiles_detail {

/// Keys of a tile (consecutive positions from first_key_pos, `count` of them) that the query at
/// position p sees under the causal mask.
inline index_t visible_keys(index_t p, index_t first_key_pos, index_t count) {
  return std::clamp<index_t>(p - first_key_pos + 1, 0, count);
}

}  // namespace tiles_detail

/// \brief Calls f(TileBlock) for the blocks the tile pair (query tile qt, key tile kt) needs:
/// nothing for a tile the mask hides, the tile for a full one, and for a tile the causal mask
/// cuts through, with `refine`, blocks of diagonal_block_rows query rows against the keys they
/// see (else the whole tile, masked). Returns the tile's class.
template <class F>
TileMask for_each_block(MaskKind mask, const TileRanges& q, std::size_t qt, const TileRanges& k, std::size_t kt,
                        bool refine, F&& f) {
  const TileMask cls = classify_tile(mask, q.min_pos[qt], q.max_pos[qt], k.min_pos[kt], k.max_pos[kt]);
  if (cls == TileMask::empty) return cls;
  if (cls == TileMask::full || !refine) {
    f(TileBlock{q.begin[qt], q.end[qt], k.begin[kt], k.end[kt], cls == TileMask::partial});
    return cls;
  }
  const index_t keys = k.end[kt] - k.begin[kt];
  for (index_t r0 = q.begin[qt]; r0 < q.end[qt]; r0 += diagonal_block_rows) {
    const index_t r1 = std::min<index_t>(r0 + diagonal_block_rows, q.end[qt]);
    const index_t first_pos = q.min_pos[qt] + (r0 - q.begin[qt]), last_pos = first_pos + (r1 - r0 - 1);
    const index_t seen_by_last = tiles_detail::visible_keys(last_pos, k.min_pos[kt], keys);
    if (seen_by_last == 0) continue;
    const bool all_see_all = tiles_detail::visible_keys(first_pos, k.min_pos[kt], keys) == seen_by_last;
    f(TileBlock{r0, r1, k.begin[kt], k.begin[kt] + seen_by_last, !all_see_all});
  }
  return cls;
}

/// \brief What the tile loop over (q_pos x k_pos) computes, per head (positions on the host):
/// tiles computed, skipped and cut by the mask, the pairs computed (every pair of every block
/// evaluated, masked or not) and the pairs needed (the visible ones). The blas path refines the
/// tiles the mask cuts (for_each_block); the fused path computes them whole.
template <class HostPositions>
TileStats count_tiles(const AttentionOptions& opt, const HostPositions& q_pos, const HostPositions& k_pos) {
  const TileRanges q_tiles = tile_ranges(q_pos, opt.q_tile);
  const TileRanges k_tiles = tile_ranges(k_pos, opt.kv_tile);
  const bool refine = opt.impl == TileImpl::blas;
  TileStats stats;
  for (std::size_t qt = 0; qt < q_tiles.count(); ++qt) {
    for (std::size_t kt = 0; kt < k_tiles.count(); ++kt) {
      const TileMask cls = for_each_block(opt.mask, q_tiles, qt, k_tiles, kt, refine, [&](const TileBlock& b) {
        stats.pairs_computed += (b.q1 - b.q0) * (b.k1 - b.k0);
        for (index_t i = b.q0; i < b.q1; ++i)
          for (index_t j = b.k0; j < b.k1; ++j) stats.pairs_unmasked += pair_visible(opt.mask, q_pos(i), k_pos(j));
      });
      stats.tiles_skipped += cls == TileMask::empty;
      stats.tiles_computed += cls != TileMask::empty;
      stats.tiles_partial += cls == TileMask::partial;
    }
  }
  return stats;
}

/// \brief count_tiles for positions in any memory space.
template <class Mem>
TileStats count_tiles_of(const AttentionOptions& opt, const PositionView<Mem>& q_pos, const PositionView<Mem>& k_pos) {
  const auto q_host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), q_pos);
  const auto k_host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), k_pos);
  return count_tiles(opt, q_host, k_host);
}

}  // namespace wf::kernels

// Data types of the attention interaction (DESIGN 2.1): queries are the targets, keys and
// values the sources, (O, running max, running sum) the accumulated force.
//
// Layout: every tensor is head-major, [heads][tokens][head_dim] LayoutRight, so that a tile
// of rows of one head is a contiguous matrix that BLAS takes without copies. Files and
// PyTorch use [tokens][heads][head_dim]; the conversion happens at the I/O boundary.
#pragma once

#include <Kokkos_Core.hpp>

#include <cstdint>
#include <functional>

#include "core/enums.hpp"
#include "core/types.hpp"
#include "kernels/attention_pair.hpp"

namespace wf::kernels {

/// \brief Everything a tile needs besides the data.
struct AttentionOptions {
  int heads = 1;
  int kv_heads = 1;  ///< divides heads; query head h reads kv head h / (heads / kv_heads)
  int head_dim = 1;
  double scale = 1.0;  ///< already resolved (the deck's 0 means 1/sqrt(head_dim))
  MaskKind mask = MaskKind::none;
  int q_tile = 128;   ///< query rows per tile
  int kv_tile = 128;  ///< key rows per tile
  TileImpl impl = TileImpl::blas;  ///< gemm tiles with host loops, gemm chunks with Kokkos kernels, or fused
  /// Chunk of the gemm path (query rows x key columns); 0: gemm_chunk() chooses (tests force small ones).
  std::int64_t gemm_rows = 0, gemm_columns = 0;
  /// Called between tiles by the host path, so that a schedule's transfers progress while it
  /// computes (MPI over shared memory moves data only inside MPI calls). May be empty.
  std::function<void()> progress;

  int group_size() const { return heads / kv_heads; }
};

template <class T, class Mem>
using Tensor3 = Kokkos::View<T***, Kokkos::LayoutRight, Mem>;  ///< [heads][tokens][head_dim]
template <class T, class Mem>
using Tensor2 = Kokkos::View<T**, Kokkos::LayoutRight, Mem>;  ///< [heads][tokens]
template <class Mem>
using PositionView = Kokkos::View<const index_t*, Mem>;  ///< global position of each token

/// \brief Target block: queries and their global positions.
template <class T, class Mem>
struct QueryBlock {
  Tensor3<const T, Mem> q;  ///< [heads][nq][head_dim]
  PositionView<Mem> pos;    ///< [nq]
};

/// \brief Source block: keys, values and their global positions.
template <class T, class Mem>
struct KeyValueBlock {
  Tensor3<const T, Mem> k;  ///< [kv_heads][nk][head_dim]
  Tensor3<const T, Mem> v;  ///< [kv_heads][nk][head_dim]
  PositionView<Mem> pos;    ///< [nk]
};

/// \brief Running forward state of a query block: unnormalised O, row max m, row sum l.
/// finalize turns it into (O, lse); partial results of different blocks merge by lse.
template <class T, class Mem>
struct ForwardAccumulator {
  Tensor3<T, Mem> o;        ///< [heads][nq][head_dim]
  Tensor2<T, Mem> row_max;  ///< [heads][nq]
  Tensor2<T, Mem> row_sum;  ///< [heads][nq]
};

/// \brief Query-side inputs of the backward pass (the bundle that rotates with rotate = "q").
template <class T, class Mem>
struct BackwardQueryBlock {
  Tensor3<const T, Mem> q;      ///< [heads][nq][head_dim]
  Tensor3<const T, Mem> d_o;    ///< [heads][nq][head_dim]
  Tensor2<const T, Mem> lse;    ///< [heads][nq], natural log
  Tensor2<const T, Mem> delta;  ///< [heads][nq], D = rowsum(dO * O)
  PositionView<Mem> pos;        ///< [nq]
};

/// \brief Gradient accumulators; the tile adds its contribution.
template <class T, class Mem>
struct AttentionGradients {
  Tensor3<T, Mem> dq;  ///< [heads][nq][head_dim]
  Tensor3<T, Mem> dk;  ///< [kv_heads][nk][head_dim]
  Tensor3<T, Mem> dv;  ///< [kv_heads][nk][head_dim]
};

/// \brief What the tile loop over a (query block, key block) pair computes and skips, per head
/// (count_tiles() in attention_tiles.hpp; computed on request, never by the kernels themselves).
struct TileStats {
  std::int64_t tiles_computed = 0;    ///< tiles with at least one unmasked pair
  std::int64_t tiles_skipped = 0;     ///< fully masked tiles
  std::int64_t tiles_partial = 0;     ///< tiles the mask cuts through
  std::int64_t pairs_unmasked = 0;    ///< (query, key) pairs that interact (the pairs needed), per head
  std::int64_t pairs_computed = 0;    ///< pairs evaluated, masked or not (>= pairs_unmasked), per head
  TileStats& operator+=(const TileStats& other) {
    tiles_computed += other.tiles_computed;
    tiles_skipped += other.tiles_skipped;
    tiles_partial += other.tiles_partial;
    pairs_unmasked += other.pairs_unmasked;
    pairs_computed += other.pairs_computed;
    return *this;
  }
};

/// \brief How a (query tile, key tile) pair relates to the mask.
enum class TileMask { empty, partial, full };

/// \brief Classifies a tile from the position ranges of its queries and keys.
KOKKOS_INLINE_FUNCTION TileMask classify_tile(MaskKind mask, index_t q_min, index_t q_max,
                                              index_t k_min, index_t k_max) {
  if (mask == MaskKind::none) return TileMask::full;
  if (k_min > q_max) return TileMask::empty;  // every key after every query
  if (k_max <= q_min) return TileMask::full;  // every key at or before every query
  return TileMask::partial;
}

}  // namespace wf::kernels

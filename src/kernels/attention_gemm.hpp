// Gemm tile path for any memory space (cuBLAS under KokkosBlas::gemm on CUDA): the block pair
// is cut into chunks of rows x columns (gemm_chunk() in attention_limits.hpp: every query row
// of the block when it fits, 512 keys). The products of a chunk are large gemms, one per kv head
// with its query heads stacked (the rows of consecutive heads are contiguous when the chunk
// holds every row; one gemm per head otherwise); the mask, the online softmax with the rescale
// of O, and the backward row terms are Kokkos kernels over every head of the chunk at once.
// Fully masked chunks are skipped. The pair physics comes from attention_pair.hpp.
#pragma once

#include <KokkosBlas3_gemm.hpp>
#include <Kokkos_Core.hpp>

#include <cstddef>

#include "core/compat.hpp"
#include "kernels/attention_limits.hpp"
#include "kernels/attention_pair.hpp"
#include "kernels/attention_tiles.hpp"
#include "kernels/attention_types.hpp"

namespace wf::kernels {

/// \brief Scratch of the gemm path, kept between calls (a device allocation is expensive and
/// synchronising): grows to the largest chunk asked for, never shrinks.
template <class T, class Mem>
class GemmWorkspace {
 public:
  /// \brief The score buffer, at least `count` scalars.
  T* scores(std::size_t count) { return grow(scores_, count, "Kernels::gemm_scores"); }
  /// \brief The score-gradient buffer (backward), at least `count` scalars.
  T* score_gradients(std::size_t count) { return grow(gradients_, count, "Kernels::gemm_score_gradients"); }
  /// \brief Bytes held.
  std::size_t bytes() const { return (scores_.span() + gradients_.span()) * sizeof(T); }

 private:
  static T* grow(Kokkos::View<T*, Mem>& view, std::size_t count, const char* label) {
    if (view.extent(0) < count) view = Kokkos::View<T*, Mem>(Kokkos::ViewAllocateWithoutInitializing(label), count);
    return view.data();
  }
  Kokkos::View<T*, Mem> scores_, gradients_;
};

namespace gemm_detail {

template <class T, class Mem>
using Matrix = Kokkos::View<T**, Kokkos::LayoutRight, Mem, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
template <class T, class Mem>
using Chunk3 = Kokkos::View<T***, Kokkos::LayoutRight, Mem, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

/// The chunk of an nq x nk pair: gemm_chunk(), or the one the options force.
inline GemmChunk gemm_chunk_of(const AttentionOptions& opt, index_t nq, index_t nk, std::size_t scalar_bytes) {
  GemmChunk chunk = gemm_chunk(nq, nk, opt.heads, scalar_bytes);
  if (opt.gemm_rows > 0) chunk.rows = opt.gemm_rows < nq ? opt.gemm_rows : nq;
  if (opt.gemm_columns > 0) chunk.columns = opt.gemm_columns < nk ? opt.gemm_columns : nk;
  return chunk;
}

/// Rows [row, row + count) of head `head` of a [heads][n][width] tensor, continuing into the
/// next heads (a stack of heads when row = 0 and count = heads_in_stack * n).
template <class Tensor>
auto rows_of(const Tensor& t, index_t head, index_t row, index_t count) {
  using T = typename Tensor::value_type;
  const index_t n = static_cast<index_t>(t.extent(1)), width = static_cast<index_t>(t.extent(2));
  return Matrix<T, typename Tensor::memory_space>(t.data() + (head * n + row) * width, count, width);
}

/// Chunk positions on the host: ranges of rows of `chunk` tokens with their position range.
template <class Exec, class Mem>
TileRanges chunk_ranges(const Exec& space, const PositionView<Mem>& pos, index_t chunk) {
  if constexpr (Kokkos::SpaceAccessibility<Kokkos::HostSpace, Mem>::accessible) {
    return tile_ranges(pos, static_cast<int>(chunk));
  } else {
    Kokkos::View<index_t*, Kokkos::HostSpace> host(Kokkos::ViewAllocateWithoutInitializing("Kernels::positions"),
                                                   pos.extent(0));
    Kokkos::deep_copy(space, host, pos);
    space.fence();  // this instance only: transfers in flight elsewhere go on
    return tile_ranges(host, static_cast<int>(chunk));
  }
}

/// One chunk of the pair: its rows and columns and how the mask covers it.
struct ChunkPlace {
  index_t row = 0, rows = 0, column = 0, columns = 0;
  TileMask mask = TileMask::full;
  int stack = 1;  ///< query heads per gemm: the whole group when the chunk holds every row
  /// Scalars of a [heads][rows][columns] buffer of the chunk.
  std::size_t size(int heads) const { return static_cast<std::size_t>(heads) * rows * columns; }
};

/// Calls f(place) for every chunk of the pair (queries at q_pos, keys at k_pos, scalars T) that
/// is not fully masked.
template <class T, class Exec, class Mem, class F>
void for_each_chunk(const Exec& space, const AttentionOptions& opt, const PositionView<Mem>& q_pos,
                    const PositionView<Mem>& k_pos, F&& f) {
  const index_t nq = static_cast<index_t>(q_pos.extent(0)), nk = static_cast<index_t>(k_pos.extent(0));
  if (nq == 0 || nk == 0) return;
  const GemmChunk chunk = gemm_chunk_of(opt, nq, nk, sizeof(T));
  const TileRanges rows = chunk_ranges(space, q_pos, chunk.rows), columns = chunk_ranges(space, k_pos, chunk.columns);
  for (std::size_t c = 0; c < columns.count(); ++c) {
    for (std::size_t r = 0; r < rows.count(); ++r) {
      ChunkPlace at{rows.begin[r], rows.end[r] - rows.begin[r], columns.begin[c], columns.end[c] - columns.begin[c]};
      at.mask = classify_tile(opt.mask, rows.min_pos[r], rows.max_pos[r], columns.min_pos[c], columns.max_pos[c]);
      if (at.mask == TileMask::empty) continue;
      at.stack = at.rows == nq ? opt.group_size() : 1;
      f(at);
    }
  }
}

/// Calls f(kv_head, first_head, heads) for every gemm of a chunk: the query heads of each kv
/// head, `stack` at a time.
template <class F>
void for_each_stack(const AttentionOptions& opt, int stack, F&& f) {
  for (int kvh = 0; kvh < opt.kv_heads; ++kvh)
    for (int h = kvh * opt.group_size(); h < (kvh + 1) * opt.group_size(); h += stack) f(kvh, h, stack);
}

/// Mask, online softmax and rescale of every row of a score chunk [heads][rows][columns]: the
/// scores become weights, the running max and sum move on, the rows of O are rescaled.
template <class Exec, class T, class Mem>
void softmax_rows(const Exec& space, const Chunk3<T, Mem>& s, const ForwardAccumulator<T, Mem>& acc,
                  const PositionView<Mem>& q_pos, const PositionView<Mem>& k_pos, const ChunkPlace& at, MaskKind mask) {
  using Member = typename Kokkos::TeamPolicy<Exec>::member_type;
  const int rows = static_cast<int>(at.rows), columns = static_cast<int>(at.columns);
  const int dim = static_cast<int>(acc.o.extent(2));
  const index_t row0 = at.row, column0 = at.column;
  const bool masked = at.mask == TileMask::partial;
  const auto o = acc.o;
  const auto row_max = acc.row_max;
  const auto row_sum = acc.row_sum;
  Kokkos::parallel_for(
      "Kernels::attention_softmax_gemm", Kokkos::TeamPolicy<Exec>(space, static_cast<int>(s.extent(0)) * rows, Kokkos::AUTO),
      KOKKOS_LAMBDA(const Member& team) {
        const int h = team.league_rank() / rows, i = team.league_rank() % rows;
        const index_t qi = row0 + i;
        T tile_max = -compat::infinity<T>();
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(team, columns),
            [&](const int j, T& local) {
              if (masked && !pair_visible(mask, q_pos(qi), k_pos(column0 + j))) s(h, i, j) = -compat::infinity<T>();
              local = s(h, i, j) > local ? s(h, i, j) : local;
            },
            Kokkos::Max<T>(tile_max));
        team.team_barrier();
        const OnlineSoftmaxStep<T> step = online_softmax_step(row_max(h, qi), tile_max, DeviceExp());
        T tile_sum = T(0);
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(team, columns),
            [&](const int j, T& local) {
              const T p = row_sees_nothing(step.max) ? T(0) : softmax_weight(s(h, i, j), step.max, DeviceExp());
              s(h, i, j) = p;
              local += p;
            },
            tile_sum);
        team.team_barrier();
        if (row_sees_nothing(step.max)) return;
        Kokkos::single(Kokkos::PerTeam(team), [&] {
          row_sum(h, qi) = rescaled_sum(row_sum(h, qi), step.correction, tile_sum);
          row_max(h, qi) = step.max;
        });
        if (step.correction != T(1))
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, dim), [&](const int c) { o(h, qi, c) *= step.correction; });
      });
}

/// P = exp(S - lse) of a score chunk, in place; 0 for invisible pairs and rows that saw nothing.
template <class Exec, class T, class Mem>
void probabilities(const Exec& space, const Chunk3<T, Mem>& s, const BackwardQueryBlock<T, Mem>& qb,
                   const PositionView<Mem>& k_pos, const ChunkPlace& at, MaskKind mask) {
  const index_t row0 = at.row, column0 = at.column;
  const bool masked = at.mask == TileMask::partial;
  const auto lse = qb.lse;
  const auto q_pos = qb.pos;
  Kokkos::parallel_for(
      "Kernels::attention_probabilities_gemm",
      Kokkos::MDRangePolicy<Exec, Kokkos::Rank<3>>(
          space, {0, 0, 0}, {static_cast<index_t>(s.extent(0)), at.rows, at.columns}),
      KOKKOS_LAMBDA(const index_t h, const index_t i, const index_t j) {
        const T row_lse_value = lse(h, row0 + i);
        const bool visible = !masked || pair_visible(mask, q_pos(row0 + i), k_pos(column0 + j));
        s(h, i, j) = backward_pair_skipped(visible, row_lse_value) ? T(0)
                                                                    : softmax_weight(s(h, i, j), row_lse_value, DeviceExp());
      });
}

/// dS = P (dP - D) of a chunk, in place in dp.
template <class Exec, class T, class Mem>
void score_gradients(const Exec& space, const Chunk3<T, Mem>& p, const Chunk3<T, Mem>& dp,
                     const Tensor2<const T, Mem>& delta, const ChunkPlace& at) {
  const index_t row0 = at.row;
  Kokkos::parallel_for(
      "Kernels::attention_score_gradients_gemm",
      Kokkos::MDRangePolicy<Exec, Kokkos::Rank<3>>(
          space, {0, 0, 0}, {static_cast<index_t>(p.extent(0)), at.rows, at.columns}),
      KOKKOS_LAMBDA(const index_t h, const index_t i, const index_t j) {
        dp(h, i, j) = score_gradient(p(h, i, j), dp(h, i, j), delta(h, row0 + i));
      });
}

/// The chunk of head `h` (and the next stack - 1 heads) of a [heads][rows][columns] chunk.
template <class T, class Mem>
Matrix<T, Mem> stacked(const Chunk3<T, Mem>& chunk, int h, int stack) {
  const std::size_t rows = chunk.extent(1), columns = chunk.extent(2);
  return Matrix<T, Mem>(chunk.data() + h * rows * columns, stack * rows, columns);
}

}  // namespace gemm_detail

/// \brief Gemm path of the forward: folds the key block into the running (O, max, sum).
template <class Exec, class T, class Mem>
void forward_update_gemm(const Exec& space, const AttentionOptions& opt, const QueryBlock<T, Mem>& qb,
                         const KeyValueBlock<T, Mem>& kvb, const ForwardAccumulator<T, Mem>& acc,
                         GemmWorkspace<T, Mem>& workspace) {
  using namespace gemm_detail;
  const T scale = static_cast<T>(opt.scale);
  for_each_chunk<T>(space, opt, qb.pos, kvb.pos, [&](const ChunkPlace& at) {
                   const Chunk3<T, Mem> s(workspace.scores(at.size(opt.heads)), opt.heads, at.rows, at.columns);
                   for_each_stack(opt, at.stack, [&](int kvh, int h, int stack) {
                     compat::gemm(space, "N", "T", scale, rows_of(qb.q, h, at.row, stack * at.rows),
                                  rows_of(kvb.k, kvh, at.column, at.columns), T(0), stacked(s, h, stack));
                   });
                   softmax_rows(space, s, acc, qb.pos, kvb.pos, at, opt.mask);
                   for_each_stack(opt, at.stack, [&](int kvh, int h, int stack) {
                     compat::gemm(space, "N", "N", T(1), stacked(s, h, stack), rows_of(kvb.v, kvh, at.column, at.columns),
                                  T(1), rows_of(acc.o, h, at.row, stack * at.rows));
                   });
                 });
}

/// \brief Gemm path of the backward: adds the pair's contributions to dQ, dK and dV,
/// recomputing the probabilities from lse.
template <class Exec, class T, class Mem>
void backward_update_gemm(const Exec& space, const AttentionOptions& opt, const BackwardQueryBlock<T, Mem>& qb,
                          const KeyValueBlock<T, Mem>& kvb, const AttentionGradients<T, Mem>& grad,
                          GemmWorkspace<T, Mem>& workspace) {
  using namespace gemm_detail;
  const T scale = static_cast<T>(opt.scale);
  for_each_chunk<T>(space, opt, qb.pos, kvb.pos, [&](const ChunkPlace& at) {
                   const Chunk3<T, Mem> p(workspace.scores(at.size(opt.heads)), opt.heads, at.rows, at.columns);
                   const Chunk3<T, Mem> dp(workspace.score_gradients(at.size(opt.heads)), opt.heads, at.rows,
                                           at.columns);
                   const index_t rows = at.rows, row = at.row, columns = at.columns, column = at.column;
                   for_each_stack(opt, at.stack, [&](int kvh, int h, int stack) {
                     compat::gemm(space, "N", "T", scale, rows_of(qb.q, h, row, stack * rows),
                                  rows_of(kvb.k, kvh, column, columns), T(0), stacked(p, h, stack));
                   });
                   probabilities(space, p, qb, kvb.pos, at, opt.mask);
                   for_each_stack(opt, at.stack, [&](int kvh, int h, int stack) {
                     const auto d_o = rows_of(qb.d_o, h, row, stack * rows);
                     compat::gemm(space, "T", "N", T(1), stacked(p, h, stack), d_o, T(1),
                                  rows_of(grad.dv, kvh, column, columns));
                     compat::gemm(space, "N", "T", T(1), d_o, rows_of(kvb.v, kvh, column, columns), T(0),
                                  stacked(dp, h, stack));
                   });
                   score_gradients(space, p, dp, qb.delta, at);
                   for_each_stack(opt, at.stack, [&](int kvh, int h, int stack) {
                     const auto ds = stacked(dp, h, stack);
                     compat::gemm(space, "N", "N", scale, ds, rows_of(kvb.k, kvh, column, columns), T(1),
                                  rows_of(grad.dq, h, row, stack * rows));
                     compat::gemm(space, "T", "N", scale, ds, rows_of(qb.q, h, row, stack * rows), T(1),
                                  rows_of(grad.dk, kvh, column, columns));
                   });
                 });
}

}  // namespace wf::kernels

// Host tile path: the two products of every tile go to KokkosBlas::gemm (OpenBLAS underneath);
// the online softmax between them runs in vectorised host loops. Needs host-accessible data.
#pragma once

#include <KokkosBlas3_gemm.hpp>
#include <Kokkos_Core.hpp>

#include <algorithm>
#include <vector>

#include "core/compat.hpp"
#include "kernels/attention_tiles.hpp"
#include "kernels/attention_types.hpp"
#include "kernels/fast_exp.hpp"

namespace wf::kernels {
namespace blas_detail {

template <class T>
using HostMatrix =
    Kokkos::View<T**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

/// Sets scores of invisible pairs to `masked_value`.
template <class T, class Mem>
void apply_mask(const HostMatrix<T>& scores, const PositionView<Mem>& q_pos, index_t q0,
                        const PositionView<Mem>& k_pos, index_t k0, T masked_value) {
  const int rows = static_cast<int>(scores.extent(0)), cols = static_cast<int>(scores.extent(1));
  for (int i = 0; i < rows; ++i) {
    const index_t qp = q_pos(q0 + i);
    T* row = &scores(i, 0);
    for (int j = 0; j < cols; ++j)
      if (k_pos(k0 + j) > qp) row[j] = masked_value;
  }
}

}  // namespace blas_detail

/// \brief Host gemm path of the forward tile loop: folds the key block into the running
/// (O, max, sum) of the query block.
template <class Exec, class T, class Mem>
TileStats forward_update_blas(const AttentionOptions& opt, const QueryBlock<T, Mem>& qb,
                              const KeyValueBlock<T, Mem>& kvb, const ForwardAccumulator<T, Mem>& acc) {
  static_assert(Kokkos::SpaceAccessibility<Kokkos::HostSpace, Mem>::accessible,
                "the blas tile path needs host-accessible memory; use TileImpl::fused on devices");
  using namespace blas_detail;
  const T neg_inf = -compat::infinity<T>();
  const T scale = static_cast<T>(opt.scale);
  const auto q_tiles = tile_ranges(qb.pos, opt.q_tile);
  const auto k_tiles = tile_ranges(kvb.pos, opt.kv_tile);
  std::vector<T> score_buffer(static_cast<std::size_t>(opt.q_tile) * opt.kv_tile);
  const auto all = Kokkos::ALL;
  for (int h = 0; h < opt.heads; ++h) {
    const int kvh = h / opt.group_size();
    for (std::size_t qt = 0; qt < q_tiles.count(); ++qt) {
      const index_t q0 = q_tiles.begin[qt], q1 = q_tiles.end[qt];
      const int rows = static_cast<int>(q1 - q0);
      const auto q = Kokkos::subview(qb.q, h, Kokkos::make_pair(q0, q1), all);
      const auto o = Kokkos::subview(acc.o, h, Kokkos::make_pair(q0, q1), all);
      T* row_max = &acc.row_max(h, q0);
      T* row_sum = &acc.row_sum(h, q0);
      for (std::size_t kt = 0; kt < k_tiles.count(); ++kt) {
        const index_t k0 = k_tiles.begin[kt], k1 = k_tiles.end[kt];
        const int cols = static_cast<int>(k1 - k0);
        const TileMask cls = classify_tile(opt.mask, q_tiles.min_pos[qt], q_tiles.max_pos[qt],
                                           k_tiles.min_pos[kt], k_tiles.max_pos[kt]);
        if (cls == TileMask::empty) continue;
        const auto k = Kokkos::subview(kvb.k, kvh, Kokkos::make_pair(k0, k1), all);
        const auto v = Kokkos::subview(kvb.v, kvh, Kokkos::make_pair(k0, k1), all);
        HostMatrix<T> s(score_buffer.data(), rows, cols);
        KokkosBlas::gemm("N", "T", scale, q, k, T(0), s);
        if (cls == TileMask::partial) apply_mask(s, qb.pos, q0, kvb.pos, k0, neg_inf);
        // Online softmax: new max, rescale the old state, probabilities in place.
        for (int i = 0; i < rows; ++i) {
          T* srow = &s(i, 0);
          T tile_max = neg_inf;
#pragma omp simd reduction(max : tile_max)
          for (int j = 0; j < cols; ++j) tile_max = srow[j] > tile_max ? srow[j] : tile_max;
          const T new_max = tile_max > row_max[i] ? tile_max : row_max[i];
          if (new_max == neg_inf) {  // nothing visible yet in this row
            for (int j = 0; j < cols; ++j) srow[j] = T(0);
            continue;
          }
          T tile_sum = T(0);
#pragma omp simd reduction(+ : tile_sum)
          for (int j = 0; j < cols; ++j) {
            const T p = fast_exp(srow[j] - new_max);
            srow[j] = p;
            tile_sum += p;
          }
          const T correction = fast_exp(row_max[i] - new_max);  // 0 when the old max is -inf
          row_sum[i] = row_sum[i] * correction + tile_sum;
          row_max[i] = new_max;
          if (correction != T(1)) {
            T* orow = &o(i, 0);
#pragma omp simd
            for (int c = 0; c < opt.head_dim; ++c) orow[c] *= correction;
          }
        }
        KokkosBlas::gemm("N", "N", T(1), s, v, T(1), o);
      }
      if (opt.progress) opt.progress();
    }
  }
  return count_tiles(opt, qb.pos, kvb.pos);
}

/// \brief Host gemm path of the backward tile loop: adds the (query block, key block)
/// contributions to dQ, dK and dV, recomputing probabilities from lse.
template <class Exec, class T, class Mem>
TileStats backward_update_blas(const AttentionOptions& opt, const BackwardQueryBlock<T, Mem>& qb,
                               const KeyValueBlock<T, Mem>& kvb, const AttentionGradients<T, Mem>& grad) {
  static_assert(Kokkos::SpaceAccessibility<Kokkos::HostSpace, Mem>::accessible,
                "the blas tile path needs host-accessible memory; use TileImpl::fused on devices");
  using namespace blas_detail;
  const T neg_inf = -compat::infinity<T>();
  const T scale = static_cast<T>(opt.scale);
  const auto q_tiles = tile_ranges(qb.pos, opt.q_tile);
  const auto k_tiles = tile_ranges(kvb.pos, opt.kv_tile);
  const std::size_t tile_elements = static_cast<std::size_t>(opt.q_tile) * opt.kv_tile;
  std::vector<T> p_buffer(tile_elements), dp_buffer(tile_elements);
  const auto all = Kokkos::ALL;
  for (int kvh = 0; kvh < opt.kv_heads; ++kvh) {
    for (std::size_t kt = 0; kt < k_tiles.count(); ++kt) {
      const index_t k0 = k_tiles.begin[kt], k1 = k_tiles.end[kt];
      const int cols = static_cast<int>(k1 - k0);
      const auto k = Kokkos::subview(kvb.k, kvh, Kokkos::make_pair(k0, k1), all);
      const auto v = Kokkos::subview(kvb.v, kvh, Kokkos::make_pair(k0, k1), all);
      const auto dk = Kokkos::subview(grad.dk, kvh, Kokkos::make_pair(k0, k1), all);
      const auto dv = Kokkos::subview(grad.dv, kvh, Kokkos::make_pair(k0, k1), all);
      for (int h = kvh * opt.group_size(); h < (kvh + 1) * opt.group_size(); ++h) {
        for (std::size_t qt = 0; qt < q_tiles.count(); ++qt) {
          const index_t q0 = q_tiles.begin[qt], q1 = q_tiles.end[qt];
          const int rows = static_cast<int>(q1 - q0);
          const TileMask cls = classify_tile(opt.mask, q_tiles.min_pos[qt], q_tiles.max_pos[qt],
                                             k_tiles.min_pos[kt], k_tiles.max_pos[kt]);
          if (cls == TileMask::empty) continue;
          const auto q = Kokkos::subview(qb.q, h, Kokkos::make_pair(q0, q1), all);
          const auto d_o = Kokkos::subview(qb.d_o, h, Kokkos::make_pair(q0, q1), all);
          const auto dq = Kokkos::subview(grad.dq, h, Kokkos::make_pair(q0, q1), all);
          HostMatrix<T> p(p_buffer.data(), rows, cols), dp(dp_buffer.data(), rows, cols);
          KokkosBlas::gemm("N", "T", scale, q, k, T(0), p);
          if (cls == TileMask::partial) apply_mask(p, qb.pos, q0, kvb.pos, k0, neg_inf);
          for (int i = 0; i < rows; ++i) {
            T* prow = &p(i, 0);
            const T lse = qb.lse(h, q0 + i);
            if (lse == neg_inf) {  // a row that sees no key has no gradient
              for (int j = 0; j < cols; ++j) prow[j] = T(0);
              continue;
            }
#pragma omp simd
            for (int j = 0; j < cols; ++j) prow[j] = fast_exp(prow[j] - lse);
          }
          KokkosBlas::gemm("T", "N", T(1), p, d_o, T(1), dv);
          KokkosBlas::gemm("N", "T", T(1), d_o, v, T(0), dp);
          for (int i = 0; i < rows; ++i) {
            const T* prow = &p(i, 0);
            T* dsrow = &dp(i, 0);
            const T delta = qb.delta(h, q0 + i);
#pragma omp simd
            for (int j = 0; j < cols; ++j) dsrow[j] = prow[j] * (dsrow[j] - delta);
          }
          KokkosBlas::gemm("N", "N", scale, dp, k, T(1), dq);
          KokkosBlas::gemm("T", "N", scale, dp, q, T(1), dk);
        }
      }
      if (opt.progress) opt.progress();
    }
  }
  return count_tiles(opt, qb.pos, kvb.pos);
}

}  // namespace wf::kernels

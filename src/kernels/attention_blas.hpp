// Host tile path: the two products of every tile go to KokkosBlas::gemm (OpenBLAS underneath);
// the online softmax between them runs in vectorised host loops. Needs host-accessible data.
// The pair physics comes from attention_pair.hpp; this file is the loop strategy.
#pragma once

#include <KokkosBlas3_gemm.hpp>
#include <Kokkos_Core.hpp>

#include <vector>

#include "core/compat.hpp"
#include "kernels/attention_pair.hpp"
#include "kernels/attention_tiles.hpp"
#include "kernels/attention_types.hpp"
#include "kernels/fast_exp.hpp"

namespace wf::kernels {
namespace blas_detail {

template <class T>
using HostMatrix =
    Kokkos::View<T**, Kokkos::LayoutRight, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

/// Sets scores of invisible pairs to -inf.
template <class T, class Mem>
void apply_mask(const HostMatrix<T>& scores, const PositionView<Mem>& q_pos, index_t q0, const PositionView<Mem>& k_pos,
                index_t k0, MaskKind mask) {
  const int rows = static_cast<int>(scores.extent(0)), cols = static_cast<int>(scores.extent(1));
  for (int i = 0; i < rows; ++i) {
    const index_t qp = q_pos(q0 + i);
    T* row = &scores(i, 0);
    for (int j = 0; j < cols; ++j)
      if (!pair_visible(mask, qp, k_pos(k0 + j))) row[j] = -compat::infinity<T>();
  }
}

/// Online softmax over the rows of one score tile: updates the running max and sum, rescales
/// the rows of O, and turns the scores into weights in place.
template <class T, class O>
void softmax_tile_rows(const HostMatrix<T>& s, T* row_max, T* row_sum, const O& o, int head_dim) {
  const FastExp exp;
  const int rows = static_cast<int>(s.extent(0)), cols = static_cast<int>(s.extent(1));
  for (int i = 0; i < rows; ++i) {
    T* srow = &s(i, 0);
    T tile_max = -compat::infinity<T>();
#pragma omp simd reduction(max : tile_max)
    for (int j = 0; j < cols; ++j) tile_max = srow[j] > tile_max ? srow[j] : tile_max;
    const OnlineSoftmaxStep<T> step = online_softmax_step(row_max[i], tile_max, exp);
    if (row_sees_nothing(step.max)) {
      for (int j = 0; j < cols; ++j) srow[j] = T(0);
      continue;
    }
    T tile_sum = T(0);
#pragma omp simd reduction(+ : tile_sum)
    for (int j = 0; j < cols; ++j) {
      const T p = softmax_weight(srow[j], step.max, exp);
      srow[j] = p;
      tile_sum += p;
    }
    row_sum[i] = rescaled_sum(row_sum[i], step.correction, tile_sum);
    row_max[i] = step.max;
    if (step.correction != T(1)) {
      T* orow = &o(i, 0);
#pragma omp simd
      for (int c = 0; c < head_dim; ++c) orow[c] *= step.correction;
    }
  }
}

/// Backward probabilities P = exp(S - lse) of one score tile, in place.
template <class T, class Lse>
void probability_rows(const HostMatrix<T>& p, const Lse& lse, int h, index_t q0) {
  const FastExp exp;
  const int rows = static_cast<int>(p.extent(0)), cols = static_cast<int>(p.extent(1));
  for (int i = 0; i < rows; ++i) {
    T* prow = &p(i, 0);
    const T row_lse_value = lse(h, q0 + i);
    if (row_sees_nothing(row_lse_value)) {  // a row that sees no key has no gradient
      for (int j = 0; j < cols; ++j) prow[j] = T(0);
      continue;
    }
#pragma omp simd
    for (int j = 0; j < cols; ++j) prow[j] = softmax_weight(prow[j], row_lse_value, exp);
  }
}

/// dS = P (dP - D) of one tile, in place in dp.
template <class T, class Delta>
void score_gradient_rows(const HostMatrix<T>& p, const HostMatrix<T>& dp, const Delta& delta, int h, index_t q0) {
  const int rows = static_cast<int>(p.extent(0)), cols = static_cast<int>(p.extent(1));
  for (int i = 0; i < rows; ++i) {
    const T* prow = &p(i, 0);
    T* dsrow = &dp(i, 0);
    const T row_delta = delta(h, q0 + i);
#pragma omp simd
    for (int j = 0; j < cols; ++j) dsrow[j] = score_gradient(prow[j], dsrow[j], row_delta);
  }
}

}  // namespace blas_detail

/// \brief Host gemm path of the forward tile loop: folds the key block into the running
/// (O, max, sum) of the query block, one gemm-sized block at a time (for_each_block).
template <class Exec, class T, class Mem>
void forward_update_blas(const Exec& space, const AttentionOptions& opt, const QueryBlock<T, Mem>& qb,
                         const KeyValueBlock<T, Mem>& kvb, const ForwardAccumulator<T, Mem>& acc) {
  static_assert(Kokkos::SpaceAccessibility<Kokkos::HostSpace, Mem>::accessible,
                "the blas tile path needs host-accessible memory; use TileImpl::fused on devices");
  using namespace blas_detail;
  const T scale = static_cast<T>(opt.scale);
  const auto q_tiles = tile_ranges(qb.pos, opt.q_tile);
  const auto k_tiles = tile_ranges(kvb.pos, opt.kv_tile);
  std::vector<T> score_buffer(static_cast<std::size_t>(opt.q_tile) * opt.kv_tile);
  const auto all = Kokkos::ALL;
  for (int h = 0; h < opt.heads; ++h) {
    const int kvh = h / opt.group_size();
    const auto block = [&](const TileBlock& b) {
      const auto q_rows = Kokkos::make_pair(b.q0, b.q1), k_rows = Kokkos::make_pair(b.k0, b.k1);
      const auto o = Kokkos::subview(acc.o, h, q_rows, all);
      HostMatrix<T> s(score_buffer.data(), b.q1 - b.q0, b.k1 - b.k0);
      compat::gemm(space, "N", "T", scale, Kokkos::subview(qb.q, h, q_rows, all),
                   Kokkos::subview(kvb.k, kvh, k_rows, all), T(0), s);
      if (b.masked) apply_mask(s, qb.pos, b.q0, kvb.pos, b.k0, opt.mask);
      softmax_tile_rows(s, &acc.row_max(h, b.q0), &acc.row_sum(h, b.q0), o, opt.head_dim);
      compat::gemm(space, "N", "N", T(1), s, Kokkos::subview(kvb.v, kvh, k_rows, all), T(1), o);
    };
    for (std::size_t qt = 0; qt < q_tiles.count(); ++qt) {
      for (std::size_t kt = 0; kt < k_tiles.count(); ++kt) for_each_block(opt.mask, q_tiles, qt, k_tiles, kt, true, block);
      if (opt.progress) opt.progress();
    }
  }
}

/// \brief Host gemm path of the backward tile loop: adds the (query block, key block)
/// contributions to dQ, dK and dV, recomputing probabilities from lse.
template <class Exec, class T, class Mem>
void backward_update_blas(const Exec& space, const AttentionOptions& opt, const BackwardQueryBlock<T, Mem>& qb,
                          const KeyValueBlock<T, Mem>& kvb, const AttentionGradients<T, Mem>& grad) {
  static_assert(Kokkos::SpaceAccessibility<Kokkos::HostSpace, Mem>::accessible,
                "the blas tile path needs host-accessible memory; use TileImpl::fused on devices");
  using namespace blas_detail;
  const T scale = static_cast<T>(opt.scale);
  const auto q_tiles = tile_ranges(qb.pos, opt.q_tile);
  const auto k_tiles = tile_ranges(kvb.pos, opt.kv_tile);
  const std::size_t tile_elements = static_cast<std::size_t>(opt.q_tile) * opt.kv_tile;
  std::vector<T> p_buffer(tile_elements), dp_buffer(tile_elements);
  const auto all = Kokkos::ALL;
  for (int kvh = 0; kvh < opt.kv_heads; ++kvh) {
    for (std::size_t kt = 0; kt < k_tiles.count(); ++kt) {
      for (int h = kvh * opt.group_size(); h < (kvh + 1) * opt.group_size(); ++h) {
        const auto block = [&](const TileBlock& b) {
          const auto q_rows = Kokkos::make_pair(b.q0, b.q1), k_rows = Kokkos::make_pair(b.k0, b.k1);
          const auto q = Kokkos::subview(qb.q, h, q_rows, all), d_o = Kokkos::subview(qb.d_o, h, q_rows, all);
          const auto k = Kokkos::subview(kvb.k, kvh, k_rows, all);
          HostMatrix<T> p(p_buffer.data(), b.q1 - b.q0, b.k1 - b.k0), dp(dp_buffer.data(), b.q1 - b.q0, b.k1 - b.k0);
          compat::gemm(space, "N", "T", scale, q, k, T(0), p);
          if (b.masked) apply_mask(p, qb.pos, b.q0, kvb.pos, b.k0, opt.mask);
          probability_rows(p, qb.lse, h, b.q0);
          compat::gemm(space, "T", "N", T(1), p, d_o, T(1), Kokkos::subview(grad.dv, kvh, k_rows, all));
          compat::gemm(space, "N", "T", T(1), d_o, Kokkos::subview(kvb.v, kvh, k_rows, all), T(0), dp);
          score_gradient_rows(p, dp, qb.delta, h, b.q0);
          compat::gemm(space, "N", "N", scale, dp, k, T(1), Kokkos::subview(grad.dq, h, q_rows, all));
          compat::gemm(space, "T", "N", scale, dp, q, T(1), Kokkos::subview(grad.dk, kvh, k_rows, all));
        };
        for (std::size_t qt = 0; qt < q_tiles.count(); ++qt) for_each_block(opt.mask, q_tiles, qt, k_tiles, kt, true, block);
      }
      if (opt.progress) opt.progress();
    }
  }
}

}  // namespace wf::kernels

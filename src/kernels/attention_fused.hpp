// Fused portable tile path: one TeamPolicy kernel, key/value tiles staged in team scratch,
// scores never leave scratch. Written for GPUs; runs (slowly) on the host backends too.
// The backward runs as two kernels (dK/dV per key tile, dQ per query tile) so that every
// output element has one writer: no atomics, bitwise reproducible.
#pragma once

#include <Kokkos_Core.hpp>

#include "core/compat.hpp"
#include "kernels/attention_fused_limits.hpp"
#include "kernels/attention_tiles.hpp"
#include "kernels/attention_types.hpp"

namespace wf::kernels {
namespace fused_detail {

template <class Exec, class T>
using ScratchMatrix = Kokkos::View<T**, Kokkos::LayoutRight, typename Exec::scratch_memory_space,
                                   Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
template <class Exec, class T>
using ScratchVector = Kokkos::View<T*, typename Exec::scratch_memory_space,
                                   Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

/// Position range [lo, hi] of pos[begin, begin + count), reduced over the team.
template <class Member, class Positions>
KOKKOS_INLINE_FUNCTION void team_position_range(const Member& team, const Positions& pos,
                                                index_t begin, int count, index_t& lo, index_t& hi) {
  Kokkos::parallel_reduce(
      Kokkos::TeamThreadRange(team, count),
      [&](const int i, index_t& local) { local = pos(begin + i) < local ? pos(begin + i) : local; },
      Kokkos::Min<index_t>(lo));
  Kokkos::parallel_reduce(
      Kokkos::TeamThreadRange(team, count),
      [&](const int i, index_t& local) { local = pos(begin + i) > local ? pos(begin + i) : local; },
      Kokkos::Max<index_t>(hi));
}

/// Copies rows [begin, begin + count) of head `head` of `src` into `dst`.
template <class Member, class Src, class Dst>
KOKKOS_INLINE_FUNCTION void team_load_rows(const Member& team, const Src& src, int head,
                                           index_t begin, int count, const Dst& dst) {
  const int dim = static_cast<int>(src.extent(2));
  Kokkos::parallel_for(Kokkos::TeamThreadRange(team, count * dim), [&](const int idx) {
    dst(idx / dim, idx % dim) = src(head, begin + idx / dim, idx % dim);
  });
}

inline int tile_count(index_t n, int tile) { return static_cast<int>((n + tile - 1) / tile); }

template <class T>
std::size_t scratch_bytes(const AttentionOptions& opt) {
  // Slack for the alignment of each of the (at most four) scratch allocations.
  return fused_scratch_bytes(opt.q_tile, opt.kv_tile, opt.head_dim, sizeof(T)) + 4 * 128;
}

}  // namespace fused_detail

/// \brief Fused forward tile loop: folds the key block into the running (O, max, sum).
template <class Exec, class T, class Mem>
TileStats forward_update_fused(const AttentionOptions& opt, const QueryBlock<T, Mem>& qb,
                               const KeyValueBlock<T, Mem>& kvb, const ForwardAccumulator<T, Mem>& acc) {
  using namespace fused_detail;
  using Policy = Kokkos::TeamPolicy<Exec>;
  using Member = typename Policy::member_type;
  const index_t nq = static_cast<index_t>(qb.q.extent(1)), nk = static_cast<index_t>(kvb.k.extent(1));
  const int dim = opt.head_dim, bq = opt.q_tile, bk = opt.kv_tile, group = opt.group_size();
  const int q_tiles = tile_count(nq, bq), k_tiles = tile_count(nk, bk);
  const T scale = static_cast<T>(opt.scale);
  const MaskKind mask = opt.mask;
  const auto q = qb.q;
  const auto q_pos = qb.pos;
  const auto k = kvb.k;
  const auto v = kvb.v;
  const auto k_pos = kvb.pos;
  const auto o = acc.o;
  const auto row_max = acc.row_max;
  const auto row_sum = acc.row_sum;
  Policy policy(opt.heads * q_tiles, Kokkos::AUTO);
  policy.set_scratch_size(1, Kokkos::PerTeam(scratch_bytes<T>(opt)));
  Kokkos::parallel_for(
      "Kernels::attention_forward_fused", policy, KOKKOS_LAMBDA(const Member& team) {
        const T neg_inf = -compat::infinity<T>();
        const int h = team.league_rank() / q_tiles;
        const int kvh = h / group;
        const index_t q0 = index_t(team.league_rank() % q_tiles) * bq;
        const int rows = static_cast<int>(nq - q0 < bq ? nq - q0 : bq);
        ScratchMatrix<Exec, T> ks(team.team_scratch(1), bk, dim), vs(team.team_scratch(1), bk, dim);
        ScratchMatrix<Exec, T> s(team.team_scratch(1), bq, bk);
        ScratchVector<Exec, T> correction(team.team_scratch(1), bq);
        index_t q_lo = 0, q_hi = 0;
        team_position_range(team, q_pos, q0, rows, q_lo, q_hi);
        for (int kt = 0; kt < k_tiles; ++kt) {
          const index_t k0 = index_t(kt) * bk;
          const int cols = static_cast<int>(nk - k0 < bk ? nk - k0 : bk);
          index_t k_lo = 0, k_hi = 0;
          team_position_range(team, k_pos, k0, cols, k_lo, k_hi);
          if (classify_tile(mask, q_lo, q_hi, k_lo, k_hi) == TileMask::empty) continue;
          team_load_rows(team, k, kvh, k0, cols, ks);
          team_load_rows(team, v, kvh, k0, cols, vs);
          team.team_barrier();
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, rows * cols), [&](const int idx) {
            const int i = idx / cols, j = idx % cols;
            T dot = T(0);
            for (int c = 0; c < dim; ++c) dot += q(h, q0 + i, c) * ks(j, c);
            s(i, j) = pair_visible(mask, q_pos(q0 + i), k_pos(k0 + j)) ? scale * dot : neg_inf;
          });
          team.team_barrier();
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, rows), [&](const int i) {
            T tile_max = neg_inf;
            for (int j = 0; j < cols; ++j) tile_max = s(i, j) > tile_max ? s(i, j) : tile_max;
            const T old_max = row_max(h, q0 + i);
            const T new_max = tile_max > old_max ? tile_max : old_max;
            if (new_max == neg_inf) {  // nothing visible yet in this row
              for (int j = 0; j < cols; ++j) s(i, j) = T(0);
              correction(i) = T(1);
              return;
            }
            T tile_sum = T(0);
            for (int j = 0; j < cols; ++j) {
              const T p = compat::exp(s(i, j) - new_max);
              s(i, j) = p;
              tile_sum += p;
            }
            const T factor = old_max == neg_inf ? T(0) : compat::exp(old_max - new_max);
            correction(i) = factor;
            row_sum(h, q0 + i) = row_sum(h, q0 + i) * factor + tile_sum;
            row_max(h, q0 + i) = new_max;
          });
          team.team_barrier();
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, rows * dim), [&](const int idx) {
            const int i = idx / dim, c = idx % dim;
            T sum = T(0);
            for (int j = 0; j < cols; ++j) sum += s(i, j) * vs(j, c);
            o(h, q0 + i, c) = o(h, q0 + i, c) * correction(i) + sum;
          });
          team.team_barrier();
        }
      });
  return count_tiles_of(opt, qb.pos, kvb.pos);
}

namespace fused_detail {

/// Probabilities P and dS = P * (dO.v - delta) of one tile into scratch.
template <class Member, class QB, class KS, class SM, class Pos>
KOKKOS_INLINE_FUNCTION void backward_tile_probabilities(const Member& team, const QB& qb, int h, index_t q0,
                                                        int rows, const KS& ks, const KS& vs, const Pos& k_pos,
                                                        index_t k0, int cols, typename SM::value_type scale,
                                                        MaskKind mask, const SM& p, const SM& ds) {
  using T = typename SM::value_type;
  const int dim = static_cast<int>(ks.extent(1));
  Kokkos::parallel_for(Kokkos::TeamThreadRange(team, rows * cols), [&](const int idx) {
    const int i = idx / cols, j = idx % cols;
    const T lse = qb.lse(h, q0 + i);
    if (!pair_visible(mask, qb.pos(q0 + i), k_pos(k0 + j)) || lse == -compat::infinity<T>()) {
      p(i, j) = T(0);
      ds(i, j) = T(0);
      return;
    }
    T qk = T(0), dov = T(0);
    for (int c = 0; c < dim; ++c) {
      qk += qb.q(h, q0 + i, c) * ks(j, c);
      dov += qb.d_o(h, q0 + i, c) * vs(j, c);
    }
    const T prob = compat::exp(scale * qk - lse);
    p(i, j) = prob;
    ds(i, j) = prob * (dov - qb.delta(h, q0 + i));
  });
}

}  // namespace fused_detail

/// \brief Fused backward tile loop: adds the block pair's contributions to dQ, dK and dV.
template <class Exec, class T, class Mem>
TileStats backward_update_fused(const AttentionOptions& opt, const BackwardQueryBlock<T, Mem>& qb,
                                const KeyValueBlock<T, Mem>& kvb, const AttentionGradients<T, Mem>& grad) {
  using namespace fused_detail;
  using Policy = Kokkos::TeamPolicy<Exec>;
  using Member = typename Policy::member_type;
  const index_t nq = static_cast<index_t>(qb.q.extent(1)), nk = static_cast<index_t>(kvb.k.extent(1));
  const int dim = opt.head_dim, bq = opt.q_tile, bk = opt.kv_tile, group = opt.group_size();
  const int q_tiles = tile_count(nq, bq), k_tiles = tile_count(nk, bk);
  const T scale = static_cast<T>(opt.scale);
  const MaskKind mask = opt.mask;
  const auto k = kvb.k;
  const auto v = kvb.v;
  const auto k_pos = kvb.pos;
  const auto dq = grad.dq;
  const auto dk = grad.dk;
  const auto dv = grad.dv;
  const std::size_t scratch = scratch_bytes<T>(opt);

  // dK, dV: one team per (kv head, key tile), looping over the query heads of its group.
  Policy kv_policy(opt.kv_heads * k_tiles, Kokkos::AUTO);
  kv_policy.set_scratch_size(1, Kokkos::PerTeam(scratch));
  Kokkos::parallel_for(
      "Kernels::attention_backward_dkdv_fused", kv_policy, KOKKOS_LAMBDA(const Member& team) {
        const int kvh = team.league_rank() / k_tiles;
        const index_t k0 = index_t(team.league_rank() % k_tiles) * bk;
        const int cols = static_cast<int>(nk - k0 < bk ? nk - k0 : bk);
        ScratchMatrix<Exec, T> ks(team.team_scratch(1), bk, dim), vs(team.team_scratch(1), bk, dim);
        ScratchMatrix<Exec, T> p(team.team_scratch(1), bq, bk), ds(team.team_scratch(1), bq, bk);
        index_t k_lo = 0, k_hi = 0;
        team_position_range(team, k_pos, k0, cols, k_lo, k_hi);
        team_load_rows(team, k, kvh, k0, cols, ks);
        team_load_rows(team, v, kvh, k0, cols, vs);
        team.team_barrier();
        for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
          for (int qt = 0; qt < q_tiles; ++qt) {
            const index_t q0 = index_t(qt) * bq;
            const int rows = static_cast<int>(nq - q0 < bq ? nq - q0 : bq);
            index_t q_lo = 0, q_hi = 0;
            team_position_range(team, qb.pos, q0, rows, q_lo, q_hi);
            if (classify_tile(mask, q_lo, q_hi, k_lo, k_hi) == TileMask::empty) continue;
            backward_tile_probabilities(team, qb, h, q0, rows, ks, vs, k_pos, k0, cols, scale, mask, p, ds);
            team.team_barrier();
            Kokkos::parallel_for(Kokkos::TeamThreadRange(team, cols * dim), [&](const int idx) {
              const int j = idx / dim, c = idx % dim;
              T sum_v = T(0), sum_k = T(0);
              for (int i = 0; i < rows; ++i) {
                sum_v += p(i, j) * qb.d_o(h, q0 + i, c);
                sum_k += ds(i, j) * qb.q(h, q0 + i, c);
              }
              dv(kvh, k0 + j, c) += sum_v;
              dk(kvh, k0 + j, c) += scale * sum_k;
            });
            team.team_barrier();
          }
        }
      });

  // dQ: one team per (head, query tile), looping over key tiles.
  Policy q_policy(opt.heads * q_tiles, Kokkos::AUTO);
  q_policy.set_scratch_size(1, Kokkos::PerTeam(scratch));
  Kokkos::parallel_for(
      "Kernels::attention_backward_dq_fused", q_policy, KOKKOS_LAMBDA(const Member& team) {
        const int h = team.league_rank() / q_tiles;
        const int kvh = h / group;
        const index_t q0 = index_t(team.league_rank() % q_tiles) * bq;
        const int rows = static_cast<int>(nq - q0 < bq ? nq - q0 : bq);
        ScratchMatrix<Exec, T> ks(team.team_scratch(1), bk, dim), vs(team.team_scratch(1), bk, dim);
        ScratchMatrix<Exec, T> p(team.team_scratch(1), bq, bk), ds(team.team_scratch(1), bq, bk);
        index_t q_lo = 0, q_hi = 0;
        team_position_range(team, qb.pos, q0, rows, q_lo, q_hi);
        for (int kt = 0; kt < k_tiles; ++kt) {
          const index_t k0 = index_t(kt) * bk;
          const int cols = static_cast<int>(nk - k0 < bk ? nk - k0 : bk);
          index_t k_lo = 0, k_hi = 0;
          team_position_range(team, k_pos, k0, cols, k_lo, k_hi);
          if (classify_tile(mask, q_lo, q_hi, k_lo, k_hi) == TileMask::empty) continue;
          team_load_rows(team, k, kvh, k0, cols, ks);
          team_load_rows(team, v, kvh, k0, cols, vs);
          team.team_barrier();
          backward_tile_probabilities(team, qb, h, q0, rows, ks, vs, k_pos, k0, cols, scale, mask, p, ds);
          team.team_barrier();
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, rows * dim), [&](const int idx) {
            const int i = idx / dim, c = idx % dim;
            T sum = T(0);
            for (int j = 0; j < cols; ++j) sum += ds(i, j) * ks(j, c);
            dq(h, q0 + i, c) += scale * sum;
          });
          team.team_barrier();
        }
      });
  return count_tiles_of(opt, qb.pos, kvb.pos);
}

}  // namespace wf::kernels

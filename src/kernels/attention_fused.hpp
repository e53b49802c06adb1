// Fused portable tile path: one TeamPolicy kernel, key/value tiles staged in team scratch,
// scores never leave scratch. Written for GPUs; runs (slowly) on the host backends too.
// The backward runs as two kernels (dK/dV per key tile, dQ per query tile) so that every
// output element has one writer: no atomics, bitwise reproducible. The pair physics comes from
// attention_pair.hpp; the functors here are the loop strategy.
#pragma once

#include <Kokkos_Core.hpp>

#include "core/compat.hpp"
#include "kernels/attention_limits.hpp"
#include "kernels/attention_pair.hpp"
#include "kernels/attention_tiles.hpp"
#include "kernels/attention_types.hpp"

namespace wf::kernels {
namespace fused_detail {

template <class Exec, class T>
using ScratchMatrix = Kokkos::View<T**, Kokkos::LayoutRight, typename Exec::scratch_memory_space,
                                   Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
template <class Exec, class T>
using ScratchVector = Kokkos::View<T*, typename Exec::scratch_memory_space, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

/// Copies rows [begin, begin + count) of head `head` of `src` into `dst`.
template <class Member, class Src, class Dst>
KOKKOS_INLINE_FUNCTION void team_load_rows(const Member& team, const Src& src, int head, index_t begin, int count,
                                           const Dst& dst) {
  const int dim = static_cast<int>(src.extent(2));
  Kokkos::parallel_for(Kokkos::TeamThreadRange(team, count * dim),
                       [&](const int idx) { dst(idx / dim, idx % dim) = src(head, begin + idx / dim, idx % dim); });
}

/// The positions on the host (a copy only where the memory space is not host-accessible).
template <class Mem>
auto host_positions(const PositionView<Mem>& pos) {
  return Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), pos);
}

template <class T>
std::size_t scratch_bytes(const AttentionOptions& opt) {
  // Slack for the alignment of each of the (at most four) scratch allocations.
  return fused_scratch_bytes(opt.q_tile, opt.kv_tile, opt.head_dim, sizeof(T)) + 4 * 128;
}

/// The forward: one team per (head, query tile), looping over the key tiles.
template <class Exec, class T, class Mem>
struct Forward {
  using Member = typename Kokkos::TeamPolicy<Exec>::member_type;
  QueryBlock<T, Mem> qb;
  KeyValueBlock<T, Mem> kvb;
  ForwardAccumulator<T, Mem> acc;
  DeviceTiles<Mem> q_tiles, k_tiles;
  MaskKind mask;
  T scale;
  int dim, bq, bk, group;

  KOKKOS_INLINE_FUNCTION void operator()(const Member& team) const {
    const int h = team.league_rank() / q_tiles.count, qt = team.league_rank() % q_tiles.count;
    const index_t q0 = q_tiles.begin(qt);
    const int rows = static_cast<int>(q_tiles.end(qt) - q0);
    ScratchMatrix<Exec, T> ks(team.team_scratch(1), bk, dim), vs(team.team_scratch(1), bk, dim);
    ScratchMatrix<Exec, T> s(team.team_scratch(1), bq, bk);
    ScratchVector<Exec, T> correction(team.team_scratch(1), bq);
    for (int kt = 0; kt < k_tiles.count; ++kt) {
      const index_t k0 = k_tiles.begin(kt);
      const int cols = static_cast<int>(k_tiles.end(kt) - k0);
      if (classify_tile(mask, q_tiles.min_pos(qt), q_tiles.max_pos(qt), k_tiles.min_pos(kt), k_tiles.max_pos(kt)) ==
          TileMask::empty)
        continue;
      team_load_rows(team, kvb.k, h / group, k0, cols, ks);
      team_load_rows(team, kvb.v, h / group, k0, cols, vs);
      team.team_barrier();
      scores(team, h, q0, rows, k0, cols, ks, s);
      team.team_barrier();
      softmax(team, h, q0, rows, cols, s, correction);
      team.team_barrier();
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, rows * dim), [&](const int idx) {
        const int i = idx / dim, c = idx % dim;
        T sum = T(0);
        for (int j = 0; j < cols; ++j) sum += s(i, j) * vs(j, c);
        acc.o(h, q0 + i, c) = acc.o(h, q0 + i, c) * correction(i) + sum;
      });
      team.team_barrier();
    }
  }

  /// s = scale Q K^T of the tile, -inf for invisible pairs.
  KOKKOS_INLINE_FUNCTION void scores(const Member& team, int h, index_t q0, int rows, index_t k0, int cols,
                                     const ScratchMatrix<Exec, T>& ks, const ScratchMatrix<Exec, T>& s) const {
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, rows * cols), [&](const int idx) {
      const int i = idx / cols, j = idx % cols;
      T dot = T(0);
      for (int c = 0; c < dim; ++c) dot += qb.q(h, q0 + i, c) * ks(j, c);
      s(i, j) = pair_visible(mask, qb.pos(q0 + i), kvb.pos(k0 + j)) ? scale * dot : -compat::infinity<T>();
    });
  }

  /// The online softmax of each row of the tile: weights in s, the rescale factor per row.
  KOKKOS_INLINE_FUNCTION void softmax(const Member& team, int h, index_t q0, int rows, int cols,
                                      const ScratchMatrix<Exec, T>& s, const ScratchVector<Exec, T>& correction) const {
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, rows), [&](const int i) {
      const DeviceExp exp;
      T tile_max = -compat::infinity<T>();
      for (int j = 0; j < cols; ++j) tile_max = s(i, j) > tile_max ? s(i, j) : tile_max;
      const OnlineSoftmaxStep<T> step = online_softmax_step(acc.row_max(h, q0 + i), tile_max, exp);
      correction(i) = step.correction;
      if (row_sees_nothing(step.max)) {
        for (int j = 0; j < cols; ++j) s(i, j) = T(0);
        return;
      }
      T tile_sum = T(0);
      for (int j = 0; j < cols; ++j) {
        const T p = softmax_weight(s(i, j), step.max, exp);
        s(i, j) = p;
        tile_sum += p;
      }
      acc.row_sum(h, q0 + i) = rescaled_sum(acc.row_sum(h, q0 + i), step.correction, tile_sum);
      acc.row_max(h, q0 + i) = step.max;
    });
  }
};

/// Probabilities P and dS = P (dO.v - D) of one (query tile, key tile) into scratch.
template <class Member, class QB, class KS, class SM, class Pos>
KOKKOS_INLINE_FUNCTION void backward_tile_probabilities(const Member& team, const QB& qb, int h, index_t q0, int rows,
                                                        const KS& ks, const KS& vs, const Pos& k_pos, index_t k0,
                                                        int cols, typename SM::value_type scale, MaskKind mask,
                                                        const SM& p, const SM& ds) {
  using T = typename SM::value_type;
  const int dim = static_cast<int>(ks.extent(1));
  Kokkos::parallel_for(Kokkos::TeamThreadRange(team, rows * cols), [&](const int idx) {
    const int i = idx / cols, j = idx % cols;
    const T lse = qb.lse(h, q0 + i);
    if (backward_pair_skipped(pair_visible(mask, qb.pos(q0 + i), k_pos(k0 + j)), lse)) {
      p(i, j) = T(0);
      ds(i, j) = T(0);
      return;
    }
    T qk = T(0), dov = T(0);
    for (int c = 0; c < dim; ++c) {
      qk += qb.q(h, q0 + i, c) * ks(j, c);
      dov += qb.d_o(h, q0 + i, c) * vs(j, c);
    }
    const T prob = softmax_weight(scale * qk, lse, DeviceExp());
    p(i, j) = prob;
    ds(i, j) = score_gradient(prob, dov, qb.delta(h, q0 + i));
  });
}

/// Sizes and options shared by the two backward kernels.
template <class Exec, class T, class Mem>
struct BackwardShape {
  BackwardQueryBlock<T, Mem> qb;
  KeyValueBlock<T, Mem> kvb;
  AttentionGradients<T, Mem> grad;
  DeviceTiles<Mem> q_tiles, k_tiles;
  MaskKind mask;
  T scale;
  int dim, bq, bk, group;

  /// True when the tile pair (qt, kt) is hidden by the mask.
  KOKKOS_INLINE_FUNCTION bool hidden(int qt, int kt) const {
    return classify_tile(mask, q_tiles.min_pos(qt), q_tiles.max_pos(qt), k_tiles.min_pos(kt), k_tiles.max_pos(kt)) ==
           TileMask::empty;
  }
};

/// dK, dV: one team per (kv head, key tile), looping over the query heads of its group.
template <class Exec, class T, class Mem>
struct BackwardKeys : BackwardShape<Exec, T, Mem> {
  using Member = typename Kokkos::TeamPolicy<Exec>::member_type;
  KOKKOS_INLINE_FUNCTION void operator()(const Member& team) const {
    const auto& b = *this;
    const int kvh = team.league_rank() / b.k_tiles.count, kt = team.league_rank() % b.k_tiles.count;
    const index_t k0 = b.k_tiles.begin(kt);
    const int cols = static_cast<int>(b.k_tiles.end(kt) - k0);
    ScratchMatrix<Exec, T> ks(team.team_scratch(1), b.bk, b.dim), vs(team.team_scratch(1), b.bk, b.dim);
    ScratchMatrix<Exec, T> p(team.team_scratch(1), b.bq, b.bk), ds(team.team_scratch(1), b.bq, b.bk);
    team_load_rows(team, b.kvb.k, kvh, k0, cols, ks);
    team_load_rows(team, b.kvb.v, kvh, k0, cols, vs);
    team.team_barrier();
    for (int h = kvh * b.group; h < (kvh + 1) * b.group; ++h) {
      for (int qt = 0; qt < b.q_tiles.count; ++qt) {
        if (b.hidden(qt, kt)) continue;
        const index_t q0 = b.q_tiles.begin(qt);
        const int rows = static_cast<int>(b.q_tiles.end(qt) - q0);
        backward_tile_probabilities(team, b.qb, h, q0, rows, ks, vs, b.kvb.pos, k0, cols, b.scale, b.mask, p, ds);
        team.team_barrier();
        Kokkos::parallel_for(Kokkos::TeamThreadRange(team, cols * b.dim), [&](const int idx) {
          const int j = idx / b.dim, c = idx % b.dim;
          T sum_v = T(0), sum_k = T(0);
          for (int i = 0; i < rows; ++i) {
            sum_v += p(i, j) * b.qb.d_o(h, q0 + i, c);
            sum_k += ds(i, j) * b.qb.q(h, q0 + i, c);
          }
          b.grad.dv(kvh, k0 + j, c) += sum_v;
          b.grad.dk(kvh, k0 + j, c) += b.scale * sum_k;
        });
        team.team_barrier();
      }
    }
  }
};

/// dQ: one team per (head, query tile), looping over the key tiles.
template <class Exec, class T, class Mem>
struct BackwardQueries : BackwardShape<Exec, T, Mem> {
  using Member = typename Kokkos::TeamPolicy<Exec>::member_type;
  KOKKOS_INLINE_FUNCTION void operator()(const Member& team) const {
    const auto& b = *this;
    const int h = team.league_rank() / b.q_tiles.count, qt = team.league_rank() % b.q_tiles.count;
    const index_t q0 = b.q_tiles.begin(qt);
    const int rows = static_cast<int>(b.q_tiles.end(qt) - q0);
    ScratchMatrix<Exec, T> ks(team.team_scratch(1), b.bk, b.dim), vs(team.team_scratch(1), b.bk, b.dim);
    ScratchMatrix<Exec, T> p(team.team_scratch(1), b.bq, b.bk), ds(team.team_scratch(1), b.bq, b.bk);
    for (int kt = 0; kt < b.k_tiles.count; ++kt) {
      if (b.hidden(qt, kt)) continue;
      const index_t k0 = b.k_tiles.begin(kt);
      const int cols = static_cast<int>(b.k_tiles.end(kt) - k0);
      team_load_rows(team, b.kvb.k, h / b.group, k0, cols, ks);
      team_load_rows(team, b.kvb.v, h / b.group, k0, cols, vs);
      team.team_barrier();
      backward_tile_probabilities(team, b.qb, h, q0, rows, ks, vs, b.kvb.pos, k0, cols, b.scale, b.mask, p, ds);
      team.team_barrier();
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, rows * b.dim), [&](const int idx) {
        const int i = idx / b.dim, c = idx % b.dim;
        T sum = T(0);
        for (int j = 0; j < cols; ++j) sum += ds(i, j) * ks(j, c);
        b.grad.dq(h, q0 + i, c) += b.scale * sum;
      });
      team.team_barrier();
    }
  }
};

}  // namespace fused_detail

/// \brief Fused forward tile loop: folds the key block into the running (O, max, sum).
template <class Exec, class T, class Mem>
void forward_update_fused(const Exec& space, const AttentionOptions& opt, const QueryBlock<T, Mem>& qb,
                          const KeyValueBlock<T, Mem>& kvb, const ForwardAccumulator<T, Mem>& acc) {
  const auto q_tiles = device_tiles<Mem>(tile_ranges(fused_detail::host_positions(qb.pos), opt.q_tile));
  const auto k_tiles = device_tiles<Mem>(tile_ranges(fused_detail::host_positions(kvb.pos), opt.kv_tile));
  if (q_tiles.count == 0 || k_tiles.count == 0) return;
  const fused_detail::Forward<Exec, T, Mem> body{qb,       kvb,       acc,         q_tiles,         k_tiles,
                                                 opt.mask, static_cast<T>(opt.scale), opt.head_dim, opt.q_tile,
                                                 opt.kv_tile, opt.group_size()};
  Kokkos::TeamPolicy<Exec> policy(space, opt.heads * q_tiles.count, Kokkos::AUTO);
  policy.set_scratch_size(1, Kokkos::PerTeam(fused_detail::scratch_bytes<T>(opt)));
  Kokkos::parallel_for("Kernels::attention_forward_fused", policy, body);
}

/// \brief Fused backward tile loop: adds the block pair's contributions to dQ, dK and dV.
template <class Exec, class T, class Mem>
void backward_update_fused(const Exec& space, const AttentionOptions& opt, const BackwardQueryBlock<T, Mem>& qb,
                           const KeyValueBlock<T, Mem>& kvb, const AttentionGradients<T, Mem>& grad) {
  using namespace fused_detail;
  const auto q_tiles = device_tiles<Mem>(tile_ranges(host_positions(qb.pos), opt.q_tile));
  const auto k_tiles = device_tiles<Mem>(tile_ranges(host_positions(kvb.pos), opt.kv_tile));
  if (q_tiles.count == 0 || k_tiles.count == 0) return;
  const BackwardShape<Exec, T, Mem> shape{qb,       kvb,       grad,        q_tiles,         k_tiles,
                                          opt.mask, static_cast<T>(opt.scale), opt.head_dim, opt.q_tile,
                                          opt.kv_tile, opt.group_size()};
  const std::size_t scratch = scratch_bytes<T>(opt);
  Kokkos::TeamPolicy<Exec> key_policy(space, opt.kv_heads * k_tiles.count, Kokkos::AUTO);
  key_policy.set_scratch_size(1, Kokkos::PerTeam(scratch));
  Kokkos::parallel_for("Kernels::attention_backward_dkdv_fused", key_policy, BackwardKeys<Exec, T, Mem>{shape});
  Kokkos::TeamPolicy<Exec> query_policy(space, opt.heads * q_tiles.count, Kokkos::AUTO);
  query_policy.set_scratch_size(1, Kokkos::PerTeam(scratch));
  Kokkos::parallel_for("Kernels::attention_backward_dq_fused", query_policy, BackwardQueries<Exec, T, Mem>{shape});
}

}  // namespace wf::kernels

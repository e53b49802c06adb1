// Naive dense attention, the benchmark baseline, written the way an eager framework runs it:
// the scores of every head are materialised as an N x N matrix, softmax runs as separate
// passes with the library exp, P is stored for the backward (heads x N x N), and every
// product goes to BLAS whole. Memory O(heads N^2): the cost the tiled paths avoid.
#pragma once

#include <KokkosBlas3_gemm.hpp>
#include <Kokkos_Core.hpp>

#include <cmath>

#include "core/compat.hpp"
#include "kernels/attention_limits.hpp"
#include "kernels/attention_pair.hpp"
#include "kernels/attention_types.hpp"

namespace wf::kernels {

/// \brief Storage of the dense baseline: P of every head and one N x N gradient buffer.
template <class T>
struct DenseWorkspace {
  Kokkos::View<T***, Kokkos::LayoutRight, Kokkos::HostSpace> probabilities;  // [heads][N][N]
  Kokkos::View<T**, Kokkos::LayoutRight, Kokkos::HostSpace> grad_scores;     // [N][N]
  DenseWorkspace(int heads, index_t n)
      : probabilities("Kernels::dense_probabilities", heads, n, n), grad_scores("Kernels::dense_grad_scores", n, n) {}
  std::size_t bytes() const { return (probabilities.span() + grad_scores.span()) * sizeof(T); }
};

/// \brief The library exponential, as an eager framework calls it.
struct LibraryExp {
  template <class T>
  T operator()(T x) const {
    return std::exp(x);
  }
};

/// \brief Dense forward: P = softmax(scale Q K^T + mask) stored per head, O = P V, lse.
/// Queries and keys are the same tokens (positions pos).
template <class Exec, class T, class Mem>
void dense_forward(const Exec& space, const AttentionOptions& opt, const Tensor3<const T, Mem>& q, const Tensor3<const T, Mem>& k,
                   const Tensor3<const T, Mem>& v, const PositionView<Mem>& pos, const Tensor3<T, Mem>& o,
                   const Tensor2<T, Mem>& lse, DenseWorkspace<T>& ws) {
  const auto all = Kokkos::ALL;
  const index_t n = static_cast<index_t>(q.extent(1));
  const T neg_inf = -compat::infinity<T>();
  for (int h = 0; h < opt.heads; ++h) {
    const int kvh = h / opt.group_size();
    const auto p = Kokkos::subview(ws.probabilities, h, all, all);
    compat::gemm(space, "N", "T", static_cast<T>(opt.scale), Kokkos::subview(q, h, all, all),
                 Kokkos::subview(k, kvh, all, all), T(0), p);
    if (opt.mask == MaskKind::causal)  // masked_fill
      for (index_t i = 0; i < n; ++i)
        for (index_t j = 0; j < n; ++j)
          if (!pair_visible(opt.mask, pos(i), pos(j))) p(i, j) = neg_inf;
    for (index_t i = 0; i < n; ++i) {  // softmax: max, exp and sum, normalise
      T row_max = neg_inf, sum = T(0);
      for (index_t j = 0; j < n; ++j) row_max = std::max(row_max, p(i, j));
      for (index_t j = 0; j < n; ++j) {
        p(i, j) = softmax_weight(p(i, j), row_max, LibraryExp());
        sum += p(i, j);
      }
      for (index_t j = 0; j < n; ++j) p(i, j) /= sum;
      lse(h, i) = row_lse(row_max, sum);
    }
    compat::gemm(space, "N", "N", T(1), p, Kokkos::subview(v, kvh, all, all), T(0), Kokkos::subview(o, h, all, all));
  }
}

/// \brief Dense backward from the stored P: dQ, dK, dV (overwritten) from dO.
template <class Exec, class T, class Mem>
void dense_backward(const Exec& space, const AttentionOptions& opt, const Tensor3<const T, Mem>& q, const Tensor3<const T, Mem>& k,
                    const Tensor3<const T, Mem>& v, const Tensor3<const T, Mem>& d_o,
                    const AttentionGradients<T, Mem>& grad, DenseWorkspace<T>& ws) {
  const auto all = Kokkos::ALL;
  const index_t n = static_cast<index_t>(q.extent(1));
  const T scale = static_cast<T>(opt.scale);
  Kokkos::deep_copy(space, grad.dk, T(0));
  Kokkos::deep_copy(space, grad.dv, T(0));
  const auto ds = ws.grad_scores;
  for (int h = 0; h < opt.heads; ++h) {
    const int kvh = h / opt.group_size();
    const auto p = Kokkos::subview(ws.probabilities, h, all, all);
    const auto do_h = Kokkos::subview(d_o, h, all, all);
    compat::gemm(space, "T", "N", T(1), p, do_h, T(1), Kokkos::subview(grad.dv, kvh, all, all));
    compat::gemm(space, "N", "T", T(1), do_h, Kokkos::subview(v, kvh, all, all), T(0), ds);
    for (index_t i = 0; i < n; ++i) {  // softmax backward: dS = P (dP - rowsum(P dP))
      T row_dot = T(0);
      for (index_t j = 0; j < n; ++j) row_dot += p(i, j) * ds(i, j);
      for (index_t j = 0; j < n; ++j) ds(i, j) = score_gradient(p(i, j), ds(i, j), row_dot);
    }
    compat::gemm(space, "N", "N", scale, ds, Kokkos::subview(k, kvh, all, all), T(0),
                 Kokkos::subview(grad.dq, h, all, all));
    compat::gemm(space, "T", "N", scale, ds, Kokkos::subview(q, h, all, all), T(1),
                 Kokkos::subview(grad.dk, kvh, all, all));
  }
}

}  // namespace wf::kernels

// Dense building blocks of the transformer: linear layers through KokkosBlas::gemm (torch
// layout W [out][in]), bias, column sums, residual adds, embedding gather/scatter, and the
// token-major <-> head-major reorders between projections and the attention schedules.
// Every reduction has one writer per element and a fixed order: results are reproducible.
#pragma once

#include <KokkosBlas3_gemm.hpp>
#include <Kokkos_Core.hpp>

#include "core/types.hpp"

namespace wf::model {

template <class T>
using Matrix = Kokkos::View<T**, Kokkos::LayoutRight, MemSpace>;  ///< [rows][cols]
template <class T>
using Vector = Kokkos::View<T*, MemSpace>;

/// \brief y = x W^T (+ b): x [n][in], W [out][in], y [n][out].
template <class T>
void linear_forward(const Matrix<T>& x, const Matrix<T>& w, const Vector<T>& bias, const Matrix<T>& y) {
  KokkosBlas::gemm("N", "T", T(1), x, w, T(0), y);
  if (bias.extent(0) == 0) return;
  const int cols = static_cast<int>(y.extent(1));
  Kokkos::parallel_for(
      "Model::add_bias", Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>({0, 0}, {index_t(y.extent(0)), index_t(cols)}),
      KOKKOS_LAMBDA(const index_t i, const index_t j) { y(i, j) += bias(j); });
}

/// \brief dW += dy^T x, db += column sums of dy, and dx = dy W (dx_beta = 1 adds to dx).
template <class T>
void linear_backward(const Matrix<T>& dy, const Matrix<T>& x, const Matrix<T>& w, const Matrix<T>& dw,
                     const Vector<T>& dbias, const Matrix<T>& dx, T dx_beta) {
  KokkosBlas::gemm("T", "N", T(1), dy, x, T(1), dw);
  if (dbias.extent(0) != 0) {
    const index_t rows = static_cast<index_t>(dy.extent(0));
    Kokkos::parallel_for(
        "Model::bias_grad", Kokkos::RangePolicy<ExecSpace>(0, static_cast<index_t>(dy.extent(1))),
        KOKKOS_LAMBDA(const index_t j) {
          T sum = T(0);
          for (index_t i = 0; i < rows; ++i) sum += dy(i, j);
          dbias(j) += sum;
        });
  }
  if (dx.extent(0) != 0) KokkosBlas::gemm("N", "N", T(1), dy, w, dx_beta, dx);
}

/// \brief a += b elementwise (same shape).
template <class T>
void add_in_place(const Matrix<T>& a, const Matrix<T>& b) {
  Kokkos::parallel_for(
      "Model::add", Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>({0, 0}, {index_t(a.extent(0)), index_t(a.extent(1))}),
      KOKKOS_LAMBDA(const index_t i, const index_t j) { a(i, j) += b(i, j); });
}

/// \brief x(i, :) = table(tokens(i), :).
template <class T>
void embedding_forward(const Matrix<T>& table, const Kokkos::View<const index_t*, MemSpace>& tokens, const Matrix<T>& x) {
  Kokkos::parallel_for(
      "Model::embedding_forward",
      Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>({0, 0}, {index_t(x.extent(0)), index_t(x.extent(1))}),
      KOKKOS_LAMBDA(const index_t i, const index_t j) { x(i, j) = table(tokens(i), j); });
}

/// \brief dtable(tokens(i), :) += dx(i, :), rows in order per column (no atomics).
template <class T>
void embedding_backward(const Matrix<T>& dtable, const Kokkos::View<const index_t*, MemSpace>& tokens, const Matrix<T>& dx) {
  const index_t rows = static_cast<index_t>(dx.extent(0));
  Kokkos::parallel_for(
      "Model::embedding_backward", Kokkos::RangePolicy<ExecSpace>(0, static_cast<index_t>(dx.extent(1))),
      KOKKOS_LAMBDA(const index_t j) {
        for (index_t i = 0; i < rows; ++i) dtable(tokens(i), j) += dx(i, j);
      });
}

/// \brief token-major [n][rows * width] <-> head-major [rows][n][width] (packed, at `head`).
template <class T>
void to_head_major(const Matrix<T>& tokens_major, int rows, int width, T* head) {
  const index_t n = static_cast<index_t>(tokens_major.extent(0));
  Kokkos::parallel_for(
      "Model::to_head_major", Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>({0, 0}, {n, index_t(rows) * width}),
      KOKKOS_LAMBDA(const index_t i, const index_t k) {
        const index_t r = k / width, c = k % width;
        head[(r * n + i) * width + c] = tokens_major(i, k);
      });
}

template <class T>
void to_token_major(const T* head, int rows, int width, const Matrix<T>& tokens_major) {
  const index_t n = static_cast<index_t>(tokens_major.extent(0));
  Kokkos::parallel_for(
      "Model::to_token_major", Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>({0, 0}, {n, index_t(rows) * width}),
      KOKKOS_LAMBDA(const index_t i, const index_t k) {
        const index_t r = k / width, c = k % width;
        tokens_major(i, k) = head[(r * n + i) * width + c];
      });
}

}  // namespace wf::model

// Dense building blocks of the transformer: linear layers through KokkosBlas::gemm (torch
// layout W [out][in]), bias, column sums, residual adds, embedding gather/scatter. Element-wise
// passes use kernels::elementwise_rows (vectorised on the host). Every reduction has one writer
// per element and a fixed order: results are reproducible.
#pragma once

#include <KokkosBlas3_gemm.hpp>
#include <Kokkos_Core.hpp>

#include "core/compat.hpp"
#include "core/types.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/rotary.hpp"

namespace wf::model {

template <class T>
using Matrix = Kokkos::View<T**, Kokkos::LayoutRight, MemSpace>;  ///< [rows][cols]
template <class T>
using Vector = Kokkos::View<T*, MemSpace>;

/// \brief A matrix whose every element the next kernel writes (no zero fill).
template <class T>
Matrix<T> uninitialized_matrix(const std::string& label, index_t rows, index_t cols) {
  return Matrix<T>(Kokkos::ViewAllocateWithoutInitializing(label), rows, cols);
}

/// \brief Keeps `m` when it has this shape (buffers reused step after step: no allocation, no
/// page faults, no free), else makes a new uninitialized one.
template <class T>
void reuse_matrix(Matrix<T>& m, const std::string& label, index_t rows, index_t cols) {
  if (index_t(m.extent(0)) != rows || index_t(m.extent(1)) != cols) m = uninitialized_matrix<T>(label, rows, cols);
}

/// \brief The same for a flat buffer.
template <class T>
void reuse_vector(Vector<T>& v, const std::string& label, std::size_t size) {
  if (v.extent(0) != size) v = Vector<T>(Kokkos::ViewAllocateWithoutInitializing(label), size);
}

/// \brief y(i, j) += bias(j).
template <class T>
void add_bias(const Matrix<T>& y, const Vector<T>& bias) {
  kernels::elementwise_rows("Model::add_bias", ExecSpace(), index_t(y.extent(0)), index_t(y.extent(1)),
                            KOKKOS_LAMBDA(index_t i, index_t j) { y(i, j) += bias(j); });
}

/// \brief y = x W^T (+ bias): x [n][in], W [out][in], y [n][out].
template <class T>
void linear_forward(const Matrix<T>& x, const Matrix<T>& w, const Vector<T>& bias, const Matrix<T>& y) {
  KokkosBlas::gemm("N", "T", T(1), x, w, T(0), y);
  if (bias.extent(0) != 0) add_bias(y, bias);
}

/// \brief y += x W^T: a residual branch added by the gemm itself (no separate pass).
template <class T>
void linear_accumulate(const Matrix<T>& x, const Matrix<T>& w, const Matrix<T>& y) {
  KokkosBlas::gemm("N", "T", T(1), x, w, T(1), y);
}

/// \brief dbias += column sums of dy: partial sums over fixed blocks of rows (read row by row,
/// vectorised over the columns), then the blocks in order.
template <class T>
void add_column_sums(const Matrix<T>& dy, const Vector<T>& dbias) {
  constexpr index_t block = 64;
  const index_t rows = static_cast<index_t>(dy.extent(0)), cols = static_cast<index_t>(dy.extent(1));
  const index_t blocks = (rows + block - 1) / block;
  Matrix<T> partial(Kokkos::ViewAllocateWithoutInitializing("Model::column_partial"), blocks, cols);
  kernels::elementwise_rows("Model::column_partial", ExecSpace(), blocks, cols, KOKKOS_LAMBDA(index_t b, index_t j) {
    T sum = T(0);
    const index_t end = (b + 1) * block < rows ? (b + 1) * block : rows;
    for (index_t i = b * block; i < end; ++i) sum += dy(i, j);
    partial(b, j) = sum;
  });
  kernels::elementwise_rows("Model::column_sums", ExecSpace(), 1, cols, KOKKOS_LAMBDA(index_t, index_t j) {
    T sum = T(0);
    for (index_t b = 0; b < blocks; ++b) sum += partial(b, j);
    dbias(j) += sum;
  });
}

/// \brief dW += dy^T x, db += column sums of dy, and dx = dy W (dx_beta = 1 adds to dx).
template <class T>
void linear_backward(const Matrix<T>& dy, const Matrix<T>& x, const Matrix<T>& w, const Matrix<T>& dw,
                     const Vector<T>& dbias, const Matrix<T>& dx, T dx_beta) {
  KokkosBlas::gemm("T", "N", T(1), dy, x, T(1), dw);
  if (dbias.extent(0) != 0) add_column_sums(dy, dbias);
  if (dx.extent(0) != 0) KokkosBlas::gemm("N", "N", T(1), dy, w, dx_beta, dx);
}

/// \brief a += b elementwise (same shape).
template <class T>
void add_in_place(const Matrix<T>& a, const Matrix<T>& b) {
  kernels::elementwise_rows("Model::add", ExecSpace(), index_t(a.extent(0)), index_t(a.extent(1)),
                            KOKKOS_LAMBDA(index_t i, index_t j) { a(i, j) += b(i, j); });
}

/// \brief dst = src (+ bias per column): the start of a residual branch that a gemm then adds to.
template <class T>
void copy_with_bias(const Matrix<T>& src, const Vector<T>& bias, const Matrix<T>& dst) {
  const bool with_bias = bias.extent(0) != 0;
  kernels::elementwise_rows("Model::copy_with_bias", ExecSpace(), index_t(dst.extent(0)), index_t(dst.extent(1)),
                            KOKKOS_LAMBDA(index_t i, index_t j) { dst(i, j) = with_bias ? src(i, j) + bias(j) : src(i, j); });
}

/// \brief token-major [n][rows * width] -> head-major [rows][n][width] at `head` (no rotation).
template <class T>
void to_head_major(const Matrix<T>& tokens_major, int rows, int width, T* head) {
  kernels::to_head_major<T>(tokens_major, 0, rows, width, head, nullptr);
}

/// \brief head-major [rows][n][width] at `head` -> token-major [n][rows * width] (no rotation).
template <class T>
void to_token_major(const T* head, int rows, int width, const Matrix<T>& tokens_major) {
  kernels::to_token_major<T>(head, rows, width, nullptr, tokens_major, 0);
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

}  // namespace wf::model

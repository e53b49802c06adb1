// adaLN modulation of the DiT (Peebles & Xie 2023): a vector per sample (from the timestep)
// shifts and scales every token of a block's normalised input, and gates what the block adds
// to the residual stream:
//   modulate:       y = x (1 + scale) + shift         x, y [rows][width]; shift, scale [width]
//   gated residual: x += gate * branch                 gate [width]
// The gradients of the vectors are sums over the rows (this process's tokens); one writer per
// column sums its rows in order, so they are bitwise reproducible. Every kernel runs on the
// execution space instance it is given.
#pragma once

#include <Kokkos_Core.hpp>

#include <string>

#include "core/error.hpp"
#include "core/types.hpp"
#include "kernels/attention_types.hpp"

namespace wf::kernels {

template <class T>
using RowMatrix = Tensor2<T, MemSpace>;  ///< [rows][width]
template <class T>
using RowVector = Kokkos::View<T*, MemSpace>;  ///< [width]

namespace modulation_detail {

inline void check(const char* where, std::size_t rows, std::size_t width, std::size_t other_rows,
                  std::size_t other_width, std::size_t vector_width) {
  require(other_rows == rows && other_width == width && vector_width == width,
          std::string(where) + ": inconsistent extents (rows " + std::to_string(rows) + ", width " +
              std::to_string(width) + ")");
}

}  // namespace modulation_detail

/// \brief y = x (1 + scale) + shift per row (y may alias x).
template <class T>
void modulate_forward(const ExecSpace& space, const typename RowMatrix<T>::const_type& x,
                      const typename RowVector<T>::const_type& shift, const typename RowVector<T>::const_type& scale,
                      const RowMatrix<T>& y) {
  modulation_detail::check("modulate_forward", x.extent(0), x.extent(1), y.extent(0), y.extent(1), shift.extent(0));
  require(scale.extent(0) == x.extent(1), "modulate_forward: scale has the wrong width");
  Kokkos::parallel_for(
      "Kernels::modulate_forward",
      Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>(space, {0, 0}, {index_t(x.extent(0)), index_t(x.extent(1))}),
      KOKKOS_LAMBDA(const index_t i, const index_t j) { y(i, j) = x(i, j) * (T(1) + scale(j)) + shift(j); });
}

/// \brief Backward of modulate_forward: dx = dy (1 + scale) (dx may alias dy), and written (not
/// added) d_shift = sum over rows of dy, d_scale = sum over rows of dy x.
template <class T>
void modulate_backward(const ExecSpace& space, const typename RowMatrix<T>::const_type& dy,
                       const typename RowMatrix<T>::const_type& x, const typename RowVector<T>::const_type& scale,
                       const RowMatrix<T>& dx, const RowVector<T>& d_shift, const RowVector<T>& d_scale) {
  modulation_detail::check("modulate_backward", x.extent(0), x.extent(1), dy.extent(0), dy.extent(1), scale.extent(0));
  require(dx.extent(0) == x.extent(0) && dx.extent(1) == x.extent(1) && d_shift.extent(0) == x.extent(1) &&
              d_scale.extent(0) == x.extent(1),
          "modulate_backward: dx, d_shift or d_scale has the wrong extents");
  const index_t rows = static_cast<index_t>(x.extent(0));
  Kokkos::parallel_for(
      "Kernels::modulate_backward_vectors", Kokkos::RangePolicy<ExecSpace>(space, 0, index_t(x.extent(1))),
      KOKKOS_LAMBDA(const index_t j) {
        T sum_shift = T(0), sum_scale = T(0);
        for (index_t i = 0; i < rows; ++i) {
          sum_shift += dy(i, j);
          sum_scale += dy(i, j) * x(i, j);
        }
        d_shift(j) = sum_shift;
        d_scale(j) = sum_scale;
      });
  Kokkos::parallel_for(
      "Kernels::modulate_backward_input",
      Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>(space, {0, 0}, {rows, index_t(x.extent(1))}),
      KOKKOS_LAMBDA(const index_t i, const index_t j) { dx(i, j) = dy(i, j) * (T(1) + scale(j)); });
}

/// \brief x += gate * branch per row.
template <class T>
void gated_residual_forward(const ExecSpace& space, const RowMatrix<T>& x, const typename RowVector<T>::const_type& gate,
                            const typename RowMatrix<T>::const_type& branch) {
  modulation_detail::check("gated_residual_forward", x.extent(0), x.extent(1), branch.extent(0), branch.extent(1),
                           gate.extent(0));
  Kokkos::parallel_for(
      "Kernels::gated_residual_forward",
      Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>(space, {0, 0}, {index_t(x.extent(0)), index_t(x.extent(1))}),
      KOKKOS_LAMBDA(const index_t i, const index_t j) { x(i, j) += gate(j) * branch(i, j); });
}

/// \brief Backward of gated_residual_forward for the incoming gradient dx (which also flows on
/// to the residual unchanged): d_branch = dx gate, and written d_gate = sum over rows of dx branch.
template <class T>
void gated_residual_backward(const ExecSpace& space, const typename RowMatrix<T>::const_type& dx,
                             const typename RowVector<T>::const_type& gate,
                             const typename RowMatrix<T>::const_type& branch, const RowMatrix<T>& d_branch,
                             const RowVector<T>& d_gate) {
  modulation_detail::check("gated_residual_backward", dx.extent(0), dx.extent(1), branch.extent(0), branch.extent(1),
                           gate.extent(0));
  require(d_branch.extent(0) == dx.extent(0) && d_branch.extent(1) == dx.extent(1) && d_gate.extent(0) == dx.extent(1),
          "gated_residual_backward: d_branch or d_gate has the wrong extents");
  const index_t rows = static_cast<index_t>(dx.extent(0));
  Kokkos::parallel_for(
      "Kernels::gated_residual_backward_gate", Kokkos::RangePolicy<ExecSpace>(space, 0, index_t(dx.extent(1))),
      KOKKOS_LAMBDA(const index_t j) {
        T sum = T(0);
        for (index_t i = 0; i < rows; ++i) sum += dx(i, j) * branch(i, j);
        d_gate(j) = sum;
      });
  Kokkos::parallel_for(
      "Kernels::gated_residual_backward_branch",
      Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>(space, {0, 0}, {rows, index_t(dx.extent(1))}),
      KOKKOS_LAMBDA(const index_t i, const index_t j) { d_branch(i, j) = dx(i, j) * gate(j); });
}

}  // namespace wf::kernels

// GELU, tanh approximation (DESIGN 2.7; torch.nn.functional.gelu(x, approximate="tanh")):
//   gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// Elementwise, so the kernels take a flat View<T*> over the data of any tensor (for a
// [rows][width] LayoutRight view v: View<T*, MemSpace>(v.data(), v.span())).
#pragma once

#include <Kokkos_Core.hpp>

#include "core/compat.hpp"
#include "core/error.hpp"
#include "core/types.hpp"

namespace wf::kernels {

namespace gelu_detail {

constexpr double sqrt_2_over_pi = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double cubic = 0.044715;

/// tanh(sqrt(2/pi) (x + 0.044715 x^3)), the term shared by the value and the derivative.
template <class T>
KOKKOS_INLINE_FUNCTION T inner_tanh(const T x) {
  return compat::tanh(static_cast<T>(sqrt_2_over_pi) * (x + static_cast<T>(cubic) * x * x * x));
}

}  // namespace gelu_detail

/// \brief GELU of one value (tanh form), usable inside kernels.
template <class T>
KOKKOS_INLINE_FUNCTION T gelu_value(const T x) {
  return T(0.5) * x * (T(1) + gelu_detail::inner_tanh(x));
}

/// \brief d gelu(x) / dx (tanh form), usable inside kernels.
template <class T>
KOKKOS_INLINE_FUNCTION T gelu_derivative(const T x) {
  const T t = gelu_detail::inner_tanh(x);
  const T du_dx = static_cast<T>(gelu_detail::sqrt_2_over_pi) * (T(1) + T(3) * static_cast<T>(gelu_detail::cubic) * x * x);
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du_dx;
}

/// \brief y = gelu(x) elementwise; y may alias x.
template <class T, class Exec = ExecSpace>
void gelu_forward(const typename Kokkos::View<T*, MemSpace>::const_type& x, const Kokkos::View<T*, MemSpace>& y) {
  require(x.extent(0) == y.extent(0), "gelu_forward: x and y differ in length");
  Kokkos::parallel_for(
      "Kernels::gelu_forward", Kokkos::RangePolicy<Exec>(0, static_cast<index_t>(x.extent(0))),
      KOKKOS_LAMBDA(const index_t i) { y(i) = gelu_value(x(i)); });
}

/// \brief dx = dy * gelu'(x) elementwise (dx overwritten; it may alias dy).
template <class T, class Exec = ExecSpace>
void gelu_backward(const typename Kokkos::View<T*, MemSpace>::const_type& x,
                   const typename Kokkos::View<T*, MemSpace>::const_type& dy, const Kokkos::View<T*, MemSpace>& dx) {
  require(x.extent(0) == dy.extent(0) && x.extent(0) == dx.extent(0), "gelu_backward: x, dy and dx differ in length");
  Kokkos::parallel_for(
      "Kernels::gelu_backward", Kokkos::RangePolicy<Exec>(0, static_cast<index_t>(x.extent(0))),
      KOKKOS_LAMBDA(const index_t i) { dx(i) = dy(i) * gelu_derivative(x(i)); });
}

}  // namespace wf::kernels

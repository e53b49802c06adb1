// GELU, tanh approximation (DESIGN 2.7; torch.nn.functional.gelu(x, approximate="tanh")):
//   gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// Elementwise, so the kernels take a flat View<T*> over the data of any tensor (for a
// [rows][width] LayoutRight view v: View<T*, MemSpace>(v.data(), v.span())).
#pragma once

#include <Kokkos_Core.hpp>

#include "core/compat.hpp"
#include "core/error.hpp"
#include "core/types.hpp"
#include "kernels/elementwise.hpp"

namespace wf::kernels {

namespace gelu_detail {

constexpr double sqrt_2_over_pi = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double cubic = 0.044715;

/// tanh(sqrt(2/pi) (x + 0.044715 x^3)), the term shared by the value and the derivative, as
/// 1 - 2 / (exp(2u) + 1): no scalar libm tanh (it does not vectorise), exact at both ends (exp
/// under- or overflows to tanh = -1 or 1) and a few ulps absolute near 0, which is what
/// gelu = 0.5 x (1 + tanh) and its derivative need.
template <class T>
KOKKOS_INLINE_FUNCTION T inner_tanh(const T x) {
  const T u = static_cast<T>(sqrt_2_over_pi) * (x + static_cast<T>(cubic) * x * x * x);
  return T(1) - T(2) / (elementwise_exp(T(2) * u) + T(1));
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
void gelu_forward(const typename Kokkos::View<T*, MemSpace>::const_type& x, const Kokkos::View<T*, MemSpace>& y,
                  const Exec& space = Exec()) {
  require(x.extent(0) == y.extent(0), "gelu_forward: x and y differ in length");
  const T* in = x.data();
  T* out = y.data();
  elementwise("Kernels::gelu_forward", space, static_cast<index_t>(x.extent(0)),
              KOKKOS_LAMBDA(const index_t i) { out[i] = gelu_value(in[i]); });
}

/// \brief dx = dy * gelu'(x) elementwise (dx overwritten; it may alias dy).
template <class T, class Exec = ExecSpace>
void gelu_backward(const typename Kokkos::View<T*, MemSpace>::const_type& x,
                   const typename Kokkos::View<T*, MemSpace>::const_type& dy, const Kokkos::View<T*, MemSpace>& dx,
                   const Exec& space = Exec()) {
  require(x.extent(0) == dy.extent(0) && x.extent(0) == dx.extent(0), "gelu_backward: x, dy and dx differ in length");
  const T* in = x.data();
  const T* grad_out = dy.data();
  T* grad_in = dx.data();
  elementwise("Kernels::gelu_backward", space, static_cast<index_t>(x.extent(0)),
              KOKKOS_LAMBDA(const index_t i) { grad_in[i] = grad_out[i] * gelu_derivative(in[i]); });
}

/// \brief u(i, j) += bias(j) and g = gelu(u) in one pass ([rows][cols] LayoutRight views): the
/// bias of the first MLP layer and its activation, keeping u for the backward.
template <class T, class Exec = ExecSpace>
void bias_gelu_forward(const Kokkos::View<T**, Kokkos::LayoutRight, MemSpace>& u,
                       const typename Kokkos::View<T*, MemSpace>::const_type& bias,
                       const Kokkos::View<T**, Kokkos::LayoutRight, MemSpace>& g, const Exec& space = Exec()) {
  require(u.extent(0) == g.extent(0) && u.extent(1) == g.extent(1) && bias.extent(0) == u.extent(1),
          "bias_gelu_forward: u, bias and g differ in extents");
  elementwise_rows("Kernels::bias_gelu_forward", space, index_t(u.extent(0)), index_t(u.extent(1)),
                   KOKKOS_LAMBDA(index_t i, index_t j) {
                     const T value = u(i, j) + bias(j);
                     u(i, j) = value;
                     g(i, j) = gelu_value(value);
                   });
}

}  // namespace wf::kernels

// SiLU (torch.nn.SiLU): silu(x) = x sigmoid(x) = x / (1 + exp(-x)); the DiT's timestep MLP and
// adaLN inputs. Elementwise over a flat View<T*>, on the execution space instance given.
#pragma once

#include <Kokkos_Core.hpp>

#include "core/compat.hpp"
#include "core/error.hpp"
#include "core/types.hpp"

namespace wf::kernels {

/// \brief silu(x), usable inside kernels.
template <class T>
KOKKOS_INLINE_FUNCTION T silu_value(const T x) {
  return x / (T(1) + compat::exp(-x));
}

/// \brief d silu(x) / dx = s (1 + x (1 - s)), s = sigmoid(x).
template <class T>
KOKKOS_INLINE_FUNCTION T silu_derivative(const T x) {
  const T s = T(1) / (T(1) + compat::exp(-x));
  return s * (T(1) + x * (T(1) - s));
}

/// \brief y = silu(x) elementwise; y may alias x.
template <class T>
void silu_forward(const ExecSpace& space, const typename Kokkos::View<T*, MemSpace>::const_type& x,
                  const Kokkos::View<T*, MemSpace>& y) {
  require(x.extent(0) == y.extent(0), "silu_forward: x and y differ in length");
  Kokkos::parallel_for(
      "Kernels::silu_forward", Kokkos::RangePolicy<ExecSpace>(space, 0, static_cast<index_t>(x.extent(0))),
      KOKKOS_LAMBDA(const index_t i) { y(i) = silu_value(x(i)); });
}

/// \brief dx = dy * silu'(x) elementwise (dx overwritten; it may alias dy).
template <class T>
void silu_backward(const ExecSpace& space, const typename Kokkos::View<T*, MemSpace>::const_type& x,
                   const typename Kokkos::View<T*, MemSpace>::const_type& dy, const Kokkos::View<T*, MemSpace>& dx) {
  require(x.extent(0) == dy.extent(0) && x.extent(0) == dx.extent(0), "silu_backward: x, dy and dx differ in length");
  Kokkos::parallel_for(
      "Kernels::silu_backward", Kokkos::RangePolicy<ExecSpace>(space, 0, static_cast<index_t>(x.extent(0))),
      KOKKOS_LAMBDA(const index_t i) { dx(i) = dy(i) * silu_derivative(x(i)); });
}

}  // namespace wf::kernels

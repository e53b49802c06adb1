// AdamW with torch.optim.AdamW semantics (single-tensor path, amsgrad = False), and the two
// pieces of gradient clipping: the squared norm and the rescale.
//
// Per step t (1-based), with the scalars formed in double on the host like PyTorch's Python
// floats and rounded to T once:
//   param *= 1 - lr * weight_decay                      (decoupled decay, before the moments)
//   m += (1 - beta1) (g - m)                             (torch's lerp_: m = beta1 m + (1 - beta1) g)
//   v = beta2 v + (1 - beta2) g^2
//   param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// which is param -= lr * mhat / (sqrt(vhat) + eps) with the bias-corrected moments.
#pragma once

#include <Kokkos_Core.hpp>

#include <cmath>
#include <string>

#include "core/compat.hpp"
#include "core/error.hpp"
#include "core/types.hpp"

namespace wf::kernels {

/// \brief One AdamW step on a flat parameter vector and its moment buffers (m, v start at 0).
/// step is the 1-based count of steps taken including this one. Throws wf::Error on step < 1
/// or on extents that differ.
template <class T, class Exec = ExecSpace>
void adamw_step(const Kokkos::View<T*, MemSpace>& param, const typename Kokkos::View<T*, MemSpace>::const_type& grad,
                const Kokkos::View<T*, MemSpace>& m, const Kokkos::View<T*, MemSpace>& v, int step, double lr,
                double beta1 = 0.9, double beta2 = 0.95, double eps = 1e-8, double weight_decay = 0.01) {
  require(step >= 1, "adamw_step: step is 1-based, got " + std::to_string(step));
  require(grad.extent(0) == param.extent(0) && m.extent(0) == param.extent(0) && v.extent(0) == param.extent(0),
          "adamw_step: param, grad, m and v differ in length");
  const double bias_correction1 = 1.0 - std::pow(beta1, step);
  const double bias_correction2 = 1.0 - std::pow(beta2, step);
  const T decay = static_cast<T>(1.0 - lr * weight_decay);
  const T one_minus_beta1 = static_cast<T>(1.0 - beta1);
  const T beta2_t = static_cast<T>(beta2);
  const T one_minus_beta2 = static_cast<T>(1.0 - beta2);
  const T step_size = static_cast<T>(lr / bias_correction1);
  const T bias_correction2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
  const T eps_t = static_cast<T>(eps);
  Kokkos::parallel_for(
      "Kernels::adamw_step", Kokkos::RangePolicy<Exec>(0, static_cast<index_t>(param.extent(0))),
      KOKKOS_LAMBDA(const index_t i) {
        const T g = grad(i);
        const T p = param(i) * decay;
        const T m_new = m(i) + one_minus_beta1 * (g - m(i));
        const T v_new = v(i) * beta2_t + one_minus_beta2 * g * g;
        m(i) = m_new;
        v(i) = v_new;
        param(i) = p - step_size * (m_new / (compat::sqrt(v_new) / bias_correction2_sqrt + eps_t));
      });
}

/// \brief sum_i x_i^2, accumulated in double. Kokkos combines the partial sums in a fixed
/// order (no atomics), so the result is bitwise reproducible run to run on a given backend.
/// T may be const-qualified (View<const float*> and View<float*> both deduce).
template <class T, class Exec = ExecSpace>
double grad_norm_squared(const Kokkos::View<T*, MemSpace>& x) {
  double sum = 0.0;
  Kokkos::parallel_reduce(
      "Kernels::grad_norm_squared", Kokkos::RangePolicy<Exec>(0, static_cast<index_t>(x.extent(0))),
      KOKKOS_LAMBDA(const index_t i, double& acc) {
        const double value = static_cast<double>(x(i));
        acc += value * value;
      },
      sum);
  return sum;
}

/// \brief x *= factor (gradient clipping: factor = max_norm / norm when norm > max_norm).
template <class T, class Exec = ExecSpace>
void scale_in_place(const Kokkos::View<T*, MemSpace>& x, double factor) {
  const T f = static_cast<T>(factor);
  Kokkos::parallel_for(
      "Kernels::scale_in_place", Kokkos::RangePolicy<Exec>(0, static_cast<index_t>(x.extent(0))),
      KOKKOS_LAMBDA(const index_t i) { x(i) *= f; });
}

}  // namespace wf::kernels

// The denoising loss of the DiT: squared error between the predicted and the true noise,
// summed here over this process's elements (double accumulation); the caller sums over the
// processes and divides by the element count of the whole sequence (the mean, as
// torch.nn.functional.mse_loss), and gives the backward that 1 / count as `scale`.
#pragma once

#include <Kokkos_Core.hpp>

#include "core/error.hpp"
#include "core/types.hpp"

namespace wf::kernels {

/// \brief sum_i (prediction_i - target_i)^2 over flat views, accumulated in double (Kokkos
/// combines partial sums in a fixed order for a given backend and launch: reproducible).
template <class T>
double squared_error_sum(const ExecSpace& space, const typename Kokkos::View<T*, MemSpace>::const_type& prediction,
                         const typename Kokkos::View<T*, MemSpace>::const_type& target) {
  require(prediction.extent(0) == target.extent(0), "squared_error_sum: prediction and target differ in length");
  double sum = 0.0;
  Kokkos::parallel_reduce(
      "Kernels::squared_error_sum", Kokkos::RangePolicy<ExecSpace>(space, 0, static_cast<index_t>(target.extent(0))),
      KOKKOS_LAMBDA(const index_t i, double& acc) {
        const double error = static_cast<double>(prediction(i)) - static_cast<double>(target(i));
        acc += error * error;
      },
      sum);
  return sum;
}

/// \brief gradient_i = 2 scale (prediction_i - target_i): the gradient of scale times the sum
/// of squared errors (gradient overwritten).
template <class T>
void squared_error_backward(const ExecSpace& space, const typename Kokkos::View<T*, MemSpace>::const_type& prediction,
                            const typename Kokkos::View<T*, MemSpace>::const_type& target, double scale,
                            const Kokkos::View<T*, MemSpace>& gradient) {
  require(prediction.extent(0) == target.extent(0) && gradient.extent(0) == target.extent(0),
          "squared_error_backward: prediction, target and gradient differ in length");
  const T factor = static_cast<T>(2 * scale);
  Kokkos::parallel_for(
      "Kernels::squared_error_backward", Kokkos::RangePolicy<ExecSpace>(space, 0, static_cast<index_t>(target.extent(0))),
      KOKKOS_LAMBDA(const index_t i) { gradient(i) = factor * (prediction(i) - target(i)); });
}

}  // namespace wf::kernels

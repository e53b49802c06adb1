// LayerNorm over the last dimension, as torch.nn.LayerNorm (DESIGN 2.7: eps 1e-5, biased
// variance). Rows are tokens: x is [rows][width] LayoutRight.
//
// One team per row, so that wide rows are read with the whole team (coalesced on GPUs). The
// parameter gradients are sums over rows: they are formed from fixed-size row chunks combined
// in a fixed order, without atomics, so they are bitwise reproducible run to run, whatever the
// backend or team size.
#pragma once

#include <Kokkos_Core.hpp>

#include <string>

#include "core/compat.hpp"
#include "core/error.hpp"
#include "core/types.hpp"
#include "kernels/attention_types.hpp"

namespace wf::kernels {

/// Added to the variance before the square root (torch.nn.LayerNorm's default).
constexpr double layer_norm_eps = 1e-5;
/// Rows per partial sum of the parameter gradients (a constant: the summation order must not
/// depend on the backend).
constexpr index_t layer_norm_row_chunk = 32;

namespace layer_norm_detail {

inline void check_shapes(const char* where, std::size_t rows, std::size_t width, std::size_t y_rows,
                         std::size_t y_width, std::size_t weight, std::size_t bias, std::size_t mean,
                         std::size_t rstd) {
  require(y_rows == rows && y_width == width && weight == width && bias == width && mean == rows &&
              rstd == rows,
          std::string(where) + ": inconsistent extents (rows " + std::to_string(rows) + ", width " +
              std::to_string(width) + ")");
}

}  // namespace layer_norm_detail

/// \brief y = (x - mean) * rstd * weight + bias per row, rstd = 1 / sqrt(var + eps) with the
/// biased variance (eps 1e-5 unless given; the DiT uses 1e-6). Also stores mean [rows] and rstd
/// [rows] for the backward.
template <class T, class Exec = ExecSpace>
void layer_norm_forward(const typename Tensor2<T, MemSpace>::const_type& x,
                        const typename Kokkos::View<T*, MemSpace>::const_type& weight,
                        const typename Kokkos::View<T*, MemSpace>::const_type& bias,
                        const Tensor2<T, MemSpace>& y, const Kokkos::View<T*, MemSpace>& mean,
                        const Kokkos::View<T*, MemSpace>& rstd, double epsilon = layer_norm_eps) {
  layer_norm_detail::check_shapes("layer_norm_forward", x.extent(0), x.extent(1), y.extent(0), y.extent(1),
                                  weight.extent(0), bias.extent(0), mean.extent(0), rstd.extent(0));
  const int rows = static_cast<int>(x.extent(0));
  const int width = static_cast<int>(x.extent(1));
  if (rows == 0) return;
  require(width > 0, "layer_norm_forward: width must be positive");
  using Policy = Kokkos::TeamPolicy<Exec>;
  using Member = typename Policy::member_type;
  const T eps = static_cast<T>(epsilon);
  const T inv_width = T(1) / static_cast<T>(width);
  Kokkos::parallel_for(
      "Kernels::layer_norm_forward", Policy(rows, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
        const int i = team.league_rank();
        T sum = T(0);
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(team, width), [&](const int c, T& acc) { acc += x(i, c); }, sum);
        const T mu = sum * inv_width;
        // Two passes (mean, then squared deviations): no cancellation for rows far from 0.
        T squares = T(0);
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(team, width),
            [&](const int c, T& acc) {
              const T centred = x(i, c) - mu;
              acc += centred * centred;
            },
            squares);
        const T r = T(1) / compat::sqrt(squares * inv_width + eps);
        Kokkos::parallel_for(Kokkos::TeamThreadRange(team, width),
                             [&](const int c) { y(i, c) = (x(i, c) - mu) * r * weight(c) + bias(c); });
        Kokkos::single(Kokkos::PerTeam(team), [&]() {
          mean(i) = mu;
          rstd(i) = r;
        });
      });
}

namespace layer_norm_detail {

/// dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)), g = dy * weight: one team per row.
template <class T, class Exec>
void input_gradient(const typename Tensor2<T, MemSpace>::const_type& dy, const typename Tensor2<T, MemSpace>::const_type& x,
                    const typename Kokkos::View<T*, MemSpace>::const_type& weight,
                    const typename Kokkos::View<T*, MemSpace>::const_type& mean,
                    const typename Kokkos::View<T*, MemSpace>::const_type& rstd, const Tensor2<T, MemSpace>& dx,
                    bool accumulate) {
  using Policy = Kokkos::TeamPolicy<Exec>;
  using Member = typename Policy::member_type;
  const int rows = static_cast<int>(x.extent(0));
  const int width = static_cast<int>(x.extent(1));
  const T inv_width = T(1) / static_cast<T>(width);
  Kokkos::parallel_for(
      "Kernels::layer_norm_backward_input", Policy(rows, Kokkos::AUTO), KOKKOS_LAMBDA(const Member& team) {
        const int i = team.league_rank();
        const T mu = mean(i);
        const T r = rstd(i);
        T sum_g = T(0);
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(team, width), [&](const int c, T& acc) { acc += dy(i, c) * weight(c); },
            sum_g);
        T sum_g_xhat = T(0);
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(team, width),
            [&](const int c, T& acc) { acc += dy(i, c) * weight(c) * ((x(i, c) - mu) * r); }, sum_g_xhat);
        const T mean_g = sum_g * inv_width;
        const T mean_g_xhat = sum_g_xhat * inv_width;
        Kokkos::parallel_for(Kokkos::TeamThreadRange(team, width), [&](const int c) {
          const T xhat = (x(i, c) - mu) * r;
          const T grad = r * (dy(i, c) * weight(c) - mean_g - xhat * mean_g_xhat);
          dx(i, c) = accumulate ? dx(i, c) + grad : grad;
        });
      });
}

/// dweight += sum_rows dy * xhat, dbias += sum_rows dy: partial sums over chunks of rows, then
/// the chunks in order (a fixed summation order, no atomics).
template <class T, class Exec>
void parameter_gradients(const typename Tensor2<T, MemSpace>::const_type& dy,
                         const typename Tensor2<T, MemSpace>::const_type& x,
                         const typename Kokkos::View<T*, MemSpace>::const_type& mean,
                         const typename Kokkos::View<T*, MemSpace>::const_type& rstd,
                         const Kokkos::View<T*, MemSpace>& dweight, const Kokkos::View<T*, MemSpace>& dbias) {
  const index_t n_rows = static_cast<index_t>(x.extent(0));
  const int width = static_cast<int>(x.extent(1));
  const index_t chunk = layer_norm_row_chunk;
  const index_t chunks = (n_rows + chunk - 1) / chunk;
  Tensor2<T, MemSpace> partial_weight("Kernels::layer_norm_partial_dweight", chunks, width);
  Tensor2<T, MemSpace> partial_bias("Kernels::layer_norm_partial_dbias", chunks, width);
  Kokkos::parallel_for(
      "Kernels::layer_norm_backward_params_partial",
      Kokkos::MDRangePolicy<Exec, Kokkos::Rank<2>>({0, 0}, {chunks, static_cast<index_t>(width)}),
      KOKKOS_LAMBDA(const index_t k, const index_t c) {
        const index_t end = (k + 1) * chunk < n_rows ? (k + 1) * chunk : n_rows;
        T sum_w = T(0), sum_b = T(0);
        for (index_t i = k * chunk; i < end; ++i) {
          sum_w += dy(i, c) * ((x(i, c) - mean(i)) * rstd(i));
          sum_b += dy(i, c);
        }
        partial_weight(k, c) = sum_w;
        partial_bias(k, c) = sum_b;
      });
  Kokkos::parallel_for(
      "Kernels::layer_norm_backward_params", Kokkos::RangePolicy<Exec>(0, width), KOKKOS_LAMBDA(const int c) {
        T sum_w = T(0), sum_b = T(0);
        for (index_t k = 0; k < chunks; ++k) {
          sum_w += partial_weight(k, c);
          sum_b += partial_bias(k, c);
        }
        dweight(c) += sum_w;
        dbias(c) += sum_b;
      });
}

}  // namespace layer_norm_detail

/// \brief The input gradient alone of layer_norm_backward (for a LayerNorm without affine
/// parameters, pass weight = ones): dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)).
template <class T, class Exec = ExecSpace>
void layer_norm_backward_input(const typename Tensor2<T, MemSpace>::const_type& dy,
                               const typename Tensor2<T, MemSpace>::const_type& x,
                               const typename Kokkos::View<T*, MemSpace>::const_type& weight,
                               const typename Kokkos::View<T*, MemSpace>::const_type& mean,
                               const typename Kokkos::View<T*, MemSpace>::const_type& rstd,
                               const Tensor2<T, MemSpace>& dx) {
  layer_norm_detail::check_shapes("layer_norm_backward_input", x.extent(0), x.extent(1), dy.extent(0), dy.extent(1),
                                  weight.extent(0), dx.extent(1), mean.extent(0), rstd.extent(0));
  require(dx.extent(0) == x.extent(0), "layer_norm_backward_input: dx extents differ from x");
  if (x.extent(0) == 0) return;
  layer_norm_detail::input_gradient<T, Exec>(dy, x, weight, mean, rstd, dx, false);
}

/// \brief Backward of layer_norm_forward. dx is overwritten, or added to with accumulate_dx (the
/// residual stream's gradient takes the branch's without a separate pass); dweight and dbias are
/// accumulated (+=), so that gradients of several calls (micro-batches) add up.
///
/// With xhat = (x - mean) * rstd and g = dy * weight:
///   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)),
///   dweight += sum_rows dy * xhat,  dbias += sum_rows dy.
template <class T, class Exec = ExecSpace>
void layer_norm_backward(const typename Tensor2<T, MemSpace>::const_type& dy,
                         const typename Tensor2<T, MemSpace>::const_type& x,
                         const typename Kokkos::View<T*, MemSpace>::const_type& weight,
                         const typename Kokkos::View<T*, MemSpace>::const_type& mean,
                         const typename Kokkos::View<T*, MemSpace>::const_type& rstd,
                         const Tensor2<T, MemSpace>& dx, const Kokkos::View<T*, MemSpace>& dweight,
                         const Kokkos::View<T*, MemSpace>& dbias, bool accumulate_dx = false) {
  layer_norm_detail::check_shapes("layer_norm_backward", x.extent(0), x.extent(1), dy.extent(0), dy.extent(1),
                                  weight.extent(0), dweight.extent(0), mean.extent(0), rstd.extent(0));
  require(dx.extent(0) == x.extent(0) && dx.extent(1) == x.extent(1) && dbias.extent(0) == x.extent(1),
          "layer_norm_backward: dx or dbias extents differ from x");
  if (x.extent(0) == 0) return;
  layer_norm_detail::input_gradient<T, Exec>(dy, x, weight, mean, rstd, dx, accumulate_dx);
  layer_norm_detail::parameter_gradients<T, Exec>(dy, x, mean, rstd, dweight, dbias);
}

}  // namespace wf::kernels

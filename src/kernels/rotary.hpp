// Rotary position embedding, rotate-half convention (DESIGN 2.7; GPT-NeoX / Llama in PyTorch):
// for head_dim d, i < d/2 and angle_i = pos * base^(-2i/d),
//   x' = x * cos + rotate_half(x) * sin,  rotate_half(x) = concat(-x[d/2:], x[:d/2]),
// with cos and sin repeated over both halves. Dimension i is paired with i + d/2:
//   x'[i] = x[i] cos_i - x[i + d/2] sin_i,  x'[i + d/2] = x[i + d/2] cos_i + x[i] sin_i.
// The rotation is orthogonal, so the backward is the same rotation by -angle (inverse = true).
#pragma once

#include <Kokkos_Core.hpp>

#include <cmath>
#include <string>

#include "core/compat.hpp"
#include "core/error.hpp"
#include "core/types.hpp"
#include "kernels/attention_types.hpp"

namespace wf::kernels {

/// \brief Rotates x [heads][tokens][head_dim] in place by the angles of the tokens' global
/// positions. inverse = true rotates by -angle: it undoes the forward and is its backward
/// (the gradient of the rotated tensor maps to the gradient of the input).
///
/// Angles are formed in double whatever T is: pos * base^(-2i/d) reaches 1e5 rad and more
/// for long sequences, where a float angle would be off by whole hundredths of a radian.
/// Throws wf::Error when head_dim is odd, base <= 0 or positions has the wrong length.
template <class T, class Exec = ExecSpace>
void apply_rotary(const Tensor3<T, MemSpace>& x, const PositionView<MemSpace>& positions, double base = 10000.0,
                  bool inverse = false) {
  const int heads = static_cast<int>(x.extent(0));
  const index_t tokens = static_cast<index_t>(x.extent(1));
  const int head_dim = static_cast<int>(x.extent(2));
  require(head_dim % 2 == 0, "apply_rotary: head_dim must be even, got " + std::to_string(head_dim));
  require(base > 0.0, "apply_rotary: base must be positive, got " + std::to_string(base));
  require(static_cast<index_t>(positions.extent(0)) == tokens,
          "apply_rotary: " + std::to_string(positions.extent(0)) + " positions for " + std::to_string(tokens) +
              " tokens");
  const int half = head_dim / 2;
  if (tokens == 0 || half == 0 || heads == 0) return;
  const double log_base = std::log(base);
  const double sign = inverse ? -1.0 : 1.0;
  // One thread per (token, pair): cos and sin are computed once and reused by every head.
  Kokkos::parallel_for(
      "Kernels::apply_rotary",
      Kokkos::MDRangePolicy<Exec, Kokkos::Rank<2>>({0, 0}, {tokens, static_cast<index_t>(half)}),
      KOKKOS_LAMBDA(const index_t t, const index_t i) {
        const double inv_freq = compat::exp(-static_cast<double>(2 * i) / static_cast<double>(head_dim) * log_base);
        const double angle = static_cast<double>(positions(t)) * inv_freq;
        const T c = static_cast<T>(compat::cos(angle));
        const T s = static_cast<T>(sign * compat::sin(angle));
        for (int h = 0; h < heads; ++h) {
          const T first = x(h, t, i);
          const T second = x(h, t, i + half);
          x(h, t, i) = first * c - second * s;
          x(h, t, i + half) = second * c + first * s;
        }
      });
}

}  // namespace wf::kernels

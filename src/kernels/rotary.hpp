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
#include "kernels/elementwise.hpp"

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

/// \brief cos and sin of every (token, pair) of a fixed set of positions, rounded to T: what
/// apply_rotary computes on every call, computed once (the positions of a shard do not change).
template <class T>
struct RotaryTable {
  Kokkos::View<T**, Kokkos::LayoutRight, MemSpace> cos, sin;  ///< [tokens][head_dim / 2]
};

/// \brief The table of `positions` for head_dim and base (angles in double, as apply_rotary).
template <class T, class Exec = ExecSpace>
RotaryTable<T> make_rotary_table(const PositionView<MemSpace>& positions, int head_dim, double base = 10000.0) {
  require(head_dim % 2 == 0, "make_rotary_table: head_dim must be even, got " + std::to_string(head_dim));
  require(base > 0.0, "make_rotary_table: base must be positive, got " + std::to_string(base));
  const index_t tokens = static_cast<index_t>(positions.extent(0));
  const int half = head_dim / 2;
  RotaryTable<T> table{Kokkos::View<T**, Kokkos::LayoutRight, MemSpace>("Kernels::rotary_cos", tokens, half),
                       Kokkos::View<T**, Kokkos::LayoutRight, MemSpace>("Kernels::rotary_sin", tokens, half)};
  const double log_base = std::log(base);
  const auto cos_table = table.cos, sin_table = table.sin;
  Kokkos::parallel_for(
      "Kernels::make_rotary_table", Kokkos::MDRangePolicy<Exec, Kokkos::Rank<2>>({0, 0}, {tokens, index_t(half)}),
      KOKKOS_LAMBDA(const index_t t, const index_t i) {
        const double inv_freq = compat::exp(-static_cast<double>(2 * i) / static_cast<double>(head_dim) * log_base);
        const double angle = static_cast<double>(positions(t)) * inv_freq;
        cos_table(t, i) = static_cast<T>(compat::cos(angle));
        sin_table(t, i) = static_cast<T>(compat::sin(angle));
      });
  return table;
}

/// \brief Columns [col0, col0 + heads * head_dim) of a token-major matrix [tokens][cols] to a
/// head-major block [heads][tokens][head_dim] at `head`, rotated by the table when it is given
/// (one pass instead of a reorder and a rotation; head_dim even then).
template <class T, class Exec = ExecSpace>
void to_head_major(const Kokkos::View<const T**, Kokkos::LayoutRight, MemSpace>& tokens, int col0, int heads,
                   int head_dim, T* head, const RotaryTable<T>* rotation, const Exec& space = Exec()) {
  const index_t n = static_cast<index_t>(tokens.extent(0));
  if (rotation == nullptr) {
    elementwise_rows("Kernels::to_head_major", space, n, index_t(heads) * head_dim, KOKKOS_LAMBDA(index_t t, index_t k) {
      head[((k / head_dim) * n + t) * head_dim + k % head_dim] = tokens(t, col0 + k);
    });
    return;
  }
  const int half = head_dim / 2;
  const auto cos_table = rotation->cos, sin_table = rotation->sin;
  elementwise_rows("Kernels::to_head_major_rotated", space, n, index_t(heads) * half, KOKKOS_LAMBDA(index_t t, index_t k) {
    const index_t h = k / half, i = k % half;
    const T first = tokens(t, col0 + h * head_dim + i), second = tokens(t, col0 + h * head_dim + i + half);
    T* out = head + (h * n + t) * head_dim;
    const T c = cos_table(t, i), s = sin_table(t, i);
    out[i] = first * c - second * s;
    out[i + half] = second * c + first * s;
  });
}

/// \brief The inverse of to_head_major: a head-major block (gradients) back to columns
/// [col0, col0 + heads * head_dim) of a token-major matrix, rotated back (by -angle) when the
/// table is given: the backward of to_head_major.
template <class T, class Exec = ExecSpace>
void to_token_major(const T* head, int heads, int head_dim, const RotaryTable<T>* rotation,
                    const Kokkos::View<T**, Kokkos::LayoutRight, MemSpace>& tokens, int col0, const Exec& space = Exec()) {
  const index_t n = static_cast<index_t>(tokens.extent(0));
  if (rotation == nullptr) {
    elementwise_rows("Kernels::to_token_major", space, n, index_t(heads) * head_dim, KOKKOS_LAMBDA(index_t t, index_t k) {
      tokens(t, col0 + k) = head[((k / head_dim) * n + t) * head_dim + k % head_dim];
    });
    return;
  }
  const int half = head_dim / 2;
  const auto cos_table = rotation->cos, sin_table = rotation->sin;
  elementwise_rows("Kernels::to_token_major_rotated", space, n, index_t(heads) * half, KOKKOS_LAMBDA(index_t t, index_t k) {
    const index_t h = k / half, i = k % half;
    const T* in = head + (h * n + t) * head_dim;
    T* out = &tokens(t, col0 + h * head_dim);
    const T c = cos_table(t, i), s = -sin_table(t, i);
    out[i] = in[i] * c - in[i + half] * s;
    out[i + half] = in[i + half] * c + in[i] * s;
  });
}

}  // namespace wf::kernels

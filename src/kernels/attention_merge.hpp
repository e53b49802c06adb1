// The lse-aware merge of two partial attention results (DESIGN 2.1): associative and
// commutative, overflow-safe, exact when one side is fully masked (lse = -inf).
#pragma once

#include <Kokkos_Core.hpp>

#include "core/compat.hpp"
#include "kernels/attention_types.hpp"

namespace wf::kernels {

/// \brief Weights of each side and the merged lse: lse = logaddexp(lse_a, lse_b),
/// weight_a = exp(lse_a - lse), weight_b = exp(lse_b - lse). Symmetric in (a, b), so the
/// merge is bitwise commutative. Two fully masked sides give lse = -inf and zero weights.
template <class T>
KOKKOS_INLINE_FUNCTION void merge_weights(T lse_a, T lse_b, T& lse, T& weight_a, T& weight_b) {
  const T neg_inf = -compat::infinity<T>();
  const T hi = lse_a > lse_b ? lse_a : lse_b;
  const T lo = lse_a > lse_b ? lse_b : lse_a;
  if (hi == neg_inf) {  // both sides empty
    lse = neg_inf;
    weight_a = T(0);
    weight_b = T(0);
    return;
  }
  if (lo == neg_inf) {  // one side empty: the other passes through exactly
    lse = hi;
    weight_a = lse_a == hi ? T(1) : T(0);
    weight_b = lse_a == hi ? T(0) : T(1);
    return;
  }
  lse = hi + compat::log1p(compat::exp(lo - hi));
  weight_a = compat::exp(lse_a - lse);
  weight_b = compat::exp(lse_b - lse);
}

/// \brief weight_a * o_a + weight_b * o_b with the operands in a canonical order, so the result
/// is bitwise commutative even when the compiler fuses the multiply-add.
template <class T>
KOKKOS_INLINE_FUNCTION T merge_value(T lse_a, T weight_a, T o_a, T lse_b, T weight_b, T o_b) {
  // Select the operands first: one expression, so a fused multiply-add (if any) is formed the
  // same way whichever side comes first.
  const bool a_first = lse_a > lse_b || (lse_a == lse_b && o_a >= o_b);
  const T w1 = a_first ? weight_a : weight_b, x1 = a_first ? o_a : o_b;
  const T w2 = a_first ? weight_b : weight_a, x2 = a_first ? o_b : o_a;
  return w1 * x1 + w2 * x2;
}

/// \brief (o_into, lse_into) <- merge((o_into, lse_into), (o_other, lse_other)) for every
/// head and row. O is normalised (finalised) on both sides.
template <class Exec, class T, class Mem>
void merge_partial(const Exec& space, const Tensor3<T, Mem>& o_into, const Tensor2<T, Mem>& lse_into,
                   const Tensor3<const T, Mem>& o_other, const Tensor2<const T, Mem>& lse_other) {
  const int heads = static_cast<int>(o_into.extent(0));
  const int rows = static_cast<int>(o_into.extent(1));
  const int dim = static_cast<int>(o_into.extent(2));
  Kokkos::parallel_for(
      "Kernels::merge_partial",
      Kokkos::MDRangePolicy<Exec, Kokkos::Rank<2>>(space, {0, 0}, {heads, rows}),
      KOKKOS_LAMBDA(const int h, const int i) {
        const T lse_a = lse_into(h, i), lse_b = lse_other(h, i);
        T lse, weight_a, weight_b;
        merge_weights<T>(lse_a, lse_b, lse, weight_a, weight_b);
        for (int c = 0; c < dim; ++c)
          o_into(h, i, c) = merge_value<T>(lse_a, weight_a, o_into(h, i, c), lse_b, weight_b, o_other(h, i, c));
        lse_into(h, i) = lse;
      });
}

}  // namespace wf::kernels

// The attention pair physics (DESIGN 2.1), written once and used by every loop strategy: the
// fused team kernel, the gemm tiles, the dense baseline and the double reference (as LAMMPS
// and Cabana separate the pair force from the neighbour loop). A loop strategy decides how
// pairs are visited and stored; these functions decide what a pair and a row contribute.
//
// `Exp` is the exponential a strategy uses (Kokkos' on devices, a vectorisable one in the host
// loops, std::exp in the reference); every rule below is exact for exp(-inf) = 0.
#pragma once

#include <Kokkos_Core.hpp>

#include "core/compat.hpp"
#include "core/types.hpp"

namespace wf::kernels {

/// \brief Which (query, key) pairs interact. Positions are global token positions.
enum class MaskKind { none, causal };

inline const char* mask_name(MaskKind mask) { return mask == MaskKind::causal ? "causal" : "none"; }

/// \brief True when the pair (query at q_pos, key at k_pos) interacts (DESIGN 2.7: causal is
/// key position <= query position).
KOKKOS_INLINE_FUNCTION bool pair_visible(MaskKind mask, index_t q_pos, index_t k_pos) {
  return mask == MaskKind::none || k_pos <= q_pos;
}

/// \brief The masked-row rule: a row whose running max (or lse) is -inf has seen no key; it
/// keeps O = 0 and lse = -inf, and contributes no gradient.
template <class T>
KOKKOS_INLINE_FUNCTION bool row_sees_nothing(T max_or_lse) {
  return max_or_lse == -compat::infinity<T>();
}

/// \brief One step of the online softmax: the row's new running max, and the factor its
/// running sum and output are rescaled by.
template <class T>
struct OnlineSoftmaxStep {
  T max;         ///< max(old max, tile max)
  T correction;  ///< exp(old max - new max); 0 when the row saw nothing before
};

/// \brief The online-softmax row update when a tile whose largest score is `tile_max` arrives.
/// When the new max is still -inf (nothing visible yet, row_sees_nothing(step.max)), the tile's
/// weights must be taken as 0 and the row state left as it is.
WF_HOST_DEVICE_TEMPLATE
template <class T, class Exp>
KOKKOS_INLINE_FUNCTION OnlineSoftmaxStep<T> online_softmax_step(T old_max, T tile_max, const Exp& exp) {
  const T new_max = tile_max > old_max ? tile_max : old_max;
  if (row_sees_nothing(new_max)) return {new_max, T(1)};
  return {new_max, row_sees_nothing(old_max) ? T(0) : exp(old_max - new_max)};
}

/// \brief The softmax weight of a score against a row's reference: exp(score - reference),
/// the running max in the forward and the lse in the backward (then it is the probability).
WF_HOST_DEVICE_TEMPLATE
template <class T, class Exp>
KOKKOS_INLINE_FUNCTION T softmax_weight(T score, T reference, const Exp& exp) {
  return exp(score - reference);
}

/// \brief The running sum after a tile: old sum rescaled, plus the tile's weights.
template <class T>
KOKKOS_INLINE_FUNCTION T rescaled_sum(T old_sum, T correction, T tile_sum) {
  return old_sum * correction + tile_sum;
}

/// \brief lse = max + log(sum) of a finished row; -inf for a row that saw nothing (sum 0).
template <class T>
KOKKOS_INLINE_FUNCTION T row_lse(T max, T sum) {
  return sum > T(0) ? max + compat::log(sum) : -compat::infinity<T>();
}

/// \brief The backward pair term: dS = P (dP - D), with dP = dO . v and D = rowsum(dO * O).
template <class T>
KOKKOS_INLINE_FUNCTION T score_gradient(T probability, T d_probability, T delta) {
  return probability * (d_probability - delta);
}

/// \brief True when a backward pair contributes nothing: invisible, or its row saw no key.
template <class T>
KOKKOS_INLINE_FUNCTION bool backward_pair_skipped(bool visible, T lse) {
  return !visible || row_sees_nothing(lse);
}

/// \brief Kokkos' exp, for device loops.
struct DeviceExp {
  template <class T>
  KOKKOS_INLINE_FUNCTION T operator()(T x) const {
    return compat::exp(x);
  }
};

}  // namespace wf::kernels

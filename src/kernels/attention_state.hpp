// Start and finish of the forward accumulation, and D = rowsum(dO * O) for the backward.
#pragma once

#include <Kokkos_Core.hpp>

#include "core/compat.hpp"
#include "kernels/attention_pair.hpp"
#include "kernels/attention_types.hpp"

namespace wf::kernels {

/// \brief Allocates an accumulator for `heads` x `rows` queries of width head_dim.
template <class T, class Mem = MemSpace>
ForwardAccumulator<T, Mem> make_accumulator(int heads, index_t rows, int head_dim) {
  return {Tensor3<T, Mem>("Kernels::accumulator_o", heads, rows, head_dim),
          Tensor2<T, Mem>("Kernels::accumulator_max", heads, rows),
          Tensor2<T, Mem>("Kernels::accumulator_sum", heads, rows)};
}

/// \brief O = 0, running max = -inf, running sum = 0.
template <class Exec, class T, class Mem>
void forward_init(const Exec& space, const ForwardAccumulator<T, Mem>& acc) {
  Kokkos::deep_copy(space, acc.o, T(0));
  Kokkos::deep_copy(space, acc.row_max, -compat::infinity<T>());
  Kokkos::deep_copy(space, acc.row_sum, T(0));
}

/// \brief O /= sum and lse = max + log(sum); rows that saw no key get O = 0, lse = -inf.
template <class Exec, class T, class Mem>
void forward_finalize(const Exec& space, const ForwardAccumulator<T, Mem>& acc, const Tensor2<T, Mem>& lse) {
  const auto o = acc.o;
  const auto row_max = acc.row_max;
  const auto row_sum = acc.row_sum;
  const int dim = static_cast<int>(o.extent(2));
  Kokkos::parallel_for(
      "Kernels::forward_finalize",
      Kokkos::MDRangePolicy<Exec, Kokkos::Rank<2>>(
          space, {0, 0}, {static_cast<index_t>(o.extent(0)), static_cast<index_t>(o.extent(1))}),
      KOKKOS_LAMBDA(const index_t h, const index_t i) {
        const T sum = row_sum(h, i);
        const T inverse = sum > T(0) ? T(1) / sum : T(0);  // a row that saw nothing keeps O = 0
        for (int c = 0; c < dim; ++c) o(h, i, c) = sum > T(0) ? o(h, i, c) * inverse : T(0);
        lse(h, i) = row_lse(row_max(h, i), sum);
      });
}

/// \brief delta(h, i) = sum_c dO(h, i, c) * O(h, i, c), the softmax-backward row term.
template <class Exec, class T, class Mem>
void backward_delta(const Exec& space, const Tensor3<const T, Mem>& d_o, const Tensor3<const T, Mem>& o,
                    const Tensor2<T, Mem>& delta) {
  const int dim = static_cast<int>(o.extent(2));
  Kokkos::parallel_for(
      "Kernels::backward_delta",
      Kokkos::MDRangePolicy<Exec, Kokkos::Rank<2>>(
          space, {0, 0}, {static_cast<index_t>(o.extent(0)), static_cast<index_t>(o.extent(1))}),
      KOKKOS_LAMBDA(const index_t h, const index_t i) {
        T sum = T(0);
        for (int c = 0; c < dim; ++c) sum += d_o(h, i, c) * o(h, i, c);
        delta(h, i) = sum;
      });
}

}  // namespace wf::kernels

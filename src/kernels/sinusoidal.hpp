// Sinusoidal embeddings of the DiT: of the diffusion timestep (DiT's timestep_embedding: cos
// then sin) and of the token positions (DiT's fixed 1-D sin-cos position embedding: sin then
// cos). With half = width / 2 and frequency f_j = exp(-ln(10000) j / half), j < half:
//   cos_first:  out(i, j) = cos(v_i f_j), out(i, half + j) = sin(v_i f_j)
//   sin_first:  out(i, j) = sin(v_i f_j), out(i, half + j) = cos(v_i f_j)
// Computed in double, stored as T. Constants: nothing here is trained.
#pragma once

#include <Kokkos_Core.hpp>

#include <cmath>

#include "core/compat.hpp"
#include "core/error.hpp"
#include "core/types.hpp"
#include "kernels/attention_types.hpp"

namespace wf::kernels {

/// \brief Which of cos and sin fills the first half of an embedding.
enum class SinusoidalOrder { cos_first, sin_first };

/// \brief out [rows][width] from `values` [rows] (timesteps or global positions); width even.
template <class T, class Values>
void sinusoidal_embedding(const ExecSpace& space, const Values& values, SinusoidalOrder order,
                          const Tensor2<T, MemSpace>& out) {
  const index_t rows = static_cast<index_t>(out.extent(0)), width = static_cast<index_t>(out.extent(1));
  require(width % 2 == 0, "sinusoidal_embedding: width " + std::to_string(width) + " is odd");
  require(static_cast<index_t>(values.extent(0)) == rows, "sinusoidal_embedding: values and out differ in rows");
  const index_t half = width / 2;
  const double log_base = std::log(10000.0);
  const bool cos_first = order == SinusoidalOrder::cos_first;
  Kokkos::parallel_for(
      "Kernels::sinusoidal_embedding", Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>(space, {0, 0}, {rows, half}),
      KOKKOS_LAMBDA(const index_t i, const index_t j) {
        const double angle = static_cast<double>(values(i)) * compat::exp(-log_base * double(j) / double(half));
        const double c = compat::cos(angle), s = compat::sin(angle);
        out(i, j) = static_cast<T>(cos_first ? c : s);
        out(i, half + j) = static_cast<T>(cos_first ? s : c);
      });
}

}  // namespace wf::kernels

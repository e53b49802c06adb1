// Element-wise loops that are fast on the host and portable: on host execution spaces the
// elements are walked in chunks (parallel over chunks, "omp simd" inside), so the compiler
// vectorises the body; on devices one thread per element. Bodies are KOKKOS_LAMBDAs over raw
// pointers, and use elementwise_exp, which is the vectorisable fast_exp on the host.
#pragma once

#include <Kokkos_Core.hpp>

#include <type_traits>

#include "core/compat.hpp"
#include "core/types.hpp"
#include "kernels/fast_exp.hpp"

namespace wf::kernels {

/// \brief Elements per chunk of the host loops (a few pages: parallel chunks stay independent).
constexpr index_t elementwise_chunk = 4096;

/// \brief True for execution spaces that run on the host (Serial, OpenMP, Threads).
template <class Exec>
constexpr bool host_execution_space() {
  return Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Exec::memory_space>::accessible;
}

/// \brief Runs body(i) for every i in [0, n) on `space` (see the top of this file).
template <class Exec, class Body>
void elementwise(const char* label, const Exec& space, index_t n, const Body& body) {
  if (n <= 0) return;
  if constexpr (host_execution_space<Exec>()) {
    const index_t chunks = (n + elementwise_chunk - 1) / elementwise_chunk;
    Kokkos::parallel_for(label, Kokkos::RangePolicy<Exec>(space, 0, chunks), [=](const index_t chunk) {
      const index_t begin = chunk * elementwise_chunk;
      const index_t end = begin + elementwise_chunk < n ? begin + elementwise_chunk : n;
#pragma omp simd
      for (index_t i = begin; i < end; ++i) body(i);
    });
  } else {
    Kokkos::parallel_for(label, Kokkos::RangePolicy<Exec>(space, 0, n), body);
  }
}

/// \brief Runs body(i, j) for every row i in [0, rows) and column j in [0, cols) on `space`: on
/// the host, parallel over blocks of rows with a vectorised loop over the columns; on devices
/// one thread per element.
template <class Exec, class Body>
void elementwise_rows(const char* label, const Exec& space, index_t rows, index_t cols, const Body& body) {
  if (rows <= 0 || cols <= 0) return;
  if constexpr (host_execution_space<Exec>()) {
    const index_t block = cols >= elementwise_chunk ? 1 : elementwise_chunk / cols;
    const index_t blocks = (rows + block - 1) / block;
    Kokkos::parallel_for(label, Kokkos::RangePolicy<Exec>(space, 0, blocks), [=](const index_t b) {
      const index_t end = (b + 1) * block < rows ? (b + 1) * block : rows;
      for (index_t i = b * block; i < end; ++i) {
#pragma omp simd
        for (index_t j = 0; j < cols; ++j) body(i, j);
      }
    });
  } else {
    Kokkos::parallel_for(label, Kokkos::MDRangePolicy<Exec, Kokkos::Rank<2>>(space, {0, 0}, {rows, cols}), body);
  }
}

/// \brief exp for element-wise bodies: the vectorisable fast_exp in host code for float, Kokkos'
/// exp on devices and for double.
template <class T>
KOKKOS_INLINE_FUNCTION T elementwise_exp(T x) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__) || defined(__SYCL_DEVICE_ONLY__)
  return compat::exp(x);
#else
  if constexpr (std::is_same_v<T, float>) return fast_exp(x);
  return compat::exp(x);
#endif
}

}  // namespace wf::kernels

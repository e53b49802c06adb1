// Every difference between Kokkos 3.4 (Debian's Trilinos packages) and Kokkos 4.x lives here.
#pragma once

#include <Kokkos_Core.hpp>

#include <cmath>
#include <string>

namespace wf::compat {

#if KOKKOS_VERSION >= 40000
// Kokkos 4 moved the math functions out of Experimental.
using Kokkos::cos;
using Kokkos::exp;
using Kokkos::fmax;
using Kokkos::log;
using Kokkos::log1p;
using Kokkos::sin;
using Kokkos::sqrt;
using Kokkos::tanh;
#else
using Kokkos::Experimental::cos;
using Kokkos::Experimental::exp;
using Kokkos::Experimental::fmax;
using Kokkos::Experimental::log;
using Kokkos::Experimental::log1p;
using Kokkos::Experimental::sin;
using Kokkos::Experimental::sqrt;
using Kokkos::Experimental::tanh;
#endif

/// \brief +infinity of T, usable on host and device with both Kokkos versions.
template <class T>
KOKKOS_INLINE_FUNCTION constexpr T infinity() {
  return static_cast<T>(HUGE_VAL);
}

/// \brief Kokkos::fence with a label where the version supports it (3.6+).
inline void fence(const std::string& label) {
#if KOKKOS_VERSION >= 30600
  Kokkos::fence(label);
#else
  (void)label;
  Kokkos::fence();
#endif
}

/// \brief Name of the default execution space ("Serial", "Cuda", ...).
inline std::string default_execution_space_name() {
  return Kokkos::DefaultExecutionSpace::name();
}

/// \brief Kokkos version as "major.minor.patch".
inline std::string kokkos_version_string() {
  const int v = KOKKOS_VERSION;
  return std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." +
         std::to_string(v % 100);
}

}  // namespace wf::compat

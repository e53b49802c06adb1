// Every difference between Kokkos 3.4 (Debian's Trilinos packages) and Kokkos 4.x lives here.
#pragma once

#include <KokkosBlas3_gemm.hpp>
#include <KokkosKernels_config.h>
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

/// Before a host-and-device function template that host code instantiates with a host-only
/// argument (the host loops' vectorisable exp, std::exp in the references): nvcc would warn
/// (#20014-D) that the device side calls a host function, which it never does.
#if defined(__CUDACC__)
#define WF_HOST_DEVICE_TEMPLATE _Pragma("nv_exec_check_disable")
#else
#define WF_HOST_DEVICE_TEMPLATE
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

/// \brief KokkosBlas::gemm on the execution space instance `space` (Kokkos Kernels 4.1 added the
/// instance argument; before, gemm runs on the default instance, the only one 3.4 Serial has).
template <class Exec, class A, class B, class C>
void gemm(const Exec& space, const char* trans_a, const char* trans_b, typename A::const_value_type& alpha,
          const A& a, const B& b, typename C::const_value_type& beta, const C& c) {
#if defined(KOKKOSKERNELS_VERSION) && KOKKOSKERNELS_VERSION >= 40100
  KokkosBlas::gemm(space, trans_a, trans_b, alpha, a, b, beta, c);
#else
  (void)space;
  KokkosBlas::gemm(trans_a, trans_b, alpha, a, b, beta, c);
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

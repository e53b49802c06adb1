// Basic types shared by every module.
#pragma once

#include <Kokkos_Core.hpp>

#include <cstdint>
#include <string>

namespace wf {

using ExecSpace = Kokkos::DefaultExecutionSpace;
using MemSpace = ExecSpace::memory_space;
using HostSpace = Kokkos::HostSpace;

/// Global token positions (and particle ids) are 64-bit: N can exceed 2^31 on clusters.
using index_t = std::int64_t;

/// \brief Floating-point type chosen by the deck.
enum class Precision { fp32, fp64 };

/// \brief "float" or "double".
inline const char* precision_name(Precision p) { return p == Precision::fp32 ? "float" : "double"; }

template <class T>
constexpr Precision precision_of() {
  return sizeof(T) == 4 ? Precision::fp32 : Precision::fp64;
}

}  // namespace wf

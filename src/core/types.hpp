// Basic Kokkos types shared by every module.
#pragma once

#include <Kokkos_Core.hpp>

#include <cstdint>

namespace wf {

using ExecSpace = Kokkos::DefaultExecutionSpace;
using MemSpace = ExecSpace::memory_space;
using HostSpace = Kokkos::HostSpace;

/// Global token positions (and particle ids) are 64-bit: N can exceed 2^31 on clusters.
using index_t = std::int64_t;

}  // namespace wf

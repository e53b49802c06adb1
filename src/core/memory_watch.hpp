// Bytes allocated in the memory space of the run (wf::MemSpace: device memory on GPU builds,
// host memory otherwise), counted from Kokkos' allocation events, with the high-water mark.
// Kokkos-free header; the callbacks are in memory_watch.cpp.
#pragma once

#include <cstddef>
#include <string>

namespace wf {

/// \brief Starts counting Kokkos allocations in MemSpace made from now on (idempotent). Chains
/// to the allocation callbacks of a loaded Kokkos tool, so kokkos-tools keep working.
void start_memory_watch();
/// \brief Bytes of the counted allocations alive now.
std::size_t memory_space_bytes();
/// \brief The most bytes alive at once since start_memory_watch() or the last reset.
std::size_t memory_space_peak_bytes();
/// \brief Starts a new high-water mark at the bytes alive now.
void reset_memory_space_peak();
/// \brief The name of the memory space counted ("Host", "Cuda", ...).
std::string memory_space_name();

}  // namespace wf

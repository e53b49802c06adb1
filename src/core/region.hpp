// Kokkos profiling regions: kokkos-tools (space-time-stack, chrome tracing, ...) see every
// public entry of the schedules, the model, the I/O and the problems by name. This header is
// Kokkos-free (the calls into Kokkos are in region.cpp), so host-compiled layers (io) use it too.
#pragma once

#include <string>

namespace wf {

/// \brief Opens a Kokkos profiling region (Kokkos::Profiling::pushRegion).
void push_profiling_region(const std::string& name);
/// \brief Closes the innermost open region (Kokkos::Profiling::popRegion).
void pop_profiling_region();

/// \brief A named profiling region, open for the lifetime of the object. Names follow
/// "Module::function" (e.g. "Nbody::multi_ring_forward"). Nested regions must close in
/// reverse order, which scopes guarantee.
class ProfilingRegion {
 public:
  explicit ProfilingRegion(const std::string& name) { push_profiling_region(name); }
  ~ProfilingRegion() { pop_profiling_region(); }
  ProfilingRegion(const ProfilingRegion&) = delete;
  ProfilingRegion& operator=(const ProfilingRegion&) = delete;
};

}  // namespace wf

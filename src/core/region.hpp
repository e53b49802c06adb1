// Kokkos profiling regions: kokkos-tools (space-time-stack, chrome tracing, ...) see every
// public entry of the schedules, the model, the I/O and the problems by name.
#pragma once

#include <Kokkos_Core.hpp>

#include <string>

namespace wf {

/// \brief A named profiling region, open for the lifetime of the object. Names follow
/// "Module::function" (e.g. "Nbody::multi_ring_forward"). Nested regions must close in
/// reverse order, which scopes guarantee.
class ProfilingRegion {
 public:
  explicit ProfilingRegion(const std::string& name) { Kokkos::Profiling::pushRegion(name); }
  ~ProfilingRegion() { Kokkos::Profiling::popRegion(); }
  ProfilingRegion(const ProfilingRegion&) = delete;
  ProfilingRegion& operator=(const ProfilingRegion&) = delete;
};

}  // namespace wf

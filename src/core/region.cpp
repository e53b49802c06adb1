#include "core/region.hpp"

#include <Kokkos_Core.hpp>

namespace wf {

void push_profiling_region(const std::string& name) { Kokkos::Profiling::pushRegion(name); }

void pop_profiling_region() { Kokkos::Profiling::popRegion(); }

}  // namespace wf

#include "core/kokkos_info.hpp"

#include "core/compat.hpp"

namespace wf {

std::string kokkos_backend_name() { return compat::default_execution_space_name(); }

}  // namespace wf

// What the Kokkos of this build is, for reports and file attributes, without Kokkos headers
// (so host-compiled layers such as io can name it).
#pragma once

#include <string>

namespace wf {

/// \brief Name of the default execution space ("Serial", "OpenMP", "Cuda", ...).
std::string kokkos_backend_name();

}  // namespace wf

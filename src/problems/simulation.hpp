// The SimGrid build's compute injection (docs/scale.md).
#pragma once

#include "config/run_config.hpp"

namespace wf::problems {

/// \brief In the SimGrid build with parallel.machine set: the attention kernels stop computing
/// and advance simulated time by their FLOPs at the machine's attention rates (one device per
/// rank); true then. Elsewhere removes any injector and returns false.
bool install_simulation(const config::RunConfig& cfg);

}  // namespace wf::problems

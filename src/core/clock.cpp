#include "core/clock.hpp"

#include "wf_config.hpp"

#if WF_SIMGRID
#include <simgrid/engine.h>
#else
#include <chrono>
#endif

namespace wf {

double clock_seconds() {
#if WF_SIMGRID
  return simgrid_get_clock();
#else
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
#endif
}

}  // namespace wf

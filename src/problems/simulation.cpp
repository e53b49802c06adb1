// Compute injection in the SimGrid build: the attention kernels report their pairs
// (core/compute_injection.hpp) and simulated time advances by their FLOPs at parallel.machine's
// rates (smpi_execute), so the program above the kernels runs unchanged on simulated ranks.
#include "problems/simulation.hpp"

#include "config/machine.hpp"
#include "core/compute_injection.hpp"
#include "perf/flops.hpp"
#include "wf_config.hpp"

#if WF_SIMGRID
#include <smpi/smpi.h>
#endif

namespace wf::problems {
namespace {

// FLOP/s of this simulated rank (SMPI privatises globals per rank).
double forward_flops_per_second = 0.0, backward_flops_per_second = 0.0;

void inject(const InjectedWork& work) {
  const bool forward = work.kind == InjectedWork::attention_forward;
  const double flops = forward ? perf::attention_forward_flops(work.pairs, work.heads, work.head_dim)
                               : perf::attention_backward_flops(work.pairs, work.heads, work.head_dim);
  const double seconds = flops / (forward ? forward_flops_per_second : backward_flops_per_second);
#if WF_SIMGRID
  smpi_execute_benched(seconds);  // seconds on this host at its platform speed
#else
  (void)seconds;
#endif
}

}  // namespace

bool install_simulation(const config::RunConfig& cfg) {
  if (!WF_SIMGRID || cfg.parallel.machine.empty()) {
    install_compute_injector(nullptr);
    return false;
  }
  const config::Machine machine = config::load_machine(cfg.parallel.machine);
  forward_flops_per_second = machine.attention_forward_tflops * 1e12;
  backward_flops_per_second = machine.attention_backward_tflops * 1e12;
  install_compute_injector(&inject);
  return true;
}

}  // namespace wf::problems

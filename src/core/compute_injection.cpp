#include "core/compute_injection.hpp"

namespace wf {
namespace {
ComputeInjector installed = nullptr;  // per process (SMPI privatises it per simulated rank)
}  // namespace

void install_compute_injector(ComputeInjector injector) { installed = injector; }

ComputeInjector compute_injector() { return installed; }

}  // namespace wf

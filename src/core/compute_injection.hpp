// Compute injection, the simulation's one hook into the compute (docs/scale.md): when an
// injector is installed, the attention kernels do not run; they hand the injector what they
// would have computed (the visible (query, key) pairs per head of a block pair), and the
// injector advances simulated time by its FLOPs at the machine file's rate. Installed only by
// the SimGrid build (problems/simulation.cpp); null everywhere else.
#pragma once

namespace wf {

/// \brief What an injected kernel call stands for.
struct InjectedWork {
  enum Kind { attention_forward, attention_backward } kind;
  double pairs;  ///< visible (query, key) pairs of one head
  int heads, head_dim;
};

/// \brief Takes the place of a kernel call.
using ComputeInjector = void (*)(const InjectedWork& work);

/// \brief Installs `injector` for this process (nullptr removes it).
void install_compute_injector(ComputeInjector injector);

/// \brief The installed injector, or nullptr (kernels then compute).
ComputeInjector compute_injector();

}  // namespace wf

// Execution space instances for compute and communication (docs/communication.md, "Streams"):
// on a GPU backend communication gets its own instance (its own CUDA stream), so that a ring
// shift runs while the compute instance works on the current block; on host backends both are
// the default instance (host MPI needs no stream, and partitioning a host thread pool would
// take threads from the compute).
#pragma once

#include <Kokkos_Core.hpp>

#include <string>
#include <type_traits>

#include "core/error.hpp"
#include "core/types.hpp"

namespace wf {

/// \brief True when ExecSpace runs asynchronously on a device (work is queued on a stream).
constexpr bool device_execution_space() {
  return !Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemSpace>::accessible;
}

/// \brief The instance communication runs on: a new instance with its own stream on a device
/// backend (Kokkos >= 4 partitions it off `compute`), `compute` itself on host backends.
inline ExecSpace make_communication_instance(const ExecSpace& compute) {
#if KOKKOS_VERSION >= 40000
  if constexpr (device_execution_space()) return Kokkos::Experimental::partition_space(compute, 1)[0];
#endif
  return compute;
}

/// \brief Work submitted to `after` from now on starts only once the work submitted to `before`
/// so far is done. CUDA: an event recorded on `before`'s stream that `after`'s stream waits for
/// (the host does not block); other backends: a fence of `before`. Nothing when both are the
/// same CUDA stream (a stream is ordered).
inline void order_instances(const ExecSpace& before, const ExecSpace& after) {
#if defined(KOKKOS_ENABLE_CUDA)
  if constexpr (std::is_same_v<ExecSpace, Kokkos::Cuda>) {
    const cudaStream_t from = before.cuda_stream(), to = after.cuda_stream();
    if (from == to) return;
    cudaEvent_t event = nullptr;
    cudaError_t code = cudaEventCreateWithFlags(&event, cudaEventDisableTiming);
    if (code == cudaSuccess) code = cudaEventRecord(event, from);
    if (code == cudaSuccess) code = cudaStreamWaitEvent(to, event, 0);
    if (event) cudaEventDestroy(event);  // released once the wait has been satisfied
    require(code == cudaSuccess, std::string("order_instances: CUDA error: ") + cudaGetErrorString(code));
    return;
  }
#endif
  (void)after;
  before.fence();
}

}  // namespace wf

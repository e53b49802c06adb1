// run.verify for the kernel problem: every path against the double-precision reference.
#pragma once

#include <string>
#include <vector>

#include "kernels/attention_reference.hpp"
#include "kernels/attention_types.hpp"

namespace wf::problems {

/// \brief The inputs of the kernel problem, head-major, positions 0..N-1.
template <class T>
struct KernelInputs {
  kernels::Tensor3<T, MemSpace> q, k, v, d_o;
  Kokkos::View<index_t*, MemSpace> pos;
};

/// \brief Outputs of one path, copied to the host in double.
struct NamedOutputs {
  std::string name;
  const reference::AttentionResult* outputs;
};

/// \brief Host copies (in double) of O, lse and the gradients.
template <class T>
reference::AttentionResult copy_outputs(const kernels::Tensor3<T, MemSpace>& o,
                                        const kernels::Tensor2<T, MemSpace>& lse,
                                        const kernels::AttentionGradients<T, MemSpace>& grad);

/// \brief Compares every path with the reference: all outputs when heads N^2 d is small
/// (<= 2^31), else O, lse and dQ of 64 sampled rows per head (dK and dV need every row).
/// Tolerance: 64 eps(T) log2(N), relative 2-norm per tensor. Prints a table on rank 0.
template <class T>
bool verify_kernel_outputs(const kernels::AttentionOptions& opt, const KernelInputs<T>& inputs,
                           const std::vector<NamedOutputs>& paths);

}  // namespace wf::problems

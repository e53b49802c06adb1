// One block pair of attention on its own (queries and keys are the same N tokens at positions
// 0..N-1): random inputs, one tile path's forward and backward with the outputs kept. The
// kernel problem times it per path; attention.impl = "auto" measures with it.
#pragma once

#include <Kokkos_Core.hpp>
#include <Kokkos_Random.hpp>

#include <cstdint>

#include "kernels/attention.hpp"
#include "problems/kernel_verify.hpp"

namespace wf::problems {

/// \brief Inputs from a fixed seed: q, k, v, dO uniform in [-1, 1], positions 0..n-1.
template <class T>
KernelInputs<T> random_kernel_inputs(const kernels::AttentionOptions& opt, index_t n, std::uint64_t seed) {
  using kernels::Tensor3;
  KernelInputs<T> in{Tensor3<T, MemSpace>("Problem::q", opt.heads, n, opt.head_dim),
                     Tensor3<T, MemSpace>("Problem::k", opt.kv_heads, n, opt.head_dim),
                     Tensor3<T, MemSpace>("Problem::v", opt.kv_heads, n, opt.head_dim),
                     Tensor3<T, MemSpace>("Problem::do", opt.heads, n, opt.head_dim),
                     Kokkos::View<index_t*, MemSpace>("Problem::positions", n)};
  Kokkos::Random_XorShift64_Pool<ExecSpace> pool(seed);
  Kokkos::fill_random(in.q, pool, T(-1), T(1));
  Kokkos::fill_random(in.k, pool, T(-1), T(1));
  Kokkos::fill_random(in.v, pool, T(-1), T(1));
  Kokkos::fill_random(in.d_o, pool, T(-1), T(1));
  const auto pos = in.pos;
  Kokkos::parallel_for("Problem::positions", Kokkos::RangePolicy<ExecSpace>(0, n),
                       KOKKOS_LAMBDA(const index_t i) { pos(i) = i; });
  return in;
}

/// \brief The outputs of one block pair and the steps that compute them with one tile path.
template <class T>
class KernelRun {
 public:
  KernelRun(const kernels::AttentionOptions& opt, const KernelInputs<T>& in)
      : in_(in),
        acc_(kernels::make_accumulator<T>(opt.heads, in.q.extent(1), opt.head_dim)),
        lse_("Problem::lse", opt.heads, in.q.extent(1)),
        delta_("Problem::delta", opt.heads, in.q.extent(1)),
        grad_{Tensor3("Problem::dq", opt.heads, in.q.extent(1), opt.head_dim),
              Tensor3("Problem::dk", opt.kv_heads, in.k.extent(1), opt.head_dim),
              Tensor3("Problem::dv", opt.kv_heads, in.k.extent(1), opt.head_dim)} {}

  /// \brief O and lse of the pair with opt.impl.
  void forward(const kernels::AttentionOptions& opt) {
    const ExecSpace space;
    kernels::forward_init(space, acc_);
    kernels::forward_update(space, opt, kernels::QueryBlock<T, MemSpace>{in_.q, in_.pos}, key_values(), acc_,
                            &workspace_);
    kernels::forward_finalize(space, acc_, lse_);
  }
  /// \brief dQ, dK, dV of the pair with opt.impl (after forward()).
  void backward(const kernels::AttentionOptions& opt) {
    const ExecSpace space;
    kernels::backward_delta<ExecSpace, T, MemSpace>(space, in_.d_o, acc_.o, delta_);
    Kokkos::deep_copy(space, grad_.dq, T(0));
    Kokkos::deep_copy(space, grad_.dk, T(0));
    Kokkos::deep_copy(space, grad_.dv, T(0));
    kernels::backward_update(space, opt, kernels::BackwardQueryBlock<T, MemSpace>{in_.q, in_.d_o, lse_, delta_, in_.pos},
                             key_values(), grad_, &workspace_);
  }
  /// \brief Host copies (double) of the outputs, for verification.
  reference::AttentionResult outputs() const { return copy_outputs(acc_.o, lse_, grad_); }

 private:
  using Tensor3 = kernels::Tensor3<T, MemSpace>;
  kernels::KeyValueBlock<T, MemSpace> key_values() const { return {in_.k, in_.v, in_.pos}; }

  KernelInputs<T> in_;
  kernels::ForwardAccumulator<T, MemSpace> acc_;
  kernels::Tensor2<T, MemSpace> lse_, delta_;
  kernels::AttentionGradients<T, MemSpace> grad_;
  kernels::GemmWorkspace<T, MemSpace> workspace_;
};

}  // namespace wf::problems

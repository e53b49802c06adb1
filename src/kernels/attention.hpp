// The attention interaction (DESIGN 2.1) on blocks: a query block against a key/value
// block, forward and backward, with either tile implementation, on an execution space instance.
//
//   forward:  forward_init(space, acc); forward_update(space, opt, q_block, kv_block, acc) for
//             every key block; forward_finalize(space, acc, lse) -> normalised O and lse.
//   backward: backward_delta(space, dO, O, delta); zero the gradients; backward_update(...) for
//             every key block. Nothing of size N x N is ever stored: tiles are q_tile x kv_tile.
// What the tile loops compute and skip is count_tiles() (attention_tiles.hpp), on request.
// Under a compute injector (core/compute_injection.hpp: the SimGrid build) the updates do not
// run: they report their visible pairs instead.
#pragma once

#include <string>

#include "core/compute_injection.hpp"
#include "core/error.hpp"
#include "kernels/attention_blas.hpp"
#include "kernels/attention_fused.hpp"
#include "kernels/attention_merge.hpp"
#include "kernels/attention_state.hpp"
#include "kernels/attention_tiles.hpp"
#include "kernels/attention_types.hpp"
#include "kernels/visible_pairs.hpp"

namespace wf::kernels {

/// \brief True when the blas path can run on memory space Mem.
template <class Mem>
constexpr bool blas_path_available() {
  return Kokkos::SpaceAccessibility<Kokkos::HostSpace, Mem>::accessible;
}

/// \brief Throws when the blas path is asked for on memory the host cannot read.
template <class Mem>
void require_impl_available(TileImpl impl) {
  require(impl != TileImpl::blas || blas_path_available<Mem>(),
          std::string("attention.impl = \"blas\" needs host-accessible memory, but this build runs in ") +
              Mem::name() + "; use attention.impl = \"fused\"");
}

/// \brief Folds a key/value block into the running forward state of a query block.
template <class Exec, class T, class Mem>
void forward_update(const Exec& space, const AttentionOptions& opt, const QueryBlock<T, Mem>& qb,
                    const KeyValueBlock<T, Mem>& kvb, const ForwardAccumulator<T, Mem>& acc) {
  require_impl_available<Mem>(opt.impl);
  if (const ComputeInjector inject = compute_injector())
    return inject({InjectedWork::attention_forward, visible_pairs(opt.mask, qb.pos, kvb.pos), opt.heads, opt.head_dim});
  if constexpr (blas_path_available<Mem>()) {
    if (opt.impl == TileImpl::blas) return forward_update_blas(space, opt, qb, kvb, acc);
  }
  forward_update_fused(space, opt, qb, kvb, acc);
}

/// \brief Adds the gradient contributions of one (query block, key block) pair.
template <class Exec, class T, class Mem>
void backward_update(const Exec& space, const AttentionOptions& opt, const BackwardQueryBlock<T, Mem>& qb,
                     const KeyValueBlock<T, Mem>& kvb, const AttentionGradients<T, Mem>& grad) {
  require_impl_available<Mem>(opt.impl);
  if (const ComputeInjector inject = compute_injector())
    return inject({InjectedWork::attention_backward, visible_pairs(opt.mask, qb.pos, kvb.pos), opt.heads, opt.head_dim});
  if constexpr (blas_path_available<Mem>()) {
    if (opt.impl == TileImpl::blas) return backward_update_blas(space, opt, qb, kvb, grad);
  }
  backward_update_fused(space, opt, qb, kvb, grad);
}

}  // namespace wf::kernels

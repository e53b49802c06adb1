// The attention interaction (DESIGN 2.1) on blocks: a query block against a key/value
// block, forward and backward, with any tile implementation (host BLAS tiles, gemm tiles on
// any memory, fused team kernel), on an execution space instance.
//
//   forward:  forward_init(space, acc); forward_update(space, opt, q_block, kv_block, acc) for
//             every key block; forward_finalize(space, acc, lse) -> normalised O and lse.
//   backward: backward_delta(space, dO, O, delta); zero the gradients; backward_update(...) for
//             every key block. Nothing of size N x N is ever stored: tiles are q_tile x kv_tile
//             (blas, fused), chunks at most gemm_workspace_limit_bytes (gemm).
// What the tile loops compute and skip is count_tiles() (attention_tiles.hpp), on request.
// Under a compute injector (core/compute_injection.hpp: the SimGrid build) the updates do not
// run: they report their visible pairs instead.
#pragma once

#include <string>

#include "core/compute_injection.hpp"
#include "core/error.hpp"
#include "kernels/attention_blas.hpp"
#include "kernels/attention_fused.hpp"
#include "kernels/attention_gemm.hpp"
#include "kernels/attention_merge.hpp"
#include "kernels/attention_state.hpp"
#include "kernels/attention_tiles.hpp"
#include "kernels/attention_types.hpp"
#include "kernels/visible_pairs.hpp"

namespace wf::kernels {

/// \brief True when the blas path (host loops) can run on memory space Mem.
template <class Mem>
constexpr bool blas_path_available() {
  return Kokkos::SpaceAccessibility<Kokkos::HostSpace, Mem>::accessible;
}

/// \brief The implementation that runs for `impl` on memory space Mem: the blas path reads
/// tiles from the host, so on device memory its gemm tiles run as the gemm path.
template <class Mem>
constexpr TileImpl effective_impl(TileImpl impl) {
  return impl == TileImpl::blas && !blas_path_available<Mem>() ? TileImpl::gemm : impl;
}

/// \brief Folds a key/value block into the running forward state of a query block. The gemm
/// path keeps its scratch in `workspace` (a temporary one when null).
template <class Exec, class T, class Mem>
void forward_update(const Exec& space, const AttentionOptions& opt, const QueryBlock<T, Mem>& qb,
                    const KeyValueBlock<T, Mem>& kvb, const ForwardAccumulator<T, Mem>& acc,
                    GemmWorkspace<T, Mem>* workspace = nullptr) {
  if (const ComputeInjector inject = compute_injector())
    return inject({InjectedWork::attention_forward, visible_pairs(opt.mask, qb.pos, kvb.pos), opt.heads, opt.head_dim});
  switch (effective_impl<Mem>(opt.impl)) {
    case TileImpl::blas:
      if constexpr (blas_path_available<Mem>()) forward_update_blas(space, opt, qb, kvb, acc);
      return;
    case TileImpl::gemm: {
      GemmWorkspace<T, Mem> temporary;
      return forward_update_gemm(space, opt, qb, kvb, acc, workspace ? *workspace : temporary);
    }
    case TileImpl::fused: break;
  }
  forward_update_fused(space, opt, qb, kvb, acc);
}

/// \brief Adds the gradient contributions of one (query block, key block) pair.
template <class Exec, class T, class Mem>
void backward_update(const Exec& space, const AttentionOptions& opt, const BackwardQueryBlock<T, Mem>& qb,
                     const KeyValueBlock<T, Mem>& kvb, const AttentionGradients<T, Mem>& grad,
                     GemmWorkspace<T, Mem>* workspace = nullptr) {
  if (const ComputeInjector inject = compute_injector())
    return inject({InjectedWork::attention_backward, visible_pairs(opt.mask, qb.pos, kvb.pos), opt.heads, opt.head_dim});
  switch (effective_impl<Mem>(opt.impl)) {
    case TileImpl::blas:
      if constexpr (blas_path_available<Mem>()) backward_update_blas(space, opt, qb, kvb, grad);
      return;
    case TileImpl::gemm: {
      GemmWorkspace<T, Mem> temporary;
      return backward_update_gemm(space, opt, qb, kvb, grad, workspace ? *workspace : temporary);
    }
    case TileImpl::fused: break;
  }
  backward_update_fused(space, opt, qb, kvb, grad);
}

}  // namespace wf::kernels

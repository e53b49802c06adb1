// The attention interaction (DESIGN 2.1) on blocks: a query block against a key/value
// block, forward and backward, with either tile implementation.
//
//   forward:  forward_init(acc); forward_update(opt, q_block, kv_block, acc) for every key
//             block; forward_finalize(acc, lse) -> normalised O and lse.
//   backward: backward_delta(dO, O, delta); zero the gradients; backward_update(...) for every
//             key block. Nothing of size N x N is ever stored: tiles are q_tile x kv_tile.
#pragma once

#include "kernels/attention_blas.hpp"
#include "kernels/attention_fused.hpp"
#include "kernels/attention_merge.hpp"
#include "kernels/attention_state.hpp"
#include "kernels/attention_tiles.hpp"
#include "kernels/attention_types.hpp"
#include "core/error.hpp"

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
template <class Exec = ExecSpace, class T, class Mem>
TileStats forward_update(const AttentionOptions& opt, const QueryBlock<T, Mem>& qb,
                         const KeyValueBlock<T, Mem>& kvb, const ForwardAccumulator<T, Mem>& acc) {
  require_impl_available<Mem>(opt.impl);
  if constexpr (blas_path_available<Mem>()) {
    if (opt.impl == TileImpl::blas) return forward_update_blas<Exec>(opt, qb, kvb, acc);
  }
  return forward_update_fused<Exec>(opt, qb, kvb, acc);
}

/// \brief Adds the gradient contributions of one (query block, key block) pair.
template <class Exec = ExecSpace, class T, class Mem>
TileStats backward_update(const AttentionOptions& opt, const BackwardQueryBlock<T, Mem>& qb,
                          const KeyValueBlock<T, Mem>& kvb, const AttentionGradients<T, Mem>& grad) {
  require_impl_available<Mem>(opt.impl);
  if constexpr (blas_path_available<Mem>()) {
    if (opt.impl == TileImpl::blas) return backward_update_blas<Exec>(opt, qb, kvb, grad);
  }
  return backward_update_fused<Exec>(opt, qb, kvb, grad);
}

}  // namespace wf::kernels

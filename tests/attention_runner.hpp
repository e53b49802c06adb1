// Runs the attention kernels on a reference::AttentionProblem, in precision T with one tile
// implementation, and returns the results in double for comparison.
#pragma once

#include <Kokkos_Core.hpp>

#include <vector>

#include "kernels/attention.hpp"
#include "kernels/attention_reference.hpp"

namespace wf::testing {

struct RunShape {
  int q_tile = 16, kv_tile = 16;
  wf::TileImpl impl = wf::TileImpl::blas;
  int key_blocks = 1;  ///< split the keys into this many blocks (one forward_update each)
  std::int64_t gemm_rows = 0, gemm_columns = 0;  ///< the gemm path's chunk (0: its own choice)
};

template <class T>
kernels::Tensor3<T, MemSpace> to_device3(const std::vector<double>& src, int heads, std::int64_t n, int d) {
  kernels::Tensor3<T, MemSpace> view("test_tensor", heads, n, d);
  auto host = Kokkos::create_mirror_view(view);
  for (std::size_t i = 0; i < src.size(); ++i) host.data()[i] = static_cast<T>(src[i]);
  Kokkos::deep_copy(view, host);
  return view;
}

template <class View>
std::vector<double> to_vector(const View& view) {
  auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), view);
  return std::vector<double>(host.data(), host.data() + host.span());
}

inline Kokkos::View<index_t*, MemSpace> to_positions(const std::vector<std::int64_t>& pos) {
  Kokkos::View<index_t*, MemSpace> view("test_positions", pos.size());
  auto host = Kokkos::create_mirror_view(view);
  for (std::size_t i = 0; i < pos.size(); ++i) host(i) = pos[i];
  Kokkos::deep_copy(view, host);
  return view;
}

/// \brief Forward then backward through the kernels; keys split into shape.key_blocks blocks.
template <class T>
reference::AttentionResult run_attention(const reference::AttentionProblem& p, const RunShape& shape) {
  using namespace wf::kernels;
  AttentionOptions opt;
  opt.heads = p.heads;
  opt.kv_heads = p.kv_heads;
  opt.head_dim = p.head_dim;
  opt.scale = p.scale;
  opt.mask = p.causal ? MaskKind::causal : MaskKind::none;
  opt.q_tile = shape.q_tile;
  opt.kv_tile = shape.kv_tile;
  opt.impl = shape.impl;
  opt.gemm_rows = shape.gemm_rows;
  opt.gemm_columns = shape.gemm_columns;
  const std::int64_t nq = p.nq(), nk = p.nk();
  const int d = p.head_dim;
  const auto q = to_device3<T>(p.q, p.heads, nq, d);
  const auto d_o = to_device3<T>(p.d_o, p.heads, nq, d);
  const auto q_pos = to_positions(p.q_pos);

  // Key blocks are separate allocations, as they are when they arrive from another rank.
  struct Block {
    KeyValueBlock<T, MemSpace> kv;
    Tensor3<T, MemSpace> dk, dv;
    std::int64_t begin, end;
  };
  std::vector<Block> blocks;
  for (int b = 0; b < shape.key_blocks; ++b) {
    const std::int64_t begin = nk * b / shape.key_blocks, end = nk * (b + 1) / shape.key_blocks;
    std::vector<double> kb, vb;
    for (int h = 0; h < p.kv_heads; ++h) {
      const auto first = static_cast<std::size_t>((h * nk + begin) * d);
      const auto last = static_cast<std::size_t>((h * nk + end) * d);
      kb.insert(kb.end(), p.k.begin() + first, p.k.begin() + last);
      vb.insert(vb.end(), p.v.begin() + first, p.v.begin() + last);
    }
    std::vector<std::int64_t> pb(p.k_pos.begin() + begin, p.k_pos.begin() + end);
    blocks.push_back({{to_device3<T>(kb, p.kv_heads, end - begin, d), to_device3<T>(vb, p.kv_heads, end - begin, d),
                       to_positions(pb)},
                      Tensor3<T, MemSpace>("dk", p.kv_heads, end - begin, d),
                      Tensor3<T, MemSpace>("dv", p.kv_heads, end - begin, d),
                      begin,
                      end});
  }

  const ExecSpace space;
  auto acc = make_accumulator<T>(p.heads, nq, d);
  Tensor2<T, MemSpace> lse("lse", p.heads, nq);
  forward_init(space, acc);
  QueryBlock<T, MemSpace> qb{q, q_pos};
  for (const auto& block : blocks) forward_update(space, opt, qb, block.kv, acc);
  forward_finalize(space, acc, lse);

  Tensor2<T, MemSpace> delta("delta", p.heads, nq);
  backward_delta<ExecSpace, T, MemSpace>(space, d_o, acc.o, delta);
  Tensor3<T, MemSpace> dq("dq", p.heads, nq, d);
  BackwardQueryBlock<T, MemSpace> bq{q, d_o, lse, delta, q_pos};
  for (const auto& block : blocks)
    backward_update(space, opt, bq, block.kv, AttentionGradients<T, MemSpace>{dq, block.dk, block.dv});
  reference::AttentionResult r;
  r.o = to_vector(acc.o);
  r.lse = to_vector(lse);
  r.dq = to_vector(dq);
  // Reassemble dK, dV in [kv_heads][nk][d] order from the blocks.
  r.dk.assign(p.k.size(), 0.0);
  r.dv.assign(p.v.size(), 0.0);
  for (const auto& block : blocks) {
    const auto dk = to_vector(block.dk), dv = to_vector(block.dv);
    const std::int64_t rows = block.end - block.begin;
    for (int h = 0; h < p.kv_heads; ++h)
      for (std::int64_t i = 0; i < rows * d; ++i) {
        r.dk[static_cast<std::size_t>((h * nk + block.begin) * d + i)] = dk[static_cast<std::size_t>(h * rows * d + i)];
        r.dv[static_cast<std::size_t>((h * nk + block.begin) * d + i)] = dv[static_cast<std::size_t>(h * rows * d + i)];
      }
  }
  return r;
}

}  // namespace wf::testing

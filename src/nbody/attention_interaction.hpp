// Attention as an n-body interaction for the schedules: queries are targets, (K, V) sources,
// (O, lse) results merged by lse. Packed blocks hold head-major segments (block_layout.hpp).
#pragma once

#include <functional>

#include "comm/communicator.hpp"
#include "kernels/attention.hpp"
#include "nbody/block_layout.hpp"
#include "nbody/schedule_context.hpp"

namespace wf::nbody {

template <class T>
class AttentionInteraction {
 public:
  explicit AttentionInteraction(const kernels::AttentionOptions& options) : opt_(options) {}

  const kernels::AttentionOptions& options() const { return opt_; }
  /// \brief The same interaction on heads / parts query heads and kv_heads / parts kv heads (Ulysses).
  AttentionInteraction sliced(int parts) const {
    kernels::AttentionOptions o = opt_;
    o.heads /= parts;
    o.kv_heads /= parts;
    return AttentionInteraction(o);
  }

  BlockLayout target_layout() const { return {{{opt_.heads, opt_.head_dim}}}; }  // Q
  BlockLayout source_layout() const {                                           // K, V
    return {{{opt_.kv_heads, opt_.head_dim}, {opt_.kv_heads, opt_.head_dim}}};
  }
  BlockLayout result_layout() const { return {{{opt_.heads, opt_.head_dim}, {opt_.heads, 1}}}; }  // O, lse
  BlockLayout output_grad_layout() const { return {{{opt_.heads, opt_.head_dim}}}; }              // dO
  BlockLayout query_layout() const {  // Q, dO, lse, D: the read-only query side of the backward
    return {{{opt_.heads, opt_.head_dim}, {opt_.heads, opt_.head_dim}, {opt_.heads, 1}, {opt_.heads, 1}}};
  }
  BlockLayout query_grad_layout() const { return {{{opt_.heads, opt_.head_dim}}}; }  // dQ
  BlockLayout key_layout() const { return source_layout(); }
  BlockLayout key_grad_layout() const { return source_layout(); }  // dK, dV

  /// \brief Starts the forward of `tokens` queries; O and lse will be written into `results`.
  void begin(T* results, index_t tokens) {
    tokens_ = tokens;
    results_ = results;
    acc_ = {segment_view(results, result_layout(), 0, tokens),
            kernels::Tensor2<T, MemSpace>("Nbody::attention_max", opt_.heads, tokens),
            kernels::Tensor2<T, MemSpace>("Nbody::attention_sum", opt_.heads, tokens)};
    kernels::forward_init(acc_);
  }

  void interact(const T* targets, const PositionsView& target_pos, index_t nt, const T* sources,
                const PositionsView& source_pos, index_t ns, const std::function<void()>& progress) {
    const BlockLayout sl = source_layout();
    const kernels::QueryBlock<T, MemSpace> q{segment_view(targets, target_layout(), 0, nt), target_pos};
    const kernels::KeyValueBlock<T, MemSpace> kv{segment_view(sources, sl, 0, ns), segment_view(sources, sl, 1, ns),
                                                 source_pos};
    kernels::AttentionOptions o = opt_;
    o.progress = progress;
    stats_ += kernels::forward_update(o, q, kv, acc_);
  }

  void finish() { kernels::forward_finalize(acc_, segment_matrix(results_, result_layout(), 1, tokens_)); }

  /// \brief The lse-aware merge of two (O, lse) chunks of `tokens` tokens.
  comm::Combine<T> combine(index_t tokens) const {
    const BlockLayout layout = result_layout();
    return [layout, tokens](T* acc, const T* incoming, std::size_t) {
      kernels::merge_partial<ExecSpace, T, MemSpace>(
          segment_view(acc, layout, 0, tokens), segment_matrix(acc, layout, 1, tokens),
          segment_view(incoming, layout, 0, tokens), segment_matrix(incoming, layout, 1, tokens));
    };
  }

  /// \brief query_rest = (dO, lse, D = rowsum(dO * O)) of `tokens` rows from the forward's
  /// results (O, lse) and dO: what the backward needs besides Q.
  void make_query_rest(const T* results, const T* d_output, T* rest, index_t tokens) const {
    const BlockLayout rl = result_layout(), ql = query_layout();
    const BlockLayout rest_layout = ql.slice(1, ql.segments.size());
    const auto d_o = segment_view(d_output, output_grad_layout(), 0, tokens);
    Kokkos::deep_copy(segment_view(rest, rest_layout, 0, tokens), d_o);
    Kokkos::deep_copy(segment_matrix(rest, rest_layout, 1, tokens), segment_matrix(results, rl, 1, tokens));
    kernels::backward_delta<ExecSpace, T, MemSpace>(d_o, segment_view(results, rl, 0, tokens),
                                                    segment_matrix(rest, rest_layout, 2, tokens));
  }

  void interact_backward(const T* query, const PositionsView& query_pos, index_t nq, T* dquery, const T* key,
                         const PositionsView& key_pos, index_t nk, T* dkey, const std::function<void()>& progress) {
    const BlockLayout ql = query_layout(), kl = key_layout();
    const kernels::BackwardQueryBlock<T, MemSpace> q{segment_view(query, ql, 0, nq), segment_view(query, ql, 1, nq),
                                                     segment_matrix(query, ql, 2, nq),
                                                     segment_matrix(query, ql, 3, nq), query_pos};
    const kernels::KeyValueBlock<T, MemSpace> kv{segment_view(key, kl, 0, nk), segment_view(key, kl, 1, nk), key_pos};
    const kernels::AttentionGradients<T, MemSpace> grad{segment_view(dquery, query_grad_layout(), 0, nq),
                                                        segment_view(dkey, kl, 0, nk), segment_view(dkey, kl, 1, nk)};
    kernels::AttentionOptions o = opt_;
    o.progress = progress;
    stats_ += kernels::backward_update(o, q, kv, grad);
  }

  /// \brief Tiles computed and skipped so far (per head).
  const kernels::TileStats& stats() const { return stats_; }

 private:
  kernels::AttentionOptions opt_;
  kernels::ForwardAccumulator<T, MemSpace> acc_;
  T* results_ = nullptr;
  index_t tokens_ = 0;
  kernels::TileStats stats_;
};

}  // namespace wf::nbody

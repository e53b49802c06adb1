// Attention as an n-body interaction for the schedules (the protocol of interaction_traits.hpp):
// queries are targets, (K, V) sources, (O, lse) results merged by lse. Packed blocks hold
// head-major segments (block_layout.hpp), addressed by the named segments below.
#pragma once

#include <vector>

#include "comm/communicator.hpp"
#include "kernels/attention.hpp"
#include "kernels/head_partition.hpp"
#include "nbody/block_layout.hpp"
#include "nbody/interaction_traits.hpp"

namespace wf::nbody {

/// \brief The segments of attention's packed blocks, by name.
struct AttentionSegments {
  enum Source : std::size_t { key = 0, value = 1 };                       ///< source block: K, V
  enum Result : std::size_t { output = 0, lse = 1 };                      ///< result block: O, lse
  enum QueryRest : std::size_t { d_output = 0, rest_lse = 1, delta = 2 };  ///< query rest: dO, lse, D
  enum KeyGrad : std::size_t { d_key = 0, d_value = 1 };                   ///< source gradient: dK, dV
};

template <class T>
class AttentionInteraction {
 public:
  using Segments = AttentionSegments;

  /// \brief `space` runs the tiles, the merge and the row terms.
  explicit AttentionInteraction(const kernels::AttentionOptions& options, ExecSpace space = ExecSpace())
      : opt_(options), space_(std::move(space)) {}

  const kernels::AttentionOptions& options() const { return opt_; }
  /// \brief The same interaction on heads / parts query heads and the kv slots they read
  /// (kernels/head_partition.hpp: kv_heads / parts when parts divides kv_heads, else copies).
  AttentionInteraction sliced(int parts) const {
    const kernels::HeadPartition split{opt_.heads, opt_.kv_heads, parts};
    kernels::AttentionOptions o = opt_;
    o.heads = split.query_heads();
    o.kv_heads = split.kv_slots();
    return AttentionInteraction(o, space_);
  }
  /// \brief The kv heads that part `part` of sliced(parts) holds, slot by slot.
  std::vector<int> sliced_source_rows(int parts, int part) const {
    const kernels::HeadPartition split{opt_.heads, opt_.kv_heads, parts};
    std::vector<int> rows;
    for (int slot = 0; slot < split.kv_slots(); ++slot) rows.push_back(split.kv_head(part, slot));
    return rows;
  }

  BlockLayout target_layout() const { return {{{opt_.heads, opt_.head_dim}}}; }                        // Q
  BlockLayout source_layout() const { return {{{opt_.kv_heads, opt_.head_dim}, {opt_.kv_heads, opt_.head_dim}}}; }
  BlockLayout result_layout() const { return {{{opt_.heads, opt_.head_dim}, {opt_.heads, 1}}}; }         // O, lse
  BlockLayout output_grad_layout() const { return {{{opt_.heads, opt_.head_dim}}}; }                    // dO
  BlockLayout query_rest_layout() const { return {{{opt_.heads, opt_.head_dim}, {opt_.heads, 1}, {opt_.heads, 1}}}; }
  BlockLayout query_grad_layout() const { return {{{opt_.heads, opt_.head_dim}}}; }  // dQ
  BlockLayout key_grad_layout() const { return source_layout(); }                    // dK, dV

  /// \brief Starts the forward of `tokens` queries; O and lse will be written into `results`.
  void begin(T* results, index_t tokens) {
    tokens_ = tokens;
    results_ = results;
    acc_ = {segment_view(results, result_layout(), Segments::output, tokens),
            kernels::Tensor2<T, MemSpace>(Kokkos::ViewAllocateWithoutInitializing("Nbody::attention_max"), opt_.heads,
                                          tokens),
            kernels::Tensor2<T, MemSpace>(Kokkos::ViewAllocateWithoutInitializing("Nbody::attention_sum"), opt_.heads,
                                          tokens)};  // forward_init fills them
    kernels::forward_init(space_, acc_);
  }

  void interact(const T* targets, const PositionsView& target_pos, index_t nt, const T* sources,
                const PositionsView& source_pos, index_t ns, const Progress& progress) {
    const kernels::QueryBlock<T, MemSpace> q{segment_view(targets, target_layout(), 0, nt), target_pos};
    kernels::AttentionOptions o = opt_;
    o.progress = progress;
    kernels::forward_update(space_, o, q, key_values(sources, source_pos, ns), acc_, &workspace_);
  }

  void finish() {
    kernels::forward_finalize(space_, acc_, segment_matrix(results_, result_layout(), Segments::lse, tokens_));
  }

  /// \brief The lse-aware merge of two (O, lse) chunks of `tokens` tokens.
  comm::Combine<T> combine(index_t tokens) const {
    const BlockLayout layout = result_layout();
    const ExecSpace space = space_;
    return [layout, tokens, space](T* acc, const T* incoming, std::size_t) {
      kernels::merge_partial(space, segment_view(acc, layout, Segments::output, tokens),
                             segment_matrix(acc, layout, Segments::lse, tokens),
                             segment_view(incoming, layout, Segments::output, tokens),
                             segment_matrix(incoming, layout, Segments::lse, tokens));
    };
  }

  /// \brief query rest = (dO, lse, D = rowsum(dO * O)) of `tokens` rows from the forward's
  /// results (O, lse) and dO: what the backward needs besides Q.
  void make_query_rest(const T* results, const T* d_output, T* rest, index_t tokens) const {
    const BlockLayout rl = result_layout(), rest_layout = query_rest_layout();
    const auto d_o = segment_view(d_output, output_grad_layout(), 0, tokens);
    Kokkos::deep_copy(space_, segment_view(rest, rest_layout, Segments::d_output, tokens), d_o);
    Kokkos::deep_copy(space_, segment_matrix(rest, rest_layout, Segments::rest_lse, tokens),
                      segment_matrix(results, rl, Segments::lse, tokens));
    kernels::backward_delta(space_, d_o, segment_view(results, rl, Segments::output, tokens),
                            segment_matrix(rest, rest_layout, Segments::delta, tokens));
  }

  /// \brief The backward of one (query bundle, key block) pair: query = Q then the query rest.
  void interact_backward(const T* query, const PositionsView& query_pos, index_t nq, T* d_query, const T* key,
                         const PositionsView& key_pos, index_t nk, T* d_key, const Progress& progress) {
    const T* rest = query + target_layout().size(nq);
    const BlockLayout rest_layout = query_rest_layout();
    const kernels::BackwardQueryBlock<T, MemSpace> q{segment_view(query, target_layout(), 0, nq),
                                                     segment_view(rest, rest_layout, Segments::d_output, nq),
                                                     segment_matrix(rest, rest_layout, Segments::rest_lse, nq),
                                                     segment_matrix(rest, rest_layout, Segments::delta, nq), query_pos};
    const BlockLayout kl = key_grad_layout();
    const kernels::AttentionGradients<T, MemSpace> grad{segment_view(d_query, query_grad_layout(), 0, nq),
                                                        segment_view(d_key, kl, Segments::d_key, nk),
                                                        segment_view(d_key, kl, Segments::d_value, nk)};
    kernels::AttentionOptions o = opt_;
    o.progress = progress;
    kernels::backward_update(space_, o, q, key_values(key, key_pos, nk), grad, &workspace_);
  }

 private:
  kernels::KeyValueBlock<T, MemSpace> key_values(const T* sources, const PositionsView& pos, index_t n) const {
    const BlockLayout sl = source_layout();
    return {segment_view(sources, sl, Segments::key, n), segment_view(sources, sl, Segments::value, n), pos};
  }

  kernels::AttentionOptions opt_;
  ExecSpace space_;
  kernels::ForwardAccumulator<T, MemSpace> acc_;
  kernels::GemmWorkspace<T, MemSpace> workspace_;  ///< the gemm path's scratch, kept between blocks
  T* results_ = nullptr;
  index_t tokens_ = 0;
};

}  // namespace wf::nbody

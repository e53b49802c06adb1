// Model parameters with PyTorch names and shapes (torch.nn.Linear: [out][in]). Values,
// gradients and the AdamW moments each live in one flat buffer, so that the gradient
// all-reduce and the optimiser step are one call each; a Parameter is a slice of them.
#pragma once

#include <Kokkos_Core.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/types.hpp"
#include "model/model_config.hpp"

namespace wf::model {

/// \brief One named tensor: its place in the flat buffers and its PyTorch shape.
struct ParameterInfo {
  std::string name;                 ///< e.g. "layers.0.attn.wq.weight"
  std::vector<std::int64_t> shape;  ///< torch shape, row-major
  std::size_t offset = 0;           ///< first scalar in the flat buffers
  std::size_t size = 0;             ///< number of scalars
};

/// \brief Every parameter of the model, in a fixed order (the order of names_for()).
template <class T>
class Parameters {
 public:
  using Flat = Kokkos::View<T*, MemSpace>;
  using Matrix = Kokkos::View<T**, Kokkos::LayoutRight, MemSpace>;
  using Vector = Kokkos::View<T*, MemSpace>;

  explicit Parameters(const ModelShape& shape);

  const ModelShape& shape() const { return shape_; }
  const std::vector<ParameterInfo>& infos() const { return infos_; }
  const ParameterInfo& info(const std::string& name) const;
  std::size_t total_size() const { return total_; }

  /// \brief The flat buffers (values, gradients, AdamW first and second moments).
  Flat values, grads, adam_m, adam_v;

  /// \brief A parameter (or its gradient) as a matrix [rows][cols] or a vector, sharing memory.
  Matrix matrix(const std::string& name) const { return as_matrix(values, info(name)); }
  Matrix grad_matrix(const std::string& name) const { return as_matrix(grads, info(name)); }
  Vector vector(const std::string& name) const { return as_vector(values, info(name)); }
  Vector grad_vector(const std::string& name) const { return as_vector(grads, info(name)); }

  /// \brief Parameters stored back to back with the same column count (e.g. wq, wk, wv) as one
  /// matrix of their rows, so that one gemm serves them all; throws when they are not adjacent.
  Matrix stacked_matrix(const std::vector<std::string>& names) const { return stacked(values, names); }
  Matrix stacked_grad_matrix(const std::vector<std::string>& names) const { return stacked(grads, names); }

  /// \brief Deterministic initialisation from `seed` (GPT-2 style: normal(0, 0.02) for
  /// matrices, ones for LayerNorm weights, zeros for biases; the DiT alike), the same on every rank.
  void initialize(std::uint64_t seed);

  /// \brief Zeroes the gradients.
  void zero_grads();

 private:
  static Matrix as_matrix(const Flat& flat, const ParameterInfo& i);
  static Vector as_vector(const Flat& flat, const ParameterInfo& i);
  Matrix stacked(const Flat& flat, const std::vector<std::string>& names) const;

  ModelShape shape_;
  std::vector<ParameterInfo> infos_;
  std::size_t total_ = 0;
};

/// \brief The PyTorch names and shapes of every parameter of `shape`, in storage order. GPT:
/// embed.weight, then per layer ln1.{weight,bias}, attn.{wq,wk,wv,wo}.weight,
/// ln2.{weight,bias}, mlp.w1.{weight,bias}, mlp.w2.{weight,bias}; then ln_f.{weight,bias},
/// lm_head.weight. DiT (weight then bias of each linear): x_embedder, t_embedder.mlp.{0,2},
/// per block blocks.{i}.attn.{wq,wk,wv,wo}, mlp.{fc1,fc2}, adaLN_modulation.1; then
/// final_layer.adaLN_modulation.1, final_layer.linear (docs/weights.md).
std::vector<ParameterInfo> parameter_layout(const ModelShape& shape);

}  // namespace wf::model

#include "model/parameters.hpp"

#include <random>

#include "core/error.hpp"

namespace wf::model {

namespace {

/// Appends parameters in storage order.
struct LayoutBuilder {
  std::vector<ParameterInfo> infos;
  void operator()(std::string name, std::vector<std::int64_t> shape) {
    std::size_t size = 1;
    for (auto d : shape) size *= static_cast<std::size_t>(d);
    const std::size_t offset = infos.empty() ? 0 : infos.back().offset + infos.back().size;
    infos.push_back({std::move(name), std::move(shape), offset, size});
  }
  /// A torch.nn.Linear(in, out) named `name`: weight [out][in], then bias [out].
  void linear(const std::string& name, std::int64_t in, std::int64_t out) {
    (*this)(name + ".weight", {out, in});
    (*this)(name + ".bias", {out});
  }
};

/// The DiT's names (docs/weights.md), after facebookresearch/DiT with separate q, k, v.
std::vector<ParameterInfo> dit_parameter_layout(const ModelShape& s) {
  LayoutBuilder add;
  add.linear("x_embedder", s.patch_dim, s.d_model);
  add.linear("t_embedder.mlp.0", s.timestep_dim, s.d_model);
  add.linear("t_embedder.mlp.2", s.d_model, s.d_model);
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "blocks." + std::to_string(l) + ".";
    add.linear(p + "attn.wq", s.d_model, s.q_width());
    add.linear(p + "attn.wk", s.d_model, s.kv_width());
    add.linear(p + "attn.wv", s.d_model, s.kv_width());
    add.linear(p + "attn.wo", s.q_width(), s.d_model);
    add.linear(p + "mlp.fc1", s.d_model, s.mlp_dim);
    add.linear(p + "mlp.fc2", s.mlp_dim, s.d_model);
    add.linear(p + "adaLN_modulation.1", s.d_model, 6 * std::int64_t(s.d_model));
  }
  add.linear("final_layer.adaLN_modulation.1", s.d_model, 2 * std::int64_t(s.d_model));
  add.linear("final_layer.linear", s.d_model, s.patch_dim);
  return add.infos;
}

}  // namespace

std::vector<ParameterInfo> parameter_layout(const ModelShape& s) {
  if (s.kind == ModelKind::dit) return dit_parameter_layout(s);
  LayoutBuilder add;
  add("embed.weight", {s.vocab, s.d_model});
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    add(p + "ln1.weight", {s.d_model});
    add(p + "ln1.bias", {s.d_model});
    add(p + "attn.wq.weight", {s.q_width(), s.d_model});
    add(p + "attn.wk.weight", {s.kv_width(), s.d_model});
    add(p + "attn.wv.weight", {s.kv_width(), s.d_model});
    add(p + "attn.wo.weight", {s.d_model, s.q_width()});
    add(p + "ln2.weight", {s.d_model});
    add(p + "ln2.bias", {s.d_model});
    add(p + "mlp.w1.weight", {s.mlp_dim, s.d_model});
    add(p + "mlp.w1.bias", {s.mlp_dim});
    add(p + "mlp.w2.weight", {s.d_model, s.mlp_dim});
    add(p + "mlp.w2.bias", {s.d_model});
  }
  add("ln_f.weight", {s.d_model});
  add("ln_f.bias", {s.d_model});
  add("lm_head.weight", {s.vocab, s.d_model});
  return add.infos;
}

template <class T>
Parameters<T>::Parameters(const ModelShape& shape) : shape_(shape), infos_(parameter_layout(shape)) {
  total_ = infos_.back().offset + infos_.back().size;
  values = Flat("Model::values", total_);
  grads = Flat("Model::grads", total_);
  adam_m = Flat("Model::adam_m", total_);
  adam_v = Flat("Model::adam_v", total_);
}

template <class T>
const ParameterInfo& Parameters<T>::info(const std::string& name) const {
  for (const auto& i : infos_)
    if (i.name == name) return i;
  throw Error("no model parameter named '" + name + "'");
}

template <class T>
typename Parameters<T>::Matrix Parameters<T>::as_matrix(const Flat& flat, const ParameterInfo& i) {
  require(i.shape.size() == 2, "parameter " + i.name + " is not a matrix");
  return Matrix(flat.data() + i.offset, i.shape[0], i.shape[1]);
}

template <class T>
typename Parameters<T>::Matrix Parameters<T>::stacked(const Flat& flat, const std::vector<std::string>& names) const {
  const ParameterInfo& first = info(names.front());
  require(first.shape.size() == 2, "parameter " + first.name + " is not a matrix");
  std::int64_t rows = 0;
  std::size_t next = first.offset;
  for (const auto& name : names) {
    const ParameterInfo& i = info(name);
    require(i.shape.size() == 2 && i.shape[1] == first.shape[1] && i.offset == next,
            "parameters " + names.front() + " .. " + name + " are not stored back to back with equal columns");
    rows += i.shape[0];
    next = i.offset + i.size;
  }
  return Matrix(flat.data() + first.offset, rows, first.shape[1]);
}

template <class T>
typename Parameters<T>::Vector Parameters<T>::as_vector(const Flat& flat, const ParameterInfo& i) {
  return Vector(flat.data() + i.offset, i.size);
}

template <class T>
void Parameters<T>::initialize(std::uint64_t seed) {
  auto host = Kokkos::create_mirror_view(values);
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0.0, 0.02);
  for (const auto& i : infos_) {
    const bool is_weight = i.name.size() >= 7 && i.name.compare(i.name.size() - 7, 7, ".weight") == 0;
    // LayerNorm weights (GPT: ln1, ln2, ln_f; the DiT's norms have no parameters)
    const bool is_norm = i.name.rfind("ln", 0) == 0 || i.name.find(".ln") != std::string::npos;
    for (std::size_t k = 0; k < i.size; ++k) {
      double v = 0.0;  // biases
      if (is_weight) v = is_norm ? 1.0 : normal(gen);
      host(i.offset + k) = static_cast<T>(v);
    }
  }
  Kokkos::deep_copy(values, host);
  Kokkos::deep_copy(adam_m, T(0));
  Kokkos::deep_copy(adam_v, T(0));
  zero_grads();
}

template <class T>
void Parameters<T>::zero_grads() {
  Kokkos::deep_copy(grads, T(0));
}

template class Parameters<float>;
template class Parameters<double>;

}  // namespace wf::model

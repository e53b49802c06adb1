#include "model/parameters.hpp"

#include <random>

#include "core/error.hpp"

namespace wf::model {

std::vector<ParameterInfo> parameter_layout(const ModelShape& s) {
  std::vector<ParameterInfo> infos;
  auto add = [&](std::string name, std::vector<std::int64_t> shape) {
    std::size_t size = 1;
    for (auto d : shape) size *= static_cast<std::size_t>(d);
    const std::size_t offset = infos.empty() ? 0 : infos.back().offset + infos.back().size;
    infos.push_back({std::move(name), std::move(shape), offset, size});
  };
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
  return infos;
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
    const bool is_norm = i.name.find("ln") != std::string::npos;
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

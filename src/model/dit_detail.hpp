// Internals of the DiT shared by its forward (dit.cpp) and backward (dit_backward.cpp): the
// caches of one pass and small helpers. Not part of the model's interface.
#pragma once

#include <string>
#include <vector>

#include "model/dit.hpp"

namespace wf::model {
namespace dit_detail {

inline std::string block_name(int layer, const char* leaf) { return "blocks." + std::to_string(layer) + "." + leaf; }

template <class T>
Vector<T> flat(const Matrix<T>& m) {
  return Vector<T>(m.data(), m.span());
}

/// Chunk k (of `width` scalars) of a modulation vector [1][chunks width].
template <class T>
Vector<T> chunk(const Matrix<T>& mod, int k, int width) {
  return Vector<T>(mod.data() + std::size_t(k) * width, width);
}

/// The six chunks of a block's modulation, in DiT's order (the final layer's are shift, scale).
enum Chunk : int { shift_attention = 0, scale_attention, gate_attention, shift_mlp, scale_mlp, gate_mlp };

/// A [rows][width] matrix in MemSpace from host values in double.
template <class T>
Matrix<T> matrix_from(const std::vector<double>& values, index_t rows, int width, const char* label) {
  Matrix<T> m(std::string(label), rows, width);
  auto host = Kokkos::create_mirror_view(m);
  for (std::size_t i = 0; i < values.size(); ++i) host.data()[i] = static_cast<T>(values[i]);
  Kokkos::deep_copy(m, host);
  return m;
}

template <class T>
Matrix<T> copy_of(const Matrix<T>& x, const char* label) {
  Matrix<T> c(std::string(label), x.extent(0), x.extent(1));
  Kokkos::deep_copy(c, x);
  return c;
}

}  // namespace dit_detail

template <class T>
struct DiT<T>::Conditioning {
  Matrix<T> frequencies, hidden, hidden_act, c, c_act;  ///< [1][...]: t_embedder and silu(c)
  Matrix<T> d_c_act;  ///< gradient of silu(c), summed over every adaLN
};

template <class T>
struct DiT<T>::BlockCache {
  Matrix<T> mod;                           ///< [1][6 d_model]
  Matrix<T> x_in, h1, a, o_tok, attn_out;  ///< attention branch: input, LN, modulated, O, projected
  Vector<T> mean1, rstd1;
  Matrix<T> x_mid, h2, m, u, g, y;  ///< MLP branch: input, LN, modulated, fc1, gelu, fc2
  Vector<T> mean2, rstd2;
  nbody::ShardBlocks<T> shard;  ///< Q, (K, V), O and lse, dO, dQ, (dK, dV): head-major
  nbody::ScheduleRun<T> run;
};

template <class T>
struct DiT<T>::HeadCache {
  Matrix<T> mod, normed, modulated, out;  ///< final layer: [1][2 d_model], LN, modulated, [n][patch_dim]
  Matrix<T> target;                       ///< the noise, [n][patch_dim]
  Vector<T> mean, rstd;
};

}  // namespace wf::model

// The tiny GPT shape the model tests share.
#pragma once

#include "model/model_config.hpp"

namespace wf::testing {

/// \brief 2 layers, d_model 8, 2 heads of 4 sharing 1 kv head, mlp 12, vocab 11.
inline model::ModelShape tiny_model_shape(double rotary_base = 10000.0) {
  model::ModelShape s;
  s.vocab = 11;
  s.d_model = 8;
  s.layers = 2;
  s.heads = 2;
  s.kv_heads = 1;
  s.head_dim = 4;
  s.mlp_dim = 12;
  s.rotary_base = rotary_base;
  return s;
}

}  // namespace wf::testing

// The shape of the models of the training benchmark: the decoder-only GPT (DESIGN 2.7) and the
// DiT (docs/dit.md).
#pragma once

#include <cstdint>

#include "core/enums.hpp"

namespace wf::model {

/// \brief Sizes of the model; heads * head_dim need not equal d_model.
struct ModelShape {
  ModelKind kind = ModelKind::gpt;
  int vocab = 256;        ///< GPT
  int d_model = 64;
  int layers = 2;
  int heads = 4;
  int kv_heads = 4;  ///< divides heads
  int head_dim = 16;
  int mlp_dim = 256;
  double rotary_base = 10000.0;  ///< GPT
  int patch_dim = 16;            ///< DiT: scalars per patch token (input and output)
  int timestep_dim = 256;        ///< DiT: frequencies of the timestep embedding (even)

  int q_width() const { return heads * head_dim; }
  int kv_width() const { return kv_heads * head_dim; }
};

/// \brief Optimiser settings: AdamW and gradient clipping (from [train] in the deck).
struct OptimizerSettings {
  double learning_rate = 1e-3;
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double clip_norm = 0.0;  ///< 0: no clipping
};

}  // namespace wf::model

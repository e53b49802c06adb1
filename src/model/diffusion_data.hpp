// The DiT's training data (src/model/): synthetic latents, a timestep and Gaussian noise per
// sample, a function of (seed, sample) only, never of the rank or the process count, so a run
// on P processes trains on exactly the data of a run on one. Each process makes the rows of
// its own tokens only (the noise is drawn counter-based, from a hash of (sample key, element)).
//
// Latents: a smooth random field over the N patch tokens, [N][patch_dim]:
//   x0[i][k] = sqrt(2 / M) sum_{m < M} a_m[k] sin(2 pi f_m i / N + phi_m),  M = 4 modes,
//   f_m uniform in {1, .., 8} cycles over the sequence, phi_m uniform in [0, 2 pi), a_m[k]
//   standard normal (so x0 has about unit variance): neighbouring tokens predict each other, and
//   the whole sequence pins down the modes, so attention across shards helps to denoise.
// Timestep t uniform in {0, .., T-1}; DDPM's linear schedule beta_s = 1e-4 + (0.02 - 1e-4) s /
// (T - 1), alpha_bar(t) = prod_{s <= t} (1 - beta_s).
// Noise e standard normal; the model's input is x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) e
// and its target e (epsilon prediction).
#pragma once

#include <cstdint>
#include <vector>

#include "core/types.hpp"

namespace wf::model {

/// \brief What the data depend on.
struct DiffusionOptions {
  std::int64_t seq_len = 0;  ///< N patch tokens per sample (attention.seq_len)
  int patch_dim = 16;        ///< scalars per token (model.patch_dim)
  std::uint64_t seed = 0;    ///< with the sample number, the only source of randomness
  int steps = 1000;          ///< T (model.diffusion_steps)
};

/// \brief One mode of the latent field.
struct LatentMode {
  int frequency = 1;             ///< cycles over the sequence
  double phase = 0;
  std::vector<double> amplitude;  ///< [patch_dim]
};

/// \brief The random choices of one sample that every row depends on.
struct DiffusionSample {
  std::int64_t sample = 0;
  std::int64_t timestep = 0;
  double signal_scale = 1, noise_scale = 0;  ///< sqrt(alpha_bar(t)), sqrt(1 - alpha_bar(t))
  std::vector<LatentMode> modes;
};

/// \brief The rows of some tokens: the model's input x_t and its target e, [rows][patch_dim].
struct DiffusionRows {
  std::vector<double> noisy, noise;
};

/// \brief alpha_bar(t) of the linear schedule over `steps` timesteps.
double alpha_bar(int steps, std::int64_t timestep);

/// \brief The timestep, scales and latent modes of sample `sample`. Throws wf::Error naming the
/// deck key when the options are invalid.
DiffusionSample diffusion_sample(const DiffusionOptions& options, std::int64_t sample);

/// \brief x_t and e at the global `positions` (in that order), a function of (seed, sample, position).
DiffusionRows diffusion_rows(const DiffusionOptions& options, const DiffusionSample& sample,
                             const std::vector<index_t>& positions);

}  // namespace wf::model

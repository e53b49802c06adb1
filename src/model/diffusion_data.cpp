#include "model/diffusion_data.hpp"

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "model/random_stream.hpp"

namespace wf::model {
namespace {

constexpr int kModes = 4;
constexpr int kMaxFrequency = 8;
constexpr double kTwoPi = 6.283185307179586476925286766559;

/// A standard normal for element `index` of sample `key`, from a hash of the pair.
double counter_normal(std::uint64_t key, std::uint64_t index) {
  const std::uint64_t a = splitmix64(key ^ splitmix64(2 * index));
  const std::uint64_t b = splitmix64(key ^ splitmix64(2 * index + 1));
  return box_muller(unit_interval(a), unit_interval(b));
}

void check_options(const DiffusionOptions& o) {
  require(o.seq_len >= 1, "attention.seq_len = " + std::to_string(o.seq_len) + " must be positive");
  require(o.patch_dim >= 1, "model.patch_dim = " + std::to_string(o.patch_dim) + " must be positive");
  require(o.steps >= 2, "model.diffusion_steps = " + std::to_string(o.steps) + " must be at least 2");
}

}  // namespace

double alpha_bar(int steps, std::int64_t timestep) {
  double product = 1.0;
  for (std::int64_t s = 0; s <= timestep; ++s) product *= 1.0 - (1e-4 + (0.02 - 1e-4) * double(s) / double(steps - 1));
  return product;
}

DiffusionSample diffusion_sample(const DiffusionOptions& options, std::int64_t sample) {
  check_options(options);
  Stream stream(options.seed, sample);
  DiffusionSample s;
  s.sample = sample;
  s.timestep = static_cast<std::int64_t>(stream.below(static_cast<std::uint64_t>(options.steps)));
  const double abar = alpha_bar(options.steps, s.timestep);
  s.signal_scale = std::sqrt(abar);
  s.noise_scale = std::sqrt(1.0 - abar);
  for (int m = 0; m < kModes; ++m) {
    LatentMode mode;
    mode.frequency = 1 + static_cast<int>(stream.below(kMaxFrequency));
    mode.phase = kTwoPi * stream.uniform();
    for (int k = 0; k < options.patch_dim; ++k) mode.amplitude.push_back(box_muller(stream.uniform(), stream.uniform()));
    s.modes.push_back(std::move(mode));
  }
  return s;
}

DiffusionRows diffusion_rows(const DiffusionOptions& options, const DiffusionSample& sample,
                             const std::vector<index_t>& positions) {
  check_options(options);
  const std::uint64_t key = sample_key(options.seed ^ 0x5DEECE66Dull, sample.sample);  // apart from the sample's stream
  const int width = options.patch_dim;
  const double norm = std::sqrt(2.0 / kModes);
  DiffusionRows rows;
  rows.noisy.reserve(positions.size() * static_cast<std::size_t>(width));
  rows.noise.reserve(positions.size() * static_cast<std::size_t>(width));
  for (const index_t position : positions) {
    require(position >= 0 && position < options.seq_len, "diffusion_rows: position " + std::to_string(position) +
                                                             " outside [0, " + std::to_string(options.seq_len) + ")");
    for (int k = 0; k < width; ++k) {
      double latent = 0;
      for (const LatentMode& mode : sample.modes)
        latent += mode.amplitude[static_cast<std::size_t>(k)] *
                  std::sin(kTwoPi * mode.frequency * double(position) / double(options.seq_len) + mode.phase);
      const double noise = counter_normal(key, static_cast<std::uint64_t>(position) * width + k);
      rows.noisy.push_back(sample.signal_scale * norm * latent + sample.noise_scale * noise);
      rows.noise.push_back(noise);
    }
  }
  return rows;
}

}  // namespace wf::model

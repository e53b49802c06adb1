// Naive double references for the DiT kernels (modulation, gated residual, SiLU, squared error,
// sinusoidal embeddings), straight from the definitions, for the tests. Row-major flat vectors
// [rows][width].
#pragma once

#include <cmath>
#include <vector>

namespace wf::reference {

/// \brief y = x (1 + scale) + shift, row by row.
inline std::vector<double> modulate(const std::vector<double>& x, int rows, int width, const std::vector<double>& shift,
                                    const std::vector<double>& scale) {
  std::vector<double> y(x.size());
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < width; ++j) {
      const std::size_t k = static_cast<std::size_t>(i) * width + j;
      y[k] = x[k] * (1.0 + scale[j]) + shift[j];
    }
  return y;
}

/// \brief Gradients of sum(dy * modulate(x)) with respect to x, shift and scale.
struct ModulationGradients {
  std::vector<double> dx, d_shift, d_scale;
};

inline ModulationGradients modulate_backward(const std::vector<double>& dy, const std::vector<double>& x, int rows,
                                             int width, const std::vector<double>& scale) {
  ModulationGradients g{std::vector<double>(x.size()), std::vector<double>(width, 0.0), std::vector<double>(width, 0.0)};
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < width; ++j) {
      const std::size_t k = static_cast<std::size_t>(i) * width + j;
      g.dx[k] = dy[k] * (1.0 + scale[j]);
      g.d_shift[j] += dy[k];
      g.d_scale[j] += dy[k] * x[k];
    }
  return g;
}

/// \brief silu(x) = x / (1 + exp(-x)) and its derivative.
inline double silu(double x) { return x / (1.0 + std::exp(-x)); }
inline double silu_derivative(double x) {
  const double s = 1.0 / (1.0 + std::exp(-x));
  return s + x * s * (1.0 - s);
}

/// \brief Timestep (cos_first) or position (sin first) embedding of `values`: [rows][width],
/// frequencies exp(-ln(10000) j / (width / 2)).
inline std::vector<double> sinusoidal(const std::vector<double>& values, int width, bool cos_first) {
  const int half = width / 2;
  std::vector<double> out(values.size() * static_cast<std::size_t>(width));
  for (std::size_t i = 0; i < values.size(); ++i)
    for (int j = 0; j < half; ++j) {
      const double angle = values[i] * std::exp(-std::log(10000.0) * j / half);
      out[i * width + j] = cos_first ? std::cos(angle) : std::sin(angle);
      out[i * width + half + j] = cos_first ? std::sin(angle) : std::cos(angle);
    }
  return out;
}

}  // namespace wf::reference

// Naive double references for the transformer kernels (layer norm, GELU, rotary,
// cross-entropy, AdamW): straight from the definitions (DESIGN 2.7), written independently of
// the kernels' arrangements (full Jacobians, rotate_half by concatenation, log-softmax), for
// the tests. Row-major flat vectors: [rows][width], [heads][tokens][head_dim].
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace wf::reference {

struct LayerNormForward {
  std::vector<double> y, mean, rstd;
};

struct LayerNormGradients {
  std::vector<double> dx, dweight, dbias;
};

/// \brief LayerNorm of each row: biased variance, eps inside the square root.
inline LayerNormForward layer_norm_forward(const std::vector<double>& x, int rows, int width,
                                           const std::vector<double>& weight, const std::vector<double>& bias,
                                           double eps = 1e-5) {
  LayerNormForward r;
  r.y.resize(x.size());
  r.mean.resize(static_cast<std::size_t>(rows));
  r.rstd.resize(static_cast<std::size_t>(rows));
  for (int i = 0; i < rows; ++i) {
    const double* row = &x[static_cast<std::size_t>(i) * width];
    double mean = 0.0, var = 0.0;
    for (int c = 0; c < width; ++c) mean += row[c];
    mean /= width;
    for (int c = 0; c < width; ++c) var += (row[c] - mean) * (row[c] - mean);
    var /= width;
    const double rstd = 1.0 / std::sqrt(var + eps);
    r.mean[i] = mean;
    r.rstd[i] = rstd;
    for (int c = 0; c < width; ++c)
      r.y[static_cast<std::size_t>(i) * width + c] = (row[c] - mean) * rstd * weight[c] + bias[c];
  }
  return r;
}

/// \brief Gradients of sum(dy * y) through the full Jacobian of each row:
/// d xhat_k / d x_j = rstd (delta_kj - 1/width - xhat_k xhat_j / width).
inline LayerNormGradients layer_norm_backward(const std::vector<double>& dy, const std::vector<double>& x, int rows,
                                              int width, const std::vector<double>& weight, double eps = 1e-5) {
  const std::vector<double> zeros(static_cast<std::size_t>(width), 0.0);
  const LayerNormForward f = layer_norm_forward(x, rows, width, weight, zeros, eps);
  LayerNormGradients g;
  g.dx.assign(x.size(), 0.0);
  g.dweight.assign(static_cast<std::size_t>(width), 0.0);
  g.dbias.assign(static_cast<std::size_t>(width), 0.0);
  std::vector<double> xhat(static_cast<std::size_t>(width));
  for (int i = 0; i < rows; ++i) {
    const std::size_t base = static_cast<std::size_t>(i) * width;
    for (int c = 0; c < width; ++c) xhat[c] = (x[base + c] - f.mean[i]) * f.rstd[i];
    for (int j = 0; j < width; ++j) {
      double sum = 0.0;
      for (int k = 0; k < width; ++k) {
        const double jacobian = f.rstd[i] * ((k == j ? 1.0 : 0.0) - 1.0 / width - xhat[k] * xhat[j] / width);
        sum += dy[base + k] * weight[k] * jacobian;
      }
      g.dx[base + j] = sum;
    }
    for (int c = 0; c < width; ++c) {
      g.dweight[c] += dy[base + c] * xhat[c];
      g.dbias[c] += dy[base + c];
    }
  }
  return g;
}

/// \brief GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
inline double gelu(double x) {
  const double pi = 3.14159265358979323846;
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / pi) * (x + 0.044715 * x * x * x)));
}

/// \brief d gelu / dx, written with sech^2 = 1 / cosh^2.
inline double gelu_derivative(double x) {
  const double pi = 3.14159265358979323846;
  const double k = std::sqrt(2.0 / pi);
  const double u = k * (x + 0.044715 * x * x * x);
  const double sech = 1.0 / std::cosh(u);
  return 0.5 * (1.0 + std::tanh(u)) + 0.5 * x * sech * sech * k * (1.0 + 3.0 * 0.044715 * x * x);
}

/// \brief Rotary embedding by the formula: x * cos + rotate_half(x) * sin with
/// rotate_half(x) = concat(-x[d/2:], x[:d/2]) and angle_i = pos * base^(-2i/d) repeated over
/// both halves; inverse uses -angle.
inline std::vector<double> rotary(const std::vector<double>& x, int heads, int tokens, int head_dim,
                                  const std::vector<std::int64_t>& pos, double base, bool inverse) {
  const int half = head_dim / 2;
  std::vector<double> out(x.size()), cos_full(static_cast<std::size_t>(head_dim)),
      sin_full(static_cast<std::size_t>(head_dim)), rotated_half(static_cast<std::size_t>(head_dim));
  for (int t = 0; t < tokens; ++t) {
    for (int i = 0; i < half; ++i) {
      const double angle = (inverse ? -1.0 : 1.0) * static_cast<double>(pos[t]) *
                           std::pow(base, -2.0 * i / static_cast<double>(head_dim));
      cos_full[i] = cos_full[i + half] = std::cos(angle);
      sin_full[i] = sin_full[i + half] = std::sin(angle);
    }
    for (int h = 0; h < heads; ++h) {
      const std::size_t row = (static_cast<std::size_t>(h) * tokens + t) * head_dim;
      for (int c = 0; c < half; ++c) rotated_half[c] = -x[row + half + c];
      for (int c = half; c < head_dim; ++c) rotated_half[c] = x[row + c - half];
      for (int c = 0; c < head_dim; ++c) out[row + c] = x[row + c] * cos_full[c] + rotated_half[c] * sin_full[c];
    }
  }
  return out;
}

struct CrossEntropyForward {
  std::vector<double> loss;  ///< 0 for ignored rows
  double sum = 0.0;
  std::int64_t valid_rows = 0;
};

/// \brief Log-softmax of one row.
inline std::vector<double> log_softmax(const double* row, int vocab) {
  const double row_max = *std::max_element(row, row + vocab);
  double sum = 0.0;
  for (int j = 0; j < vocab; ++j) sum += std::exp(row[j] - row_max);
  std::vector<double> out(static_cast<std::size_t>(vocab));
  for (int j = 0; j < vocab; ++j) out[j] = row[j] - row_max - std::log(sum);
  return out;
}

/// \brief loss_i = -log_softmax(logits_i)[target_i]; target -1 is ignored.
inline CrossEntropyForward cross_entropy_forward(const std::vector<double>& logits, int rows, int vocab,
                                                 const std::vector<std::int64_t>& targets) {
  CrossEntropyForward r;
  r.loss.assign(static_cast<std::size_t>(rows), 0.0);
  for (int i = 0; i < rows; ++i) {
    if (targets[i] < 0) continue;
    r.loss[i] = -log_softmax(&logits[static_cast<std::size_t>(i) * vocab], vocab)[targets[i]];
    r.sum += r.loss[i];
    ++r.valid_rows;
  }
  return r;
}

/// \brief d(scale * sum_valid loss_i) / d logits = scale * (softmax - one_hot(target)); 0 for ignored rows.
inline std::vector<double> cross_entropy_backward(const std::vector<double>& logits, int rows, int vocab,
                                                  const std::vector<std::int64_t>& targets, double scale) {
  std::vector<double> d(logits.size(), 0.0);
  for (int i = 0; i < rows; ++i) {
    if (targets[i] < 0) continue;
    const auto logp = log_softmax(&logits[static_cast<std::size_t>(i) * vocab], vocab);
    for (int j = 0; j < vocab; ++j)
      d[static_cast<std::size_t>(i) * vocab + j] = scale * (std::exp(logp[j]) - (j == targets[i] ? 1.0 : 0.0));
  }
  return d;
}

/// \brief AdamW state in double: parameters, moments and the number of steps taken.
struct AdamWState {
  std::vector<double> param, m, v;
  int step = 0;
};

/// \brief One step of torch.optim.AdamW as documented (decoupled decay first, then the
/// bias-corrected moments): param -= lr * mhat / (sqrt(vhat) + eps).
inline void adamw_step(AdamWState& s, const std::vector<double>& grad, double lr, double beta1, double beta2,
                       double eps, double weight_decay) {
  ++s.step;
  for (std::size_t i = 0; i < s.param.size(); ++i) {
    s.param[i] *= 1.0 - lr * weight_decay;
    s.m[i] = beta1 * s.m[i] + (1.0 - beta1) * grad[i];
    s.v[i] = beta2 * s.v[i] + (1.0 - beta2) * grad[i] * grad[i];
    const double mhat = s.m[i] / (1.0 - std::pow(beta1, s.step));
    const double vhat = s.v[i] / (1.0 - std::pow(beta2, s.step));
    s.param[i] -= lr * mhat / (std::sqrt(vhat) + eps);
  }
}

}  // namespace wf::reference

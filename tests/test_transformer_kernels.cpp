// Transformer kernels (layer norm, GELU, rotary, cross-entropy, AdamW) against the naive double
// references, float and double, tiny to larger sizes; backwards also against central finite
// differences in double; accumulation, ignore-target and reproducibility semantics.
//
// Inputs are rounded to T before the reference sees them, so the errors measure the kernels'
// arithmetic alone. Tolerances are in units of eps(T), 2-4x the worst value measured over these
// cases on the Serial backend (stated next to each, float / double), and never under 2 eps:
// device math libraries (CUDA's expf, tanhf) are allowed an ulp or two more than glibc's.
// WF_REPORT_ERRORS=1 prints every measured error.
#include <gtest/gtest.h>

#include <Kokkos_Core.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "kernels/adamw.hpp"
#include "kernels/cross_entropy.hpp"
#include "kernels/gelu.hpp"
#include "kernels/layer_norm.hpp"
#include "kernels/rotary.hpp"
#include "kernels/transformer_reference.hpp"
#include "kernel_test_util.hpp"
#include "test_util.hpp"

namespace {

namespace ref = wf::reference;
using wf::index_t;
using wf::MemSpace;
using wf::testing::eps;
using wf::testing::random_vector;
using wf::testing::relative_error;

template <class T>
using Vector = Kokkos::View<T*, MemSpace>;
template <class T>
using Matrix = wf::kernels::Tensor2<T, MemSpace>;
template <class T>
using Tensor = wf::kernels::Tensor3<T, MemSpace>;

using wf::testing::dot;
using wf::testing::fill;
using wf::testing::finite_difference;
using wf::testing::matrix_of;
using wf::testing::rounded;
using wf::testing::values_of;
using wf::testing::vector_of;

Kokkos::View<index_t*, MemSpace> indices_of(const std::vector<index_t>& values) {
  Kokkos::View<index_t*, MemSpace> v("test_indices", values.size());
  auto host = Kokkos::create_mirror_view(v);
  for (std::size_t i = 0; i < values.size(); ++i) host(i) = values[i];
  Kokkos::deep_copy(v, host);
  return v;
}

template <class View>
bool bitwise_equal(const View& a, const View& b) {
  auto ha = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), a);
  auto hb = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), b);
  return ha.span() == hb.span() &&
         std::memcmp(ha.data(), hb.data(), ha.span() * sizeof(typename View::value_type)) == 0;
}

/// EXPECT error <= tolerance * unit; with WF_REPORT_ERRORS set, also prints error / unit
/// (how the tolerances below were measured).
void expect_within(double error, double tolerance, double unit, const std::string& what) {
  if (std::getenv("WF_REPORT_ERRORS") != nullptr) std::printf("  measured %-32s %8.3f\n", what.c_str(), error / unit);
  EXPECT_LE(error, tolerance * unit) << what;
}


// Finite differences in double: truncation h^2 and cancellation eps/h give about 1e-9;
// measured worst 1.4e-9 (cross-entropy), 0.2-0.5e-9 for the others.
constexpr double kFiniteDifference = 5e-9;

template <class T>
std::string precision() {
  return wf::precision_name<T>();
}

template <class T>
class TransformerKernels : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(TransformerKernels, Precisions);

struct Shape {
  int rows, width;
};
const Shape kShapes[] = {{1, 1}, {1, 7}, {7, 13}, {33, 64}, {100, 257}};

// ---------------------------------------------------------------- layer norm

// Measured worst: forward y 1.8 / 0.5 eps, mean 1.9 / 0.5, rstd 1.2 / 0.4; backward dx 1.5 / 2.6,
// dweight 2.3 / 1.8, dbias 1.0 / 1.6 eps.
constexpr double kLayerNormForward = 6, kLayerNormBackward = 8;

TYPED_TEST(TransformerKernels, LayerNormMatchesReferenceAndAccumulates) {
  using T = TypeParam;
  for (const Shape s : kShapes) {
    SCOPED_TRACE("rows " + std::to_string(s.rows) + " width " + std::to_string(s.width));
    const std::size_t n = static_cast<std::size_t>(s.rows) * s.width, w = static_cast<std::size_t>(s.width);
    const auto x = rounded<T>(random_vector(n, 11 + n, -1.0, 3.0));  // rows off 0: tests the two-pass variance
    const auto weight = rounded<T>(random_vector(w, 12 + n, 0.5, 1.5));
    const auto bias = rounded<T>(random_vector(w, 13 + n));
    const auto dy = rounded<T>(random_vector(n, 14 + n));
    const auto dweight0 = rounded<T>(random_vector(w, 15 + n)), dbias0 = rounded<T>(random_vector(w, 16 + n));
    const auto fwd = ref::layer_norm_forward(x, s.rows, s.width, weight, bias);
    const auto grad = ref::layer_norm_backward(dy, x, s.rows, s.width, weight);

    const auto xd = matrix_of<T>(x, s.rows, s.width), dyd = matrix_of<T>(dy, s.rows, s.width);
    const auto wd = vector_of<T>(weight), bd = vector_of<T>(bias);
    Matrix<T> y("y", s.rows, s.width), dx("dx", s.rows, s.width);
    Vector<T> mean("mean", s.rows), rstd("rstd", s.rows);
    Kokkos::deep_copy(dx, T(1e30));  // overwritten, not accumulated
    const auto dweight = vector_of<T>(dweight0), dbias = vector_of<T>(dbias0);
    wf::kernels::layer_norm_forward<T>(xd, wd, bd, y, mean, rstd);
    wf::kernels::layer_norm_backward<T>(dyd, xd, wd, mean, rstd, dx, dweight, dbias);

    const double e = eps<T>();
    const std::string p = precision<T>();
    expect_within(relative_error(values_of(y), fwd.y), kLayerNormForward, e, p + " layer_norm y");
    expect_within(relative_error(values_of(mean), fwd.mean), kLayerNormForward, e, p + " layer_norm mean");
    expect_within(relative_error(values_of(rstd), fwd.rstd), kLayerNormForward, e, p + " layer_norm rstd");
    if (s.width > 1) {
      expect_within(relative_error(values_of(dx), grad.dx), kLayerNormBackward, e, p + " layer_norm dx");
    } else {
      // One column: dx is 0 exactly in theory, rounding of dy * w - mean(dy * w) (an FMA may keep
      // it) times rstd = 316 in practice.
      const auto got = values_of(dx);
      for (int i = 0; i < s.rows; ++i)
        EXPECT_LE(std::abs(got[i]), 4 * e * fwd.rstd[i] * std::abs(dy[i] * weight[0])) << "dx, one column";
    }
    // Accumulated on top of the initial values: compare the increments.
    auto dw = values_of(dweight), db = values_of(dbias);
    for (std::size_t c = 0; c < w; ++c) {
      dw[c] -= dweight0[c];
      db[c] -= dbias0[c];
    }
    expect_within(relative_error(dw, grad.dweight), kLayerNormBackward, e, p + " layer_norm dweight");
    expect_within(relative_error(db, grad.dbias), kLayerNormBackward, e, p + " layer_norm dbias");
  }
}

TEST(TransformerKernelsDouble, LayerNormBackwardFiniteDifference) {
  const int rows = 3, width = 6;
  const std::size_t n = rows * width;
  const auto x = random_vector(n, 21, -1, 2), weight = random_vector(width, 22, 0.5, 1.5);
  const auto bias = random_vector(width, 23), r = random_vector(n, 24);
  const auto loss_x = [&](const std::vector<double>& v) {
    return dot(ref::layer_norm_forward(v, rows, width, weight, bias).y, r);
  };
  const auto loss_w = [&](const std::vector<double>& v) {
    return dot(ref::layer_norm_forward(x, rows, width, v, bias).y, r);
  };
  const auto loss_b = [&](const std::vector<double>& v) {
    return dot(ref::layer_norm_forward(x, rows, width, weight, v).y, r);
  };
  const auto xd = matrix_of<double>(x, rows, width), rd = matrix_of<double>(r, rows, width);
  const auto wd = vector_of<double>(weight), bd = vector_of<double>(bias);
  Matrix<double> y("y", rows, width), dx("dx", rows, width);
  Vector<double> mean("mean", rows), rstd("rstd", rows), dweight("dweight", width), dbias("dbias", width);
  wf::kernels::layer_norm_forward<double>(xd, wd, bd, y, mean, rstd);
  wf::kernels::layer_norm_backward<double>(rd, xd, wd, mean, rstd, dx, dweight, dbias);
  expect_within(relative_error(values_of(dx), finite_difference(loss_x, x)), 1, kFiniteDifference, "fd layer_norm dx");
  expect_within(relative_error(values_of(dweight), finite_difference(loss_w, weight)), 1, kFiniteDifference,
                "fd layer_norm dweight");
  expect_within(relative_error(values_of(dbias), finite_difference(loss_b, bias)), 1, kFiniteDifference,
                "fd layer_norm dbias");
}

// ---------------------------------------------------------------- GELU

// Measured worst: forward 0.24 / 0.0 eps; backward 1.7 / 4.0 eps. The backward of the tanh form
// (as PyTorch evaluates it) has 1 + tanh and 1 - tanh^2 cancel for negative and large |x|:
// absolute errors of eps that the norm-wise error sees.
constexpr double kGeluForward = 2, kGeluBackward = 12;

TYPED_TEST(TransformerKernels, GeluMatchesReference) {
  using T = TypeParam;
  for (const std::size_t n : {std::size_t(1), std::size_t(37), std::size_t(4099)}) {
    SCOPED_TRACE("n " + std::to_string(n));
    const auto x = rounded<T>(random_vector(n, 31 + n, -6, 6)), dy = rounded<T>(random_vector(n, 32 + n));
    std::vector<double> y_ref(n), dx_ref(n);
    for (std::size_t i = 0; i < n; ++i) {
      y_ref[i] = ref::gelu(x[i]);
      dx_ref[i] = dy[i] * ref::gelu_derivative(x[i]);
    }
    const auto xd = vector_of<T>(x), dyd = vector_of<T>(dy);
    Vector<T> y("y", n), dx("dx", n);
    wf::kernels::gelu_forward<T>(xd, y);
    wf::kernels::gelu_backward<T>(xd, dyd, dx);
    expect_within(relative_error(values_of(y), y_ref), kGeluForward, eps<T>(), precision<T>() + " gelu y");
    expect_within(relative_error(values_of(dx), dx_ref), kGeluBackward, eps<T>(), precision<T>() + " gelu dx");
  }
}

TEST(TransformerKernelsDouble, GeluBackwardFiniteDifference) {
  const std::size_t n = 41;
  const auto x = random_vector(n, 33, -5, 5), r = random_vector(n, 34);
  const auto loss = [&](const std::vector<double>& v) {
    double s = 0.0;
    for (std::size_t i = 0; i < n; ++i) s += ref::gelu(v[i]) * r[i];
    return s;
  };
  Vector<double> dx("dx", n);
  wf::kernels::gelu_backward<double>(vector_of<double>(x), vector_of<double>(r), dx);
  expect_within(relative_error(values_of(dx), finite_difference(loss, x)), 1, kFiniteDifference, "fd gelu dx");
}

// ---------------------------------------------------------------- rotary

struct RotaryShape {
  int heads, tokens, head_dim;
  index_t first_position, stride;
};
const RotaryShape kRotaryShapes[] = {{1, 1, 2, 0, 1}, {2, 7, 6, 3, 1}, {3, 33, 64, 1000, 3}, {2, 65, 128, 100000, 7}};

// Measured worst (units below): forward and inverse against the formula 0.31 / 0.11, round trip
// 0.46 / 0.46, dot-product property 0.15 / 0.01.
constexpr double kRotary = 2;

TYPED_TEST(TransformerKernels, RotaryMatchesFormulaAndInverts) {
  using T = TypeParam;
  const double base = 10000.0;
  for (const RotaryShape s : kRotaryShapes) {
    SCOPED_TRACE("head_dim " + std::to_string(s.head_dim) + " tokens " + std::to_string(s.tokens));
    const std::size_t n = static_cast<std::size_t>(s.heads) * s.tokens * s.head_dim;
    const auto x = rounded<T>(random_vector(n, 41 + n));
    std::vector<index_t> pos(static_cast<std::size_t>(s.tokens));
    for (int t = 0; t < s.tokens; ++t) pos[t] = s.first_position + s.stride * t;
    const auto positions = indices_of(pos);
    Tensor<T> xd("x", s.heads, s.tokens, s.head_dim);
    fill(xd, x);
    wf::kernels::apply_rotary<T>(xd, positions, base);
    const auto expected = ref::rotary(x, s.heads, s.tokens, s.head_dim, pos, base, false);
    // An angle of size a is itself only known to a * eps(double) (kernel and reference form it
    // differently): that term adds to the rounding of T.
    const double unit = eps<T>() + eps<double>() * static_cast<double>(pos.back());
    const std::string p = precision<T>();
    expect_within(relative_error(values_of(xd), expected), kRotary, unit, p + " rotary forward");
    wf::kernels::apply_rotary<T>(xd, positions, base, /*inverse=*/true);
    expect_within(relative_error(values_of(xd), x), kRotary, eps<T>(), p + " rotary inverse(apply(x))");
    // The inverse alone also matches the formula with -angle.
    fill(xd, x);
    wf::kernels::apply_rotary<T>(xd, positions, base, true);
    expect_within(relative_error(values_of(xd), ref::rotary(x, s.heads, s.tokens, s.head_dim, pos, base, true)),
                  kRotary, unit, p + " rotary inverse");
  }
}

// Rotated q . k depends only on the distance of the positions: the property that makes the
// embedding relative (error measured in eps |q| |k|, see kRotary).
TYPED_TEST(TransformerKernels, RotaryDotProductDependsOnDistanceOnly) {
  using T = TypeParam;
  const int d = 64;
  const auto q = rounded<T>(random_vector(d, 51)), k = rounded<T>(random_vector(d, 52));
  const double norms = std::sqrt(dot(q, q) * dot(k, k));
  const auto rotated_dot = [&](index_t pq, index_t pk) {
    Tensor<T> qd("q", 1, 1, d), kd("k", 1, 1, d);
    fill(qd, q);
    fill(kd, k);
    wf::kernels::apply_rotary<T>(qd, indices_of({pq}), 10000.0);
    wf::kernels::apply_rotary<T>(kd, indices_of({pk}), 10000.0);
    return dot(values_of(qd), values_of(kd));
  };
  const double near = rotated_dot(7, 3);
  for (const index_t shift : {index_t(1), index_t(1000), index_t(123456)}) {
    const double unit = (eps<T>() + eps<double>() * static_cast<double>(7 + shift)) * norms;  // as above
    expect_within(std::abs(rotated_dot(7 + shift, 3 + shift) - near), kRotary, unit,
                  precision<T>() + " rotary dot shift " + std::to_string(shift));
  }
  // ...and it does depend on the distance (the check above could not pass by rotating nothing).
  EXPECT_GT(std::abs(rotated_dot(7, 2) - near), 1e-3 * norms);
}

TEST(TransformerKernelsDouble, RotaryBackwardFiniteDifference) {
  const int heads = 2, tokens = 5, d = 8;
  const std::size_t n = heads * tokens * d;
  const std::vector<index_t> pos = {4, 9, 10, 17, 300};
  const auto x = random_vector(n, 61), r = random_vector(n, 62);
  const auto loss = [&](const std::vector<double>& v) { return dot(ref::rotary(v, heads, tokens, d, pos, 500.0, false), r); };
  Tensor<double> grad("grad", heads, tokens, d);
  fill(grad, r);
  wf::kernels::apply_rotary<double>(grad, indices_of(pos), 500.0, /*inverse=*/true);  // the backward
  expect_within(relative_error(values_of(grad), finite_difference(loss, x)), 1, kFiniteDifference, "fd rotary");
}

TEST(TransformerKernelsDouble, RotaryRejectsOddHeadDimAndWrongPositions) {
  Tensor<double> x("x", 1, 3, 5);
  EXPECT_THROW(wf::kernels::apply_rotary<double>(x, indices_of({0, 1, 2}), 10000.0), wf::Error);
  Tensor<double> even("even", 1, 3, 4);
  EXPECT_THROW(wf::kernels::apply_rotary<double>(even, indices_of({0, 1}), 10000.0), wf::Error);
}

// ---------------------------------------------------------------- cross-entropy

struct VocabShape {
  int rows, vocab;
  double offset;  ///< added to every logit: a stable log-sum-exp does not care
};
const VocabShape kVocabShapes[] = {{1, 1, 0}, {2, 5, 0}, {9, 31, 0}, {17, 1000, 0}, {6, 50, 1000}};

// Measured worst: loss 0.40 / 0.0 eps, sum 0.34 / 0.0, dlogits 0.70 / 0.0 (double: the same
// operations as the reference), the logits offset by 1000 included.
constexpr double kCrossEntropy = 2;

TYPED_TEST(TransformerKernels, CrossEntropyMatchesLogSoftmaxAndIgnoresTargets) {
  using T = TypeParam;
  for (const VocabShape s : kVocabShapes) {
    SCOPED_TRACE("rows " + std::to_string(s.rows) + " vocab " + std::to_string(s.vocab));
    const std::size_t n = static_cast<std::size_t>(s.rows) * s.vocab;
    auto logits = random_vector(n, 71 + n, -4, 4);
    for (auto& l : logits) l += s.offset;
    logits = rounded<T>(logits);
    std::vector<index_t> targets(static_cast<std::size_t>(s.rows));
    const auto draws = random_vector(targets.size(), 72 + n, 0, s.vocab);
    for (std::size_t i = 0; i < targets.size(); ++i) targets[i] = static_cast<index_t>(draws[i]);
    if (s.rows > 1) targets.back() = -1;  // the last position has no next token
    if (s.rows > 4) targets[2] = -1;
    const double scale = 1.0 / 7.0;
    const auto fwd = ref::cross_entropy_forward(logits, s.rows, s.vocab, targets);
    const auto grad = ref::cross_entropy_backward(logits, s.rows, s.vocab, targets, scale);

    const auto ld = matrix_of<T>(logits, s.rows, s.vocab);
    const auto td = indices_of(targets);
    const auto result = wf::kernels::cross_entropy_forward<T>(ld, td);
    Matrix<T> dlogits("dlogits", s.rows, s.vocab);
    Kokkos::deep_copy(dlogits, T(1e30));  // overwritten, ignored rows included
    wf::kernels::cross_entropy_backward<T>(ld, td, scale, dlogits);

    const double e = eps<T>();
    const std::string p = precision<T>();
    const auto loss = values_of(result.loss);
    expect_within(relative_error(loss, fwd.loss), kCrossEntropy, e, p + " cross_entropy loss");
    EXPECT_EQ(result.valid_rows, fwd.valid_rows);
    expect_within(std::abs(result.sum - fwd.sum) / std::max(std::abs(fwd.sum), 1e-300), kCrossEntropy, e,
                  p + " cross_entropy sum");
    expect_within(relative_error(values_of(dlogits), grad), kCrossEntropy, e, p + " cross_entropy dlogits");
    const auto d = values_of(dlogits);
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (targets[i] != -1) continue;
      EXPECT_EQ(loss[i], 0.0) << "ignored row " << i;
      for (int j = 0; j < s.vocab; ++j) EXPECT_EQ(d[i * s.vocab + j], 0.0) << "ignored row " << i;
    }
  }
}

TEST(TransformerKernelsDouble, CrossEntropyBackwardFiniteDifference) {
  const int rows = 4, vocab = 9;
  const auto logits = random_vector(rows * vocab, 81, -3, 3);
  const std::vector<index_t> targets = {3, -1, 0, 8};
  const double scale = 1.0 / 3.0;
  const auto loss = [&](const std::vector<double>& v) {
    return scale * ref::cross_entropy_forward(v, rows, vocab, targets).sum;
  };
  Matrix<double> dlogits("dlogits", rows, vocab);
  wf::kernels::cross_entropy_backward<double>(matrix_of<double>(logits, rows, vocab), indices_of(targets), scale,
                                              dlogits);
  expect_within(relative_error(values_of(dlogits), finite_difference(loss, logits)), 1, kFiniteDifference,
                "fd cross_entropy");
}

TEST(TransformerKernelsDouble, CrossEntropyRejectsTargetsOutsideVocab) {
  const auto logits = matrix_of<double>(random_vector(6, 82), 2, 3);
  Vector<double> loss("loss", 2);
  Matrix<double> dlogits("dlogits", 2, 3);
  for (const index_t bad : {index_t(3), index_t(-2)}) {
    EXPECT_THROW(wf::kernels::cross_entropy_forward<double>(logits, indices_of({0, bad}), loss), wf::Error);
    EXPECT_THROW(wf::kernels::cross_entropy_backward<double>(logits, indices_of({bad, 1}), 1.0, dlogits), wf::Error);
  }
}

// ---------------------------------------------------------------- AdamW and clipping

// Measured worst over 6 steps: param 0.85 / 1.17 eps, m 0.47 / 0.49, v 0.33 / 0.0.
constexpr double kAdamW = 4;

TYPED_TEST(TransformerKernels, AdamWMatchesPyTorchAlgorithm) {
  using T = TypeParam;
  const double lr = 3e-3, beta1 = 0.9, beta2 = 0.95, adam_eps = 1e-8, weight_decay = 0.1;
  for (const std::size_t n : {std::size_t(1), std::size_t(13), std::size_t(3001)}) {
    SCOPED_TRACE("n " + std::to_string(n));
    ref::AdamWState state;
    state.param = rounded<T>(random_vector(n, 91 + n, -2, 2));
    state.m.assign(n, 0.0);
    state.v.assign(n, 0.0);
    const auto param = vector_of<T>(state.param);
    Vector<T> m("m", n), v("v", n);
    for (int step = 1; step <= 6; ++step) {
      // Gradients of varying scale, so that the second moment moves.
      const auto grad = rounded<T>(random_vector(n, 100 * step + n, -1.0 * step, 1.0 * step));
      ref::adamw_step(state, grad, lr, beta1, beta2, adam_eps, weight_decay);
      wf::kernels::adamw_step<T>(param, vector_of<T>(grad), m, v, step, lr, beta1, beta2, adam_eps, weight_decay);
    }
    const std::string p = precision<T>();
    expect_within(relative_error(values_of(param), state.param), kAdamW, eps<T>(), p + " adamw param");
    expect_within(relative_error(values_of(m), state.m), kAdamW, eps<T>(), p + " adamw m");
    expect_within(relative_error(values_of(v), state.v), kAdamW, eps<T>(), p + " adamw v");
  }
}

TYPED_TEST(TransformerKernels, AdamWWeightDecayIsDecoupled) {
  using T = TypeParam;
  // A zero gradient leaves only the decay: param * (1 - lr * wd), moments stay 0.
  const auto param = vector_of<T>({2.0, -4.0});
  Vector<T> grad("grad", 2), m("m", 2), v("v", 2);
  wf::kernels::adamw_step<T>(param, grad, m, v, 1, 0.5, 0.9, 0.95, 1e-8, 0.25);
  const auto p = values_of(param);
  EXPECT_EQ(p[0], static_cast<double>(T(2.0) * T(0.875)));
  EXPECT_EQ(p[1], static_cast<double>(T(-4.0) * T(0.875)));
  EXPECT_THROW(wf::kernels::adamw_step<T>(param, grad, m, v, 0, 0.5), wf::Error);
}

// Double accumulation whatever T is. Measured 0 (Serial sums in the reference's order); another
// order typically differs by a few sqrt(n) = 100 eps(double).
constexpr double kGradNorm = 256;

TYPED_TEST(TransformerKernels, GradNormAndScale) {
  using T = TypeParam;
  const std::size_t n = 10007;
  const auto g = rounded<T>(random_vector(n, 111, -3, 3));
  const auto gd = vector_of<T>(g);
  expect_within(std::abs(wf::kernels::grad_norm_squared<T>(gd) - dot(g, g)) / dot(g, g), kGradNorm, eps<double>(),
                precision<T>() + " grad_norm_squared");
  wf::kernels::scale_in_place<T>(gd, 0.25);  // exact in binary
  auto scaled = g;
  for (auto& x : scaled) x *= 0.25;
  EXPECT_EQ(values_of(gd), scaled);
}

// ---------------------------------------------------------------- reproducibility

TYPED_TEST(TransformerKernels, TwoRunsAreBitwiseIdentical) {
  using T = TypeParam;
  const int rows = 203, width = 96, vocab = 517;  // more rows than one layer-norm chunk
  const auto x = matrix_of<T>(random_vector(rows * width, 121, -1, 3), rows, width);
  const auto dy = matrix_of<T>(random_vector(rows * width, 122), rows, width);
  const auto weight = vector_of<T>(random_vector(width, 123)), bias = vector_of<T>(random_vector(width, 124));
  const auto logits = matrix_of<T>(random_vector(rows * vocab, 125, -5, 5), rows, vocab);
  std::vector<index_t> targets(rows);
  for (int i = 0; i < rows; ++i) targets[i] = i + 1 < rows ? (i * 37) % vocab : -1;
  const auto td = indices_of(targets);
  struct Run {
    Matrix<T> y, dx, dlogits;
    Vector<T> mean, rstd, dweight, dbias, loss, gelu;
    double loss_sum, norm;
  };
  const auto run = [&]() {
    Run r{Matrix<T>("y", rows, width), Matrix<T>("dx", rows, width), Matrix<T>("dl", rows, vocab),
          Vector<T>("mean", rows), Vector<T>("rstd", rows), Vector<T>("dw", width), Vector<T>("db", width),
          Vector<T>("loss", rows), Vector<T>("gelu", rows * width), 0.0, 0.0};
    wf::kernels::layer_norm_forward<T>(x, weight, bias, r.y, r.mean, r.rstd);
    wf::kernels::layer_norm_backward<T>(dy, x, weight, r.mean, r.rstd, r.dx, r.dweight, r.dbias);
    wf::kernels::gelu_forward<T>(Vector<T>(r.y.data(), r.y.span()), r.gelu);
    r.loss_sum = wf::kernels::cross_entropy_forward<T>(logits, td, r.loss).sum;
    wf::kernels::cross_entropy_backward<T>(logits, td, 1.0 / (rows - 1), r.dlogits);
    r.norm = wf::kernels::grad_norm_squared<T>(Vector<T>(r.dlogits.data(), r.dlogits.span()));
    return r;
  };
  const Run a = run(), b = run();
  EXPECT_TRUE(bitwise_equal(a.y, b.y));
  EXPECT_TRUE(bitwise_equal(a.dx, b.dx));
  EXPECT_TRUE(bitwise_equal(a.dweight, b.dweight));
  EXPECT_TRUE(bitwise_equal(a.dbias, b.dbias));
  EXPECT_TRUE(bitwise_equal(a.gelu, b.gelu));
  EXPECT_TRUE(bitwise_equal(a.loss, b.loss));
  EXPECT_TRUE(bitwise_equal(a.dlogits, b.dlogits));
  EXPECT_EQ(std::memcmp(&a.loss_sum, &b.loss_sum, sizeof(double)), 0);
  EXPECT_EQ(std::memcmp(&a.norm, &b.norm, sizeof(double)), 0);
}

}  // namespace

// DiT kernels (adaLN modulation, gated residual, SiLU, squared error, sinusoidal embeddings,
// LayerNorm without affine parameters at eps 1e-6) against the naive double references of
// kernels/dit_reference.hpp, float and double; the references' backwards against central
// finite differences in double; column sums bitwise reproducible.
#include <gtest/gtest.h>

#include <Kokkos_Core.hpp>

#include <cmath>
#include <vector>

#include "kernels/dit_reference.hpp"
#include "kernels/layer_norm.hpp"
#include "kernels/modulation.hpp"
#include "kernels/mse.hpp"
#include "kernels/silu.hpp"
#include "kernels/sinusoidal.hpp"
#include "kernels/transformer_reference.hpp"
#include "kernel_test_util.hpp"
#include "test_util.hpp"

namespace {

namespace ref = wf::reference;
using wf::ExecSpace;
using wf::index_t;
using wf::MemSpace;
using wf::testing::eps;
using wf::testing::random_vector;
using wf::testing::relative_error;

template <class T>
using Vector = wf::testing::DeviceVector<T>;
template <class T>
using Matrix = wf::testing::DeviceMatrix<T>;

using wf::testing::matrix_of;
using wf::testing::rounded;
using wf::testing::values_of;
using wf::testing::vector_of;

using wf::testing::dot;
using wf::testing::finite_difference;

constexpr int rows = 37, width = 12;

TEST(DitReference, ModulationBackwardMatchesFiniteDifferences) {
  const auto x = random_vector(rows * width, 1), dy = random_vector(rows * width, 2);
  const auto shift = random_vector(width, 3), scale = random_vector(width, 4);
  const auto g = ref::modulate_backward(dy, x, rows, width, scale);
  EXPECT_LE(relative_error(g.dx, finite_difference([&](const std::vector<double>& v) {
              return dot(dy, ref::modulate(v, rows, width, shift, scale));
            }, x)), 1e-8);
  EXPECT_LE(relative_error(g.d_shift, finite_difference([&](const std::vector<double>& v) {
              return dot(dy, ref::modulate(x, rows, width, v, scale));
            }, shift)), 1e-8);
  EXPECT_LE(relative_error(g.d_scale, finite_difference([&](const std::vector<double>& v) {
              return dot(dy, ref::modulate(x, rows, width, shift, v));
            }, scale)), 1e-8);
  const double h = 1e-6;
  for (double v : {-3.0, -0.5, 0.0, 0.7, 4.0})
    EXPECT_NEAR(ref::silu_derivative(v), (ref::silu(v + h) - ref::silu(v - h)) / (2 * h), 1e-9) << v;
}

template <class T>
void check_modulation(double tolerance) {
  const auto x = rounded<T>(random_vector(rows * width, 1)), dy = rounded<T>(random_vector(rows * width, 2));
  const auto shift = rounded<T>(random_vector(width, 3)), scale = rounded<T>(random_vector(width, 4));
  const ExecSpace space;
  Matrix<T> y("y", rows, width), dx("dx", rows, width);
  Vector<T> d_shift("d_shift", width), d_scale("d_scale", width);
  wf::kernels::modulate_forward<T>(space, matrix_of<T>(x, rows, width), vector_of<T>(shift), vector_of<T>(scale), y);
  EXPECT_LE(relative_error(values_of(y), ref::modulate(x, rows, width, shift, scale)), tolerance);
  wf::kernels::modulate_backward<T>(space, matrix_of<T>(dy, rows, width), matrix_of<T>(x, rows, width),
                                    vector_of<T>(scale), dx, d_shift, d_scale);
  const auto g = ref::modulate_backward(dy, x, rows, width, scale);
  EXPECT_LE(relative_error(values_of(dx), g.dx), tolerance);
  EXPECT_LE(relative_error(values_of(d_shift), g.d_shift), tolerance);
  EXPECT_LE(relative_error(values_of(d_scale), g.d_scale), tolerance);
  // Gated residual: x + gate * branch, and d_branch = dx gate, d_gate = sum dx * branch.
  const auto gate = rounded<T>(random_vector(width, 5));
  Matrix<T> residual = matrix_of<T>(x, rows, width), d_branch("d_branch", rows, width);
  Vector<T> d_gate("d_gate", width);
  wf::kernels::gated_residual_forward<T>(space, residual, vector_of<T>(gate), matrix_of<T>(dy, rows, width));
  std::vector<double> expected(x.size()), expected_branch(x.size()), expected_gate(width, 0.0);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < width; ++j) {
      const std::size_t k = static_cast<std::size_t>(i) * width + j;
      expected[k] = x[k] + gate[j] * dy[k];
      expected_branch[k] = dy[k] * gate[j];
      expected_gate[j] += dy[k] * x[k];
    }
  EXPECT_LE(relative_error(values_of(residual), expected), tolerance);
  wf::kernels::gated_residual_backward<T>(space, matrix_of<T>(dy, rows, width), vector_of<T>(gate),
                                          matrix_of<T>(x, rows, width), d_branch, d_gate);
  EXPECT_LE(relative_error(values_of(d_branch), expected_branch), tolerance);
  EXPECT_LE(relative_error(values_of(d_gate), expected_gate), tolerance);
}

// Sums of 37 products: a few eps (float: measured 1.2e-7, double 2.4e-16).
TEST(DitKernels, ModulationMatchesReferenceFloat) { check_modulation<float>(8 * eps<float>()); }
TEST(DitKernels, ModulationMatchesReferenceDouble) { check_modulation<double>(8 * eps<double>()); }

template <class T>
void check_silu_and_squared_error(double tolerance) {
  const auto x = rounded<T>(random_vector(200, 6, -6, 6)), dy = rounded<T>(random_vector(200, 7));
  const ExecSpace space;
  Vector<T> y("y", x.size()), dx("dx", x.size());
  wf::kernels::silu_forward<T>(space, vector_of<T>(x), y);
  wf::kernels::silu_backward<T>(space, vector_of<T>(x), vector_of<T>(dy), dx);
  std::vector<double> expected_y, expected_dx;
  for (std::size_t i = 0; i < x.size(); ++i) {
    expected_y.push_back(ref::silu(x[i]));
    expected_dx.push_back(dy[i] * ref::silu_derivative(x[i]));
  }
  EXPECT_LE(relative_error(values_of(y), expected_y), tolerance);
  EXPECT_LE(relative_error(values_of(dx), expected_dx), tolerance);
  // Squared error: sum and gradient 2 scale (p - t).
  double expected_sum = 0;
  std::vector<double> expected_grad;
  for (std::size_t i = 0; i < x.size(); ++i) {
    expected_sum += (x[i] - dy[i]) * (x[i] - dy[i]);
    expected_grad.push_back(2 * 0.25 * (x[i] - dy[i]));
  }
  EXPECT_NEAR(wf::kernels::squared_error_sum<T>(space, vector_of<T>(x), vector_of<T>(dy)), expected_sum,
              1e-14 * expected_sum);  // accumulated in double from the T inputs
  Vector<T> grad("grad", x.size());
  wf::kernels::squared_error_backward<T>(space, vector_of<T>(x), vector_of<T>(dy), 0.25, grad);
  EXPECT_LE(relative_error(values_of(grad), expected_grad), tolerance);
}

TEST(DitKernels, SiluAndSquaredErrorFloat) { check_silu_and_squared_error<float>(4 * eps<float>()); }
TEST(DitKernels, SiluAndSquaredErrorDouble) { check_silu_and_squared_error<double>(4 * eps<double>()); }

template <class T>
void check_sinusoidal(double tolerance) {
  const std::vector<double> values = {0, 1, 7, 999, 4095, 131071};
  Vector<double> device = vector_of<double>(values);
  for (bool cos_first : {true, false}) {
    Matrix<T> out("out", values.size(), 16);
    wf::kernels::sinusoidal_embedding<T>(
        ExecSpace(), device, cos_first ? wf::kernels::SinusoidalOrder::cos_first : wf::kernels::SinusoidalOrder::sin_first,
        out);
    EXPECT_LE(relative_error(values_of(out), ref::sinusoidal(values, 16, cos_first)), tolerance) << cos_first;
  }
}

// Angles up to 1.3e5 rad: libm's sin and cos agree to an ulp of the angle's result.
TEST(DitKernels, SinusoidalMatchesReferenceFloat) { check_sinusoidal<float>(2 * eps<float>()); }
TEST(DitKernels, SinusoidalMatchesReferenceDouble) { check_sinusoidal<double>(1e-13); }

// LayerNorm without affine parameters (weight 1, bias 0) at the DiT's eps 1e-6, and its input
// gradient alone.
TEST(DitKernels, LayerNormWithoutAffineAtEps1e6) {
  const auto x = random_vector(rows * width, 8, -3, 3), dy = random_vector(rows * width, 9);
  const std::vector<double> ones(width, 1.0), zeros(width, 0.0);
  Matrix<double> y("y", rows, width), dx("dx", rows, width);
  Vector<double> mean("mean", rows), rstd("rstd", rows);
  const auto xv = matrix_of<double>(x, rows, width);
  wf::kernels::layer_norm_forward<double>(xv, vector_of<double>(ones), vector_of<double>(zeros), y, mean, rstd, 1e-6);
  EXPECT_LE(relative_error(values_of(y), ref::layer_norm_forward(x, rows, width, ones, zeros, 1e-6).y), 1e-14);
  wf::kernels::layer_norm_backward_input<double>(matrix_of<double>(dy, rows, width), xv, vector_of<double>(ones), mean,
                                                 rstd, dx);
  EXPECT_LE(relative_error(values_of(dx), ref::layer_norm_backward(dy, x, rows, width, ones, 1e-6).dx), 1e-13);
}

TEST(DitKernels, ColumnSumsAreBitwiseReproducible) {
  const auto x = random_vector(rows * width, 10), dy = random_vector(rows * width, 11);
  const auto scale = random_vector(width, 12);
  std::vector<double> first;
  for (int run = 0; run < 3; ++run) {
    Matrix<float> dx("dx", rows, width);
    Vector<float> d_shift("d_shift", width), d_scale("d_scale", width);
    wf::kernels::modulate_backward<float>(ExecSpace(), matrix_of<float>(dy, rows, width), matrix_of<float>(x, rows, width),
                                          vector_of<float>(scale), dx, d_shift, d_scale);
    if (run == 0) first = values_of(d_scale);
    EXPECT_EQ(values_of(d_scale), first);
  }
}

}  // namespace

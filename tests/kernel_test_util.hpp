// Helpers of the kernel tests (no MPI): inputs rounded to the kernel's type, and device views
// filled from and read back into vectors of doubles.
#pragma once

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/types.hpp"
#include "kernels/attention_types.hpp"

namespace wf::testing {

template <class T>
using DeviceVector = Kokkos::View<T*, MemSpace>;
template <class T>
using DeviceMatrix = kernels::Tensor2<T, MemSpace>;

/// \brief v with every entry rounded to T (so that a reference sees exactly the kernel's inputs).
template <class T>
std::vector<double> rounded(std::vector<double> v) {
  for (auto& x : v) x = static_cast<double>(static_cast<T>(x));
  return v;
}

/// \brief Copies `values` into the view (any rank, contiguous).
template <class View>
void fill(const View& view, const std::vector<double>& values) {
  auto host = Kokkos::create_mirror_view(view);
  for (std::size_t i = 0; i < values.size(); ++i)
    host.data()[i] = static_cast<typename View::non_const_value_type>(values[i]);
  Kokkos::deep_copy(view, host);
}

template <class T>
DeviceVector<T> vector_of(const std::vector<double>& values) {
  DeviceVector<T> v("test_vector", values.size());
  fill(v, values);
  return v;
}

template <class T>
DeviceMatrix<T> matrix_of(const std::vector<double>& values, int rows, int cols) {
  DeviceMatrix<T> m("test_matrix", rows, cols);
  fill(m, values);
  return m;
}

/// \brief Every entry of a view (any rank, contiguous) as doubles.
template <class View>
std::vector<double> values_of(const View& view) {
  auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), view);
  return std::vector<double>(host.data(), host.data() + host.span());
}

/// \brief sum_i a_i b_i.
inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

/// \brief Central differences of f at x, every coordinate, step h relative to max(1, |x_i|).
template <class F>
std::vector<double> finite_difference(const F& f, std::vector<double> x, double h = 1e-6) {
  std::vector<double> grad(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i], step = h * std::max(1.0, std::abs(saved));
    x[i] = saved + step;
    const double up = f(x);
    x[i] = saved - step;
    const double down = f(x);
    x[i] = saved;
    grad[i] = (up - down) / (2 * step);
  }
  return grad;
}

}  // namespace wf::testing

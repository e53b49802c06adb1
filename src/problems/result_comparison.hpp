// Comparing results on the host: the token rows of head-major tensors (verification compares
// the rows a process holds with the same rows of a whole-sequence result), and their error.
#pragma once

#include <cmath>
#include <vector>

#include "core/types.hpp"

namespace wf::problems {

/// \brief Rows `rows` of every head of a [heads][n][width] tensor, head-major: [heads][rows][width].
template <class T>
std::vector<T> rows_of_heads(const std::vector<T>& full, int heads, index_t n, int width,
                             const std::vector<index_t>& rows) {
  std::vector<T> out;
  out.reserve(static_cast<std::size_t>(heads) * rows.size() * static_cast<std::size_t>(width));
  for (int h = 0; h < heads; ++h)
    for (index_t r : rows)
      for (int c = 0; c < width; ++c) out.push_back(full[static_cast<std::size_t>((h * n + r) * width + c)]);
  return out;
}

/// \brief ||got - ref||_2 / ||ref||_2 over the finite reference values; -inf == -inf (rows that
/// saw no key) counts as exact, NaN anywhere gives NaN.
inline double relative_error(const std::vector<double>& got, const std::vector<double>& ref) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = got[i] == ref[i] ? 0.0 : got[i] - ref[i];
    diff += d * d;
    norm += std::isfinite(ref[i]) ? ref[i] * ref[i] : 0.0;
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

}  // namespace wf::problems

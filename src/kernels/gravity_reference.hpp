// Naive softened direct-sum gravity in double: the reference the tiled kernel is checked
// against (tests) and that run.verify uses. Straight from the definition, one pair at a time.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace wf::reference {

/// Particles: positions [n][3] row-major and masses [n].
struct GravityBodies {
  std::vector<double> pos;
  std::vector<double> mass;
  std::size_t size() const { return mass.size(); }
};

/// Forces on the targets, [n][3], and per target the sum over sources of |F_ij| (the scale
/// against which the rounding error of a sum of pair forces is measured).
struct GravityResult {
  std::vector<double> force;
  std::vector<double> magnitude_sum;
};

/// \brief F_i = G m_i sum_j m_j (x_j - x_i) / (|x_j - x_i|^2 + eps^2)^(3/2), in double.
inline GravityResult gravity_reference(const GravityBodies& targets, const GravityBodies& sources, double softening,
                                       double gravitational_constant) {
  const std::size_t nt = targets.size(), ns = sources.size();
  GravityResult r;
  r.force.assign(3 * nt, 0.0);
  r.magnitude_sum.assign(nt, 0.0);
  for (std::size_t i = 0; i < nt; ++i) {
    double f[3] = {0.0, 0.0, 0.0};
    double magnitude = 0.0;
    for (std::size_t j = 0; j < ns; ++j) {
      double d[3];
      for (int c = 0; c < 3; ++c) d[c] = sources.pos[3 * j + c] - targets.pos[3 * i + c];
      const double dist2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
      const double r2 = dist2 + softening * softening;
      const double w = gravitational_constant * targets.mass[i] * sources.mass[j] / (r2 * std::sqrt(r2));
      for (int c = 0; c < 3; ++c) f[c] += w * d[c];
      magnitude += w * std::sqrt(dist2);
    }
    for (int c = 0; c < 3; ++c) r.force[3 * i + c] = f[c];
    r.magnitude_sum[i] = magnitude;
  }
  return r;
}

}  // namespace wf::reference

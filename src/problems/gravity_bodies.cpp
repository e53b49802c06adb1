#include "problems/gravity_bodies.hpp"

#include "core/device_copy.hpp"

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cmath>
#include <random>

namespace wf::problems {

using reference::GravityBodies;

template <class T>
GravityBodies plummer_bodies(index_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const double pi = 3.14159265358979323846;
  GravityBodies b;
  b.pos.resize(3 * static_cast<std::size_t>(n));
  b.mass.resize(static_cast<std::size_t>(n));
  double total = 0.0;
  for (std::size_t i = 0; i < b.mass.size(); ++i) {
    double r = 0.0;
    do {  // inverse of the cumulative mass M(r) = r^3 / (1 + r^2)^(3/2)
      const double x = std::max(unit(gen), 1e-12);
      r = 1.0 / std::sqrt(std::pow(x, -2.0 / 3.0) - 1.0);
    } while (!(r <= 10.0));
    const double cos_theta = 2.0 * unit(gen) - 1.0, phi = 2.0 * pi * unit(gen);
    const double sin_theta = std::sqrt(1.0 - cos_theta * cos_theta);
    b.pos[3 * i + 0] = r * sin_theta * std::cos(phi);
    b.pos[3 * i + 1] = r * sin_theta * std::sin(phi);
    b.pos[3 * i + 2] = r * cos_theta;
    b.mass[i] = 0.5 + unit(gen);
    total += b.mass[i];
  }
  for (auto& x : b.pos) x = static_cast<double>(static_cast<T>(x));
  for (auto& m : b.mass) m = static_cast<double>(static_cast<T>(m / total));
  return b;
}

GravityBodies slice_bodies(const GravityBodies& bodies, index_t first, index_t count) {
  const auto begin = static_cast<std::ptrdiff_t>(first), end = static_cast<std::ptrdiff_t>(first + count);
  GravityBodies s;
  s.pos.assign(bodies.pos.begin() + 3 * begin, bodies.pos.begin() + 3 * end);
  s.mass.assign(bodies.mass.begin() + begin, bodies.mass.begin() + end);
  return s;
}

template <class T>
nbody::Buffer<T> pack_bodies(const GravityBodies& bodies) {
  std::vector<T> packed(bodies.pos.begin(), bodies.pos.end());  // positions [n][3], then masses [n]
  packed.insert(packed.end(), bodies.mass.begin(), bodies.mass.end());
  return to_device(packed, "Gravity::bodies");
}

template <class T>
std::vector<double> forces_on_host(const nbody::Buffer<T>& forces) {
  const std::vector<T> host = to_host(forces);
  return std::vector<double>(host.begin(), host.end());
}

ShardVerification verify_shard(const GravityBodies& all, index_t first, index_t count, const std::vector<double>& force,
                               double softening, double gravitational_constant, const VerificationSample& sample) {
  const std::size_t n = all.size(), begin = static_cast<std::size_t>(first), end = begin + std::size_t(count);
  const bool every = n <= sample.all_up_to;
  std::vector<std::size_t> targets;
  if (every) {
    for (std::size_t i = begin; i < end; ++i) targets.push_back(i);
  } else {
    for (std::size_t k = 0; k < sample.samples; ++k) {
      const std::size_t i = k * n / sample.samples;
      if (i >= begin && i < end) targets.push_back(i);
    }
  }
  GravityBodies checked;
  for (std::size_t i : targets) {
    checked.pos.insert(checked.pos.end(), all.pos.begin() + std::ptrdiff_t(3 * i),
                       all.pos.begin() + std::ptrdiff_t(3 * i + 3));
    checked.mass.push_back(all.mass[i]);
  }
  const auto ref = reference::gravity_reference(checked, all, softening, gravitational_constant);
  ShardVerification result;
  result.checked = targets.size();
  for (std::size_t k = 0; k < targets.size(); ++k) {
    const double* got = &force[3 * (targets[k] - begin)];
    const double* want = &ref.force[3 * k];
    double diff2 = 0.0;
    for (int c = 0; c < 3; ++c) diff2 += (got[c] - want[c]) * (got[c] - want[c]);
    // Against the scale of the sum, robust to bodies whose pair forces cancel (relative to
    // |F_i| itself the error would be unbounded).
    const double magnitude = ref.magnitude_sum[k];
    const double error = magnitude > 0.0 ? std::sqrt(diff2) / magnitude : std::sqrt(diff2);
    if (!(error <= result.worst_error) && !std::isnan(result.worst_error)) result.worst_error = error;  // NaN wins
  }
  return result;
}

template GravityBodies plummer_bodies<float>(index_t, std::uint64_t);
template GravityBodies plummer_bodies<double>(index_t, std::uint64_t);
template nbody::Buffer<float> pack_bodies<float>(const GravityBodies&);
template nbody::Buffer<double> pack_bodies<double>(const GravityBodies&);
template std::vector<double> forces_on_host<float>(const nbody::Buffer<float>&);
template std::vector<double> forces_on_host<double>(const nbody::Buffer<double>&);

}  // namespace wf::problems

// Softened direct-sum gravity: the tiled kernel against the naive double reference, source
// blocks (the distributed schedules' hops) against one call, Newton's third law, determinism,
// and the gravity problem of the program.
#include <gtest/gtest.h>

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "kernels/gravity.hpp"
#include "kernels/gravity_reference.hpp"
#include "test_util.hpp"

namespace {

using wf::MemSpace;
using wf::kernels::ForceView;
using wf::kernels::GravityOptions;
using wf::reference::GravityBodies;
using wf::testing::eps;

constexpr double kSoftening = 0.05;
constexpr double kG = 0.7;

/// n bodies uniform in [-1, 1]^3, masses in [0.1, 1], every value rounded through T so that
/// the reference sees exactly the kernel's inputs (only arithmetic error is measured).
template <class T>
GravityBodies random_bodies(std::size_t n, std::uint64_t seed) {
  GravityBodies b;
  b.pos = wf::testing::random_vector(3 * n, seed, -1.0, 1.0);
  b.mass = wf::testing::random_vector(n, seed + 1, 0.1, 1.0);
  for (auto& x : b.pos) x = static_cast<double>(static_cast<T>(x));
  for (auto& m : b.mass) m = static_cast<double>(static_cast<T>(m));
  return b;
}

/// The first `count` bodies from `begin` on.
GravityBodies slice(const GravityBodies& b, std::size_t begin, std::size_t count) {
  GravityBodies s;
  s.pos.assign(b.pos.begin() + 3 * begin, b.pos.begin() + 3 * (begin + count));
  s.mass.assign(b.mass.begin() + begin, b.mass.begin() + begin + count);
  return s;
}

template <class T>
struct DeviceBodies {
  Kokkos::View<T* [3], Kokkos::LayoutRight, MemSpace> pos;
  Kokkos::View<T*, MemSpace> mass;
  wf::kernels::ParticleBlock<T, MemSpace> block() const { return {pos, mass}; }
};

template <class T>
DeviceBodies<T> upload(const GravityBodies& b) {
  DeviceBodies<T> d{Kokkos::View<T* [3], Kokkos::LayoutRight, MemSpace>("pos", b.size()),
                    Kokkos::View<T*, MemSpace>("mass", b.size())};
  auto pos = Kokkos::create_mirror_view(d.pos);
  auto mass = Kokkos::create_mirror_view(d.mass);
  for (std::size_t i = 0; i < b.size(); ++i) {
    for (int c = 0; c < 3; ++c) pos(i, c) = static_cast<T>(b.pos[3 * i + c]);
    mass(i) = static_cast<T>(b.mass[i]);
  }
  Kokkos::deep_copy(d.pos, pos);
  Kokkos::deep_copy(d.mass, mass);
  return d;
}

/// The force array as it is on the device, row-major [n][3].
template <class T>
std::vector<T> download(const ForceView<T, MemSpace>& force) {
  auto host = Kokkos::create_mirror_view(force);
  Kokkos::deep_copy(host, force);
  std::vector<T> out(3 * force.extent(0));
  for (std::size_t i = 0; i < force.extent(0); ++i)
    for (int c = 0; c < 3; ++c) out[3 * i + c] = host(i, c);
  return out;
}

template <class T>
std::vector<double> to_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

/// Forces on `targets` from the source blocks, one gravity_update per block, in order.
template <class T>
std::vector<T> tiled_forces(const GravityBodies& targets, const std::vector<GravityBodies>& source_blocks, int tile) {
  const GravityOptions opt{kSoftening, kG, tile};
  const auto t = upload<T>(targets);
  ForceView<T, MemSpace> force("force", targets.size());
  for (const auto& block : source_blocks) {
    const auto s = upload<T>(block);
    wf::kernels::gravity_update(wf::ExecSpace(), opt, t.block(), s.block(), force);
  }
  return download(force);
}

/// max_i |F_i - F_ref_i| / sum_j |F_ij|: per body, the error against the scale of its sum.
double max_scaled_error(const std::vector<double>& force, const wf::reference::GravityResult& ref) {
  double worst = 0.0;
  for (std::size_t i = 0; i < ref.magnitude_sum.size(); ++i) {
    double diff2 = 0.0;
    for (int c = 0; c < 3; ++c) diff2 += std::pow(force[3 * i + c] - ref.force[3 * i + c], 2);
    const double error = ref.magnitude_sum[i] > 0.0 ? std::sqrt(diff2) / ref.magnitude_sum[i] : std::sqrt(diff2);
    if (!(error <= worst)) worst = error;  // NaN wins
  }
  return worst;
}

template <class T>
class Gravity : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Gravity, Scalars);

// Measured (Kokkos Serial, GCC -O3 -march=native, simd in-tile sums), worst over the cases
// here and in DistinctTargetsAndSources: normwise relative error 1.04 eps (float) and
// 1.64 eps (double), bound 4 eps; max scaled error (max_scaled_error) 1.59 eps (float) and
// 2.41 eps (double), bound 6 eps. In double the reference's own rounding (a sequential sum in
// the same precision) is part of the measured error.
TYPED_TEST(Gravity, MatchesReference) {
  using T = TypeParam;
  const std::vector<std::pair<std::size_t, int>> cases = {{1, 1},   {1, 7},   {37, 1},   {37, 7},
                                                          {37, 64}, {129, 7}, {129, 32}, {129, 500}};
  for (const auto& [n, tile] : cases) {
    SCOPED_TRACE("n = " + std::to_string(n) + ", tile = " + std::to_string(tile));
    const auto bodies = random_bodies<T>(n, 1000 + n);
    const auto force = to_double(tiled_forces<T>(bodies, {bodies}, tile));
    const auto ref = wf::reference::gravity_reference(bodies, bodies, kSoftening, kG);
    if (n == 1) {  // a single body feels nothing, exactly
      for (double f : force) EXPECT_EQ(f, 0.0);
      continue;
    }
    const double normwise = wf::testing::relative_error(force, ref.force);
    const double scaled = max_scaled_error(force, ref);
    EXPECT_LE(normwise, 4 * eps<T>());
    EXPECT_LE(scaled, 6 * eps<T>());
  }
}

// Targets and sources are different bodies (as in every hop of a distributed schedule).
TYPED_TEST(Gravity, DistinctTargetsAndSources) {
  using T = TypeParam;
  const auto targets = random_bodies<T>(37, 7);
  const auto sources = random_bodies<T>(129, 8);
  const auto force = to_double(tiled_forces<T>(targets, {sources}, 16));
  const auto ref = wf::reference::gravity_reference(targets, sources, kSoftening, kG);
  const double normwise = wf::testing::relative_error(force, ref.force);
  const double scaled = max_scaled_error(force, ref);
  EXPECT_LE(normwise, 4 * eps<T>());
  EXPECT_LE(scaled, 6 * eps<T>());
}

// Sources in several blocks, one gravity_update each, add up to one call: bitwise when the
// blocks split at multiples of the tile (same partial sums in the same order), to rounding
// otherwise (measured: 0.72 eps (float), 0.74 eps (double) normwise; bound 2 eps).
TYPED_TEST(Gravity, SourceBlocksEqualOneCall) {
  using T = TypeParam;
  const int tile = 16;
  const auto bodies = random_bodies<T>(129, 42);
  const auto whole = tiled_forces<T>(bodies, {bodies}, tile);
  const auto aligned =
      tiled_forces<T>(bodies, {slice(bodies, 0, 32), slice(bodies, 32, 64), slice(bodies, 96, 33)}, tile);
  ASSERT_EQ(aligned.size(), whole.size());
  EXPECT_EQ(std::memcmp(aligned.data(), whole.data(), whole.size() * sizeof(T)), 0);
  const auto unaligned =
      tiled_forces<T>(bodies, {slice(bodies, 0, 40), slice(bodies, 40, 37), slice(bodies, 77, 52)}, tile);
  const double diff = wf::testing::relative_error(to_double(unaligned), to_double(whole));
  EXPECT_GT(diff, 0.0);  // a different summation order does round differently: the test can tell
  EXPECT_LE(diff, 2 * eps<T>());
  const auto ref = wf::reference::gravity_reference(bodies, bodies, kSoftening, kG);
  EXPECT_LE(wf::testing::relative_error(to_double(unaligned), ref.force), 4 * eps<T>());
}

// Newton's third law: the forces of a closed system sum to zero. Each F_i carries a rounding
// error of about eps * sum_j |F_ij| (MatchesReference), and sum_j |F_ij| is a few |F_i| here;
// the errors of different bodies have independent signs, so their sum grows like sqrt(n)
// while sum |F| grows like n: |sum F| / sum |F| stays well under one eps. Measured (n = 129,
// 1000): 0.087 and 0.022 eps (float), 0.092 and 0.094 eps (double); bound 0.3 eps.
TYPED_TEST(Gravity, NewtonsThirdLaw) {
  using T = TypeParam;
  for (const std::size_t n : {std::size_t(129), std::size_t(1000)}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    const auto bodies = random_bodies<T>(n, 2024 + n);
    const auto force = tiled_forces<T>(bodies, {bodies}, 32);
    double total[3] = {0.0, 0.0, 0.0}, magnitude = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      double f2 = 0.0;
      for (int c = 0; c < 3; ++c) {
        total[c] += force[3 * i + c];
        f2 += double(force[3 * i + c]) * force[3 * i + c];
      }
      magnitude += std::sqrt(f2);
    }
    const double ratio = std::sqrt(total[0] * total[0] + total[1] * total[1] + total[2] * total[2]) / magnitude;
    EXPECT_GT(magnitude, 0.0);
    EXPECT_LE(ratio, 0.3 * eps<T>());
  }
}

TYPED_TEST(Gravity, BitwiseReproducible) {
  using T = TypeParam;
  const auto bodies = random_bodies<T>(129, 5);
  const auto first = tiled_forces<T>(bodies, {bodies}, 7);
  const auto second = tiled_forces<T>(bodies, {bodies}, 7);
  ASSERT_EQ(first.size(), second.size());
  EXPECT_EQ(std::memcmp(first.data(), second.data(), first.size() * sizeof(T)), 0);
}

TYPED_TEST(Gravity, RejectsBadArguments) {
  using T = TypeParam;
  const auto bodies = upload<T>(random_bodies<T>(10, 3));
  const auto fewer = upload<T>(random_bodies<T>(9, 3));
  ForceView<T, MemSpace> force("force", 10);
  EXPECT_THROW(wf::kernels::gravity_update(wf::ExecSpace(), GravityOptions{kSoftening, kG, 0}, bodies.block(), bodies.block(), force),
               wf::Error);
  EXPECT_THROW(wf::kernels::gravity_update(wf::ExecSpace(), GravityOptions{0.0, kG, 8}, bodies.block(), bodies.block(), force),
               wf::Error);
  EXPECT_THROW(wf::kernels::gravity_update(wf::ExecSpace(), GravityOptions{kSoftening, kG, 8}, fewer.block(), bodies.block(), force),
               wf::Error);
}

}  // namespace

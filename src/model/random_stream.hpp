// The synthetic data's random numbers: splitmix64 streams keyed by (seed, sample), our own so
// that the data are the same on every rank, compiler and standard library (no std::
// distributions). Every rank replays the same stream, or hashes a counter (counter-based draws
// for data too large to replay on every rank).
#pragma once

#include <cmath>
#include <cstdint>

namespace wf::model {

/// \brief One splitmix64 step of x: a 64-bit hash.
inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// \brief The key of sample `sample` of a data stream seeded with `seed`.
inline std::uint64_t sample_key(std::uint64_t seed, std::int64_t sample) {
  return splitmix64(seed ^ splitmix64(static_cast<std::uint64_t>(sample) ^ 0xA0761D6478BD642Full));
}

/// \brief A uniform double in [0, 1) from the top 53 bits of `bits`.
inline double unit_interval(std::uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

/// \brief A sequential splitmix64 stream keyed by (seed, sample): every rank replays the same stream.
class Stream {
 public:
  Stream(std::uint64_t seed, std::int64_t sample) : state_(sample_key(seed, sample)) {}

  std::uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  /// Uniform in [0, n), unbiased: draws below 2^64 mod n are rejected, so the accepted range is
  /// a multiple of n.
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t threshold = (0 - n) % n;
    for (;;) {
      const std::uint64_t r = next();
      if (r >= threshold) return r % n;
    }
  }

  bool coin() { return (next() >> 63) != 0; }

  /// Uniform in [0, 1).
  double uniform() { return unit_interval(next()); }

 private:
  std::uint64_t state_;
};

/// \brief A standard normal from two uniform draws (Box-Muller, cosine branch); u1 in [0, 1).
inline double box_muller(double u1, double u2) {
  const double two_pi = 6.283185307179586476925286766559;
  return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(two_pi * u2);
}

}  // namespace wf::model

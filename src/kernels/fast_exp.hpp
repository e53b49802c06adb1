// A vectorisable exp for the host softmax loops. glibc's expf is only vectorised under
// -ffast-math, which would also break the -inf handling the masks rely on.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace wf::kernels {

/// \brief exp(x) for float, accurate to about 1 ulp; exp(-inf) = 0; inputs below -87.3 give 0.
/// Range reduction x = n ln2 + r, |r| <= ln2/2, then a degree-7 Taylor polynomial
/// (truncation error < 6e-9, below half an ulp).
inline float fast_exp(float x) {
  const float clamped = x < -88.0f ? -88.0f : (x > 88.0f ? 88.0f : x);
  const float n = std::nearbyint(clamped * 1.44269504088896341f);
  // ln2 split in a part exact in float and a correction (Cody-Waite).
  const float r = (clamped - n * 0.693145751953125f) - n * 1.42860682030941723212e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  const float result = p * two_n;
  return x < -87.3f ? 0.0f : result;
}

/// \brief exp(x) for double: the library function (double is the checking precision).
inline double fast_exp(double x) { return std::exp(x); }

/// \brief fast_exp as a function object (the host loops' exponential for the pair physics).
struct FastExp {
  template <class T>
  T operator()(T x) const {
    return fast_exp(x);
  }
};

}  // namespace wf::kernels

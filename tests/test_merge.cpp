// The lse-aware merge: agrees with attention over the union of key sets, is commutative
// (bitwise) and associative (to rounding), and handles fully masked sides exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "attention_runner.hpp"
#include "kernels/attention_merge.hpp"
#include "test_util.hpp"

namespace {

using wf::TileImpl;
using wf::kernels::merge_weights;
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Partial {
  double o, lse;
};

template <class T>
Partial merge(Partial a, Partial b) {
  T lse, wa, wb;
  merge_weights<T>(static_cast<T>(a.lse), static_cast<T>(b.lse), lse, wa, wb);
  const T value = wf::kernels::merge_value<T>(static_cast<T>(a.lse), wa, static_cast<T>(a.o), static_cast<T>(b.lse),
                                             wb, static_cast<T>(b.o));
  return {static_cast<double>(value), static_cast<double>(lse)};
}

TEST(Merge, CommutativeBitwise) {
  const auto values = wf::testing::random_vector(400, 17, -30, 30);
  for (std::size_t i = 0; i + 3 < values.size(); i += 4) {
    const Partial a{values[i], values[i + 1]}, b{values[i + 2], values[i + 3]};
    const Partial ab = merge<float>(a, b), ba = merge<float>(b, a);
    EXPECT_EQ(ab.o, ba.o);
    EXPECT_EQ(ab.lse, ba.lse);
    const Partial abd = merge<double>(a, b), bad = merge<double>(b, a);
    EXPECT_EQ(abd.o, bad.o);
    EXPECT_EQ(abd.lse, bad.lse);
  }
}

TEST(Merge, AssociativeToRounding) {
  const auto values = wf::testing::random_vector(600, 23, -40, 40);
  for (std::size_t i = 0; i + 5 < values.size(); i += 6) {
    const Partial a{values[i], values[i + 1]}, b{values[i + 2], values[i + 3]}, c{values[i + 4], values[i + 5]};
    const Partial left = merge<double>(merge<double>(a, b), c), right = merge<double>(a, merge<double>(b, c));
    EXPECT_NEAR(left.lse, right.lse, 4e-16 * std::max(1.0, std::abs(left.lse)));
    // exp(lse_a - lse) amplifies the rounding of lse (|lse| <= 40) by |lse|: bound |o| |lse| eps.
    EXPECT_NEAR(left.o, right.o, 4 * wf::testing::eps<double>() * 40 * 40);
    const Partial lf = merge<float>(merge<float>(a, b), c), rf = merge<float>(a, merge<float>(b, c));
    EXPECT_NEAR(lf.lse, rf.lse, 4 * wf::testing::eps<float>() * std::max(1.0, std::abs(lf.lse)));
    EXPECT_NEAR(lf.o, rf.o, 4 * wf::testing::eps<float>() * 40 * 40);
  }
}

TEST(Merge, MaskedSidesAreExact) {
  const Partial empty{0.0, -kInf}, some{0.3125, 2.5};
  for (const Partial& r : {merge<float>(empty, some), merge<float>(some, empty), merge<double>(some, empty)}) {
    EXPECT_EQ(r.o, some.o);
    EXPECT_EQ(r.lse, some.lse);
  }
  const Partial both = merge<float>(empty, empty);
  EXPECT_EQ(both.lse, -kInf);
  EXPECT_EQ(both.o, 0.0);
  EXPECT_FALSE(std::isnan(both.o));
}

TEST(Merge, NoOverflowAtExtremeLse) {
  // exp(lse) overflows float and double here; the merge never forms it.
  const Partial a{1.0, 700.0}, b{-1.0, 700.0 + std::log(3.0)};
  const Partial r = merge<double>(a, b);
  EXPECT_NEAR(r.lse, 700.0 + std::log(4.0), 1e-12);
  EXPECT_NEAR(r.o, 0.25 * 1.0 + 0.75 * -1.0, 4 * wf::testing::eps<double>() * 700);  // conditioning |lse| eps
  const Partial rf = merge<float>({1.0, 95.0}, {-1.0, -95.0});
  EXPECT_NEAR(rf.lse, 95.0, 1e-5);
  EXPECT_NEAR(rf.o, 1.0, 1e-6);
}

// Two halves of the keys, finalised separately and merged, equal attention over all keys:
// the identity every distributed schedule relies on.
TEST(Merge, PartialResultsMergeToWhole) {
  using namespace wf::kernels;
  wf::reference::AttentionProblem whole;
  whole.heads = 2;
  whole.kv_heads = 1;
  whole.head_dim = 8;
  whole.scale = 0.35;
  whole.causal = true;
  const int n = 40;
  for (int i = 0; i < n; ++i) {
    whole.q_pos.push_back(i);
    whole.k_pos.push_back(i);
  }
  whole.q = wf::testing::random_vector(2 * n * 8, 1);
  whole.k = wf::testing::random_vector(n * 8, 2);
  whole.v = wf::testing::random_vector(n * 8, 3);
  whole.d_o = wf::testing::random_vector(2 * n * 8, 4);
  auto first = whole, second = whole;
  const int split = 23;
  first.k_pos.assign(whole.k_pos.begin(), whole.k_pos.begin() + split);
  second.k_pos.assign(whole.k_pos.begin() + split, whole.k_pos.end());
  first.k.assign(whole.k.begin(), whole.k.begin() + split * 8);
  second.k.assign(whole.k.begin() + split * 8, whole.k.end());
  first.v.assign(whole.v.begin(), whole.v.begin() + split * 8);
  second.v.assign(whole.v.begin() + split * 8, whole.v.end());
  const auto ref = wf::reference::attention_reference(whole);
  const auto a = wf::testing::run_attention<double>(first, {8, 8, TileImpl::blas, 1});
  const auto b = wf::testing::run_attention<double>(second, {8, 8, TileImpl::fused, 1});
  auto o_a = wf::testing::to_device3<double>(a.o, 2, n, 8);
  const auto o_b = wf::testing::to_device3<double>(b.o, 2, n, 8);
  Tensor2<double, wf::MemSpace> lse_a("lse_a", 2, n), lse_b("lse_b", 2, n);
  auto ha = Kokkos::create_mirror_view(lse_a);
  auto hb = Kokkos::create_mirror_view(lse_b);
  for (int i = 0; i < 2 * n; ++i) {
    ha.data()[i] = a.lse[static_cast<std::size_t>(i)];
    hb.data()[i] = b.lse[static_cast<std::size_t>(i)];
  }
  Kokkos::deep_copy(lse_a, ha);
  Kokkos::deep_copy(lse_b, hb);
  merge_partial<wf::ExecSpace, double, wf::MemSpace>(wf::ExecSpace(), o_a, lse_a, o_b, lse_b);
  EXPECT_LE(wf::testing::relative_error(wf::testing::to_vector(o_a), ref.o), 1e-14);
  EXPECT_LE(wf::testing::max_scaled_error(wf::testing::to_vector(lse_a), ref.lse), 1e-14);
}

}  // namespace

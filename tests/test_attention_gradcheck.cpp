// Finite-difference check of the attention backward in double: for L = sum(O * dO),
// dL/dx from the kernels equals (L(x + h) - L(x - h)) / 2h for every input element.
#include <gtest/gtest.h>

#include <numeric>

#include "attention_runner.hpp"
#include "test_util.hpp"

namespace {

using wf::TileImpl;
using wf::reference::AttentionProblem;

double loss(const AttentionProblem& p, TileImpl impl) {
  const auto r = wf::testing::run_attention<double>(p, {3, 4, impl, 2});
  return std::inner_product(r.o.begin(), r.o.end(), p.d_o.begin(), 0.0);
}

void check_gradients(bool causal, TileImpl impl) {
  AttentionProblem p;
  p.heads = 2;
  p.kv_heads = 1;
  p.head_dim = 3;
  p.scale = 0.6;
  p.causal = causal;
  const int n = 7;
  for (int i = 0; i < n; ++i) {
    p.q_pos.push_back(i);
    p.k_pos.push_back(i);
  }
  p.q = wf::testing::random_vector(2 * n * 3, 31, -1.5, 1.5);
  p.k = wf::testing::random_vector(n * 3, 32, -1.5, 1.5);
  p.v = wf::testing::random_vector(n * 3, 33);
  p.d_o = wf::testing::random_vector(2 * n * 3, 34);
  const auto grads = wf::testing::run_attention<double>(p, {3, 4, impl, 2});
  const double h = 1e-5;
  auto check = [&](std::vector<double> AttentionProblem::*field, const std::vector<double>& analytic,
                   const char* name) {
    for (std::size_t i = 0; i < (p.*field).size(); ++i) {
      AttentionProblem plus = p, minus = p;
      (plus.*field)[i] += h;
      (minus.*field)[i] -= h;
      const double numeric = (loss(plus, impl) - loss(minus, impl)) / (2 * h);
      EXPECT_NEAR(analytic[i], numeric, 1e-8 * std::max(1.0, std::abs(numeric))) << name << "[" << i << "]";
    }
  };
  check(&AttentionProblem::q, grads.dq, "dQ");
  check(&AttentionProblem::k, grads.dk, "dK");
  check(&AttentionProblem::v, grads.dv, "dV");
}

TEST(AttentionGradcheck, BlasCausal) { check_gradients(true, TileImpl::blas); }
TEST(AttentionGradcheck, BlasFull) { check_gradients(false, TileImpl::blas); }
TEST(AttentionGradcheck, FusedCausal) { check_gradients(true, TileImpl::fused); }
TEST(AttentionGradcheck, FusedFull) { check_gradients(false, TileImpl::fused); }

}  // namespace

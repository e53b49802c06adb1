// Naive dense attention in double: the reference every tile implementation is checked
// against (tests) and that run.verify uses. Straight from the definitions (DESIGN 2.1, 2.7).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/attention_pair.hpp"

namespace wf::reference {

/// Inputs and outputs, head-major [heads][tokens][head_dim] like the kernels.
struct AttentionProblem {
  int heads = 1, kv_heads = 1, head_dim = 1;
  double scale = 1.0;
  bool causal = false;
  std::vector<std::int64_t> q_pos, k_pos;
  std::vector<double> q, k, v, d_o;  // q, d_o: heads*nq*d; k, v: kv_heads*nk*d
  std::int64_t nq() const { return static_cast<std::int64_t>(q_pos.size()); }
  std::int64_t nk() const { return static_cast<std::int64_t>(k_pos.size()); }
};

struct AttentionResult {
  std::vector<double> o, lse, dq, dk, dv;
};

namespace reference_detail {

/// std::exp, the reference's exponential.
struct Exp {
  double operator()(double x) const { return std::exp(x); }
};

/// One query row of one head: scores, probabilities, O, lse; then its gradients (dQ row, and
/// the contributions to dK, dV). Full softmax rows, no tiling; the pair rules of attention_pair.
struct Row {
  const AttentionProblem& p;
  AttentionResult& r;
  int h, kvh;
  std::int64_t i;

  std::size_t q_at(std::int64_t row, int head) const { return static_cast<std::size_t>((head * p.nq() + row) * p.head_dim); }
  std::size_t k_at(std::int64_t row) const { return static_cast<std::size_t>((kvh * p.nk() + row) * p.head_dim); }
  double dot(const double* a, const double* b) const {
    double sum = 0.0;
    for (int c = 0; c < p.head_dim; ++c) sum += a[c] * b[c];
    return sum;
  }

  /// Probabilities of the row (empty when the row sees no key).
  std::vector<double> forward() const {
    const kernels::MaskKind mask = p.causal ? kernels::MaskKind::causal : kernels::MaskKind::none;
    const double neg_inf = -std::numeric_limits<double>::infinity();
    std::vector<double> s(static_cast<std::size_t>(p.nk()));
    double m = neg_inf;
    for (std::int64_t j = 0; j < p.nk(); ++j) {
      const bool visible = kernels::pair_visible(mask, p.q_pos[i], p.k_pos[j]);
      s[j] = visible ? p.scale * dot(&p.q[q_at(i, h)], &p.k[k_at(j)]) : neg_inf;
      m = std::max(m, s[j]);
    }
    if (kernels::row_sees_nothing(m)) return {};  // fully masked row: O = 0, lse = -inf, no gradient
    double l = 0.0;
    for (std::int64_t j = 0; j < p.nk(); ++j) l += kernels::softmax_weight(s[j], m, Exp());
    const double lse = kernels::row_lse(m, l);
    r.lse[static_cast<std::size_t>(h * p.nq() + i)] = lse;
    double* oi = &r.o[q_at(i, h)];
    for (std::int64_t j = 0; j < p.nk(); ++j) {
      s[j] = kernels::softmax_weight(s[j], lse, Exp());  // the probability
      const double* vj = &p.v[k_at(j)];
      for (int c = 0; c < p.head_dim; ++c) oi[c] += s[j] * vj[c];
    }
    return s;
  }

  /// Backward of L = sum(O * dO): dP = dO.v, D = sum_j P dP, dS = P (dP - D).
  void backward(const std::vector<double>& prob) const {
    const double* qi = &p.q[q_at(i, h)];
    const double* doi = &p.d_o[q_at(i, h)];
    std::vector<double> dp(static_cast<std::size_t>(p.nk()));
    double delta = 0.0;
    for (std::int64_t j = 0; j < p.nk(); ++j) {
      dp[j] = dot(doi, &p.v[k_at(j)]);
      delta += prob[j] * dp[j];
    }
    double* dqi = &r.dq[q_at(i, h)];
    for (std::int64_t j = 0; j < p.nk(); ++j) {
      if (prob[j] == 0.0) continue;
      const double ds = kernels::score_gradient(prob[j], dp[j], delta);
      const double* kj = &p.k[k_at(j)];
      double* dkj = &r.dk[k_at(j)];
      double* dvj = &r.dv[k_at(j)];
      for (int c = 0; c < p.head_dim; ++c) {
        dqi[c] += p.scale * ds * kj[c];
        dkj[c] += p.scale * ds * qi[c];
        dvj[c] += prob[j] * doi[c];
      }
    }
  }
};

}  // namespace reference_detail

/// \brief Forward and backward by the definitions: full softmax rows, no tiling.
inline AttentionResult attention_reference(const AttentionProblem& p) {
  const std::int64_t nq = p.nq(), nk = p.nk();
  const int d = p.head_dim, group = p.heads / p.kv_heads;
  AttentionResult r;
  r.o.assign(static_cast<std::size_t>(p.heads * nq * d), 0.0);
  r.lse.assign(static_cast<std::size_t>(p.heads * nq), -std::numeric_limits<double>::infinity());
  r.dq.assign(r.o.size(), 0.0);
  r.dk.assign(static_cast<std::size_t>(p.kv_heads * nk * d), 0.0);
  r.dv.assign(r.dk.size(), 0.0);
  for (int h = 0; h < p.heads; ++h) {
    for (std::int64_t i = 0; i < nq; ++i) {
      const reference_detail::Row row{p, r, h, h / group, i};
      const std::vector<double> prob = row.forward();
      if (!prob.empty()) row.backward(prob);
    }
  }
  return r;
}

}  // namespace wf::reference

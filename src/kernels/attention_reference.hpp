// Naive dense attention in double: the reference every tile implementation is checked
// against (tests) and that run.verify uses. Straight from the definitions (DESIGN 2.1, 2.7).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

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

/// \brief Forward and backward by the definitions: full softmax rows, no tiling.
inline AttentionResult attention_reference(const AttentionProblem& p) {
  const std::int64_t nq = p.nq(), nk = p.nk();
  const int d = p.head_dim, group = p.heads / p.kv_heads;
  const double neg_inf = -std::numeric_limits<double>::infinity();
  AttentionResult r;
  r.o.assign(static_cast<std::size_t>(p.heads * nq * d), 0.0);
  r.lse.assign(static_cast<std::size_t>(p.heads * nq), neg_inf);
  r.dq.assign(r.o.size(), 0.0);
  r.dk.assign(static_cast<std::size_t>(p.kv_heads * nk * d), 0.0);
  r.dv.assign(r.dk.size(), 0.0);
  std::vector<double> s(static_cast<std::size_t>(nk)), prob(static_cast<std::size_t>(nk));
  for (int h = 0; h < p.heads; ++h) {
    const int kvh = h / group;
    for (std::int64_t i = 0; i < nq; ++i) {
      const double* qi = &p.q[static_cast<std::size_t>((h * nq + i) * d)];
      double m = neg_inf;
      for (std::int64_t j = 0; j < nk; ++j) {
        const bool visible = !p.causal || p.k_pos[j] <= p.q_pos[i];
        const double* kj = &p.k[static_cast<std::size_t>((kvh * nk + j) * d)];
        double dot = 0.0;
        for (int c = 0; c < d; ++c) dot += qi[c] * kj[c];
        s[j] = visible ? p.scale * dot : neg_inf;
        m = std::max(m, s[j]);
      }
      if (m == neg_inf) continue;  // fully masked row: O = 0, lse = -inf, no gradient
      double l = 0.0;
      for (std::int64_t j = 0; j < nk; ++j) l += std::exp(s[j] - m);
      const double lse = m + std::log(l);
      r.lse[static_cast<std::size_t>(h * nq + i)] = lse;
      double* oi = &r.o[static_cast<std::size_t>((h * nq + i) * d)];
      for (std::int64_t j = 0; j < nk; ++j) {
        prob[j] = std::exp(s[j] - lse);
        const double* vj = &p.v[static_cast<std::size_t>((kvh * nk + j) * d)];
        for (int c = 0; c < d; ++c) oi[c] += prob[j] * vj[c];
      }
      // Backward of L = sum(O * dO): dP = dO.v, D = sum_j P dP, dS = P (dP - D).
      const double* doi = &p.d_o[static_cast<std::size_t>((h * nq + i) * d)];
      std::vector<double> dp(static_cast<std::size_t>(nk));
      double delta = 0.0;
      for (std::int64_t j = 0; j < nk; ++j) {
        const double* vj = &p.v[static_cast<std::size_t>((kvh * nk + j) * d)];
        double dot = 0.0;
        for (int c = 0; c < d; ++c) dot += doi[c] * vj[c];
        dp[j] = dot;
        delta += prob[j] * dot;
      }
      double* dqi = &r.dq[static_cast<std::size_t>((h * nq + i) * d)];
      for (std::int64_t j = 0; j < nk; ++j) {
        if (prob[j] == 0.0) continue;
        const double ds = prob[j] * (dp[j] - delta);
        const double* kj = &p.k[static_cast<std::size_t>((kvh * nk + j) * d)];
        double* dkj = &r.dk[static_cast<std::size_t>((kvh * nk + j) * d)];
        double* dvj = &r.dv[static_cast<std::size_t>((kvh * nk + j) * d)];
        for (int c = 0; c < d; ++c) {
          dqi[c] += p.scale * ds * kj[c];
          dkj[c] += p.scale * ds * qi[c];
          dvj[c] += prob[j] * doi[c];
        }
      }
    }
  }
  return r;
}

}  // namespace wf::reference

// The (query, key) pairs a mask leaves visible between two blocks, counted from their global
// positions without visiting pairs: positions are split into runs of consecutive values
// (a zigzag shard is two runs, a team block 2c) and runs are counted in closed form. For
// compute injection (core/compute_injection.hpp); the cost model's team_block_pairs() is the
// same count from the sharding's arithmetic.
#pragma once

#include <Kokkos_Core.hpp>

#include <utility>
#include <vector>

#include "core/types.hpp"
#include "kernels/attention_types.hpp"

namespace wf::kernels {

/// \brief Maximal runs [first, first + length) of consecutive positions, in storage order.
template <class HostPositions>
std::vector<std::pair<index_t, index_t>> position_runs(const HostPositions& positions) {
  std::vector<std::pair<index_t, index_t>> runs;
  for (std::size_t i = 0; i < positions.extent(0); ++i) {
    const index_t p = positions(i);
    if (!runs.empty() && runs.back().first + runs.back().second == p)
      ++runs.back().second;
    else
      runs.emplace_back(p, 1);
  }
  return runs;
}

/// \brief Causal pairs (key <= query) between the query run [a, a + la) and the key run [b, b + lb).
inline double causal_run_pairs(index_t a, index_t la, index_t b, index_t lb) {
  const index_t hi = a + la - 1;  // queries i in [a, hi] see clamp(i - b + 1, 0, lb) keys
  double pairs = 0.0;
  const index_t rise_first = std::max(a, b), rise_last = std::min(hi, b + lb - 1);
  if (rise_first <= rise_last)
    pairs += 0.5 * double(rise_first - b + 1 + rise_last - b + 1) * double(rise_last - rise_first + 1);
  const index_t full_first = std::max(a, b + lb);
  if (full_first <= hi) pairs += double(hi - full_first + 1) * double(lb);
  return pairs;
}

/// \brief Visible pairs per head between query positions and key positions under `mask`.
template <class Positions>
double visible_pairs(MaskKind mask, const Positions& query_positions, const Positions& key_positions) {
  const auto q = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), query_positions);
  const auto k = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), key_positions);
  if (mask == MaskKind::none) return double(q.extent(0)) * double(k.extent(0));
  const auto q_runs = position_runs(q), k_runs = position_runs(k);
  double pairs = 0.0;
  for (const auto& [a, la] : q_runs)
    for (const auto& [b, lb] : k_runs) pairs += causal_run_pairs(a, la, b, lb);
  return pairs;
}

}  // namespace wf::kernels

// How `parts` processes share the heads of grouped-query attention when each takes a slice of
// the query heads (the head-parallel schedules): part p holds query heads
// [p h/P, (p+1) h/P) and, for them, kv slots that copy the kv heads they read (DESIGN 2.7:
// query head q reads kv head q / (heads / kv_heads)). Kokkos-free: the traffic model uses it too.
//
// With m = gcd(h/P, heads/kv_heads), the part's query heads fall into runs of m consecutive
// heads that read one kv head each: the part holds (h/P)/m kv slots, slot j a copy of the kv
// head of its query heads [p h/P + j m, p h/P + (j+1) m), and the sliced interaction keeps the
// usual grouped-query mapping (local query head i reads slot i / m). When P divides kv_heads
// this is the plain split (kv_heads / P slots, no copies); when kv_heads < P a kv head is
// copied to every part whose query heads read it.
#pragma once

#include <numeric>

namespace wf::kernels {

/// \brief The heads of one of `parts` parts (P must divide heads; kv_heads must divide heads).
struct HeadPartition {
  int heads = 1, kv_heads = 1, parts = 1;

  /// \brief Query heads per part: h / P.
  constexpr int query_heads() const { return heads / parts; }
  /// \brief Query heads that read one kv slot of a part: gcd(h / P, heads / kv_heads).
  constexpr int queries_per_slot() const { return std::gcd(query_heads(), heads / kv_heads); }
  /// \brief kv slots per part (each a copy of one kv head).
  constexpr int kv_slots() const { return query_heads() / queries_per_slot(); }
  /// \brief The kv head that slot `slot` of part `part` holds.
  constexpr int kv_head(int part, int slot) const {
    return (part * query_heads() + slot * queries_per_slot()) / (heads / kv_heads);
  }
  /// \brief True when no kv head is held by more than one slot (P divides kv_heads).
  constexpr bool without_copies() const { return kv_slots() * parts == kv_heads; }
};

}  // namespace wf::kernels

// The head groups of the Ulysses x WallFacer hybrid: P = u r processes, each with a head rank
// h in [0, u) and a ring rank j in [0, r). The u processes with the same ring rank form a head
// group (an all-to-all over heads inside it); the r processes with the same head rank form a
// ring group (a WallFacer grid of r processes, ProcessGrid, on the ring ranks).
//   consecutive: rank = j u + h   (a head group on consecutive ranks: inside a node)
//   strided:     rank = h r + j   (a head group r ranks apart: across nodes)
#pragma once

#include <string>

#include "core/enums.hpp"

namespace wf::comm {

/// \brief Head groups of u processes out of P.
class HeadGroups {
 public:
  /// \brief Throws wf::Error naming the problem unless 1 <= group_size and group_size divides processes.
  HeadGroups(int processes, int group_size, HeadPlacement placement);

  int processes() const { return processes_; }
  int group_size() const { return group_size_; }                 ///< u
  int ring_processes() const { return processes_ / group_size_; }  ///< r = P / u
  HeadPlacement placement() const { return placement_; }

  /// \brief h of `rank`: its rank inside its head group.
  int head_rank(int rank) const;
  /// \brief j of `rank`: its rank inside its ring group (the rank in the ring grid).
  int ring_rank(int rank) const;
  /// \brief The rank with head rank h and ring rank j.
  int rank_of(int head_rank, int ring_rank) const;

  std::string describe() const;

 private:
  int processes_, group_size_;
  HeadPlacement placement_;
};

}  // namespace wf::comm

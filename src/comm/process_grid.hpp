// The process grid of DESIGN 2.2 and 2.6: P processes, team size c (the replication factor),
// G = P / c^2 teams per group, c^2 disjoint sub-rings of G processes each.
//
// Logical coordinates of a process: group g in [0, c), local rank a in [0, c), position j in
// [0, G) along its sub-ring. Its team is t = g G + j. The arrangement maps coordinates to ranks:
//   team-major: rank = t c + a        (a team on consecutive ranks: teams inside a node)
//   ring-major: rank = (g c + a) G + j (a sub-ring on consecutive ranks: rings inside a node)
#pragma once

#include <string>
#include <vector>

#include "core/enums.hpp"

namespace wf::comm {

/// \brief Coordinates of one process in the grid.
struct GridCoordinates {
  int team = 0;   ///< t in [0, P / c)
  int local = 0;  ///< a in [0, c): rank within the team
  int group = 0;  ///< g = t / G
  int ring_position = 0;  ///< j = t % G: position along the sub-ring
};

/// \brief The grid: sizes, and the maps between ranks and coordinates.
class ProcessGrid {
 public:
  /// \brief Throws wf::Error naming the problem when team_size < 1, team_size^2 does not
  /// divide processes, or processes < 1.
  ProcessGrid(int processes, int team_size, Arrangement arrangement);

  int processes() const { return processes_; }
  int team_size() const { return team_size_; }          ///< c
  int teams() const { return processes_ / team_size_; }  ///< P / c
  int ring_length() const { return ring_length_; }      ///< G = P / c^2
  Arrangement arrangement() const { return arrangement_; }

  GridCoordinates coordinates(int rank) const;
  int rank_of(int team, int local) const;
  /// \brief The rank at `position` (mod G) along the sub-ring of `rank`.
  int ring_neighbour(int rank, int steps) const;

  /// \brief DESIGN 2.3 step 2: where (team t, local a) sends its team's K, V block:
  /// (team a G + t / c, local t % c). A permutation of the ranks.
  int initial_send_target(int rank) const;
  /// \brief The c ranks that start with team `team`'s block after the initial send: entry a is
  /// initial_send_target(rank_of(team, a)). Every member of the team sends its shard to each.
  std::vector<int> initial_block_holders(int team) const;
  /// \brief The inverse permutation: whose team block arrives at `rank`.
  int initial_send_source(int rank) const;
  /// \brief Backward: where `rank` sends the key gradients of the block it held stationary,
  /// home to a member of that block's own team (the inverse of the initial send, applied to the
  /// rank that received the block: the block arrived G - 1 shifts ago from ring position -(G-1)).
  int key_gradient_return_target(int rank) const;
  /// \brief Backward: whose key gradients arrive at `rank` (the inverse of the target map).
  int key_gradient_return_source(int rank) const;
  /// \brief The team block (key block id in [0, P / c)) that the process holds after the
  /// initial send and `shifts` further shifts along its sub-ring (shifts go to ring position j+1).
  int key_block_after(int rank, int shifts) const;

  std::string describe() const;

 private:
  int processes_, team_size_, ring_length_;
  Arrangement arrangement_;
};

}  // namespace wf::comm

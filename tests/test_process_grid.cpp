// The process grid of DESIGN 2.2: coordinates are a bijection in both arrangements, the
// initial send is a permutation with the documented target, and after it every group holds
// every key block once, sub-ring b of a group holding blocks { j c + b }.
#include <gtest/gtest.h>

#include <set>

#include "comm/process_grid.hpp"
#include "core/error.hpp"

namespace {

using wf::Arrangement;
using wf::comm::ProcessGrid;

struct GridCase {
  int processes, team_size;
};

const GridCase kGrids[] = {{1, 1}, {2, 1}, {4, 1}, {4, 2}, {8, 1}, {8, 2}, {16, 2}, {16, 4}, {32, 2}, {36, 3}, {64, 8}};

TEST(ProcessGrid, CoordinatesAreABijection) {
  for (const auto& g : kGrids)
    for (Arrangement arr : {Arrangement::team_major, Arrangement::ring_major}) {
      const ProcessGrid grid(g.processes, g.team_size, arr);
      std::set<std::pair<int, int>> seen;
      for (int r = 0; r < g.processes; ++r) {
        const auto x = grid.coordinates(r);
        EXPECT_EQ(grid.rank_of(x.team, x.local), r);
        EXPECT_EQ(x.group, x.team / grid.ring_length());
        seen.insert({x.team, x.local});
      }
      EXPECT_EQ(static_cast<int>(seen.size()), g.processes);
    }
}

TEST(ProcessGrid, ArrangementsPlaceTeamsOrRingsOnConsecutiveRanks) {
  const ProcessGrid team_major(16, 2, Arrangement::team_major), ring_major(16, 2, Arrangement::ring_major);
  EXPECT_EQ(team_major.rank_of(3, 0) + 1, team_major.rank_of(3, 1));                  // a team is consecutive
  EXPECT_EQ(ring_major.ring_neighbour(0, 1), 1);                                      // a sub-ring is consecutive
  EXPECT_EQ(team_major.ring_neighbour(0, 1), 2);                                      // next team, same local
  EXPECT_EQ(ring_major.coordinates(ring_major.ring_neighbour(5, 2)).local, ring_major.coordinates(5).local);
}

TEST(ProcessGrid, InitialSendMatchesTheDesignFormula) {
  for (const auto& g : kGrids)
    for (Arrangement arr : {Arrangement::team_major, Arrangement::ring_major}) {
      const ProcessGrid grid(g.processes, g.team_size, arr);
      const int c = g.team_size, ring = grid.ring_length();
      std::set<int> targets;
      for (int r = 0; r < g.processes; ++r) {
        const auto x = grid.coordinates(r);
        const int target = grid.initial_send_target(r);
        const auto y = grid.coordinates(target);
        EXPECT_EQ(y.team, x.local * ring + x.team / c);
        EXPECT_EQ(y.local, x.team % c);
        EXPECT_EQ(grid.initial_send_source(target), r);
        targets.insert(target);
      }
      EXPECT_EQ(static_cast<int>(targets.size()), g.processes);  // a permutation
    }
}

TEST(ProcessGrid, InitialBlockHoldersStartWithTheTeamsBlock) {
  for (const auto& g : kGrids)
    for (Arrangement arr : {Arrangement::team_major, Arrangement::ring_major}) {
      const ProcessGrid grid(g.processes, g.team_size, arr);
      for (int team = 0; team < grid.teams(); ++team) {
        const std::vector<int> holders = grid.initial_block_holders(team);
        ASSERT_EQ(static_cast<int>(holders.size()), g.team_size);
        std::set<int> groups;
        for (const int holder : holders) {
          EXPECT_EQ(grid.key_block_after(holder, 0), team) << "holder " << holder << " of team " << team;
          groups.insert(grid.coordinates(holder).group);
        }
        EXPECT_EQ(static_cast<int>(groups.size()), g.team_size);  // one copy per group
      }
    }
}

TEST(ProcessGrid, EveryGroupHoldsEveryKeyBlockOnce) {
  for (const auto& g : kGrids) {
    const ProcessGrid grid(g.processes, g.team_size, Arrangement::team_major);
    const int c = g.team_size, ring = grid.ring_length();
    for (int shifts = 0; shifts < ring; ++shifts)
      for (int group = 0; group < c; ++group) {
        std::set<int> blocks;
        for (int j = 0; j < ring; ++j)
          for (int b = 0; b < c; ++b) {
            const int block = grid.key_block_after(grid.rank_of(group * ring + j, b), shifts);
            EXPECT_EQ(block % c, b) << "sub-ring " << b << " holds blocks j c + b";
            blocks.insert(block);
          }
        EXPECT_EQ(static_cast<int>(blocks.size()), grid.teams());
      }
    // Over the G steps each process sees every block of its sub-ring once.
    for (int r = 0; r < g.processes; ++r) {
      std::set<int> seen;
      for (int s = 0; s < ring; ++s) seen.insert(grid.key_block_after(r, s));
      EXPECT_EQ(static_cast<int>(seen.size()), ring);
    }
  }
}

TEST(ProcessGrid, InvalidGridsAreRejected) {
  EXPECT_THROW(ProcessGrid(8, 3, Arrangement::team_major), wf::Error);
  EXPECT_THROW(ProcessGrid(8, 4, Arrangement::team_major), wf::Error);  // 16 does not divide 8
  EXPECT_THROW(ProcessGrid(6, 2, Arrangement::team_major), wf::Error);
  EXPECT_THROW(ProcessGrid(4, 0, Arrangement::team_major), wf::Error);
  try {
    ProcessGrid(8, 4, Arrangement::ring_major);
  } catch (const wf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("team_size = 4"), std::string::npos) << e.what();
  }
}

}  // namespace

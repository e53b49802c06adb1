#include "comm/process_grid.hpp"

#include "core/error.hpp"

namespace wf::comm {

ProcessGrid::ProcessGrid(int processes, int team_size, Arrangement arrangement)
    : processes_(processes), team_size_(team_size), ring_length_(0), arrangement_(arrangement) {
  require(processes >= 1, "the process grid needs at least one process");
  require(team_size >= 1, "team_size = " + std::to_string(team_size) + " must be at least 1");
  require(processes % (team_size * team_size) == 0,
          "team_size = " + std::to_string(team_size) + " needs the process count divisible by team_size^2 = " +
              std::to_string(team_size * team_size) + ", but there are " + std::to_string(processes) +
              " processes (valid team sizes divide sqrt(P/k) for some k)");
  ring_length_ = processes / (team_size * team_size);
}

GridCoordinates ProcessGrid::coordinates(int rank) const {
  const int c = team_size_, g_len = ring_length_;
  GridCoordinates x;
  if (arrangement_ == Arrangement::team_major) {
    x.team = rank / c;
    x.local = rank % c;
  } else {
    const int ring = rank / g_len;  // ring index = g c + a
    x.team = (ring / c) * g_len + rank % g_len;
    x.local = ring % c;
  }
  x.group = x.team / g_len;
  x.ring_position = x.team % g_len;
  return x;
}

int ProcessGrid::rank_of(int team, int local) const {
  const int c = team_size_, g_len = ring_length_;
  if (arrangement_ == Arrangement::team_major) return team * c + local;
  const int group = team / g_len, position = team % g_len;
  return (group * c + local) * g_len + position;
}

int ProcessGrid::ring_neighbour(int rank, int steps) const {
  const GridCoordinates x = coordinates(rank);
  const int g_len = ring_length_;
  const int position = ((x.ring_position + steps) % g_len + g_len) % g_len;
  return rank_of(x.group * g_len + position, x.local);
}

int ProcessGrid::initial_send_target(int rank) const {
  const GridCoordinates x = coordinates(rank);
  const int c = team_size_;
  return rank_of(x.local * ring_length_ + x.team / c, x.team % c);
}

std::vector<int> ProcessGrid::initial_block_holders(int team) const {
  std::vector<int> holders;
  for (int a = 0; a < team_size_; ++a) holders.push_back(initial_send_target(rank_of(team, a)));
  return holders;
}

int ProcessGrid::initial_send_source(int rank) const {
  // Invert (t, a) -> (a G + t / c, t % c): target team T = a G + q, local b = t % c with
  // q = t / c, so a = T / G, t = (T % G) c + b.
  const GridCoordinates x = coordinates(rank);
  const int c = team_size_;
  const int a = x.team / ring_length_;
  const int t = (x.team % ring_length_) * c + x.local;
  return rank_of(t, a);
}

int ProcessGrid::key_block_after(int rank, int shifts) const {
  // Blocks move to ring position j + 1 at every shift: after s shifts, the process at j holds
  // what the process at j - s received in the initial send.
  const int holder_at_start = ring_neighbour(rank, -shifts);
  return coordinates(initial_send_source(holder_at_start)).team;
}

int ProcessGrid::key_gradient_return_target(int rank) const {
  return initial_send_source(ring_neighbour(rank, -(ring_length_ - 1)));
}

int ProcessGrid::key_gradient_return_source(int rank) const {
  return ring_neighbour(initial_send_target(rank), ring_length_ - 1);
}

std::string ProcessGrid::describe() const {
  return "P = " + std::to_string(processes_) + ", team size c = " + std::to_string(team_size_) + ", " +
         std::to_string(teams()) + " teams, sub-rings of G = " + std::to_string(ring_length_) + ", " +
         name_of(arrangement_);
}

}  // namespace wf::comm

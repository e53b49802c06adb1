#include "comm/head_groups.hpp"

#include "core/error.hpp"

namespace wf::comm {

HeadGroups::HeadGroups(int processes, int group_size, HeadPlacement placement)
    : processes_(processes), group_size_(group_size), placement_(placement) {
  require(processes >= 1, "head groups need at least one process");
  require(group_size >= 1 && processes % group_size == 0,
          "head groups of " + std::to_string(group_size) + " processes do not divide the " +
              std::to_string(processes) + " processes");
}

int HeadGroups::head_rank(int rank) const {
  return placement_ == HeadPlacement::consecutive ? rank % group_size_ : rank / ring_processes();
}

int HeadGroups::ring_rank(int rank) const {
  return placement_ == HeadPlacement::consecutive ? rank / group_size_ : rank % ring_processes();
}

int HeadGroups::rank_of(int head_rank, int ring_rank) const {
  return placement_ == HeadPlacement::consecutive ? ring_rank * group_size_ + head_rank
                                                  : head_rank * ring_processes() + ring_rank;
}

std::string HeadGroups::describe() const {
  return "head groups of u = " + std::to_string(group_size_) + " (" + name_of(placement_) + " ranks), " +
         std::to_string(ring_processes()) + " ranks per ring group";
}

}  // namespace wf::comm

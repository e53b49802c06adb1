// SimGrid platform and host files made from a machine file, for the SimGrid SMPI build
// (tools/simulate.sh, docs/scale.md). Rank r runs on host "rank<r>"; ranks fill nodes in order.
#pragma once

#include <string>

#include "config/machine.hpp"

namespace wf::config {

/// \brief Nodes `ranks` ranks occupy (devices_per_node per node); throws wf::Error when the
/// machine has fewer devices than ranks.
int platform_nodes(const Machine& machine, int ranks);

/// \brief The SimGrid platform (XML, DTD 4.1) of `ranks` ranks on `machine`.
std::string simgrid_platform(const Machine& machine, int ranks);

/// \brief The host file for smpirun: one host per rank, in rank order.
std::string simgrid_hostfile(const Machine& machine, int ranks);

}  // namespace wf::config

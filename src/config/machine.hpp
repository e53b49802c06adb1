// Machine files: what a cluster (or this host) is made of, for the cost model, the planner,
// parallel.schedule = "auto" and the SimGrid platform. TOML (inputs/machines/*.toml); every
// number per device and per direction; docs/scale.md describes the format and the sources.
#pragma once

#include <string>

namespace wf::config {

/// \brief One class of link: the bandwidth each flow may reach alone, and its latency.
struct LinkSpec {
  double bandwidth_gbs = 0.0;  ///< GB/s (1e9 bytes per second), one direction
  double latency_us = 0.0;     ///< microseconds per message
};

/// \brief How the nodes are connected (SimGrid platform and cost model).
enum class NodeTopology {
  fat_tree,  ///< non-blocking: only the nodes' own links are shared
  star,      ///< one switch whose backbone (switch_bandwidth_gbs) all inter-node flows share
};

/// \brief A machine: nodes of devices, their rates, and the two link classes.
struct Machine {
  std::string name;
  std::string path;  ///< the file it came from ("" when built in code)
  int nodes = 1;
  int devices_per_node = 1;
  double device_memory_gib = 0.0;
  // Per device, TFLOP/s (1e12 FLOP/s) in the training precision.
  double gemm_tflops = 0.0;
  double attention_forward_tflops = 0.0;
  double attention_backward_tflops = 0.0;
  LinkSpec intra_node;  ///< each device's port into the node's switch (NVLink/NVSwitch, shared memory)
  int nics_per_node = 1;
  double nic_bandwidth_gbs = 0.0;  ///< one NIC, one direction
  double inter_node_latency_us = 0.0;
  NodeTopology topology = NodeTopology::fat_tree;
  double switch_bandwidth_gbs = 0.0;  ///< star only: the switch's backbone

  /// \brief nodes x devices_per_node.
  int devices() const { return nodes * devices_per_node; }
  /// \brief What one device's inter-node flows may reach together: its share of the node's
  /// NICs, or one whole NIC when there are fewer NICs than devices.
  double device_network_gbs() const;
  /// \brief All NICs of a node together (what its devices' inter-node flows share).
  double node_network_gbs() const { return nics_per_node * nic_bandwidth_gbs; }
};

/// \brief Parses a machine file's text; throws ConfigError naming `source` and the key for a
/// missing, unknown, mistyped or out-of-range key.
Machine machine_from_toml(const std::string& toml_text, const std::string& source);

/// \brief Reads and parses the machine file at `path` (ConfigError when it cannot be read).
Machine load_machine(const std::string& path);

/// \brief The machine as a machine file (round-trips through machine_from_toml).
std::string machine_to_toml(const Machine& machine);

}  // namespace wf::config

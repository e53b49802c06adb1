// Machine files (TOML): one table of keys drives reading, checking and writing.
#include "config/machine.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "config/deck.hpp"

namespace wf::config {
namespace {

/// One key of a machine file: where it lives in Machine, and its range.
struct MachineKey {
  const char* name;  ///< "section.key"
  double Machine::*number = nullptr;
  int Machine::*integer = nullptr;
  std::string Machine::*text = nullptr;
  double LinkSpec::*link = nullptr;  ///< a field of intra_node
  bool optional = false;             ///< may be left out (then 0 / the default)
};

const std::vector<MachineKey>& machine_keys() {
  static const std::vector<MachineKey> keys = {
      {"machine.name", nullptr, nullptr, &Machine::name},
      {"machine.nodes", nullptr, &Machine::nodes},
      {"machine.devices_per_node", nullptr, &Machine::devices_per_node},
      {"machine.device_memory_gib", &Machine::device_memory_gib},
      {"compute.gemm_tflops", &Machine::gemm_tflops},
      {"compute.attention_forward_tflops", &Machine::attention_forward_tflops},
      {"compute.attention_backward_tflops", &Machine::attention_backward_tflops},
      {"intra_node.bandwidth_gbs", nullptr, nullptr, nullptr, &LinkSpec::bandwidth_gbs},
      {"intra_node.latency_us", nullptr, nullptr, nullptr, &LinkSpec::latency_us},
      {"inter_node.nics_per_node", nullptr, &Machine::nics_per_node},
      {"inter_node.nic_bandwidth_gbs", &Machine::nic_bandwidth_gbs},
      {"inter_node.latency_us", &Machine::inter_node_latency_us},
      {"inter_node.topology", nullptr, nullptr, nullptr, nullptr, true},
      {"inter_node.switch_bandwidth_gbs", &Machine::switch_bandwidth_gbs, nullptr, nullptr, nullptr, true},
  };
  return keys;
}

/// Tables that hold measurements for people (calibrate writes them); not read.
bool informational_table(const std::string& name) { return name == "measured"; }

[[noreturn]] void fail(const std::string& source, const std::string& message) {
  throw ConfigError(source + ": " + message);
}

const MachineKey* find_machine_key(const std::string& name) {
  for (const MachineKey& key : machine_keys())
    if (name == key.name) return &key;
  return nullptr;
}

void reject_unknown_keys(const toml::table& root, const std::string& source) {
  for (const auto& [section, node] : root) {
    const std::string section_name(section.str());
    if (informational_table(section_name)) continue;
    const toml::table* table = node.as_table();
    if (!table) fail(source, "'" + section_name + "' must be a table ([" + section_name + "])");
    for (const auto& [leaf, value] : *table) {
      const std::string name = section_name + "." + std::string(leaf.str());
      if (!find_machine_key(name)) fail(source, "unknown key '" + name + "'");
    }
  }
}

/// Reads one key into `machine`; positive numbers only (latencies may be 0).
void read_key(const toml::table& root, const MachineKey& key, Machine& machine, const std::string& source) {
  const toml::node* node = root.at_path(key.name).node();
  if (!node) {
    if (key.optional) return;
    fail(source, "missing key '" + std::string(key.name) + "'");
  }
  const bool latency = std::strstr(key.name, "latency") != nullptr;
  if (key.text || std::string(key.name) == "inter_node.topology") {
    const auto text = node->value<std::string>();
    if (!text) fail(source, std::string(key.name) + " must be a string");
    if (key.text) machine.*key.text = *text;
    if (key.text) return;
    if (*text != "fat-tree" && *text != "star")
      fail(source, "inter_node.topology = \"" + *text + "\" is not allowed (expected \"fat-tree\" | \"star\")");
    machine.topology = *text == "star" ? NodeTopology::star : NodeTopology::fat_tree;
    return;
  }
  if (key.integer) {
    const auto value = node->value<std::int64_t>();
    if (!node->is_integer() || !value || *value < 1 || *value > (1 << 20))
      fail(source, std::string(key.name) + " must be an integer in [1, 2^20]");
    machine.*key.integer = static_cast<int>(*value);
    return;
  }
  const auto value = node->value<double>();
  if (!value || !std::isfinite(*value) || *value < 0.0 || (*value == 0.0 && !latency))
    fail(source, std::string(key.name) + " must be a finite number " + (latency ? ">= 0" : "> 0"));
  if (key.link)
    machine.intra_node.*key.link = *value;
  else
    machine.*key.number = *value;
}

}  // namespace

double Machine::device_network_gbs() const {
  const double share = static_cast<double>(nics_per_node) / devices_per_node;
  return nic_bandwidth_gbs * std::max(1.0, share);
}

Machine machine_from_toml(const std::string& toml_text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    fail(source, "TOML syntax error at " + where.str() + ": " + std::string(e.description()));
  }
  reject_unknown_keys(root, source);
  Machine machine;
  machine.path = source;
  for (const MachineKey& key : machine_keys()) read_key(root, key, machine, source);
  if (machine.topology == NodeTopology::star && machine.switch_bandwidth_gbs <= 0.0)
    fail(source, "inter_node.topology = \"star\" needs inter_node.switch_bandwidth_gbs > 0");
  return machine;
}

Machine load_machine(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot open machine file '" + path + "': " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return machine_from_toml(text.str(), path);
}

std::string machine_to_toml(const Machine& m) {
  std::ostringstream out;
  out.precision(17);
  out << "[machine]\nname = " << format_value(m.name) << "\nnodes = " << m.nodes
      << "\ndevices_per_node = " << m.devices_per_node << "\ndevice_memory_gib = " << format_value(m.device_memory_gib)
      << "\n\n[compute]\ngemm_tflops = " << format_value(m.gemm_tflops)
      << "\nattention_forward_tflops = " << format_value(m.attention_forward_tflops)
      << "\nattention_backward_tflops = " << format_value(m.attention_backward_tflops)
      << "\n\n[intra_node]\nbandwidth_gbs = " << format_value(m.intra_node.bandwidth_gbs)
      << "\nlatency_us = " << format_value(m.intra_node.latency_us) << "\n\n[inter_node]\nnics_per_node = "
      << m.nics_per_node << "\nnic_bandwidth_gbs = " << format_value(m.nic_bandwidth_gbs)
      << "\nlatency_us = " << format_value(m.inter_node_latency_us) << "\ntopology = "
      << (m.topology == NodeTopology::star ? "\"star\"" : "\"fat-tree\"") << "\n";
  if (m.topology == NodeTopology::star) out << "switch_bandwidth_gbs = " << format_value(m.switch_bandwidth_gbs) << "\n";
  return out.str();
}

}  // namespace wf::config

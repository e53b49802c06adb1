#include "problems/memory_estimate.hpp"

#include <fstream>
#include <sstream>

#include "comm/collective_errors.hpp"
#include "comm/mpi_util.hpp"
#include "comm/reductions.hpp"
#include "model/parameters.hpp"
#include "problems/parallel_setup.hpp"
#include "problems/train_setup.hpp"

namespace wf::problems {
namespace {

double scalar_bytes(const config::RunConfig& cfg) { return cfg.run.precision == Precision::fp64 ? 8.0 : 4.0; }

std::string key(const char* name, double value) {
  std::ostringstream text;
  text.precision(15);
  text << name << " = " << value;
  return text.str();
}

std::string attention_drivers(const config::RunConfig& cfg) {
  const auto& a = cfg.attention;
  return key("attention.seq_len", double(a.seq_len)) + ", " + key("attention.heads", a.heads) + ", " +
         key("attention.kv_heads", cfg.kv_heads()) + ", " + key("attention.head_dim", a.head_dim) +
         ", run.precision = " + name_of(cfg.run.precision);
}

/// Attention: the own shard's inputs on the host and on the device, outputs and gradients, the
/// team's copies (team size c), and with run.verify the whole sequence again on every rank.
MemoryEstimate attention_memory(const config::RunConfig& cfg, int ranks) {
  const auto& a = cfg.attention;
  const double s = scalar_bytes(cfg), d = a.head_dim, heads = a.heads, kv = cfg.kv_heads();
  const double n = double(a.seq_len) / ranks, team = team_size_of(cfg, cfg.parallel.schedule);
  double bytes = (6 * heads + 6 * kv) * n * d * s + heads * n * s + team * n * d * s * (2 * heads + 4 * kv);
  std::string drivers = attention_drivers(cfg) + ", " + std::to_string(ranks) + " ranks";
  if (cfg.run.verify) {
    bytes += (6 * heads + 6 * kv) * double(a.seq_len) * d * s;
    drivers += ", run.verify = true (the whole sequence on every rank)";
  }
  return {bytes, drivers};
}

/// Kernel: every rank holds the whole sequence (inputs, outputs of each path), the dense
/// baseline its N x N scores.
MemoryEstimate kernel_memory(const config::RunConfig& cfg) {
  const auto& a = cfg.attention;
  const double s = scalar_bytes(cfg), n = double(a.seq_len);
  double bytes = (4.0 * a.heads + 4.0 * cfg.kv_heads()) * n * a.head_dim * s;
  std::string drivers = attention_drivers(cfg) + " (every rank runs the whole sequence)";
  if (cfg.bench.dense_baseline) {
    bytes += (a.heads + 1.0) * n * n * s;
    drivers += ", bench.dense_baseline = true";
  }
  return {bytes, drivers, false};
}

/// Gravity: every rank makes the whole Plummer sphere in double (positions and masses).
MemoryEstimate gravity_memory(const config::RunConfig& cfg) {
  return {32.0 * double(cfg.gravity.bodies), key("gravity.bodies", double(cfg.gravity.bodies)) +
                                                 " (every rank holds all bodies: 32 bytes each)", false};
}

/// Training: parameters, gradients and both AdamW moments, the activations every layer keeps
/// for the backward (own tokens), and the outputs (GPT: logits over the vocabulary; DiT: patches).
MemoryEstimate train_memory(const config::RunConfig& cfg, int ranks) {
  const auto& m = cfg.model;
  const double s = scalar_bytes(cfg), hd = cfg.attention.head_dim, heads = cfg.attention.heads, kv = cfg.kv_heads();
  const double mlp = m.mlp_dim > 0 ? m.mlp_dim : 4.0 * m.d_model, n = double(cfg.attention.seq_len) / ranks;
  double parameters = 0;
  for (const auto& info : model::parameter_layout(model_shape(cfg))) parameters += double(info.size);
  const bool dit = m.kind == ModelKind::dit;
  const double per_layer = n * s * (4.0 * m.d_model + 2 * mlp + 3 * heads * hd + 2 * kv * hd);
  const double bytes = 4 * parameters * s + m.layers * per_layer + n * (dit ? m.patch_dim : m.vocab) * s;
  return {bytes, std::string("model.kind = ") + name_of(m.kind) + ", " +
                     (dit ? key("model.patch_dim", m.patch_dim) : key("model.vocab", m.vocab)) + ", " +
                     key("model.d_model", m.d_model) + ", " + key("model.layers", m.layers) + ", " +
                     key("model.mlp_dim", mlp) + ", " + attention_drivers(cfg) + ", " + std::to_string(ranks) +
                     " ranks"};
}

double cgroup_room() {
  std::ifstream limit("/sys/fs/cgroup/memory.max"), current("/sys/fs/cgroup/memory.current");
  double max = 0, used = 0;
  if (!(limit >> max) || !(current >> used)) return 0.0;  // "max" (no limit) does not parse
  return max > used ? max - used : 1.0;
}

}  // namespace

MemoryEstimate estimate_memory(const config::RunConfig& cfg, int ranks) {
  switch (cfg.run.problem) {
    case Problem::kernel: return kernel_memory(cfg);
    case Problem::attention: return attention_memory(cfg, ranks);
    case Problem::gravity: return gravity_memory(cfg);
    case Problem::train: return train_memory(cfg, ranks);
  }
  return {};
}

double available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string name;
  double kib = 0, available = 0;
  while (meminfo >> name >> kib) {
    meminfo.ignore(64, '\n');
    if (name == "MemAvailable:") available = kib * 1024.0;
  }
  const double room = cgroup_room();
  return room > 0 && (available == 0 || room < available) ? room : available;
}

std::string bytes_text(double bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  for (; bytes >= 1024.0 && unit < 6; ++unit) bytes /= 1024.0;
  std::ostringstream text;
  text.setf(std::ios::fixed);
  text.precision(unit == 0 ? 0 : 1);
  text << bytes << " " << units[unit];
  return text.str();
}

void check_memory(const config::RunConfig& cfg, MPI_Comm comm) {
  const int ranks = comm::size_of(comm), on_node = comm::ranks_on_this_node(comm);
  const MemoryEstimate estimate = estimate_memory(cfg, ranks);
  const double available = available_memory_bytes(), needed = estimate.bytes_per_rank * on_node;
  comm::collectively(comm, [&] {
    require(available <= 0 || needed <= available,
            "this run needs at least " + bytes_text(estimate.bytes_per_rank) + " per rank (" + bytes_text(needed) +
                " for the " + std::to_string(on_node) + " rank(s) on this node), but the node has " +
                bytes_text(available) + " available (MemAvailable); it grows with " + estimate.drivers +
                (estimate.shrinks_with_ranks ? ": lower them, or spread the run over more nodes" : ": lower them"));
  });
}

}  // namespace wf::problems

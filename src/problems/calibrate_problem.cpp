// `wallfacer calibrate`: measures this machine with every rank busy at once (one rank per core:
// the machine file's "device" is what one rank gets) and writes a machine file. Rates are the
// slowest rank's best of a few repetitions: gemm (perf::measure_gemm_gflops), the attention
// tiles forward and backward (the deck's heads, head_dim and tile path on a block of
// calibration_tokens tokens, no mask), and the ring exchange every schedule step does (each
// rank sends to the next and receives from the previous): latency from a tiny message,
// bandwidth from the difference to a large one. A team all-gather is timed next to the alpha-beta
// prediction and recorded under [measured] for people (the model does not read it).
#include <unistd.h>

#include <Kokkos_Core.hpp>
#include <Kokkos_Random.hpp>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <limits>

#include "comm/log.hpp"
#include "comm/reductions.hpp"
#include "config/machine.hpp"
#include "core/region.hpp"
#include "core/timer.hpp"
#include "kernels/attention.hpp"
#include "perf/flops.hpp"
#include "perf/gemm_rate.hpp"
#include "perf/report.hpp"
#include "problems/parallel_setup.hpp"
#include "problems/problem.hpp"

namespace wf::problems {
namespace {

constexpr index_t calibration_tokens = 512;
constexpr int calibration_repeats = 10;

/// Best seconds of `repeats` calls of f (after one untimed call), the slowest rank's.
template <class F>
double slowest_best_seconds(MPI_Comm comm, F&& f, int repeats = calibration_repeats) {
  f();
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < repeats; ++r) {
    MPI_Barrier(comm);
    Stopwatch watch("Calibrate::repeat");
    f();
    best = std::min(best, watch.stop());
  }
  return comm::reduce_min_avg_max(comm, best).max;
}

/// TFLOP/s of the attention tiles (forward, backward) on every rank at once.
std::pair<double, double> attention_tflops(const config::RunConfig& cfg, MPI_Comm comm) {
  using namespace kernels;
  AttentionOptions opt = attention_options(cfg);
  opt.mask = MaskKind::none;
  const index_t n = calibration_tokens;
  const int d = opt.head_dim;
  Tensor3<float, MemSpace> q("Calibrate::q", opt.heads, n, d), k("Calibrate::k", opt.kv_heads, n, d),
      v("Calibrate::v", opt.kv_heads, n, d), d_o("Calibrate::do", opt.heads, n, d);
  Kokkos::View<index_t*, MemSpace> pos("Calibrate::pos", n);
  Kokkos::Random_XorShift64_Pool<ExecSpace> pool(cfg.run.seed);
  for (auto* t : {&q, &k, &v, &d_o}) Kokkos::fill_random(*t, pool, -1.0f, 1.0f);
  Kokkos::parallel_for("Calibrate::positions", Kokkos::RangePolicy<ExecSpace>(0, n),
                       KOKKOS_LAMBDA(const index_t i) { pos(i) = i; });
  const ExecSpace space;
  auto acc = make_accumulator<float>(opt.heads, n, d);
  Tensor2<float, MemSpace> lse("Calibrate::lse", opt.heads, n), delta("Calibrate::delta", opt.heads, n);
  AttentionGradients<float, MemSpace> grad{Tensor3<float, MemSpace>("Calibrate::dq", opt.heads, n, d),
                                           Tensor3<float, MemSpace>("Calibrate::dk", opt.kv_heads, n, d),
                                           Tensor3<float, MemSpace>("Calibrate::dv", opt.kv_heads, n, d)};
  const KeyValueBlock<float, MemSpace> kv{k, v, pos};
  const double forward = slowest_best_seconds(comm, [&] {
    forward_init(space, acc);
    forward_update(space, opt, QueryBlock<float, MemSpace>{q, pos}, kv, acc);
    forward_finalize(space, acc, lse);
  });
  backward_delta<ExecSpace, float, MemSpace>(space, d_o, acc.o, delta);
  const double backward = slowest_best_seconds(comm, [&] {
    backward_update(space, opt, BackwardQueryBlock<float, MemSpace>{q, d_o, lse, delta, pos}, kv, grad);
  });
  const double pairs = perf::attention_pairs(n, false);
  return {perf::attention_forward_flops(pairs, opt.heads, d) / forward * 1e-12,
          perf::attention_backward_flops(pairs, opt.heads, d) / backward * 1e-12};
}

/// Seconds of one ring exchange of `bytes` (send to the next rank, receive from the previous).
double ring_exchange_seconds(comm::Communicator& world, std::size_t bytes, MPI_Comm comm) {
  Kokkos::View<char*, MemSpace> out("Calibrate::send", bytes), in("Calibrate::recv", bytes);
  const int p = world.size(), next = (world.rank() + 1) % p, previous = (world.rank() + p - 1) % p;
  int step = 0;
  return slowest_best_seconds(comm, [&] {
    comm::Request request = world.post({{comm::Transfer::send, out.data(), bytes, next},
                                        {comm::Transfer::recv, in.data(), bytes, previous}},
                                       {"calibration exchange", step++});
    world.wait(request);
  });
}

struct Measured {
  config::Machine machine;
  double all_gather_bytes = 0, all_gather_seconds = 0, all_gather_model_seconds = 0;
};

/// The team all-gather the schedules use, over every rank, next to alpha-beta.
void time_all_gather(comm::Communicator& world, MPI_Comm comm, Measured& m) {
  const std::size_t chunk = std::size_t(1) << 18;  // floats: 1 MiB per rank
  Kokkos::View<float*, MemSpace> mine("Calibrate::chunk", chunk), all("Calibrate::gathered", chunk * world.size());
  int step = 0;
  m.all_gather_bytes = double(chunk * sizeof(float));
  m.all_gather_seconds = slowest_best_seconds(comm, [&] {
    world.all_gather(mine.data(), all.data(), chunk, {"calibration all-gather", step++});
  });
  const auto& link = m.machine.intra_node;
  m.all_gather_model_seconds =
      (world.size() - 1) * (link.latency_us * 1e-6 + m.all_gather_bytes / (link.bandwidth_gbs * 1e9));
}

std::string machine_file_text(const Measured& m, const config::RunConfig& cfg, int ranks) {
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  char host[256] = "this host";
  gethostname(host, sizeof host - 1);
  std::string text = "# Written by `wallfacer calibrate` on " + std::string(host) + ", " + date + ", " +
                     std::to_string(ranks) + " ranks at once (one per core: a \"device\" is one rank's share).\n"
                     "# Every number is measured here: gemm = KokkosBlas::gemm " + std::to_string(cfg.bench.gemm_size) +
                     "^3 float; attention = the " + name_of(cfg.attention.impl) + " tiles, " +
                     std::to_string(cfg.attention.heads) + " heads x " + std::to_string(cfg.attention.head_dim) +
                     ", " + std::to_string(calibration_tokens) + " x " + std::to_string(calibration_tokens) +
                     " tokens, no mask;\n# intra_node = the ring exchange of the schedules (latency: 64 B, bandwidth: "
                     "2 MiB vs 256 KiB); memory = physical memory / ranks.\n# One node: the inter_node numbers repeat "
                     "the intra-node link (unused).\n";
  text += config::machine_to_toml(m.machine);
  text += "\n[measured]  # for people; the cost model does not read it\nall_gather_chunk_bytes = " +
          perf::fixed(m.all_gather_bytes, 0) + "\nall_gather_seconds = " + perf::fixed(m.all_gather_seconds, 6) +
          "\nall_gather_alpha_beta_seconds = " + perf::fixed(m.all_gather_model_seconds, 6) + "\n";
  return text;
}

/// Every rate and link of this machine, measured with every rank busy.
Measured measure_machine(const config::RunConfig& cfg, comm::Communicator& world, MPI_Comm comm) {
  Measured m;
  config::Machine& machine = m.machine;
  const int ranks = world.size();
  machine.name = "this-host-" + std::to_string(ranks) + "-ranks";
  machine.nodes = 1;
  machine.devices_per_node = ranks;
  machine.device_memory_gib = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE)) / ranks / double(1 << 30);
  const double gemm_gflops = perf::measure_gemm_gflops<float>(cfg.bench.gemm_size, calibration_repeats);
  machine.gemm_tflops = comm::reduce_min_avg_max(comm, gemm_gflops).min * 1e-3;
  std::tie(machine.attention_forward_tflops, machine.attention_backward_tflops) = attention_tflops(cfg, comm);
  // Latency: a tiny message. Bandwidth: the slope between two sizes like the schedules' blocks.
  const std::size_t small = std::size_t(256) << 10, large = std::size_t(2) << 20;
  const double t_tiny = ring_exchange_seconds(world, 64, comm);
  const double t_small = ring_exchange_seconds(world, small, comm), t_large = ring_exchange_seconds(world, large, comm);
  machine.intra_node = {double(large - small) / std::max(t_large - t_small, 1e-9) * 1e-9, t_tiny * 1e6};
  machine.nics_per_node = 1;
  machine.nic_bandwidth_gbs = machine.intra_node.bandwidth_gbs;
  machine.inter_node_latency_us = machine.intra_node.latency_us;
  time_all_gather(world, comm, m);
  return m;
}

}  // namespace

bool run_calibrate(const config::CommandLine& command_line, const config::RunConfig& cfg, MPI_Comm comm) {
  const ProfilingRegion region("Problems::calibrate");
  const auto world = make_world_communicator(cfg, comm);
  require(world->size() >= 2, "wallfacer calibrate measures the links between ranks: run it under mpiexec -n 2 or "
                              "more (one rank per core)");
  const Measured m = measure_machine(cfg, *world, comm);
  const std::string path = command_line.output_path.empty() ? "inputs/machines/this_host.toml" : command_line.output_path;
  const std::string text = machine_file_text(m, cfg, world->size());
  comm::log_root(text);
  if (comm::world_rank() == 0) {
    const std::string temporary = path + ".tmp";
    std::ofstream(temporary) << text;
    require(std::rename(temporary.c_str(), path.c_str()) == 0, "cannot write the machine file '" + path + "'");
  }
  config::machine_from_toml(text, path);  // what was written reads back
  comm::log_root("wrote " + path);
  return true;
}

}  // namespace wf::problems

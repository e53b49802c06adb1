#include "comm/transfer_cost.hpp"

#include <Kokkos_Core.hpp>

#include <algorithm>

#include "comm/communicator.hpp"
#include "core/timer.hpp"

namespace wf::comm {
namespace {

/// Best of `trials` exchanges of `bytes` with the ring neighbours.
double best_exchange_seconds(Communicator& world, void* send, void* recv, std::size_t bytes, int trials) {
  const int p = world.size();
  double best = 1e30;
  for (int trial = 0; trial < trials; ++trial) {
    world.barrier({"transfer probe", trial});
    Stopwatch watch("Comm::transfer_probe");
    Request request = world.post({{Transfer::send, send, bytes, (world.rank() + 1) % p},
                                  {Transfer::recv, recv, bytes, (world.rank() + p - 1) % p}},
                                 {"transfer probe", trial});
    world.wait(request);
    best = std::min(best, watch.stop());
  }
  return best;
}

}  // namespace

TransferCost measure_transfer_cost(Communicator& world, std::size_t bytes) {
  TransferCost cost;
  if (world.size() == 1) return cost;
  bytes = std::clamp<std::size_t>(bytes, 4096, probe_bytes_limit);  // enough for the rate, never a memory risk
  const TrafficCounters saved = world.traffic();
  Kokkos::View<char*, MemSpace> send("Comm::probe_send", bytes), recv("Comm::probe_recv", bytes);
  constexpr int trials = 5;
  cost.latency = best_exchange_seconds(world, send.data(), recv.data(), 8, trials);
  const double large = best_exchange_seconds(world, send.data(), recv.data(), bytes, trials);
  cost.seconds_per_byte = std::max(0.0, large - cost.latency) / static_cast<double>(bytes);
  world.traffic() = saved;
  return cost;
}

}  // namespace wf::comm

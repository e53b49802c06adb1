// What a transfer costs when nothing else runs: the yardstick that splits an exposed wait into
// bytes in flight and waiting for a neighbour (docs/communication.md, "Exposed communication").
#pragma once

#include <algorithm>
#include <cstddef>

namespace wf::comm {

class Communicator;

/// \brief latency + bytes * seconds_per_byte per message, measured by measure_transfer_cost.
struct TransferCost {
  double latency = 0;           ///< seconds of an exchange of a few bytes
  double seconds_per_byte = 0;  ///< of a large exchange, latency taken off
  /// \brief Seconds `messages` messages of `bytes` in all take alone, one after another.
  double alone(double bytes, double messages) const { return messages * latency + bytes * seconds_per_byte; }
  /// \brief The part of a wait of `seconds` that the bytes can explain: min(seconds, alone).
  double in_flight(double seconds, double bytes, double messages) const {
    return std::min(seconds, alone(bytes, messages));
  }
};

/// \brief The largest exchange measure_transfer_cost times (16 MiB).
constexpr std::size_t probe_bytes_limit = std::size_t(16) << 20;

/// \brief Collective over `world`: times exchanges with the ring neighbours (send to rank + 1,
/// receive from rank - 1) of 8 bytes and of `bytes` bytes (clamped to 4 KiB .. probe_bytes_limit)
/// in device memory, everyone ready (a barrier before each), best of 5. The traffic counters
/// are left as they were. All zero on one process.
TransferCost measure_transfer_cost(Communicator& world, std::size_t bytes);

}  // namespace wf::comm

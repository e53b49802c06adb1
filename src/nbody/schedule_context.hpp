// What every schedule needs: the communicators, the grid, the sharding, cached positions,
// and the time it spent computing and waiting.
#pragma once

#include <Kokkos_Core.hpp>

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "comm/communicator.hpp"
#include "comm/process_grid.hpp"
#include "core/timer.hpp"
#include "nbody/sharding.hpp"
#include "perf/trace.hpp"

namespace wf::nbody {

using PositionsView = Kokkos::View<const index_t*, MemSpace>;

/// \brief Seconds spent by one schedule run, per kind of work.
struct ScheduleTimes {
  double compute = 0.0;      ///< interactions (fenced)
  double ring_wait = 0.0;    ///< blocked waiting for point-to-point transfers: exposed communication
  double collectives = 0.0;  ///< team all-gathers, reduce-scatters, all-to-alls (blocking)
  double other = 0.0;        ///< reorders and local copies
  int ring_transfers = 0;    ///< point-to-point exchanges posted
  double p2p_bytes = 0.0;    ///< bytes those exchanges sent, by the communicator's counters
  ScheduleTimes& operator+=(const ScheduleTimes& o) {
    compute += o.compute;
    ring_wait += o.ring_wait;
    collectives += o.collectives;
    other += o.other;
    ring_transfers += o.ring_transfers;
    p2p_bytes += o.p2p_bytes;
    return *this;
  }
};

/// \brief The communicators and layout of a run; built once, used by every schedule call.
class ScheduleContext {
 public:
  /// \brief Collective over world: splits the team communicator. Throws wf::Error when the
  /// grid does not match the world size.
  ScheduleContext(comm::Communicator& world, const comm::ProcessGrid& grid, const Sharding& sharding)
      : world_(world), grid_(grid), sharding_(sharding), me_(grid.coordinates(world.rank())) {
    require(grid.processes() == world.size(), "the process grid has " + std::to_string(grid.processes()) +
                                                  " processes but the run has " + std::to_string(world.size()));
    require(sharding.shards() == world.size(), "the sharding does not match the number of processes");
    team_ = world.split(me_.team, me_.local);
  }

  comm::Communicator& world() { return world_; }
  comm::Communicator& team() { return *team_; }
  const comm::ProcessGrid& grid() const { return grid_; }
  const Sharding& sharding() const { return sharding_; }
  const comm::GridCoordinates& me() const { return me_; }
  int rank() const { return world_.rank(); }
  /// \brief Logical shard of this process: t c + a (independent of the arrangement).
  int shard() const { return me_.team * grid_.team_size() + me_.local; }
  index_t shard_tokens() const { return sharding_.shard_tokens(); }
  index_t team_tokens() const { return sharding_.shard_tokens() * grid_.team_size(); }

  /// \brief Global positions of the tokens of team block t (shards t c .. t c + c - 1).
  PositionsView team_positions(int team) { return cached({team, -1}, team * grid_.team_size(), grid_.team_size()); }
  /// \brief Global positions of shard s.
  PositionsView shard_positions(int shard) { return cached({-1, shard}, shard, 1); }
  /// \brief Global positions of every token in shard order (for Ulysses' full-sequence blocks).
  PositionsView all_positions() { return cached({-2, -2}, 0, sharding_.shards()); }

  ScheduleTimes times;
  /// \brief Where events go when tracing (may be null).
  perf::TraceRecorder* trace = nullptr;

  /// \brief Runs f(), adds its fenced seconds to `seconds` and records it as `phase`.
  template <class F>
  void timed(perf::Phase phase, double& seconds, F&& f, std::int32_t ring_step = -1, std::int32_t peer = -1,
             std::uint64_t bytes = 0) {
    Stopwatch watch("Nbody::timed");
    const double begin = trace ? trace->now() : 0.0;
    f();
    const double elapsed = watch.stop();
    seconds += elapsed;
    if (trace) trace->record(phase, begin, begin + elapsed, ring_step, peer, bytes);
  }

  /// \brief Called by long computations between tiles, so that transfers progress (MPI over
  /// shared memory only moves data inside MPI calls).
  std::function<void()> progress;

 private:
  PositionsView cached(std::pair<int, int> key, int first_shard, int count) {
    auto it = positions_.find(key);
    if (it != positions_.end()) return it->second;
    const std::vector<index_t> host = sharding_.positions(first_shard, count);
    Kokkos::View<index_t*, MemSpace> view("Nbody::positions", host.size());
    auto mirror = Kokkos::create_mirror_view(view);
    for (std::size_t i = 0; i < host.size(); ++i) mirror(i) = host[i];
    Kokkos::deep_copy(view, mirror);
    positions_.emplace(key, view);
    return view;
  }

  comm::Communicator& world_;
  comm::ProcessGrid grid_;
  Sharding sharding_;
  comm::GridCoordinates me_;
  std::unique_ptr<comm::Communicator> team_;
  std::map<std::pair<int, int>, PositionsView> positions_;
};

}  // namespace wf::nbody

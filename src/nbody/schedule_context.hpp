// What every schedule call needs and does not change: the communicators, the grid, the
// sharding, cached positions, and the execution space instances compute and communication run
// on. Per-call results (times, trace) are not here: schedules take a trace and return their
// times (schedule_clock.hpp).
#pragma once

#include <Kokkos_Core.hpp>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "comm/communicator.hpp"
#include "comm/process_grid.hpp"
#include "core/device_copy.hpp"
#include "core/instances.hpp"
#include "nbody/sharding.hpp"

namespace wf::nbody {

using PositionsView = Kokkos::View<const index_t*, MemSpace>;

/// \brief The communicators and layout of a run; built once, used by every schedule call.
class ScheduleContext {
 public:
  /// \brief Collective over world: splits the team communicator. Throws wf::Error when the
  /// grid or the sharding does not match the world size. The interactions and local reorders
  /// run on the default instance; communication on its own instance on a GPU backend (its own
  /// stream), the same one on host backends (core/instances.hpp).
  ScheduleContext(comm::Communicator& world, const comm::ProcessGrid& grid, const Sharding& sharding)
      : ScheduleContext(world, grid, sharding, ExecSpace(), make_communication_instance(ExecSpace())) {}
  /// \brief The same with given instances: `compute` runs the interactions and local reorders,
  /// `communication` the transfers, collectives and their local copies.
  ScheduleContext(comm::Communicator& world, const comm::ProcessGrid& grid, const Sharding& sharding,
                  ExecSpace compute, ExecSpace communication)
      : world_(world),
        grid_(grid),
        sharding_(sharding),
        me_(grid.coordinates(world.rank())),
        compute_(std::move(compute)),
        communication_(std::move(communication)) {
    require(grid.processes() == world.size(), "the process grid has " + std::to_string(grid.processes()) +
                                                  " processes but the run has " + std::to_string(world.size()));
    require(sharding.shards() == world.size(), "the sharding does not match the number of processes");
    team_ = world.split(me_.team, me_.local);
  }

  comm::Communicator& world() const { return world_; }
  comm::Communicator& team() const { return *team_; }
  const comm::ProcessGrid& grid() const { return grid_; }
  const Sharding& sharding() const { return sharding_; }
  const comm::GridCoordinates& me() const { return me_; }
  const ExecSpace& compute_space() const { return compute_; }
  const ExecSpace& communication_space() const { return communication_; }
  /// \brief Ordering point: transfers posted from now on may read what compute wrote so far and
  /// overwrite what it read (before every send of a block compute produced, and every receive
  /// into a buffer compute used).
  void communication_after_compute() const {
    world_.order(comm::StreamOrder::communication_after_compute, compute_, communication_);
  }
  /// \brief Ordering point: compute submitted from now on may read what a collective received
  /// (point-to-point receives are complete for everyone once wait() returned).
  void compute_after_communication() const {
    world_.order(comm::StreamOrder::compute_after_communication, compute_, communication_);
  }
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

 private:
  PositionsView cached(std::pair<int, int> key, int first_shard, int count) {
    auto it = positions_.find(key);
    if (it != positions_.end()) return it->second;
    const PositionsView view = to_device(sharding_.positions(first_shard, count), "Nbody::positions");
    positions_.emplace(key, view);
    return view;
  }

  comm::Communicator& world_;
  comm::ProcessGrid grid_;
  Sharding sharding_;
  comm::GridCoordinates me_;
  ExecSpace compute_, communication_;
  std::unique_ptr<comm::Communicator> team_;
  std::map<std::pair<int, int>, PositionsView> positions_;
};

}  // namespace wf::nbody

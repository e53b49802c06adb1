// What every schedule call needs and does not change: the communicators, the grid, the
// sharding, cached positions, and the execution space instances compute and communication run
// on. Per-call results (times, trace) are not here: schedules take a trace and return their
// times (schedule_clock.hpp).
// With head groups (the Ulysses x WallFacer hybrid) the context also holds the head group's
// communicator and the context of its ring group: the WallFacer grid on r = P / u processes,
// whose shard j is the u shards of head group j merged (Sharding::merged).
#pragma once

#include <Kokkos_Core.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "comm/communicator.hpp"
#include "comm/head_groups.hpp"
#include "comm/process_grid.hpp"
#include "comm/transfer_cost.hpp"
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

  /// \brief Collective over world: with head groups (the hybrid). `grid` is the WallFacer grid of
  /// one ring group (heads.ring_processes() processes); splits the head group, the ring group
  /// and its team. Throws wf::Error when the sizes do not match.
  ScheduleContext(comm::Communicator& world, const comm::ProcessGrid& grid, const comm::HeadGroups& heads,
                  const Sharding& sharding)
      : ScheduleContext(world, grid, heads, sharding, ExecSpace(), make_communication_instance(ExecSpace())) {}
  /// \brief The same with given instances (see the plain constructor).
  ScheduleContext(comm::Communicator& world, const comm::ProcessGrid& grid, const comm::HeadGroups& heads,
                  const Sharding& sharding, ExecSpace compute, ExecSpace communication)
      : world_(world),
        grid_(grid),
        sharding_(sharding),
        me_(grid.coordinates(heads.ring_rank(world.rank()))),
        compute_(std::move(compute)),
        communication_(std::move(communication)),
        heads_(heads) {
    require(heads.processes() == world.size(), "the head groups have " + std::to_string(heads.processes()) +
                                                   " processes but the run has " + std::to_string(world.size()));
    require(grid.processes() == heads.ring_processes(),
            "the ring grid has " + std::to_string(grid.processes()) + " processes but a ring group has " +
                std::to_string(heads.ring_processes()));
    require(sharding.shards() == world.size(), "the sharding does not match the number of processes");
    const int head_rank = heads.head_rank(world.rank()), ring_rank = heads.ring_rank(world.rank());
    head_group_ = world.split(ring_rank, head_rank);
    ring_group_ = world.split(head_rank, ring_rank);
    ring_context_ = std::make_unique<ScheduleContext>(*ring_group_, grid, sharding.merged(heads.group_size()),
                                                      compute_, communication_);
  }

  comm::Communicator& world() const { return world_; }
  /// \brief The team of this process (in the ring group's grid when there are head groups).
  comm::Communicator& team() const { return ring_context_ ? ring_context_->team() : *team_; }
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
  /// \brief Logical shard of this process: t c + a (independent of the arrangement); with head
  /// groups (t c + a) u + h, h the head rank: head group t c + a holds shards (t c + a) u .. + u - 1.
  int shard() const {
    const int ring_shard = me_.team * grid_.team_size() + me_.local;
    return heads_ ? ring_shard * heads_->group_size() + heads_->head_rank(world_.rank()) : ring_shard;
  }
  /// \brief True when built with head groups (the hybrid).
  bool has_head_groups() const { return heads_.has_value(); }
  /// \brief The head groups; throws wf::Error without them.
  const comm::HeadGroups& head_groups() const {
    require(heads_.has_value(), "this schedule context has no head groups");
    return *heads_;
  }
  /// \brief This process's head group (u processes ordered by head rank); needs head groups.
  comm::Communicator& head_group() const {
    require(heads_.has_value(), "this schedule context has no head groups");
    return *head_group_;
  }
  /// \brief The context of this process's ring group (the WallFacer grid over merged shards);
  /// needs head groups.
  ScheduleContext& ring_context() const {
    require(heads_.has_value(), "this schedule context has no head groups");
    return *ring_context_;
  }
  /// \brief The yardstick of exposed waits (comm::measure_transfer_cost); zero until set.
  const comm::TransferCost& transfer_cost() const { return transfer_cost_; }
  /// \brief Sets it here and in the ring group's context.
  void set_transfer_cost(const comm::TransferCost& cost) {
    transfer_cost_ = cost;
    if (ring_context_) ring_context_->set_transfer_cost(cost);
  }
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
  std::optional<comm::HeadGroups> heads_;
  std::unique_ptr<comm::Communicator> head_group_, ring_group_;
  std::unique_ptr<ScheduleContext> ring_context_;
  std::map<std::pair<int, int>, PositionsView> positions_;
  comm::TransferCost transfer_cost_;
};

}  // namespace wf::nbody

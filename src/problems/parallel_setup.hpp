// The parallel setup every problem runs on, made from the deck in one place: the world
// communicator, the schedule with its process grid, the backward's rotate side, the attention
// options and the sharding. The rules that tie deck keys together (ring is team size 1,
// Ulysses splits heads, the hybrid's head groups, N divisible by the shards) live here and name
// the keys they are about.
#pragma once

#include <mpi.h>

#include <memory>
#include <optional>

#include "comm/communicator.hpp"
#include "comm/head_groups.hpp"
#include "comm/process_grid.hpp"
#include "config/run_config.hpp"
#include "kernels/attention_types.hpp"
#include "nbody/schedule_context.hpp"
#include "nbody/sharding.hpp"

namespace wf::problems {

/// \brief A schedule and the grid it runs on.
struct ScheduleChoice {
  Schedule schedule = Schedule::wallfacer;
  /// The WallFacer grid: of all P processes, or for ulysses-wallfacer of one ring group (P / u).
  comm::ProcessGrid grid{1, 1, Arrangement::team_major};
  std::optional<comm::HeadGroups> heads;  ///< ulysses-wallfacer only
  /// \brief Every process of the run (grid.processes() except for the hybrid).
  int processes() const { return heads ? heads->processes() : grid.processes(); }
  /// \brief Ranks that split the heads: u for the hybrid, P for Ulysses, 1 otherwise.
  int head_group_size() const;
  /// \brief One line: the schedule's grid (and head groups).
  std::string describe() const;
};

/// \brief Everything parallel about a run.
struct ParallelSetup {
  std::unique_ptr<comm::Communicator> world;  ///< parallel.backend over the run's processes
  ScheduleChoice main;                        ///< parallel.schedule
  RotateSide rotate = RotateSide::query;      ///< parallel.rotate
  kernels::AttentionOptions attention;        ///< [attention] (problems attention and train)
};

/// \brief Collective: the communicator, schedule and options of the deck (gravity uses its own
/// interaction but the same communicator and grid). Throws wf::Error naming the keys.
ParallelSetup make_parallel_setup(const config::RunConfig& cfg, MPI_Comm comm);

/// \brief parallel.schedule = "auto": a copy of cfg running the best plan (perf::rank_plans) of
/// its model for parallel.machine on `processes` ranks: schedule, team size, arrangement and
/// rotate side filled in, deck_text updated (rank 0 logs the choice). cfg itself otherwise.
config::RunConfig resolve_auto_schedule(const config::RunConfig& cfg, int processes);

/// \brief Collective: the communicator of parallel.backend with the deck's deadline.
std::unique_ptr<comm::Communicator> make_world_communicator(const config::RunConfig& cfg, MPI_Comm comm);

/// \brief The team size a schedule runs with: parallel.team_size for WallFacer and the hybrid,
/// 1 for Ring (WallFacer with c = 1) and Ulysses (no teams).
int team_size_of(const config::RunConfig& cfg, Schedule schedule);

/// \brief `schedule` on `processes` processes; throws wf::Error naming the keys when the grid or
/// the heads do not allow it.
ScheduleChoice choose_schedule(const config::RunConfig& cfg, Schedule schedule, int processes);

/// \brief Collective over world: the schedule context of `choice` (with the head groups of the
/// hybrid) over `sharding`.
nbody::ScheduleContext make_schedule_context(comm::Communicator& world, const ScheduleChoice& choice,
                                             const nbody::Sharding& sharding);

/// \brief The attention options of [attention] (mask from attention.causal, the blas path for
/// attention.impl = "both" and, until resolve_tile_path measures, "auto").
kernels::AttentionOptions attention_options(const config::RunConfig& cfg);

/// \brief `tokens` split over `processes` shards (zigzag for causal runs); throws wf::Error naming
/// `key` when they do not divide.
nbody::Sharding make_sharding(index_t tokens, int processes, bool zigzag, const char* key);

}  // namespace wf::problems

#include "problems/parallel_setup.hpp"

#include <string>

#include "comm/log.hpp"
#include "config/deck.hpp"
#include "perf/planner.hpp"
#include "perf/report.hpp"

namespace wf::problems {

std::unique_ptr<comm::Communicator> make_world_communicator(const config::RunConfig& cfg, MPI_Comm comm) {
  const comm::CommOptions options{cfg.parallel.deadline_seconds, cfg.parallel.ranks_per_node};
  return cfg.parallel.backend == Backend::nccl ? comm::make_nccl_communicator(comm, options)
                                                : comm::make_mpi_communicator(comm, options);
}

int team_size_of(const config::RunConfig& cfg, Schedule schedule) {
  return schedule == Schedule::wallfacer || schedule == Schedule::ulysses_wallfacer ? cfg.parallel.team_size : 1;
}

config::RunConfig resolve_auto_schedule(const config::RunConfig& cfg, int processes) {
  if (cfg.parallel.schedule != Schedule::automatic) return cfg;
  const config::Machine machine = config::load_machine(cfg.parallel.machine);
  const auto ranked = perf::rank_plans(perf::model_spec_from_config(cfg), machine, processes);
  const perf::PlanPrediction& best = ranked.front();  // fitting plans come first
  config::RunConfig resolved = cfg;
  resolved.parallel.schedule = best.plan.schedule;
  resolved.parallel.team_size = best.plan.team_size;
  resolved.parallel.arrangement = best.plan.arrangement;
  resolved.parallel.rotate = best.plan.rotate;
  resolved.deck_text = config::to_toml(resolved);
  comm::log_root("parallel.schedule = \"auto\": " + perf::describe_plan(best.plan) + " is the best of " +
                 std::to_string(ranked.size()) + " plans on " + machine.name + " for P = " + std::to_string(processes) +
                 " (predicted " + perf::fixed(best.step_seconds, 6) + " s per step" +
                 (best.fits ? "" : "; no plan fits in the machine's memory") + "; see wallfacer plan)");
  return resolved;
}

int ScheduleChoice::head_group_size() const {
  if (heads) return heads->group_size();
  return schedule == Schedule::ulysses ? grid.processes() : 1;
}

std::string ScheduleChoice::describe() const {
  if (schedule == Schedule::ulysses)
    return "P = " + std::to_string(grid.processes()) + ", heads split " + std::to_string(grid.processes()) + " ways";
  if (heads) return "P = " + std::to_string(heads->processes()) + ", " + heads->describe() + "; ring group: " + grid.describe();
  return grid.describe();
}

namespace {

/// ulysses-wallfacer: head groups of u = parallel.head_group_size, WallFacer on the P / u ranks of a ring group.
ScheduleChoice choose_hybrid(const config::RunConfig& cfg, int processes) {
  const int u = cfg.parallel.head_group_size, heads = cfg.attention.heads, c = cfg.parallel.team_size;
  const std::string prefix = "parallel.schedule = \"ulysses-wallfacer\" needs parallel.head_group_size = " +
                             std::to_string(u) + " to divide ";
  require(processes % u == 0, prefix + "the process count (" + std::to_string(processes) + ")");
  require(heads % u == 0, prefix + "attention.heads = " + std::to_string(heads));
  const int ring = processes / u;
  require(ring % (c * c) == 0, "parallel.team_size = " + std::to_string(c) + " needs team_size^2 = " +
                                   std::to_string(c * c) + " to divide the ranks of a ring group, P / " +
                                   "parallel.head_group_size = " + std::to_string(ring));
  return {Schedule::ulysses_wallfacer, comm::ProcessGrid(ring, c, cfg.parallel.arrangement),
          comm::HeadGroups(processes, u, cfg.parallel.head_placement)};
}

}  // namespace

ScheduleChoice choose_schedule(const config::RunConfig& cfg, Schedule schedule, int processes) {
  require(schedule != Schedule::automatic, "parallel.schedule = \"auto\" must be resolved before the setup");
  if (schedule == Schedule::ulysses) {
    const int heads = cfg.attention.heads;
    require(heads % processes == 0, "the Ulysses schedule needs the process count (" + std::to_string(processes) +
                                         ") to divide attention.heads (" + std::to_string(heads) + ")");
  }
  if (schedule == Schedule::ulysses_wallfacer) return choose_hybrid(cfg, processes);
  // The grid checks parallel.team_size against the process count.
  return {schedule, comm::ProcessGrid(processes, team_size_of(cfg, schedule), cfg.parallel.arrangement), std::nullopt};
}

nbody::ScheduleContext make_schedule_context(comm::Communicator& world, const ScheduleChoice& choice,
                                             const nbody::Sharding& sharding) {
  return choice.heads ? nbody::ScheduleContext(world, choice.grid, *choice.heads, sharding)
                      : nbody::ScheduleContext(world, choice.grid, sharding);
}

kernels::AttentionOptions attention_options(const config::RunConfig& cfg) {
  kernels::AttentionOptions options;
  options.heads = cfg.attention.heads;
  options.kv_heads = cfg.kv_heads();
  options.head_dim = cfg.attention.head_dim;
  options.scale = cfg.attention_scale();
  options.mask = cfg.attention.causal ? kernels::MaskKind::causal : kernels::MaskKind::none;
  options.q_tile = cfg.attention.q_tile;
  options.kv_tile = cfg.attention.kv_tile;
  options.impl = cfg.attention.impl == TileChoice::fused  ? TileImpl::fused
                 : cfg.attention.impl == TileChoice::gemm ? TileImpl::gemm
                                                          : TileImpl::blas;  // "auto": see resolve_tile_path
  return options;
}

nbody::Sharding make_sharding(index_t tokens, int processes, bool zigzag, const char* key) {
  const index_t parts = zigzag ? 2 * index_t(processes) : index_t(processes);
  require(tokens % parts == 0, std::string(key) + " = " + std::to_string(tokens) + " must be divisible by " +
                                   (zigzag ? "2 x processes = " : "processes = ") + std::to_string(parts) +
                                   (zigzag ? " (zigzag sharding of a causal run)" : " (one shard per process)"));
  return nbody::Sharding(tokens, processes, zigzag);
}

ParallelSetup make_parallel_setup(const config::RunConfig& cfg, MPI_Comm comm) {
  ParallelSetup setup;
  setup.world = make_world_communicator(cfg, comm);
  setup.main = choose_schedule(cfg, cfg.parallel.schedule, setup.world->size());
  setup.rotate = cfg.parallel.rotate;
  setup.attention = attention_options(cfg);
  return setup;
}

}  // namespace wf::problems

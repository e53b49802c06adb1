// `wallfacer plan DECK --machine FILE`: the deck's model on a machine file, every plan costed
// and ranked (perf/planner.hpp); the table on rank 0, optionally CSV and HDF5 files.
#include <cstdio>
#include <fstream>

#include "comm/log.hpp"
#include "config/machine.hpp"
#include "core/region.hpp"
#include "io/hdf5.hpp"
#include "perf/plan_report.hpp"
#include "perf/report.hpp"
#include "problems/problem.hpp"

namespace wf::problems {
namespace {

/// Writes `text` to `path` through a temporary file renamed on success (rank 0 only).
void write_text_atomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    out << text;
    out.close();
    require(static_cast<bool>(out), "cannot write '" + temporary + "'");
  }
  require(std::rename(temporary.c_str(), path.c_str()) == 0, "cannot rename '" + temporary + "' to '" + path + "'");
}

/// Collective: /plans/* datasets, one element per plan in rank order.
void write_plans_hdf5(const std::string& path, const std::vector<perf::PlanPrediction>& ranked,
                      const config::Machine& machine, int ranks, const config::RunConfig& cfg, MPI_Comm comm) {
  io::OutputFile file = io::OutputFile::create(path, comm);
  const std::uint64_t count = ranked.size();
  const auto column = [&](const char* name, auto value_of) {
    std::vector<double> values;
    for (const auto& p : ranked) values.push_back(value_of(p));
    io::write_all<double>(file, std::string("/plans/") + name, {count}, values.data());
  };
  column("step_seconds", [](const auto& p) { return p.step_seconds; });
  column("tokens_per_second", [](const auto& p) { return p.tokens_per_second; });
  column("exposed_seconds", [](const auto& p) { return p.exposed_seconds(); });
  column("same_node_bytes_per_layer", [](const auto& p) { return p.attention.bytes[0]; });
  column("other_node_bytes_per_layer", [](const auto& p) { return p.attention.bytes[1]; });
  column("memory_gib", [](const auto& p) { return p.memory_gib; });
  column("fits", [](const auto& p) { return p.fits ? 1.0 : 0.0; });
  column("team_size", [](const auto& p) { return double(p.plan.team_size); });
  std::string names;
  for (const auto& p : ranked) names += (names.empty() ? "" : "\n") + perf::describe_plan(p.plan);
  io::write_attribute(file, "/plans", "names", names);
  io::write_attribute(file, "/", "machine", machine.name);
  io::write_attribute(file, "/", "ranks", ranks);
  io::write_attribute(file, "/", "deck", cfg.deck_text);
  file.commit();
}

}  // namespace

bool run_plan(const config::CommandLine& command_line, const config::RunConfig& cfg, MPI_Comm comm) {
  const ProfilingRegion region("Problems::plan");
  const config::Machine machine = config::load_machine(command_line.machine_path);
  const int ranks = command_line.ranks > 0 ? command_line.ranks : machine.devices();
  const index_t parts = cfg.attention.causal ? 2 * index_t(ranks) : index_t(ranks);
  require(cfg.attention.seq_len % parts == 0,
          "attention.seq_len = " + std::to_string(cfg.attention.seq_len) + " must be divisible by " +
              std::to_string(parts) + " to plan for " + std::to_string(ranks) + " ranks");
  perf::ModelSpec model = perf::model_spec_from_config(cfg);
  if (command_line.scalar_bytes > 0) model.attention.traffic.scalar_bytes = std::size_t(command_line.scalar_bytes);
  const auto ranked = perf::rank_plans(model, machine, ranks);
  comm::log_root("# plans for " + cfg.deck_path + " on " + machine.name + " (" + machine.path + "), P = " +
                 std::to_string(ranks) + " (" + std::to_string(perf::place_ranks(machine, ranks).ranks_per_node) +
                 " per node), " + std::to_string(model.attention.traffic.scalar_bytes) +
                 " bytes per scalar; bytes per rank and layer, forward + backward\n" + perf::plan_table(ranked));
  const perf::PlanPrediction& best = ranked.front();
  comm::log_root(perf::PerformanceLine()
                     .add("problem", "plan")
                     .add("machine", machine.name)
                     .add("ranks", std::to_string(ranks))
                     .add("best", "\"" + perf::describe_plan(best.plan) + "\"")
                     .add("step_s", best.step_seconds, 6)
                     .add("tokens_per_s", best.tokens_per_second, 1)
                     .str());
  if (!command_line.csv_path.empty() && comm::world_rank() == 0) write_text_atomically(command_line.csv_path, perf::plan_csv(ranked));
  if (!command_line.hdf5_path.empty()) write_plans_hdf5(command_line.hdf5_path, ranked, machine, ranks, cfg, comm);
  return true;
}

}  // namespace wf::problems

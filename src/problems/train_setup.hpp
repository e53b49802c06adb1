// Setup and summary of the training benchmark (problem "train"), kept apart from its loop.
#pragma once

#include <mpi.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "comm/process_grid.hpp"
#include "config/run_config.hpp"
#include "model/checkpoint.hpp"
#include "model/data.hpp"
#include "model/transformer.hpp"
#include "perf/trace.hpp"

namespace wf::problems {

/// \brief Everything fixed for the whole run.
struct TrainSetup {
  model::ModelShape shape;
  model::AttentionPlan plan;
  nbody::Sharding sharding{1, 1, false};
  model::DataOptions data;
  std::vector<std::int64_t> fixed_tokens;  ///< from model.weights_in when tokens_from_weights
};

/// \brief Checks the deck against the rank count and builds the setup. Collective (may read
/// the tokens file); throws wf::Error naming the key on every rank.
TrainSetup make_train_setup(const config::RunConfig& cfg, MPI_Comm comm);

/// \brief The MPI or NCCL communicator of parallel.backend (shared with the attention problem).
std::unique_ptr<comm::Communicator> make_world_communicator(const config::RunConfig& cfg, MPI_Comm comm);

/// \brief The grid and kind of one schedule ("ring" and "ulysses" use team size 1).
struct GridSetup {
  comm::ProcessGrid grid;
  nbody::ScheduleKind kind;
};
GridSetup make_schedule_grid(const config::RunConfig& cfg, const std::string& schedule, int processes);

/// \brief A one-paragraph description of the run for rank 0's header.
std::string describe_train_setup(const config::RunConfig& cfg, const TrainSetup& setup, const comm::Communicator& world);

/// \brief Parameters from the seed or model.weights_in; with train.restart_from (main run only),
/// parameters, moments and state from the checkpoint.
template <class T>
model::TrainingState initial_state(const config::RunConfig& cfg, model::Parameters<T>& params, MPI_Comm comm,
                                   bool main_run);

/// \brief The summary of one schedule's run (values reduced over ranks where they differ).
struct ScheduleSummary {
  std::string schedule;
  int team_size = 1;
  int timed_steps = 0;
  double step_seconds = 0, tokens_per_second = 0, tflops = 0, fraction_of_peak = 0;
  /// per step, averaged over ranks: attention compute, exposed p2p, collectives, other compute,
  /// gradient all-reduce, optimizer
  std::array<double, 6> phase_seconds{};
  double final_loss = 0, peak_mib = 0;
};

ScheduleSummary summarize(const config::RunConfig& cfg, const TrainSetup& setup, const std::string& schedule,
                          const comm::ProcessGrid& grid, int timed_steps, double timed_seconds, double peak_gflops,
                          MPI_Comm comm);

/// \brief Prints the summary table (one column per schedule) and PERFORMANCE lines on rank 0;
/// returns the main run's values for /summary.
std::vector<perf::SummaryValue> print_train_summary(const config::RunConfig& cfg, const TrainSetup& setup,
                                                    std::vector<ScheduleSummary>& summaries, MPI_Comm comm);

}  // namespace wf::problems

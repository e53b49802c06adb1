// Setup and summary of the training benchmark (problem "train"), kept apart from its loop.
#pragma once

#include <mpi.h>

#include <array>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "config/run_config.hpp"
#include "io/results.hpp"
#include "model/checkpoint.hpp"
#include "model/data.hpp"
#include "model/diffusion_data.hpp"
#include "model/transformer.hpp"
#include "nbody/schedule_clock.hpp"
#include "problems/parallel_setup.hpp"

namespace wf::problems {

/// \brief Everything fixed for the whole run.
struct TrainSetup {
  model::ModelShape shape;
  model::AttentionPlan plan;  ///< the main schedule (a comparison run changes plan.schedule)
  model::OptimizerSettings optimizer;
  nbody::Sharding sharding{1, 1, false};
  model::DataOptions data;                  ///< GPT
  std::vector<std::int64_t> fixed_tokens;  ///< GPT: from model.weights_in when tokens_from_weights
  model::DiffusionOptions diffusion;        ///< DiT
};

/// \brief Checks the deck's model without communicating (GPT: head_dim even, causal, data; DiT:
/// bidirectional, even d_model and timestep_dim); throws wf::Error naming the key.
void check_train_deck(const config::RunConfig& cfg);

/// \brief The model shape of the deck ([model] and [attention]).
model::ModelShape model_shape(const config::RunConfig& cfg);

/// \brief The setup of the run on `parallel` (collective: may read the tokens file).
TrainSetup make_train_setup(const config::RunConfig& cfg, const ParallelSetup& parallel);

/// \brief A one-paragraph description of the run for rank 0's header.
std::string describe_train_setup(const config::RunConfig& cfg, const TrainSetup& setup, const comm::Communicator& world);

/// \brief Parameters from the seed or model.weights_in; with train.restart_from (main run only),
/// parameters, moments and state from the checkpoint.
template <class T>
model::TrainingState initial_state(const config::RunConfig& cfg, model::Parameters<T>& params, MPI_Comm comm,
                                   bool main_run);

/// \brief Phases of the summary, per step.
enum SummaryPhase { attention_compute, exposed_p2p, attention_collectives, other_compute, gradient_allreduce, optimizer };

/// \brief The summary of one schedule's run (per rank until reduce_summary).
struct ScheduleSummary {
  Schedule schedule = Schedule::wallfacer;
  int team_size = 1;
  int timed_steps = 0;
  double step_seconds = 0, tokens_per_second = 0, tflops = 0, fraction_of_peak = 0;
  std::array<double, 6> phase_seconds{};  ///< per step, indexed by SummaryPhase
  /// Exposed communication (exposed_p2p + attention_collectives) per step by nbody::WaitKind,
  /// and the part of it the bytes explain (the rest is waiting for a neighbour).
  std::array<double, nbody::kWaitKinds> exposed_seconds{};
  double exposed_in_flight = 0;
  double final_loss = 0, peak_mib = 0;
  double memory_space_peak_mib = 0;       ///< Kokkos high-water mark in MemSpace during the run
  double memory_space_predicted_mib = 0;  ///< predicted_train_memory_bytes()
};

/// \brief Collective: per-step phase seconds averaged over ranks, peak memories (measured and
/// predicted) maxed over ranks.
ScheduleSummary reduce_summary(const ScheduleSummary& local, MPI_Comm comm);

/// \brief Prints the summary table (one column per schedule, already reduced) and PERFORMANCE
/// lines on rank 0; returns the main run's values for /summary. No communication.
std::vector<io::SummaryValue> print_train_summary(const config::RunConfig& cfg, const TrainSetup& setup,
                                                  const std::vector<ScheduleSummary>& summaries, int ranks);

}  // namespace wf::problems

// The problems the program runs. Each prints its own report on rank 0 and returns whether
// its checks passed; user errors are thrown as wf::Error.
#pragma once

#include <mpi.h>

#include "config/command_line.hpp"
#include "config/run_config.hpp"

namespace wf::problems {

/// \brief What the command line asked for: the deck's problem, `plan` or `calibrate`; false
/// when a verification failed.
bool run_command(const config::CommandLine& command_line, const config::RunConfig& cfg, MPI_Comm comm);

/// \brief Runs cfg.run.problem in cfg.run.precision (parallel.schedule = "auto" resolved
/// first); false when a verification failed.
bool run_problem(const config::RunConfig& cfg, MPI_Comm comm);

/// \brief `wallfacer plan`: the deck's plans on --machine, ranked (rank 0 prints; files optional).
bool run_plan(const config::CommandLine& command_line, const config::RunConfig& cfg, MPI_Comm comm);

/// \brief `wallfacer calibrate`: measures this machine and writes a machine file.
bool run_calibrate(const config::CommandLine& command_line, const config::RunConfig& cfg, MPI_Comm comm);

/// \brief One-process attention forward and backward over a sequence, as a loop over tiles.
/// Every rank runs it independently; the report gives min/avg/max over ranks.
template <class T>
bool run_kernel_problem(const config::RunConfig& cfg, MPI_Comm comm);

/// \brief Distributed forward and backward of one attention layer through the configured
/// schedule (DESIGN 2.2-2.5).
template <class T>
bool run_attention_problem(const config::RunConfig& cfg, MPI_Comm comm);

/// \brief The sequence-parallel GPT training benchmark.
template <class T>
bool run_train_problem(const config::RunConfig& cfg, MPI_Comm comm);

/// \brief Softened direct-sum gravity through the same tile interface.
template <class T>
bool run_gravity_problem(const config::RunConfig& cfg, MPI_Comm comm);

}  // namespace wf::problems

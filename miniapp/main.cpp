// wallfacer [plan|calibrate] DECK.toml [--set section.key=value ...]: reads the deck, runs its
// problem (or ranks its plans, or measures this machine), reports.
// Errors reach every rank: one message from rank 0, a non-zero exit everywhere.
#include <mpi.h>

#include <Kokkos_Core.hpp>
#include <chrono>
#include <iostream>

#include "comm/collective_errors.hpp"
#include "comm/communicator.hpp"
#include "config/command_line.hpp"
#include "config/deck.hpp"
#include "core/blas_threads.hpp"
#include "core/compat.hpp"
#include "core/error.hpp"
#include "core/region.hpp"
#include "problems/problem.hpp"
#include "wf_config.hpp"

namespace {

std::string version_text() {
  return std::string("WallFacer ") + WF_VERSION_STRING + " (git " + WF_GIT_HASH + ", " + WF_BUILD_TYPE +
         "), Kokkos " + wf::compat::kokkos_version_string() + " " + WF_KOKKOS_FLAVOUR + ", HDF5 " +
         WF_HDF5_VERSION + (WF_ENABLE_NCCL ? ", NCCL" : "");
}

/// Loads the deck and runs its problem; any rank's failure becomes one message and exit 1.
int run(const wf::config::CommandLine& command_line, MPI_Comm comm) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  wf::config::RunConfig cfg;
  bool ok = true, verified = true;
  std::string message;
  try {
    wf::require(!command_line.deck_path.empty() || command_line.command == wf::config::Command::calibrate,
                "no deck given: wallfacer DECK.toml [--set section.key=value ...]"
                " (see --help; inputs/default.toml is the default deck)");
    cfg = wf::config::load_config(command_line.deck_path, command_line.overrides);
  } catch (const std::exception& e) {
    ok = false;
    message = e.what();
  }
  if (const int code = wf::comm::collective_exit_code(comm, ok, message)) return code;
  if (rank == 0)
    std::cout << version_text() << "\nexecution space " << wf::compat::default_execution_space_name() << ", "
              << ranks << " MPI rank(s), deck " << cfg.deck_path << "\n\n# resolved configuration\n"
              << cfg.deck_text << std::endl;
  // Every wait has a deadline, so every rank gets here: finished, failed, or timed out waiting
  // for a peer. The earliest timeout is the root of any cascade and is the one reported; if
  // the agreement itself cannot complete (a rank is gone for good), the job is aborted.
  wf::comm::Agreement agreement{0.0, 2 * cfg.parallel.deadline_seconds};
  try {
    verified = wf::problems::run_command(command_line, cfg, comm);
  } catch (const wf::comm::TimeoutError& e) {
    ok = false;
    message = e.what();
    // Wall-clock time, comparable across ranks (MPI_Wtime may count from each rank's first call).
    agreement.failure_key = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  } catch (const std::exception& e) {
    ok = false;
    message = e.what();
  }
  if (ok && !verified) {
    ok = false;
    message = "verification failed (see the table above)";
  }
  return wf::comm::collective_exit_code(comm, ok, message, agreement);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  wf::set_blas_threads(1);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  // The command line is read before Kokkos starts: --help and --version need no Kokkos.
  wf::config::CommandLine command_line;
  std::string message;
  try {
    command_line = wf::config::parse_command_line(argc, argv);
  } catch (const std::exception& e) {
    message = e.what();
  }
  int code = wf::comm::collective_exit_code(MPI_COMM_WORLD, message.empty(), message);
  if (code == 0 && (command_line.help || command_line.version)) {
    if (rank == 0) std::cout << (command_line.help ? wf::config::usage_text() : version_text() + "\n");
  } else if (code == 0) {
    Kokkos::ScopeGuard kokkos(argc, argv);
    code = run(command_line, MPI_COMM_WORLD);
  }
  MPI_Finalize();
  return code;
}

// wallfacer [plan|calibrate] DECK.toml [--set section.key=value ...]: reads the deck, runs its
// problem (or ranks its plans, or measures this machine), reports.
// Errors reach every rank: one message from rank 0, a non-zero exit everywhere; a rank that
// stalls ends the job through the watchdog (comm/deadline.hpp, docs/robustness.md).
#include <mpi.h>

#include <Kokkos_Core.hpp>
#include <iostream>

#include "comm/collective_errors.hpp"
#include "comm/deadline.hpp"
#include "comm/mpi_util.hpp"
#include "config/command_line.hpp"
#include "core/blas_threads.hpp"
#include "core/compat.hpp"
#include "problems/problem.hpp"
#include "problems/shared_config.hpp"
#include "wf_config.hpp"

namespace {

std::string version_text() {
  return std::string("WallFacer ") + WF_VERSION_STRING + " (git " + WF_GIT_HASH + ", " + WF_BUILD_TYPE +
         "), Kokkos " + wf::compat::kokkos_version_string() + " " + WF_KOKKOS_FLAVOUR + ", HDF5 " +
         WF_HDF5_VERSION + (WF_ENABLE_NCCL ? ", NCCL" : "");
}

/// Loads the deck and runs its problem; any rank's failure becomes one message and exit 1.
int run(const wf::config::CommandLine& command_line, MPI_Comm comm) {
  wf::config::RunConfig cfg;
  const bool deck_optional = command_line.command == wf::config::Command::calibrate;
  if (const int code =
          wf::problems::load_shared_config(command_line.deck_path, command_line.overrides, comm, cfg, deck_optional))
    return code;
  if (wf::comm::rank_of(comm) == 0)
    std::cout << version_text() << "\nexecution space " << wf::compat::default_execution_space_name() << ", "
              << wf::comm::size_of(comm) << " MPI rank(s), deck " << cfg.deck_path << "\n\n# resolved configuration\n"
              << cfg.deck_text << std::endl;
  // Every wait has a deadline: a rank that stalls ends the job through the watchdog (one line
  // naming it, exit code 2); every other failure reaches the agreement below.
  bool ok = true, verified = true;
  std::string message;
  try {
    verified = wf::problems::run_command(command_line, cfg, comm);
  } catch (const std::exception& e) {
    ok = false;
    message = e.what();
  }
  if (ok && !verified) {
    ok = false;
    message = "verification failed (see the table above)";
  }
  return wf::comm::collective_exit_code(comm, ok, message);
}

/// Parses the command line, then prints help or the version, or runs the deck.
int run_program(int argc, char** argv) {
  wf::set_blas_threads(1);
  const int rank = wf::comm::rank_of(MPI_COMM_WORLD);
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
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = MPI_THREAD_SINGLE;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);  // the watchdog's roll call needs it
  int code = 0;
#if WF_SIMGRID
  // Simulated ranks share one process and block in MPI (a thread polling beside them would
  // stall the simulation); the simulator reports a lost rank as a deadlock itself.
  code = run_program(argc, argv);
#else
  {
    const wf::comm::Watchdog watchdog(MPI_COMM_WORLD);  // deadlines on every wait from here on
    code = run_program(argc, argv);
  }
#endif
  MPI_Finalize();
  return code;
}

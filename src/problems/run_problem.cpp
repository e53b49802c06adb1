#include "comm/collective_errors.hpp"
#include "comm/log.hpp"
#include "comm/mpi_util.hpp"
#include "core/error.hpp"
#include "core/region.hpp"
#include "problems/memory_estimate.hpp"
#include "problems/parallel_setup.hpp"
#include "problems/problem.hpp"
#include "problems/run_files.hpp"
#include "problems/simulation.hpp"

namespace wf::problems {

bool run_command(const config::CommandLine& command_line, const config::RunConfig& cfg, MPI_Comm comm) {
  switch (command_line.command) {
    case config::Command::plan:
      return run_plan(command_line, cfg, comm);
    case config::Command::calibrate:
      return run_calibrate(command_line, cfg, comm);
    case config::Command::run:
      break;
  }
  return run_problem(cfg, comm);
}

bool run_problem(const config::RunConfig& deck, MPI_Comm comm) {
  const ProfilingRegion region("Problems::run_problem");
  int processes = 1;
  MPI_Comm_size(comm, &processes);
  const config::RunConfig cfg = resolve_auto_schedule(deck, processes);
  const bool simulated = install_simulation(cfg);
  if (simulated) {
    // Nothing is computed, and parallel HDF5 is not built for SMPI: refuse what needs either.
    require(!cfg.run.verify && cfg.attention.input.empty() && cfg.attention.output.empty(),
            "a simulated run (SimGrid build with parallel.machine) computes nothing and writes no HDF5: set "
            "run.verify = false, attention.input = \"\" and attention.output = \"\"");
    require(cfg.run.problem == Problem::attention,
            "a simulated run (SimGrid build with parallel.machine) runs run.problem = \"attention\" only");
    comm::log_root("simulation: attention compute injected at the rates of " + cfg.parallel.machine +
                   " (the kernels do not run; outputs are not computed)");
  }
  // Before any work: no output may destroy an input, and the sizes must fit in memory (a
  // simulated run shares its large buffers between ranks: the estimate does not apply).
  comm::collectively(comm, [&] {
    if (comm::rank_of(comm) == 0) check_run_files(cfg);
  });
  if (!simulated) check_memory(cfg, comm);
  const bool fp32 = cfg.run.precision == Precision::fp32;
  switch (cfg.run.problem) {
    case Problem::kernel:
      return fp32 ? run_kernel_problem<float>(cfg, comm) : run_kernel_problem<double>(cfg, comm);
    case Problem::attention:
      return fp32 ? run_attention_problem<float>(cfg, comm) : run_attention_problem<double>(cfg, comm);
    case Problem::train:
      return fp32 ? run_train_problem<float>(cfg, comm) : run_train_problem<double>(cfg, comm);
    case Problem::gravity:
      return fp32 ? run_gravity_problem<float>(cfg, comm) : run_gravity_problem<double>(cfg, comm);
  }
  throw Error(std::string("run.problem = \"") + name_of(cfg.run.problem) + "\" is not a problem this build knows");
}

}  // namespace wf::problems

#include "comm/collective_errors.hpp"
#include "comm/mpi_util.hpp"
#include "core/error.hpp"
#include "core/region.hpp"
#include "problems/memory_estimate.hpp"
#include "problems/problem.hpp"
#include "problems/run_files.hpp"

namespace wf::problems {

bool run_problem(const config::RunConfig& cfg, MPI_Comm comm) {
  const ProfilingRegion region("Problems::run_problem");
  // Before any work: no output may destroy an input, and the sizes must fit in memory.
  comm::collectively(comm, [&] {
    if (comm::rank_of(comm) == 0) check_run_files(cfg);
  });
  check_memory(cfg, comm);
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

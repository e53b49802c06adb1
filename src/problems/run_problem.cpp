#include "core/error.hpp"
#include "problems/problem.hpp"

namespace wf::problems {

bool run_problem(const config::RunConfig& cfg, MPI_Comm comm) {
  const bool fp32 = cfg.run.precision == "float";
  if (cfg.run.problem == "kernel") return fp32 ? run_kernel_problem<float>(cfg, comm) : run_kernel_problem<double>(cfg, comm);
  if (cfg.run.problem == "attention")
    return fp32 ? run_attention_problem<float>(cfg, comm) : run_attention_problem<double>(cfg, comm);
  if (cfg.run.problem == "train") return fp32 ? run_train_problem<float>(cfg, comm) : run_train_problem<double>(cfg, comm);
  if (cfg.run.problem == "gravity")
    return fp32 ? run_gravity_problem<float>(cfg, comm) : run_gravity_problem<double>(cfg, comm);
  throw Error("run.problem = \"" + cfg.run.problem + "\" is not a problem this build knows");
}

}  // namespace wf::problems

#include "problems/tile_choice.hpp"

#include <algorithm>
#include <limits>
#include <string>

#include "comm/log.hpp"
#include "comm/mpi_util.hpp"
#include "comm/reductions.hpp"
#include "core/region.hpp"
#include "core/timer.hpp"
#include "kernels/attention.hpp"
#include "perf/report.hpp"
#include "problems/kernel_run.hpp"

namespace wf::problems {

std::vector<TileImpl> available_tile_paths(const kernels::AttentionOptions& opt, std::size_t scalar_bytes) {
  std::vector<TileImpl> paths;
  if (kernels::blas_path_available<MemSpace>()) paths.push_back(TileImpl::blas);
  paths.push_back(TileImpl::gemm);
  if (kernels::fused_scratch_bytes(opt.q_tile, opt.kv_tile, opt.head_dim, scalar_bytes) <=
      kernels::fused_scratch_limit_bytes)
    paths.push_back(TileImpl::fused);
  return paths;
}

template <class T>
kernels::AttentionOptions resolve_tile_path(const config::RunConfig& cfg, kernels::AttentionOptions opt,
                                            const ScheduleChoice& schedule, MPI_Comm comm) {
  if (cfg.attention.impl != TileChoice::automatic) return opt;
  const ProfilingRegion region("Problems::auto_tile_path");
  const int ranks = comm::size_of(comm);
  kernels::AttentionOptions measured = opt;
  index_t tokens = cfg.attention.seq_len / ranks * schedule.grid.team_size();
  if (schedule.schedule == Schedule::ulysses) {  // the whole sequence on heads / P heads
    tokens = cfg.attention.seq_len;
    measured.heads /= ranks;
    measured.kv_heads /= ranks;
  }
  tokens = std::min(tokens, auto_measure_tokens);
  KernelRun<T> pair(measured, random_kernel_inputs<T>(measured, tokens, cfg.run.seed));
  std::string line = "attention.impl = \"auto\": forward + backward of a " + std::to_string(tokens) + " x " +
                     std::to_string(tokens) + " block pair, slowest rank:";
  double best = std::numeric_limits<double>::infinity();
  for (const TileImpl path : available_tile_paths(measured, sizeof(T))) {
    measured.impl = path;
    double seconds = 0.0;
    for (int repetition = 0; repetition < 2; ++repetition) {  // the first warms workspaces and handles
      Stopwatch watch("Problem::auto_tile_path");
      pair.forward(measured);
      pair.backward(measured);
      seconds = watch.stop();
    }
    seconds = comm::reduce_min_avg_max(comm, seconds).max;  // the same on every rank
    line += std::string(" ") + name_of(path) + " " + perf::fixed(seconds, 4) + " s";
    if (seconds < best) {
      best = seconds;
      opt.impl = path;
    }
  }
  comm::log_root(line + "; using " + name_of(opt.impl));
  return opt;
}

template kernels::AttentionOptions resolve_tile_path<float>(const config::RunConfig&, kernels::AttentionOptions,
                                                            const ScheduleChoice&, MPI_Comm);
template kernels::AttentionOptions resolve_tile_path<double>(const config::RunConfig&, kernels::AttentionOptions,
                                                             const ScheduleChoice&, MPI_Comm);

}  // namespace wf::problems

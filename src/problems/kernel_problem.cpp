// Problem "kernel": attention forward and backward of one process over a sequence of N
// tokens, as a loop over tiles, timed next to the gemm rate and the dense baseline.
#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <vector>

#include "comm/log.hpp"
#include "comm/mpi_util.hpp"
#include "comm/reductions.hpp"
#include "core/region.hpp"
#include "core/timer.hpp"
#include "kernels/attention.hpp"
#include "kernels/attention_dense.hpp"
#include "perf/flops.hpp"
#include "perf/gemm_rate.hpp"
#include "perf/report.hpp"
#include "problems/kernel_run.hpp"
#include "problems/kernel_verify.hpp"
#include "problems/parallel_setup.hpp"
#include "problems/problem.hpp"
#include "problems/tile_choice.hpp"

namespace wf::problems {
namespace {

using namespace wf::kernels;

/// Best seconds of the timed repetitions of one phase.
struct PhaseTime {
  double best = std::numeric_limits<double>::infinity();
  void add(double seconds) { best = std::min(best, seconds); }
};

struct PathResult {
  std::string name;
  PhaseTime forward, backward;
  std::size_t workspace_bytes = 0;
  reference::AttentionResult outputs;  // kept for verification
};

void progress(const std::string& path, const char* phase, int rep, int reps, bool warm, double seconds) {
  comm::log_root("  [" + path + "] " + phase + (warm ? " warm-up " : " run ") + std::to_string(rep + 1) + "/" +
           std::to_string(reps) + ": " + perf::fixed(seconds, 3) + " s");
}

/// Runs warm-up and timed repetitions of forward() then backward(), with progress lines;
/// records the timed ones in result.
template <class Forward, class Backward>
void time_repetitions(const config::RunConfig& cfg, PathResult& result, Forward&& forward, Backward&& backward) {
  const int reps = cfg.bench.warmup + cfg.bench.repeats;
  for (int rep = 0; rep < reps; ++rep) {
    const bool warm = rep < cfg.bench.warmup;
    Stopwatch forward_watch("Problem::forward");
    forward();
    const double forward_seconds = forward_watch.stop();
    Stopwatch backward_watch("Problem::backward");
    backward();
    const double backward_seconds = backward_watch.stop();
    progress(result.name, "forward+backward", warm ? rep : rep - cfg.bench.warmup,
             warm ? cfg.bench.warmup : cfg.bench.repeats, warm, forward_seconds + backward_seconds);
    if (warm) continue;
    result.forward.add(forward_seconds);
    result.backward.add(backward_seconds);
  }
}

/// Times the tile loop with one implementation; the last outputs are kept.
template <class T>
PathResult time_tiled(const config::RunConfig& cfg, AttentionOptions opt, TileImpl impl,
                      const KernelInputs<T>& in) {
  opt.impl = effective_impl<MemSpace>(impl);
  PathResult result{name_of(opt.impl), {}, {}, 0, {}};
  KernelRun<T> run(opt, in);
  time_repetitions(cfg, result, [&] { run.forward(opt); }, [&] { run.backward(opt); });
  const index_t n = cfg.attention.seq_len;
  switch (opt.impl) {
    case TileImpl::blas: result.workspace_bytes = 2 * std::size_t(opt.q_tile) * opt.kv_tile * sizeof(T); break;
    case TileImpl::gemm:
      result.workspace_bytes = gemm_workspace_bytes(gemm_chunk(n, n, opt.heads, sizeof(T)), opt.heads, sizeof(T), true);
      break;
    case TileImpl::fused: result.workspace_bytes = fused_scratch_bytes(opt.q_tile, opt.kv_tile, opt.head_dim, sizeof(T));
  }
  result.outputs = run.outputs();
  return result;
}

/// Times the dense baseline (N x N scores through BLAS).
template <class T>
PathResult time_dense(const config::RunConfig& cfg, const AttentionOptions& opt, const KernelInputs<T>& in) {
  PathResult result{"dense", {}, {}, 0, {}};
  const index_t n = cfg.attention.seq_len;
  DenseWorkspace<T> ws(opt.heads, n);
  Tensor3<T, MemSpace> o("Problem::dense_o", opt.heads, n, opt.head_dim);
  Tensor2<T, MemSpace> lse("Problem::dense_lse", opt.heads, n);
  AttentionGradients<T, MemSpace> grad{Tensor3<T, MemSpace>("Problem::dense_dq", opt.heads, n, opt.head_dim),
                                       Tensor3<T, MemSpace>("Problem::dense_dk", opt.kv_heads, n, opt.head_dim),
                                       Tensor3<T, MemSpace>("Problem::dense_dv", opt.kv_heads, n, opt.head_dim)};
  time_repetitions(
      cfg, result, [&] { dense_forward<ExecSpace, T, MemSpace>(ExecSpace(), opt, in.q, in.k, in.v, in.pos, o, lse, ws); },
      [&] { dense_backward<ExecSpace, T, MemSpace>(ExecSpace(), opt, in.q, in.k, in.v, in.d_o, grad, ws); });
  result.workspace_bytes = ws.bytes();
  result.outputs = copy_outputs(o, lse, grad);
  return result;
}

std::string mib(std::size_t bytes) { return perf::fixed(static_cast<double>(bytes) / (1 << 20), 2); }

/// The timing table and the PERFORMANCE lines of every path (rates averaged over ranks).
template <class T>
std::vector<std::string> report_paths(const config::RunConfig& cfg, const AttentionOptions& opt,
                                      const std::vector<PathResult>& paths, double gemm_gflops, MPI_Comm comm) {
  const index_t n = cfg.attention.seq_len;
  const double pairs = perf::attention_pairs(n, cfg.attention.causal);
  const double forward_flops = perf::attention_forward_flops(pairs, opt.heads, opt.head_dim);
  const double backward_flops = perf::attention_backward_flops(pairs, opt.heads, opt.head_dim);
  const double dense_total = cfg.bench.dense_baseline ? paths.back().forward.best + paths.back().backward.best : 0.0;
  perf::Table table({"path", "fwd s", "fwd GFLOP/s", "fwd/gemm", "bwd s", "bwd GFLOP/s", "bwd/gemm", "f+b s",
                     "vs dense", "workspace MiB"});
  std::vector<std::string> lines;
  for (const auto& path : paths) {
    const double fwd = path.forward.best, bwd = path.backward.best;
    // Ratios over ranks: every rank measured its own gemm rate and its own kernel.
    const auto fwd_rate = comm::reduce_min_avg_max(comm, forward_flops / fwd * 1e-9);
    const auto bwd_rate = comm::reduce_min_avg_max(comm, backward_flops / bwd * 1e-9);
    const double speedup = dense_total > 0 ? dense_total / (fwd + bwd) : 0.0;
    table.add_row({path.name, perf::fixed(fwd, 3), perf::fixed(fwd_rate.avg, 1),
                   perf::fixed(fwd_rate.avg / gemm_gflops, 3), perf::fixed(bwd, 3), perf::fixed(bwd_rate.avg, 1),
                   perf::fixed(bwd_rate.avg / gemm_gflops, 3), perf::fixed(fwd + bwd, 3),
                   dense_total > 0 ? perf::fixed(speedup, 2) + "x" : "-", mib(path.workspace_bytes)});
    perf::PerformanceLine line;
    line.add("problem", "kernel").add("path", path.name).add("precision", precision_name<T>());
    line.add("N", std::to_string(n)).add("heads", std::to_string(opt.heads));
    line.add("kv_heads", std::to_string(opt.kv_heads)).add("head_dim", std::to_string(opt.head_dim));
    line.add("causal", cfg.attention.causal ? "1" : "0").add("ranks", std::to_string(comm::size_of(comm)));
    line.add("gemm_gflops", gemm_gflops, 1).add("fwd_gflops", fwd_rate.avg, 1).add("bwd_gflops", bwd_rate.avg, 1);
    line.add("fwd_gemm_ratio", fwd_rate.avg / gemm_gflops).add("bwd_gemm_ratio", bwd_rate.avg / gemm_gflops);
    line.add("fwd_gflops_min", fwd_rate.min, 1).add("fwd_gflops_max", fwd_rate.max, 1);
    if (dense_total > 0) line.add("speedup_vs_dense", speedup);
    lines.push_back(line.str());
  }
  comm::log_root("\nbest of " + std::to_string(cfg.bench.repeats) + " (GFLOP/s: mean over ranks of each rank's best; " +
                 "FLOPs: 4 d per interacting pair forward, 10 d backward)\n" + table.str());
  return lines;
}

/// The tile paths the deck asks for: one, or ("both", "auto") every one this build's memory runs.
std::vector<TileImpl> requested_paths(const config::RunConfig& cfg, const AttentionOptions& opt, std::size_t scalar_bytes) {
  switch (cfg.attention.impl) {
    case TileChoice::blas: return {TileImpl::blas};
    case TileChoice::fused: return {TileImpl::fused};
    case TileChoice::gemm: return {TileImpl::gemm};
    case TileChoice::both:
    case TileChoice::automatic: break;
  }
  return available_tile_paths(opt, scalar_bytes);
}

/// Times every path the deck asks for: the tile paths, then the dense baseline.
template <class T>
std::vector<PathResult> time_paths(const config::RunConfig& cfg, const AttentionOptions& opt,
                                   const KernelInputs<T>& inputs) {
  std::vector<PathResult> paths;
  for (const TileImpl impl : requested_paths(cfg, opt, sizeof(T))) paths.push_back(time_tiled(cfg, opt, impl, inputs));
  if (cfg.attention.impl == TileChoice::automatic) {
    const auto fastest = std::min_element(paths.begin(), paths.end(), [](const PathResult& a, const PathResult& b) {
      return a.forward.best + a.backward.best < b.forward.best + b.backward.best;
    });
    comm::log_root("  attention.impl = \"auto\": the fastest path of this rank is " + fastest->name);
  }
  if (!cfg.bench.dense_baseline) return paths;
  if constexpr (blas_path_available<MemSpace>()) {
    paths.push_back(time_dense(cfg, opt, inputs));
  } else {
    throw Error("bench.dense_baseline = true needs host memory, but this build runs in " +
                std::string(MemSpace::name()) + "; set bench.dense_baseline = false");
  }
  return paths;
}

}  // namespace

template <class T>
bool run_kernel_problem(const config::RunConfig& cfg, MPI_Comm comm) {
  const ProfilingRegion region("Problems::kernel");
  const AttentionOptions opt = attention_options(cfg);
  comm::log_root("problem kernel: attention forward+backward, N = " + std::to_string(cfg.attention.seq_len) +
                 ", heads = " + std::to_string(opt.heads) + ", kv_heads = " + std::to_string(opt.kv_heads) +
                 ", head_dim = " + std::to_string(opt.head_dim) + ", " + precision_name<T>() + ", mask " +
                 mask_name(opt.mask) + ", tiles " + std::to_string(opt.q_tile) + " x " + std::to_string(opt.kv_tile) +
                 ", every rank runs it (" + std::to_string(comm::size_of(comm)) + ")");
  const auto inputs = random_kernel_inputs<T>(opt, cfg.attention.seq_len, cfg.run.seed);
  const double gemm_gflops = perf::measure_gemm_gflops<T>(cfg.bench.gemm_size, 3);
  comm::log_root("  gemm rate (KokkosBlas::gemm " + std::to_string(cfg.bench.gemm_size) + "^3): " +
                 perf::fixed(gemm_gflops, 1) + " GFLOP/s");
  const std::vector<PathResult> paths = time_paths(cfg, opt, inputs);
  const std::vector<std::string> performance_lines = report_paths<T>(cfg, opt, paths, gemm_gflops, comm);
  bool ok = true;
  if (cfg.run.verify) {
    std::vector<NamedOutputs> outputs;
    for (const auto& path : paths) outputs.push_back({path.name, &path.outputs});
    ok = verify_kernel_outputs<T>(opt, inputs, outputs);
  }
  for (const auto& line : performance_lines) comm::log_root(line);
  return ok;
}

template bool run_kernel_problem<float>(const config::RunConfig&, MPI_Comm);
template bool run_kernel_problem<double>(const config::RunConfig&, MPI_Comm);

}  // namespace wf::problems

// Problem "attention": distributed forward and backward of one attention layer through the
// configured schedule (ring, wallfacer multi-ring, ulysses), timed, with the traffic of every
// rank next to the traffic model, optional HDF5 input/output and verification.
#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "core/log.hpp"
#include "nbody/attention_schedule.hpp"
#include "perf/report.hpp"
#include "perf/traffic_model.hpp"
#include "problems/attention_data.hpp"
#include "problems/attention_report.hpp"
#include "problems/problem.hpp"

namespace wf::problems {
namespace {

nbody::ScheduleKind schedule_kind(const std::string& name) {
  return name == "ring" ? nbody::ScheduleKind::ring
                        : name == "ulysses" ? nbody::ScheduleKind::ulysses : nbody::ScheduleKind::wallfacer;
}

kernels::AttentionOptions attention_options(const config::RunConfig& cfg) {
  kernels::AttentionOptions opt;
  opt.heads = cfg.attention.heads;
  opt.kv_heads = cfg.kv_heads();
  opt.head_dim = cfg.attention.head_dim;
  opt.scale = cfg.attention_scale();
  opt.mask = cfg.attention.causal ? kernels::MaskKind::causal : kernels::MaskKind::none;
  opt.q_tile = cfg.attention.q_tile;
  opt.kv_tile = cfg.attention.kv_tile;
  opt.impl = cfg.attention.impl == "fused" ? kernels::TileImpl::fused : kernels::TileImpl::blas;
  return opt;
}

template <class T>
nbody::Buffer<T> device_buffer(const std::vector<T>& host, const std::string& label) {
  nbody::Buffer<T> b(label, host.size());
  Kokkos::deep_copy(b, Kokkos::View<const T*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>(
                           host.data(), host.size()));
  return b;
}

template <class T>
std::vector<T> host_vector(const nbody::Buffer<T>& b, std::size_t first, std::size_t count) {
  const auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), b);
  return std::vector<T>(h.data() + first, h.data() + first + count);
}

/// One repetition: forward then backward; returns the wall seconds of each and their times.
template <class T>
struct Repetition {
  double forward_seconds = 0, backward_seconds = 0;
  nbody::ScheduleTimes forward_times, backward_times;
  comm::TrafficCounters traffic;
  std::uint64_t forward_bytes = 0;  ///< counted during the forward
};

template <class T>
Repetition<T> run_once(nbody::ScheduleContext& ctx, nbody::ScheduleKind kind, nbody::RotateSide side,
                       nbody::AttentionInteraction<T>& inter, nbody::AttentionShard<T>& shard) {
  Repetition<T> rep;
  ctx.world().barrier({"start of repetition", 0});
  ctx.world().traffic().clear();
  ctx.times = {};
  Stopwatch forward_watch("Problem::attention_forward");
  const auto state = nbody::attention_forward(ctx, kind, inter, shard);
  rep.forward_seconds = forward_watch.stop();
  rep.forward_times = ctx.times;
  rep.forward_bytes = ctx.world().traffic().total_bytes();
  ctx.times = {};
  Stopwatch backward_watch("Problem::attention_backward");
  nbody::attention_backward(ctx, kind, side, inter, state, shard);
  rep.backward_seconds = backward_watch.stop();
  rep.backward_times = ctx.times;
  rep.traffic = ctx.world().traffic();
  return rep;
}

/// Own-shard outputs on the host.
template <class T>
AttentionOutputs<T> shard_outputs(const nbody::AttentionInteraction<T>& inter, const nbody::AttentionShard<T>& shard,
                                  index_t n) {
  const auto& o = inter.options();
  const std::size_t q_size = std::size_t(o.heads) * n * o.head_dim, kv_size = std::size_t(o.kv_heads) * n * o.head_dim;
  return {host_vector(shard.results, 0, q_size), host_vector(shard.results, q_size, std::size_t(o.heads) * n),
          host_vector(shard.dq, 0, q_size), host_vector(shard.dkv, 0, kv_size), host_vector(shard.dkv, kv_size, kv_size)};
}

/// The single-process result (the same schedule code on one process), rows of this shard.
template <class T>
AttentionOutputs<T> single_process_outputs(const config::RunConfig& cfg, const std::vector<index_t>& positions,
                                           MPI_Comm comm) {
  const index_t total = cfg.attention.seq_len;
  auto self = comm::make_mpi_communicator(MPI_COMM_SELF, {cfg.parallel.deadline_seconds, 1});
  nbody::ScheduleContext ctx(*self, comm::ProcessGrid(1, 1, comm::Arrangement::team_major),
                             nbody::Sharding(total, 1, false));
  nbody::AttentionInteraction<T> inter(attention_options(cfg));
  const auto whole = load_whole_attention_inputs<T>(cfg, comm);
  nbody::AttentionShard<T> shard{device_buffer(whole.q, "Verify::q"), device_buffer(whole.kv, "Verify::kv"),
                                 device_buffer(whole.d_o, "Verify::do"), {}, {}, {}};
  nbody::allocate_outputs(inter, total, shard);
  const auto state = nbody::attention_forward(ctx, nbody::ScheduleKind::ring, inter, shard);
  nbody::attention_backward(ctx, nbody::ScheduleKind::ring, nbody::RotateSide::query, inter, state, shard);
  const auto all = shard_outputs(inter, shard, total);
  // Keep the rows of `positions` (tokens of the whole run are at their own index here).
  const auto& o = inter.options();
  auto rows = [&](const std::vector<T>& full, int heads, int width) {
    std::vector<T> out;
    for (int h = 0; h < heads; ++h)
      for (index_t p : positions)
        for (int c = 0; c < width; ++c) out.push_back(full[static_cast<std::size_t>((h * total + p) * width + c)]);
    return out;
  };
  return {rows(all.o, o.heads, o.head_dim), rows(all.lse, o.heads, 1), rows(all.dq, o.heads, o.head_dim),
          rows(all.dk, o.kv_heads, o.head_dim), rows(all.dv, o.kv_heads, o.head_dim)};
}

}  // namespace

template <class T>
bool run_attention_problem(const config::RunConfig& cfg, MPI_Comm comm) {
  const comm::CommOptions options{cfg.parallel.deadline_seconds, cfg.parallel.ranks_per_node};
  auto world = cfg.parallel.backend == "nccl" ? comm::make_nccl_communicator(comm, options)
                                              : comm::make_mpi_communicator(comm, options);
  const int ranks = world->size();
  const auto kind = schedule_kind(cfg.parallel.schedule);
  const auto side = cfg.parallel.rotate == "kv" ? nbody::RotateSide::key : nbody::RotateSide::query;
  const auto arrangement =
      cfg.parallel.arrangement == "ring-major" ? comm::Arrangement::ring_major : comm::Arrangement::team_major;
  const int team_size = kind == nbody::ScheduleKind::ulysses ? 1 : cfg.parallel.team_size;
  nbody::check_schedule(kind, ranks, team_size, cfg.attention.heads, cfg.kv_heads());
  const comm::ProcessGrid grid(ranks, team_size, arrangement);
  const nbody::Sharding sharding(cfg.attention.seq_len, ranks, cfg.attention.causal);
  if (cfg.run.verify) {
    const double work = double(cfg.attention.heads) * double(cfg.attention.seq_len) * double(cfg.attention.seq_len) *
                        cfg.attention.head_dim;
    require(work <= std::pow(2.0, 34), "run.verify recomputes the whole layer on every rank: heads N^2 head_dim = " +
                                           perf::fixed(work, 0) + " exceeds 2^34; lower attention.seq_len or set "
                                           "run.verify = false");
  }
  nbody::ScheduleContext ctx(*world, grid, sharding);
  nbody::AttentionInteraction<T> inter(attention_options(cfg));
  const std::string layout = kind == nbody::ScheduleKind::ulysses
                                 ? "P = " + std::to_string(ranks) + ", heads split " + std::to_string(ranks) + " ways"
                                 : grid.describe() + ", rotate " + nbody::rotate_side_name(side);
  log_root("problem attention: schedule " + std::string(nbody::schedule_name(kind)) + ", " + layout + ", " + (sharding.zigzag() ? "zigzag" : "contiguous") +
           " shards of " + std::to_string(sharding.shard_tokens()) + " tokens, " + precision_name(precision_of<T>()) +
           ", tile path " + cfg.attention.impl + "\ncommunicator: " + world->backend_description());

  const auto inputs = load_attention_inputs<T>(cfg, sharding, ctx.shard(), comm);
  nbody::AttentionShard<T> shard{device_buffer(inputs.q, "Problem::q"), device_buffer(inputs.kv, "Problem::kv"),
                                 device_buffer(inputs.d_o, "Problem::do"), {}, {}, {}};
  nbody::allocate_outputs(inter, sharding.shard_tokens(), shard);

  std::vector<Repetition<T>> timed;
  const int reps = cfg.bench.warmup + cfg.bench.repeats;
  for (int r = 0; r < reps; ++r) {
    const auto rep = run_once(ctx, kind, side, inter, shard);
    const bool warm = r < cfg.bench.warmup;
    log_root(std::string("  ") + (warm ? "warm-up " : "run ") +
             std::to_string(warm ? r + 1 : r + 1 - cfg.bench.warmup) + "/" +
             std::to_string(warm ? cfg.bench.warmup : cfg.bench.repeats) + ": forward " +
             perf::fixed(rep.forward_seconds, 3) + " s, backward " + perf::fixed(rep.backward_seconds, 3) + " s");
    if (!warm) timed.push_back(rep);
  }
  const auto best = std::min_element(timed.begin(), timed.end(), [](const auto& a, const auto& b) {
    return a.forward_seconds + a.backward_seconds < b.forward_seconds + b.backward_seconds;
  });

  AttentionReport report;
  report.kind = kind;
  report.side = side;
  report.forward_seconds = best->forward_seconds;
  report.backward_seconds = best->backward_seconds;
  report.forward_times = best->forward_times;
  report.backward_times = best->backward_times;
  report.traffic = best->traffic;
  report.forward_bytes = best->forward_bytes;
  report.p2p_seconds_per_byte = measure_p2p_seconds_per_byte<T>(ctx, inter.source_layout().size(ctx.team_tokens()));
  const perf::AttentionTrafficShape shape{cfg.attention.seq_len, cfg.attention.heads, cfg.kv_heads(),
                                          cfg.attention.head_dim, sizeof(T)};
  const perf::LinkOf link = [&](int, int peer) { return world->link_class(peer); };
  report.predicted = perf::predict_attention_traffic(kind, side, grid, shape, world->rank(), link, true, true);
  report.predicted_forward = perf::predict_attention_traffic(kind, side, grid, shape, world->rank(), link, true, false);
  // Same verdict on every rank (reduced inside): a mismatch is a bug in a schedule or the model.
  require(print_attention_report(cfg, grid, report, comm),
          "the bytes or messages counted differ from the traffic model (see the table above)");

  const auto outputs = shard_outputs(inter, shard, sharding.shard_tokens());
  if (!cfg.attention.output.empty()) {
    write_attention_outputs(cfg, sharding, ctx.shard(), outputs, comm);
    log_root("wrote " + cfg.attention.output);
  }
  bool verified = true;
  if (cfg.run.verify) {
    const auto expected = single_process_outputs<T>(cfg, sharding.positions(ctx.shard(), 1), comm);
    verified = print_verification(outputs, expected, std::numeric_limits<T>::epsilon(), comm);
  }
  return verified;
}

template bool run_attention_problem<float>(const config::RunConfig&, MPI_Comm);
template bool run_attention_problem<double>(const config::RunConfig&, MPI_Comm);

}  // namespace wf::problems

// Runs distributed attention on seeded global inputs and the single-process reference on
// every rank; returns the own shard of both, plus the traffic counted.
#pragma once

#include <mpi.h>

#include <memory>
#include <numeric>
#include <optional>
#include <vector>

#include "attention_runner.hpp"
#include "comm/communicator.hpp"
#include "comm/head_groups.hpp"
#include "comm/process_grid.hpp"
#include "nbody/attention_interaction.hpp"
#include "core/device_copy.hpp"
#include "nbody/schedule.hpp"
#include "test_util.hpp"

namespace wf::testing {

struct ScheduleCase {
  Schedule kind = Schedule::ring;
  int team_size = 1;
  bool causal = false;
  int heads = 4, kv_heads = 4, head_dim = 8;
  RotateSide rotate = RotateSide::query;
  Arrangement arrangement = Arrangement::team_major;
  std::int64_t tokens_per_rank = 16;
  int tile = 8;
  int head_group_size = 2;  ///< u of ulysses-wallfacer
  HeadPlacement placement = HeadPlacement::consecutive;
  comm::TransferCost transfer_cost{};  ///< the yardstick of the exposed-wait split
};

/// The ring grid (all ranks, or a ring group's for ulysses-wallfacer) of a case on `ranks` ranks.
inline comm::ProcessGrid case_grid(const ScheduleCase& c, int ranks) {
  const bool hybrid = c.kind == Schedule::ulysses_wallfacer;
  return comm::ProcessGrid(hybrid ? ranks / c.head_group_size : ranks, c.team_size, c.arrangement);
}

/// The head groups of a ulysses-wallfacer case (none for the other schedules).
inline std::optional<comm::HeadGroups> case_heads(const ScheduleCase& c, int ranks) {
  if (c.kind != Schedule::ulysses_wallfacer) return std::nullopt;
  return comm::HeadGroups(ranks, c.head_group_size, c.placement);
}

/// Own-shard outputs in double, flattened per tensor in the packed layouts.
struct ShardOutputs {
  std::vector<double> o, lse, dq, dk, dv;
};

/// Global problem (same on every rank), positions 0..N-1.
inline reference::AttentionProblem global_problem(const ScheduleCase& c, std::int64_t n_total) {
  reference::AttentionProblem p;
  p.heads = c.heads;
  p.kv_heads = c.kv_heads;
  p.head_dim = c.head_dim;
  p.scale = 1.0 / std::sqrt(double(c.head_dim));
  p.causal = c.causal;
  p.q_pos.resize(static_cast<std::size_t>(n_total));
  std::iota(p.q_pos.begin(), p.q_pos.end(), 0);
  p.k_pos = p.q_pos;
  const auto size_q = static_cast<std::size_t>(c.heads * n_total * c.head_dim);
  const auto size_k = static_cast<std::size_t>(c.kv_heads * n_total * c.head_dim);
  p.q = random_vector(size_q, 101, -2, 2);
  p.k = random_vector(size_k, 102, -2, 2);
  p.v = random_vector(size_k, 103);
  p.d_o = random_vector(size_q, 104);
  return p;
}

/// Rows `pos` of every head of a [rows][N][width] tensor, head-major.
inline std::vector<double> take_rows(const std::vector<double>& full, int rows, std::int64_t n_total, int width,
                                     const std::vector<index_t>& pos) {
  std::vector<double> out;
  for (int h = 0; h < rows; ++h)
    for (index_t t : pos)
      for (int c = 0; c < width; ++c) out.push_back(full[static_cast<std::size_t>((h * n_total + t) * width + c)]);
  return out;
}

template <class T>
nbody::Buffer<T> to_buffer(const std::vector<double>& values) {
  return to_device(std::vector<T>(values.begin(), values.end()), "test_buffer");
}

template <class T>
std::vector<double> from_buffer(const nbody::Buffer<T>& b, std::size_t first, std::size_t count) {
  const std::vector<T> host = to_host(b, first, count);
  return std::vector<double>(host.begin(), host.end());
}

/// The attention options of a case.
inline kernels::AttentionOptions case_options(const ScheduleCase& c, double scale) {
  kernels::AttentionOptions opt;
  opt.heads = c.heads;
  opt.kv_heads = c.kv_heads;
  opt.head_dim = c.head_dim;
  opt.scale = scale;
  opt.mask = c.causal ? kernels::MaskKind::causal : kernels::MaskKind::none;
  opt.q_tile = opt.kv_tile = c.tile;
  return opt;
}

/// The blocks of the own shard (tokens at `positions`) of the global problem, outputs allocated.
template <class T, class Interaction>
nbody::ShardBlocks<T> shard_blocks(const reference::AttentionProblem& problem, const ScheduleCase& c,
                                   std::int64_t n_total, const std::vector<index_t>& positions,
                                   const Interaction& inter) {
  const int d = c.head_dim;
  std::vector<double> kv = take_rows(problem.k, c.kv_heads, n_total, d, positions);
  const std::vector<double> v = take_rows(problem.v, c.kv_heads, n_total, d, positions);
  kv.insert(kv.end(), v.begin(), v.end());
  nbody::ShardBlocks<T> shard;
  shard.targets = to_buffer<T>(take_rows(problem.q, c.heads, n_total, d, positions));
  shard.sources = to_buffer<T>(kv);
  shard.d_output = to_buffer<T>(take_rows(problem.d_o, c.heads, n_total, d, positions));
  nbody::allocate_outputs(inter, static_cast<index_t>(positions.size()), shard);
  return shard;
}

struct DistributedRun {
  ShardOutputs got, expected;
  comm::TrafficCounters traffic;
  double forward_p2p_bytes = 0;  ///< point-to-point bytes of the forward, by the counters
  nbody::ScheduleTimes times;    ///< forward and backward
  std::vector<index_t> positions;  ///< global positions of the own shard
  int shard = 0;
};

/// Runs the case on MPI_COMM_WORLD. `expected` is the single-process result: the same kernels
/// in the same precision on the whole sequence, computed on every rank.
template <class T>
DistributedRun run_schedule(const ScheduleCase& c, const comm::CommOptions& options = {}) {
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const std::int64_t n_total = c.tokens_per_rank * ranks;
  const auto problem = global_problem(c, n_total);
  auto world = comm::make_mpi_communicator(MPI_COMM_WORLD, options);
  const comm::ProcessGrid grid = case_grid(c, ranks);
  const auto heads = case_heads(c, ranks);
  const nbody::Sharding sharding(n_total, ranks, c.causal);
  nbody::ScheduleContext ctx = heads ? nbody::ScheduleContext(*world, grid, *heads, sharding)
                                     : nbody::ScheduleContext(*world, grid, sharding);

  nbody::AttentionInteraction<T> inter(case_options(c, problem.scale));

  DistributedRun run;
  run.shard = ctx.shard();
  run.positions = sharding.positions(ctx.shard(), 1);
  const std::int64_t n = sharding.shard_tokens();
  const int d = c.head_dim;
  nbody::ShardBlocks<T> shard = shard_blocks<T>(problem, c, n_total, run.positions, inter);

  world->traffic().clear();
  ctx.set_transfer_cost(c.transfer_cost);
  const auto state = nbody::schedule_forward(ctx, c.kind, inter, shard);
  run.forward_p2p_bytes = state.times.p2p_bytes;
  run.times = state.times;
  run.times += nbody::schedule_backward(ctx, c.kind, c.rotate, inter, state, shard);
  run.traffic = world->traffic();

  const std::size_t o_size = std::size_t(c.heads) * n * d, kv_size = std::size_t(c.kv_heads) * n * d;
  run.got.o = from_buffer(shard.results, 0, o_size);
  run.got.lse = from_buffer(shard.results, o_size, std::size_t(c.heads) * n);
  run.got.dq = from_buffer(shard.d_targets, 0, o_size);
  run.got.dk = from_buffer(shard.d_sources, 0, kv_size);
  run.got.dv = from_buffer(shard.d_sources, kv_size, kv_size);

  const auto ref = run_attention<T>(problem, {c.tile, c.tile, TileImpl::blas, 1});
  run.expected.o = take_rows(ref.o, c.heads, n_total, d, run.positions);
  run.expected.lse = take_rows(ref.lse, c.heads, n_total, 1, run.positions);
  run.expected.dq = take_rows(ref.dq, c.heads, n_total, d, run.positions);
  run.expected.dk = take_rows(ref.dk, c.kv_heads, n_total, d, run.positions);
  run.expected.dv = take_rows(ref.dv, c.kv_heads, n_total, d, run.positions);
  return run;
}

}  // namespace wf::testing

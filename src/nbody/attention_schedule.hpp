// One entry point for distributed attention: runs the configured schedule (ring, wallfacer
// multi-ring, ulysses) forward and backward on the own shard. Used by the attention problem
// and by the tests.
#pragma once

#include <string>

#include "nbody/attention_interaction.hpp"
#include "nbody/multi_ring.hpp"
#include "nbody/ulysses.hpp"

namespace wf::nbody {

enum class ScheduleKind { ring, wallfacer, ulysses };

/// \brief "ring", "wallfacer" or "ulysses".
inline const char* schedule_name(ScheduleKind kind) {
  return kind == ScheduleKind::ring ? "ring" : kind == ScheduleKind::wallfacer ? "wallfacer" : "ulysses";
}

/// \brief Own-shard tensors of one attention layer, packed as the interaction's layouts:
/// q [heads][n][d]; kv = K then V [kv_heads][n][d]; results = O then lse; d_o; dq; dkv.
template <class T>
struct AttentionShard {
  Buffer<T> q, kv, d_o;         ///< inputs
  Buffer<T> results, dq, dkv;   ///< outputs
};

/// \brief Allocates the outputs of a shard of n tokens.
template <class T>
void allocate_outputs(const AttentionInteraction<T>& inter, index_t n, AttentionShard<T>& shard) {
  shard.results = Buffer<T>("Nbody::results", inter.result_layout().size(n));
  shard.dq = Buffer<T>("Nbody::dq", inter.query_grad_layout().size(n));
  shard.dkv = Buffer<T>("Nbody::dkv", inter.key_grad_layout().size(n));
}

/// \brief Forward of the schedule (results of the own shard).
template <class T>
struct AttentionRun {
  ForwardState<T> ring_state;
  UlyssesState<T> ulysses_state;
};

template <class T>
AttentionRun<T> attention_forward(ScheduleContext& ctx, ScheduleKind kind, AttentionInteraction<T>& inter,
                                  AttentionShard<T>& shard) {
  AttentionRun<T> run;
  if (kind == ScheduleKind::ulysses)
    run.ulysses_state = ulysses_forward(ctx, inter, shard.q, shard.kv, shard.results);
  else
    run.ring_state = multi_ring_forward(ctx, inter, shard.q, shard.kv, shard.results);
  return run;
}

template <class T>
void attention_backward(ScheduleContext& ctx, ScheduleKind kind, RotateSide side, AttentionInteraction<T>& inter,
                        const AttentionRun<T>& run, AttentionShard<T>& shard) {
  if (kind == ScheduleKind::ulysses)
    ulysses_backward(ctx, inter, run.ulysses_state, shard.d_o, shard.dq, shard.dkv);
  else
    multi_ring_backward(ctx, inter, side, run.ring_state, shard.results, shard.d_o, shard.dq, shard.dkv);
}

/// \brief Throws wf::Error when the schedule cannot run this grid and shape.
inline void check_schedule(ScheduleKind kind, int processes, int team_size, int heads, int kv_heads) {
  if (kind == ScheduleKind::ring)
    require(team_size == 1, "schedule \"ring\" is WallFacer with team_size = 1; got team_size = " +
                                std::to_string(team_size) + " (use schedule = \"wallfacer\")");
  if (kind == ScheduleKind::ulysses) {
    require(kv_heads % processes == 0 && heads % processes == 0,
            "the Ulysses schedule needs the process count (" + std::to_string(processes) +
                ") to divide attention.kv_heads (" + std::to_string(kv_heads) + ") and attention.heads (" +
                std::to_string(heads) + ")");
  }
}

}  // namespace wf::nbody

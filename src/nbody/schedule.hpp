// One entry point for the schedules: runs the chosen schedule (Ring, WallFacer multi-ring,
// Ulysses, the Ulysses x WallFacer hybrid) forward and backward on the own shard, for any
// interaction that has the protocol (interaction_traits.hpp). Used by the problems, the model
// and the tests.
#pragma once

#include "core/enums.hpp"
#include "nbody/multi_ring.hpp"
#include "nbody/multi_ring_backward.hpp"
#include "nbody/ulysses.hpp"
#include "nbody/ulysses_wallfacer.hpp"

namespace wf::nbody {

/// \brief Allocates the outputs of a shard of n tokens (results and both gradients).
template <class Interaction, class T>
void allocate_outputs(const Interaction& inter, index_t n, ShardBlocks<T>& shard) {
  shard.results = unfilled_buffer<T>("Nbody::results", inter.result_layout().size(n));
  shard.d_targets = unfilled_buffer<T>("Nbody::d_targets", inter.query_grad_layout().size(n));
  shard.d_sources = unfilled_buffer<T>("Nbody::d_sources", inter.key_grad_layout().size(n));
}

/// \brief What a forward leaves for its backward, with the forward's times.
template <class T>
struct ScheduleRun {
  ForwardState<T> ring_state;                ///< Ring and WallFacer
  UlyssesState<T> ulysses_state;             ///< Ulysses
  UlyssesWallFacerState<T> hybrid_state;     ///< Ulysses x WallFacer
  ScheduleTimes times;                       ///< of the forward
};

/// \brief Posts what the forward of `schedule` can send before it has the targets (the
/// multi-ring schedules' initial send of the sources; nothing for the others), so that the
/// transfer runs while the caller computes the targets. Pass it to schedule_forward, which
/// waits for it.
template <class Interaction, class T>
PostedSources<T> schedule_post_sources(ScheduleContext& ctx, Schedule schedule, const Interaction& inter,
                                       const Buffer<T>& sources, TraceRecorder* trace = nullptr) {
  if (schedule == Schedule::ulysses || schedule == Schedule::ulysses_wallfacer) return {};
  return post_multi_ring_sources(ctx, inter, sources, trace);
}

/// \brief Forward of `schedule` (Ring and WallFacer take their team size from the grid; the
/// hybrid needs a context with head groups). `early`: from schedule_post_sources, or null.
template <class Interaction, class T>
ScheduleRun<T> schedule_forward(ScheduleContext& ctx, Schedule schedule, Interaction& inter,
                                const ShardBlocks<T>& shard, TraceRecorder* trace = nullptr,
                                PostedSources<T>* early = nullptr) {
  ScheduleRun<T> run;
  if (schedule == Schedule::ulysses) {
    auto result = ulysses_forward(ctx, inter, shard, trace);
    run.ulysses_state = std::move(result.state);
    run.times = result.times;
  } else if (schedule == Schedule::ulysses_wallfacer) {
    auto result = ulysses_wallfacer_forward(ctx, inter, shard, trace);
    run.hybrid_state = std::move(result.state);
    run.times = result.times;
  } else {
    auto result = multi_ring_forward(ctx, inter, shard, trace, early);
    run.ring_state = std::move(result.state);
    run.times = result.times;
  }
  return run;
}

/// \brief Backward of `schedule` after schedule_forward; returns its times. With `late`, the
/// multi-ring schedules leave the key gradients (shard.d_sources) in flight once shard.d_targets
/// is complete: call schedule_finish_key_gradients before reading them.
template <class Interaction, class T>
ScheduleTimes schedule_backward(ScheduleContext& ctx, Schedule schedule, RotateSide side, Interaction& inter,
                                const ScheduleRun<T>& run, const ShardBlocks<T>& shard, TraceRecorder* trace = nullptr,
                                LateKeyGradients<T>* late = nullptr) {
  if (schedule == Schedule::ulysses) return ulysses_backward(ctx, inter, run.ulysses_state, shard, trace);
  if (schedule == Schedule::ulysses_wallfacer)
    return ulysses_wallfacer_backward(ctx, inter, side, run.hybrid_state, shard, trace);
  return multi_ring_backward(ctx, inter, side, run.ring_state, shard, trace, late);
}

/// \brief Completes the key gradients a backward left in flight (no-op when none were).
template <class T>
ScheduleTimes schedule_finish_key_gradients(ScheduleContext& ctx, LateKeyGradients<T>& late,
                                            const ShardBlocks<T>& shard, TraceRecorder* trace = nullptr) {
  return finish_multi_ring_key_gradients(ctx, late, shard, trace);
}

}  // namespace wf::nbody

// Must NOT compile: an interaction without combine() given to the multi-ring schedule. The
// test interaction_protocol expects the engine's readable message, not a template backtrace.
#include "nbody/multi_ring.hpp"

namespace {

struct NoCombine {
  wf::nbody::BlockLayout target_layout() const { return {{{1, 1}}}; }
  wf::nbody::BlockLayout source_layout() const { return {{{1, 1}}}; }
  wf::nbody::BlockLayout result_layout() const { return {{{1, 1}}}; }
  void begin(double*, wf::index_t) {}
  void interact(const double*, const wf::nbody::PositionsView&, wf::index_t, const double*,
                const wf::nbody::PositionsView&, wf::index_t, const wf::nbody::Progress&) {}
  void finish() {}
};

}  // namespace

void instantiate(wf::nbody::ScheduleContext& ctx, const wf::nbody::ShardBlocks<double>& shard) {
  NoCombine interaction;
  wf::nbody::multi_ring_forward(ctx, interaction, shard);
}

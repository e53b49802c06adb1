// Softened gravity as an interaction for the schedules (the forward protocol of
// interaction_traits.hpp): bodies (x, y, z, m) are targets and sources alike, forces are the
// results, partial forces add up.
#pragma once

#include "comm/communicator.hpp"
#include "kernels/gravity.hpp"
#include "nbody/block_layout.hpp"
#include "nbody/interaction_traits.hpp"
#include "nbody/team_collectives.hpp"

namespace wf::nbody {

template <class T>
class GravityInteraction {
 public:
  /// \brief `space` runs the force kernel and the sums.
  explicit GravityInteraction(const kernels::GravityOptions& options, ExecSpace space = ExecSpace())
      : opt_(options), space_(std::move(space)) {}

  /// \brief The segments of a body block, by name.
  enum BodySegment : std::size_t { positions = 0, masses = 1 };

  BlockLayout target_layout() const { return {{{1, 3}, {1, 1}}}; }  // positions [n][3], masses [n]
  BlockLayout source_layout() const { return target_layout(); }
  BlockLayout result_layout() const { return {{{1, 3}}}; }  // forces [n][3]

  void begin(T* results, index_t tokens) {
    force_ = kernels::ForceView<T, MemSpace>(results, tokens);
    Kokkos::deep_copy(space_, force_, T(0));
  }

  void interact(const T* targets, const PositionsView&, index_t nt, const T* sources, const PositionsView&,
                index_t ns, const Progress&) {
    kernels::gravity_update(space_, opt_, bodies(targets, nt), bodies(sources, ns), force_);
  }

  void finish() {}

  comm::Combine<T> combine(index_t) const { return sum_combine<T>(space_); }

 private:
  kernels::ParticleBlock<T, MemSpace> bodies(const T* block, index_t n) const {
    const BlockLayout layout = target_layout();
    return {Kokkos::View<const T* [3], Kokkos::LayoutRight, MemSpace>(block, n),
            Kokkos::View<const T*, MemSpace>(block + layout.offset(masses, n), n)};
  }

  kernels::GravityOptions opt_;
  ExecSpace space_;
  kernels::ForceView<T, MemSpace> force_;
};

}  // namespace wf::nbody

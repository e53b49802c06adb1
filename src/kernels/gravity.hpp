// Softened direct-sum gravity on the n-body engine (DESIGN 2.1, last paragraph): target
// particles stay put and receive forces, source particles exert them (and circulate in the
// distributed schedules), the force array is the accumulator. Same shape as the fused
// attention path: one TeamPolicy kernel over target tiles, source tiles staged in team scratch.
//
// The pair interaction (plummer_weight) is separate from the loop strategy (DESIGN 6).
// Determinism: every force element has one writer (the thread that owns the target), and the
// summation order is fixed by the tiling alone: force(i) += G m_i * (sum over source tile t),
// tile after tile. Hence splitting the sources into blocks at multiples of `tile` and calling
// gravity_update once per block gives bitwise the same force as one call. On host backends the
// sum inside a tile is an "omp simd" reduction (fixed lane order for a given build).
#pragma once

#include <Kokkos_Core.hpp>

#include <cstddef>
#include <string>

#include "core/compat.hpp"
#include "core/error.hpp"
#include "core/types.hpp"
#include "kernels/tiling.hpp"

// Vectorise the in-tile reduction on host compilers; nothing on the device passes.
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__) || defined(__SYCL_DEVICE_ONLY__)
#define WF_GRAVITY_SIMD_REDUCTION
#else
#define WF_GRAVITY_SIMD_REDUCTION _Pragma("omp simd reduction(+ : fx, fy, fz)")
#endif

namespace wf::kernels {

/// \brief Parameters of the softened gravity interaction and its tiling.
struct GravityOptions {
  double softening = 1e-2;              ///< Plummer softening length eps (> 0)
  double gravitational_constant = 1.0;  ///< G
  int tile = 256;                       ///< bodies per tile, for targets (per team) and sources (per scratch load)
};

/// \brief A block of particles: positions [n][3] and masses [n]. Used for targets and sources.
template <class T, class Mem>
struct ParticleBlock {
  Kokkos::View<const T* [3], Kokkos::LayoutRight, Mem> pos;  ///< [n][3]
  Kokkos::View<const T*, Mem> mass;                          ///< [n]
};

/// \brief Force accumulator of a target block, [n][3]; gravity_update adds to it.
template <class T, class Mem>
using ForceView = Kokkos::View<T* [3], Kokkos::LayoutRight, Mem>;

/// \brief The pair interaction: m_j / (|d|^2 + eps^2)^(3/2) for the separation d = x_j - x_i.
/// The force of j on i is G m_i * weight * d; d = 0 (a self pair) gives 0.
template <class T>
KOKKOS_INLINE_FUNCTION T plummer_weight(T dx, T dy, T dz, T source_mass, T softening_squared) {
  const T r2 = dx * dx + dy * dy + dz * dz + softening_squared;
  const T inv_r = T(1) / compat::sqrt(r2);
  return source_mass * inv_r * inv_r * inv_r;
}

namespace gravity_detail {

/// Source tile in scratch, structure of arrays: rows x, y, z, mass; one column per body.
template <class Exec, class T>
using ScratchSources = Kokkos::View<T**, Kokkos::LayoutRight, typename Exec::scratch_memory_space,
                                    Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

/// Source tiles up to this size go to level 0 scratch (fast shared memory on GPUs, within the
/// 48 KiB every CUDA/HIP device offers per block); larger tiles go to level 1.
constexpr std::size_t level0_limit_bytes = std::size_t(32) << 10;

/// Team scratch bytes of one source tile of `tile` bodies (with alignment slack).
template <class Exec, class T>
std::size_t scratch_bytes(int tile) {
  return ScratchSources<Exec, T>::shmem_size(4, static_cast<std::size_t>(tile)) + 128;
}

/// One team per target tile; source tiles staged in scratch one after the other.
template <class Exec, class T, class Mem>
struct GravityTiles {
  using Member = typename Kokkos::TeamPolicy<Exec>::member_type;
  ParticleBlock<T, Mem> targets, sources;
  ForceView<T, Mem> force;
  T softening_squared, g;
  int tile, level, source_tiles;
  index_t nt, ns;

  KOKKOS_INLINE_FUNCTION void operator()(const Member& team) const {
    const index_t i0 = index_t(team.league_rank()) * tile;
    const int rows = static_cast<int>(nt - i0 < tile ? nt - i0 : tile);
    ScratchSources<Exec, T> src(team.team_scratch(level), 4, tile);
    for (int st = 0; st < source_tiles; ++st) {
      const index_t j0 = index_t(st) * tile;
      const int cols = static_cast<int>(ns - j0 < tile ? ns - j0 : tile);
      team.team_barrier();  // every thread is done with the previous tile
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, cols), [&](const int j) {
        src(0, j) = sources.pos(j0 + j, 0);
        src(1, j) = sources.pos(j0 + j, 1);
        src(2, j) = sources.pos(j0 + j, 2);
        src(3, j) = sources.mass(j0 + j);
      });
      team.team_barrier();
      Kokkos::parallel_for(Kokkos::TeamThreadRange(team, rows), [&](const int i) { add_tile_force(i0 + i, src, cols); });
    }
  }

  /// force(target) += G m_target * sum over the staged source tile.
  KOKKOS_INLINE_FUNCTION void add_tile_force(index_t target, const ScratchSources<Exec, T>& src, int cols) const {
    const T xi = targets.pos(target, 0), yi = targets.pos(target, 1), zi = targets.pos(target, 2);
    const T* sx = &src(0, 0);
    const T* sy = &src(1, 0);
    const T* sz = &src(2, 0);
    const T* sm = &src(3, 0);
    T fx = T(0), fy = T(0), fz = T(0);
    WF_GRAVITY_SIMD_REDUCTION
    for (int j = 0; j < cols; ++j) {
      const T dx = sx[j] - xi, dy = sy[j] - yi, dz = sz[j] - zi;
      const T w = plummer_weight(dx, dy, dz, sm[j], softening_squared);
      fx += w * dx;
      fy += w * dy;
      fz += w * dz;
    }
    const T scale = g * targets.mass(target);
    force(target, 0) += scale * fx;
    force(target, 1) += scale * fy;
    force(target, 2) += scale * fz;
  }
};

}  // namespace gravity_detail

/// \brief Adds to force[i] the softened gravitational force of every source on target i:
/// G m_i sum_j m_j (x_j - x_i) / (|x_j - x_i|^2 + eps^2)^(3/2), on the instance `space`. Targets
/// and sources may be the same bodies (self pairs contribute 0). Throws wf::Error on
/// inconsistent extents or options.
template <class Exec, class T, class Mem>
void gravity_update(const Exec& space, const GravityOptions& opt, const ParticleBlock<T, Mem>& targets,
                    const ParticleBlock<T, Mem>& sources, const ForceView<T, Mem>& force) {
  static_assert(Kokkos::SpaceAccessibility<Exec, Mem>::accessible,
                "gravity_update: the execution space cannot access the particles' memory space");
  using namespace gravity_detail;
  require(opt.tile >= 1, "gravity_update: tile must be >= 1, got " + std::to_string(opt.tile));
  require(opt.softening > 0.0, "gravity_update: softening must be > 0");
  const index_t nt = static_cast<index_t>(targets.pos.extent(0));
  const index_t ns = static_cast<index_t>(sources.pos.extent(0));
  require(static_cast<index_t>(targets.mass.extent(0)) == nt && static_cast<index_t>(force.extent(0)) == nt,
          "gravity_update: targets' positions, masses and force differ in length");
  require(static_cast<index_t>(sources.mass.extent(0)) == ns,
          "gravity_update: sources' positions and masses differ in length");
  if (nt == 0 || ns == 0) return;
  const std::size_t bytes = scratch_bytes<Exec, T>(opt.tile);
  const int level = bytes <= level0_limit_bytes ? 0 : 1;
  const GravityTiles<Exec, T, Mem> body{targets,
                                        sources,
                                        force,
                                        static_cast<T>(opt.softening * opt.softening),
                                        static_cast<T>(opt.gravitational_constant),
                                        opt.tile,
                                        level,
                                        tile_count(ns, opt.tile),
                                        nt,
                                        ns};
  Kokkos::TeamPolicy<Exec> policy(space, tile_count(nt, opt.tile), Kokkos::AUTO);
  policy.set_scratch_size(level, Kokkos::PerTeam(bytes));
  Kokkos::parallel_for("Kernels::gravity_update", policy, body);
}

}  // namespace wf::kernels

#undef WF_GRAVITY_SIMD_REDUCTION

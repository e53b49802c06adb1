// Bodies of the gravity problem: the seeded Plummer sphere (the same on every rank), the
// contiguous shard of one process packed as the schedules' block (GravityInteraction's layout:
// positions [1][n][3], then masses [1][n][1]), and the check of a shard's forces against the
// naive double-precision evaluation (kernels/gravity_reference.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/types.hpp"
#include "kernels/gravity_reference.hpp"
#include "nbody/block_layout.hpp"

namespace wf::problems {

/// \brief A Plummer sphere of n bodies (unit scale radius, truncated at 10) centred on the
/// origin, masses uniform in [0.5, 1.5] scaled to a total of 1. Deterministic in `seed`; every
/// value is rounded to T, so the double copy holds exactly what the kernel sees.
template <class T>
reference::GravityBodies plummer_bodies(index_t n, std::uint64_t seed);

/// \brief Bodies [first, first + count) of `bodies`.
reference::GravityBodies slice_bodies(const reference::GravityBodies& bodies, index_t first, index_t count);

/// \brief The bodies as one packed block in MemSpace: positions [n][3], then masses [n].
template <class T>
nbody::Buffer<T> pack_bodies(const reference::GravityBodies& bodies);

/// \brief A packed result block (forces [n][3]) on the host, in double.
template <class T>
std::vector<double> forces_on_host(const nbody::Buffer<T>& forces);

/// \brief What verify_shard found.
struct ShardVerification {
  double worst_error = 0.0;  ///< max over the checked targets of |F_i - F_naive_i| / sum_j |F_ij| (NaN wins)
  std::size_t checked = 0;   ///< targets of this shard that were checked
};

/// \brief Targets checked by run.verify: all N when N <= `all_up_to`, otherwise `samples`
/// evenly spaced ones, i = k N / samples. verify_shard checks those in [first, first + count).
struct VerificationSample {
  std::size_t all_up_to = 8192;
  std::size_t samples = 256;
};

/// \brief Compares the forces on the shard [first, first + count) of `all` (`force`, [count][3])
/// with the naive double sum over all bodies, for the shard's targets in the sample.
ShardVerification verify_shard(const reference::GravityBodies& all, index_t first, index_t count,
                               const std::vector<double>& force, double softening, double gravitational_constant,
                               const VerificationSample& sample = {});

}  // namespace wf::problems

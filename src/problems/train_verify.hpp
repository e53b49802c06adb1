// run.verify for the training benchmark: the first step's loss and parameter gradients (summed
// over the ranks, before clipping and the optimizer) against the same step of the same model on
// one process (Ring on a single rank), for the GPT and the DiT alike.
#pragma once

#include <mpi.h>

#include <cstdint>

#include "config/run_config.hpp"
#include "model/parameters.hpp"
#include "problems/train_setup.hpp"

namespace wf::problems {

/// \brief Throws wf::Error naming run.verify when one process could not redo a step of this size
/// in reasonable time (more than 10^12 FLOPs).
void check_train_verify_size(const config::RunConfig& cfg, const TrainSetup& setup);

/// \brief Collective: recomputes sample `sample` on one process (every rank, from params.values)
/// and compares the loss and every gradient tensor (params.grads, already summed over the ranks)
/// with it; prints a table on rank 0. True on every rank when all are within tolerance (double:
/// 1e-10, float: 1e-4; a tensor's error is relative to its norm, or to 1e-6 of the whole
/// gradient's when that is larger: some gradients vanish in exact arithmetic).
template <class T>
bool verify_first_step(const config::RunConfig& cfg, const TrainSetup& setup, const model::Parameters<T>& params,
                       double loss, std::int64_t sample, MPI_Comm comm);

}  // namespace wf::problems

// Inputs and outputs of the attention problem: seeded random tensors (any rank can make any
// element, so every process count sees the same problem) or tensors read from HDF5; results
// written to HDF5 in global token order. Host vectors, head-major packed like the schedules.
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "nbody/sharding.hpp"

namespace wf::problems {

/// \brief One process's share, packed head-major: q [heads][n][d], kv = K then V
/// [kv_heads][n][d], d_o [heads][n][d]. Positions are those of the tokens, in storage order.
template <class T>
struct AttentionInputs {
  std::vector<T> q, kv, d_o;
};

/// \brief Outputs of one process, packed head-major: o [heads][n][d], lse [heads][n], dq, dk, dv.
template <class T>
struct AttentionOutputs {
  std::vector<T> o, lse, dq, dk, dv;
};

/// \brief The inputs of the tokens at `positions` (seeded random, or from cfg.attention.input).
/// Collective over comm when reading a file.
template <class T>
AttentionInputs<T> load_attention_inputs(const config::RunConfig& cfg, const nbody::Sharding& sharding, int shard,
                                         MPI_Comm comm);

/// \brief The inputs of the whole sequence in token order (for verification on one process).
template <class T>
AttentionInputs<T> load_whole_attention_inputs(const config::RunConfig& cfg, MPI_Comm comm);

/// \brief Collective: writes every process's outputs to cfg.attention.output (atomically).
template <class T>
void write_attention_outputs(const config::RunConfig& cfg, const nbody::Sharding& sharding, int shard,
                             const AttentionOutputs<T>& outputs, MPI_Comm comm);

}  // namespace wf::problems

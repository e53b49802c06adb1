// Parameter I/O in HDF5: weights files compatible with PyTorch state_dicts (names and shapes of
// parameter_layout), gradient dumps for comparison with PyTorch, token streams, and training
// checkpoints (parameters, AdamW moments, step, seed, data position) written atomically.
// See docs/weights.md for the file layouts.
//
// Every function is collective over `comm` (all ranks call it with the same arguments; every
// rank holds the same parameters). Errors are collective: every rank throws wf::Error with the
// same message, naming the file and the dataset or attribute.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/parameters.hpp"

namespace wf::model {

/// \brief Where a run stands: what a restart needs besides the parameters and moments.
struct TrainingState {
  std::int64_t step = 0;         ///< optimiser steps completed
  std::uint64_t seed = 0;        ///< seed of the run (parameter initialisation, data)
  std::int64_t data_sample = 0;  ///< next sample index of the data stream (the data's RNG state)
};

// ---------------------------------------------------------------- weights (PyTorch-compatible)

/// \brief Collective: reads dataset `/params/<name>` of the HDF5 file `path` into `params.values`
/// for every parameter. Each must exist, have exactly the torch shape and be float32 or float64
/// (converted to T); other datasets in the file are ignored. Gradients and moments are untouched.
/// A dataset with a "checksum" attribute (a checkpoint read as weights) must match it; every
/// value must be finite unless `allow_non_finite`.
template <class T>
void load_weights(Parameters<T>& params, const std::string& path, MPI_Comm comm, bool allow_non_finite = false);

/// \brief Collective: the integer dataset `/data/tokens` of `path` as int64, every rank the whole
/// of it. It must be one-dimensional with `expected_len` elements (`expected_len < 0`: any length).
std::vector<std::int64_t> load_tokens(const std::string& path, std::int64_t expected_len, MPI_Comm comm);

/// \brief Collective: writes `params.values` as `<group>/<name>` (torch shapes, stored as T) to a
/// new file at `path`, atomically (the file appears complete at commit, or not at all).
template <class T>
void write_weights(const Parameters<T>& params, const std::string& path, MPI_Comm comm,
                   const std::string& group = "/params");

/// \brief A float64 dataset to write next to the parameters (the same on every rank).
struct NamedDataset {
  std::string name;                 ///< e.g. "/data/noisy"
  std::vector<std::uint64_t> dims;  ///< empty: a scalar
  std::vector<double> values;       ///< row-major
};

/// \brief Collective: one atomic file with `/params/<name>` (values), `/grads/<name>` (the grads
/// buffer, same names and shapes), the scalar dataset `/loss` (float64) and `data` (the inputs
/// of the step, e.g. the DiT's, so that PyTorch can recompute it).
template <class T>
void write_grads_and_loss(const Parameters<T>& params, double loss, const std::string& path, MPI_Comm comm,
                          const std::vector<NamedDataset>& data = {});

// ---------------------------------------------------------------- checkpoints

/// \brief Collective: writes a checkpoint to `path` atomically (under `path + ".tmp"`, renamed at
/// the end: a failure or crash while writing leaves any previous file at `path` intact).
/// Datasets `/params/<name>`, `/adam/m/<name>`, `/adam/v/<name>` (stored as T), each with a
/// "checksum" attribute (FNV-1a of the values as binary64, 16 hex digits); root attributes
/// step, seed, data_sample, scalar_type ("float" or "double"), deck, the model shape
/// (model_kind, vocab, d_model, layers, heads, kv_heads, head_dim, mlp_dim, patch_dim,
/// timestep_dim, rotary_base) and state_checksum.
/// A model holding NaN or infinity is refused (nothing written) unless `allow_non_finite`.
template <class T>
void write_checkpoint(const Parameters<T>& params, const TrainingState& state, const std::string& deck_text,
                      const std::string& path, MPI_Comm comm, bool allow_non_finite = false);

/// \brief Collective: restores values, adam_m and adam_v from the checkpoint `path` (bitwise) and
/// returns its training state. The checkpoint's scalar type and model shape must be those of
/// `params` (the first differing shape attribute is named); step and data_sample must not be
/// negative; every dataset and the state must match their checksums; values must be finite and
/// second moments >= 0 (unless `allow_non_finite`). Gradients are untouched; on any error nothing is.
template <class T>
TrainingState read_checkpoint(Parameters<T>& params, const std::string& path, MPI_Comm comm,
                              bool allow_non_finite = false);

/// \brief Collective: the deck text stored in the checkpoint `path` (attribute "deck").
std::string checkpoint_deck(const std::string& path, MPI_Comm comm);

/// \brief The file name of the checkpoint after `step` steps: "<dir>/step000010.h5" when
/// `directory_or_prefix` ends with '/' or is an existing directory, "<prefix>_step000010.h5"
/// otherwise (at least 6 digits; more for steps of a million and beyond).
std::string checkpoint_path(const std::string& directory_or_prefix, std::int64_t step);

namespace testing {
/// \brief Test-only fault injection: when set, every writer above calls `hook(path)` after the
/// file was created and filled, just before commit; an exception it throws (on every rank)
/// abandons the write like a crash would. Pass an empty function to clear it.
void set_before_commit_hook(std::function<void(const std::string& path)> hook);
}  // namespace testing

extern template void load_weights<float>(Parameters<float>&, const std::string&, MPI_Comm, bool);
extern template void load_weights<double>(Parameters<double>&, const std::string&, MPI_Comm, bool);
extern template void write_weights<float>(const Parameters<float>&, const std::string&, MPI_Comm, const std::string&);
extern template void write_weights<double>(const Parameters<double>&, const std::string&, MPI_Comm, const std::string&);
extern template void write_grads_and_loss<float>(const Parameters<float>&, double, const std::string&, MPI_Comm,
                                                 const std::vector<NamedDataset>&);
extern template void write_grads_and_loss<double>(const Parameters<double>&, double, const std::string&, MPI_Comm,
                                                  const std::vector<NamedDataset>&);
extern template void write_checkpoint<float>(const Parameters<float>&, const TrainingState&, const std::string&,
                                             const std::string&, MPI_Comm, bool);
extern template void write_checkpoint<double>(const Parameters<double>&, const TrainingState&, const std::string&,
                                              const std::string&, MPI_Comm, bool);
extern template TrainingState read_checkpoint<float>(Parameters<float>&, const std::string&, MPI_Comm, bool);
extern template TrainingState read_checkpoint<double>(Parameters<double>&, const std::string&, MPI_Comm, bool);

}  // namespace wf::model

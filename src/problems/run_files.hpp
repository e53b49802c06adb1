// The files a run reads and writes, checked before any work: an output that is the same file as
// an input (or as the deck, or as another output) would destroy it, so the run is refused with
// one message naming both keys. Rank-local (filesystem only); run_problem agrees on the result.
#pragma once

#include <string>
#include <vector>

#include "config/run_config.hpp"

namespace wf::problems {

/// \brief One file of a run and the deck key that names it.
struct RunFile {
  std::string key;   ///< e.g. "attention.input", or "the deck"
  std::string path;
};

/// \brief The files cfg's problem reads: the deck, attention.input, model.weights_in, train.restart_from.
std::vector<RunFile> input_files(const config::RunConfig& cfg);

/// \brief The files cfg's problem writes (checkpoints are checked by their naming pattern).
std::vector<RunFile> output_files(const config::RunConfig& cfg);

/// \brief Throws wf::Error naming both keys when an output is the same file as an input or as
/// another output, or when a checkpoint of this run would overwrite an input.
void check_run_files(const config::RunConfig& cfg);

}  // namespace wf::problems

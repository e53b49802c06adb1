// The run's configuration, the same on every rank: rank 0 reads the deck (bounded in size and
// time) and broadcasts it, every rank resolves it with the command line's overrides, and the
// ranks compare a hash of the result before any work. A deck read by every rank on its own
// could differ between ranks (stdin reaches rank 0 only; a file edited while the job starts).
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

#include "config/run_config.hpp"

namespace wf::problems {

/// \brief Collective: fills `cfg` from the deck at `deck_path` and `overrides`, and sets the
/// process deadline (parallel.deadline_seconds). Returns 0, or a non-zero exit code after rank 0
/// printed the one message (the deck cannot be read, is wrong, or the ranks disagree). With
/// `deck_optional` (calibrate), an empty `deck_path` means the defaults and the overrides.
int load_shared_config(const std::string& deck_path, const std::vector<std::string>& overrides, MPI_Comm comm,
                       config::RunConfig& cfg, bool deck_optional = false);

}  // namespace wf::problems

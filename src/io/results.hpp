// The results file of a run (DESIGN 5): provenance attributes, summary values, per-step
// records, per-rank per-phase timers and the event trace of every rank, in one HDF5 file
// written collectively and atomically. The layout is documented in docs/results.md.
#pragma once

#include <mpi.h>

#include <array>
#include <cstdint>
#include <cstddef>
#include <string>
#include <vector>

#include "core/trace.hpp"

namespace wf::io {

/// \brief Seconds per phase, indexed by wf::Phase.
using PhaseSeconds = std::array<double, static_cast<std::size_t>(Phase::count_)>;

/// \brief One training step as rank 0 reports it.
struct StepRecord {
  std::int64_t step = 0;
  double loss = 0.0;
  double seconds = 0.0;
  double tokens_per_second = 0.0;
  double grad_norm = 0.0;
  bool timed = true;  ///< false for warm-up steps
};

/// \brief A summary value (name, value, unit) written to /summary.
struct SummaryValue {
  std::string name;
  double value = 0.0;
  std::string unit;
};

/// What one rank contributes to the results file, and what read_results gives back.
struct RunResults {
  /// Summary values (name, value, unit). Rank 0's are written; names must be unique, non-empty,
  /// not "." or "..", and contain no '/'.
  std::vector<SummaryValue> summary;
  /// Per-step records; rank 0's are written.
  std::vector<StepRecord> steps;
  /// This rank's seconds per phase (TraceRecorder::totals()). After read_results: the row of the
  /// reading rank (zeros when the file has fewer ranks than the reader).
  PhaseSeconds phase_seconds{};
  /// This rank's trace events. After read_results: the events of every rank, in rank order.
  std::vector<TraceEvent> events;
  /// The resolved deck (RunConfig::deck_text); rank 0's is written.
  std::string deck_text;
  /// The problem that ran ("attention", "gravity", ...); rank 0's is written.
  std::string problem;
  /// Ignored by write_results, which writes the size of its communicator; set by read_results.
  int ranks = 0;

  // ---- set by read_results only (write_results writes the values of this build and run)

  /// Seconds per phase of every rank of the run, [rank][phase].
  std::vector<PhaseSeconds> rank_phase_seconds;
  /// Minimum, mean and maximum over the ranks of the run, per phase.
  PhaseSeconds phase_min{}, phase_avg{}, phase_max{};
  /// Root attributes: "WallFacer", WF_VERSION_STRING, WF_GIT_HASH, ISO 8601 UTC date, and the
  /// Kokkos default execution space of the writer.
  std::string software, version, git_hash, date, kokkos_backend;
};

/// \brief The phase names in wf::Phase order, joined with '\n' (the `phases` attribute of
/// /timers and /trace).
std::string phase_names_text();

/// \brief Collective over comm: writes the results file at `path` atomically (under path + ".tmp",
/// renamed on success; on an error no file appears and an existing one is kept). Every rank
/// passes its own phase_seconds and events; summary, steps, deck_text and problem are rank 0's.
/// Errors are collective: every rank throws wf::Error with the same message.
void write_results(const std::string& path, const RunResults& local, MPI_Comm comm);

/// \brief Collective over comm: reads a results file back, every rank getting everything (all
/// ranks' events and timers); for tests and tools. Throws wf::Error on every rank, naming the
/// file and the object, when something is missing or malformed.
RunResults read_results(const std::string& path, MPI_Comm comm);

}  // namespace wf::io

// The program's command line: a deck to run (or `plan DECK`, `calibrate`), --set overrides,
// --help and --version.
#pragma once

#include <string>
#include <vector>

namespace wf::config {

/// \brief What the program does: run a deck's problem, rank plans for it, or measure this machine.
enum class Command { run, plan, calibrate };

/// \brief What the command line asked for (before the deck is read).
struct CommandLine {
  Command command = Command::run;
  std::string deck_path;               ///< "" when none was given
  std::vector<std::string> overrides;  ///< "section.key=value", in command-line order
  std::string machine_path;            ///< plan: --machine FILE
  int ranks = 0;                       ///< plan: --ranks P (0: every device of the machine)
  std::string csv_path, hdf5_path;     ///< plan: --csv FILE, --h5 FILE
  int scalar_bytes = 0;                ///< plan: --scalar-bytes B (0: run.precision's; 2 models bf16)
  std::string output_path;             ///< calibrate: --output FILE (machine file to write)
  bool help = false;
  bool version = false;
};

/// \brief Parses `wallfacer DECK.toml [--set section.key=value ...] [-h|--help] [--version]`,
/// `wallfacer plan DECK.toml --machine FILE [--ranks P] [--scalar-bytes B] [--csv FILE] [--h5 FILE] [--set ...]`
/// and `wallfacer calibrate [--output FILE] [--set ...]`.
///
/// `--set` takes its value as the next argument or after '=' (`--set=key=value`), and may be
/// repeated; so may every option with a value. Kokkos' own `--kokkos-*` arguments are skipped
/// (Kokkos reads them); a `--kokkos-*` option no Kokkos version reads is refused (Kokkos would
/// ignore it silently). Throws ConfigError for an unknown option, an option of another command,
/// a second deck, an option without its value, `plan` without --machine or a deck. Overrides
/// are checked later, when the deck is loaded.
CommandLine parse_command_line(int argc, char** argv);

/// \brief The --help text: usage line, options, and the table of every deck key.
std::string usage_text();

}  // namespace wf::config

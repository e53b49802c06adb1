// The program's command line: one deck, --set overrides, --help and --version.
#pragma once

#include <string>
#include <vector>

namespace wf::config {

/// \brief What the command line asked for (before the deck is read).
struct CommandLine {
  std::string deck_path;               ///< "" when none was given
  std::vector<std::string> overrides;  ///< "section.key=value", in command-line order
  bool help = false;
  bool version = false;
};

/// \brief Parses `wallfacer DECK.toml [--set section.key=value ...] [-h|--help] [--version]`.
///
/// `--set` takes its value as the next argument or after '=' (`--set=key=value`), and may be
/// repeated. Kokkos' own `--kokkos-*` arguments are skipped (Kokkos reads them); a `--kokkos-*`
/// option no Kokkos version reads is refused (Kokkos would ignore it silently). Throws
/// ConfigError for an unknown option, a second deck, or `--set` without a value. Overrides
/// are checked later, when the deck is loaded.
CommandLine parse_command_line(int argc, char** argv);

/// \brief The --help text: usage line, options, and the table of every deck key.
std::string usage_text();

}  // namespace wf::config

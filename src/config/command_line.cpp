// Command-line parsing for the wallfacer program.
#include "config/command_line.hpp"

#include "config/deck.hpp"

namespace wf::config {
namespace {

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

/// The options Kokkos 3.4 to 4.x read (Kokkos::initialize); others would be ignored silently.
const char* const kokkos_options[] = {
    "--kokkos-help",          "--kokkos-disable-warnings", "--kokkos-print-configuration", "--kokkos-tune-internals",
    "--kokkos-threads",       "--kokkos-num-threads",      "--kokkos-numa",                "--kokkos-device",
    "--kokkos-device-id",     "--kokkos-ndevices",         "--kokkos-num-devices",         "--kokkos-map-device-id-by",
    "--kokkos-tools-library", "--kokkos-tools-libs",       "--kokkos-tools-args",          "--kokkos-tools-help",
};

bool is_kokkos_option(const std::string& argument) {
  const std::string name = argument.substr(0, argument.find('='));
  for (const char* known : kokkos_options)
    if (name == known) return true;
  return false;
}

}  // namespace

CommandLine parse_command_line(int argc, char** argv) {
  CommandLine command_line;
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "-h" || argument == "--help") {
      command_line.help = true;
    } else if (argument == "--version") {
      command_line.version = true;
    } else if (argument == "--set") {
      // An option in place of the value means the value is missing (keys never start with '-').
      if (i + 1 >= argc || starts_with(argv[i + 1], "-"))
        throw ConfigError("option '--set' needs a value: --set section.key=value");
      command_line.overrides.emplace_back(argv[++i]);
    } else if (starts_with(argument, "--set=")) {
      const std::string value = argument.substr(6);
      if (value.empty()) throw ConfigError("option '--set' needs a value: --set=section.key=value");
      command_line.overrides.push_back(value);
    } else if (starts_with(argument, "--kokkos-")) {
      if (!is_kokkos_option(argument))
        throw ConfigError("unknown Kokkos option '" + clip_for_message(argument) +
                          "' (Kokkos reads --kokkos-num-threads, --kokkos-device-id, --kokkos-tools-libs, "
                          "--kokkos-help and the others listed in --help)");
    } else if (starts_with(argument, "-")) {
      throw ConfigError("unknown option '" + clip_for_message(argument) + "' (see --help)");
    } else if (!command_line.deck_path.empty()) {
      throw ConfigError("more than one deck given ('" + clip_for_message(command_line.deck_path) + "' and '" +
                        clip_for_message(argument) + "'); give one deck and change it with --set");
    } else {
      command_line.deck_path = argument;
    }
  }
  return command_line;
}

std::string usage_text() {
  return "Usage: wallfacer DECK.toml [--set section.key=value ...]\n"
         "       wallfacer --help | --version\n"
         "\n"
         "Runs the benchmark problem described by a TOML deck (reference: docs/decks.md).\n"
         "Keys the deck leaves out take their defaults; --set overrides win over the deck.\n"
         "\n"
         "Options:\n"
         "  --set section.key=value  override one deck key (repeatable; also "
         "--set=section.key=value)\n"
         "                           value is read as TOML (8, 2.5, true, \"x\") or else as plain "
         "text\n"
         "  -h, --help               print this help and exit\n"
         "  --version                print the version and exit\n"
         "  --kokkos-*               passed to Kokkos: --kokkos-help, --kokkos-num-threads=N,\n"
         "                           --kokkos-device-id=N, --kokkos-map-device-id-by=..., "
         "--kokkos-tools-libs=...,\n"
         "                           --kokkos-tools-args=..., --kokkos-disable-warnings, ... "
         "(others are refused)\n"
         "\n"
         "Deck keys:\n" +
         describe_keys();
}

}  // namespace wf::config

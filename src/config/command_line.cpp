// Command-line parsing for the wallfacer program.
#include "config/command_line.hpp"

#include <cstdlib>
#include <functional>
#include <optional>

#include "config/deck.hpp"

namespace wf::config {
namespace {

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

/// The example after "needs a value" (the form of --set's value).
std::string value_hint(const std::string& name, const char* separator) {
  return name == "--set" ? std::string(": --set") + separator + "section.key=value" : std::string();
}

/// The value of option `name` at argv[i] ("--name value" or "--name=value"); advances i.
/// Empty when argv[i] is not that option.
std::optional<std::string> option_value(const std::string& name, int argc, char** argv, int& i) {
  const std::string argument = argv[i];
  if (starts_with(argument, name + "=")) {
    const std::string value = argument.substr(name.size() + 1);
    if (value.empty()) throw ConfigError("option '" + name + "' needs a value" + value_hint(name, "="));
    return value;
  }
  if (argument != name) return std::nullopt;
  // An option in place of the value means the value is missing (values never start with '-').
  if (i + 1 >= argc || starts_with(argv[i + 1], "-"))
    throw ConfigError("option '" + name + "' needs a value" + value_hint(name, " "));
  return std::string(argv[++i]);
}

int parse_integer(const std::string& option, const std::string& text, long low, long high) {
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || value < low || value > high)
    throw ConfigError(option + " " + text + ": expected an integer in [" + std::to_string(low) + ", " +
                      std::to_string(high) + "]");
  return static_cast<int>(value);
}

/// The options of `plan` and `calibrate`; false when argv[i] is none of them.
bool command_option(CommandLine& cl, int argc, char** argv, int& i) {
  struct Option {
    const char* name;
    Command command;
    std::function<void(const std::string&)> set;
  };
  const Option options[] = {
      {"--machine", Command::plan, [&](const std::string& v) { cl.machine_path = v; }},
      {"--ranks", Command::plan, [&](const std::string& v) { cl.ranks = parse_integer("--ranks", v, 1, 1 << 20); }},
      {"--scalar-bytes", Command::plan,
       [&](const std::string& v) { cl.scalar_bytes = parse_integer("--scalar-bytes", v, 1, 16); }},
      {"--csv", Command::plan, [&](const std::string& v) { cl.csv_path = v; }},
      {"--h5", Command::plan, [&](const std::string& v) { cl.hdf5_path = v; }},
      {"--output", Command::calibrate, [&](const std::string& v) { cl.output_path = v; }},
  };
  const std::string argument = argv[i];
  for (const Option& option : options) {
    const auto value = option_value(option.name, argc, argv, i);
    if (!value) continue;
    if (cl.command != option.command)
      throw ConfigError("option '" + argument + "' belongs to 'wallfacer " +
                        (option.command == Command::plan ? "plan" : "calibrate") + "' (see --help)");
    option.set(*value);
    return true;
  }
  return false;
}

/// A bare word: the command (first word only), else the deck.
void positional(CommandLine& cl, const std::string& argument, bool first) {
  if (first && (argument == "plan" || argument == "calibrate")) {
    cl.command = argument == "plan" ? Command::plan : Command::calibrate;
    return;
  }
  if (cl.command == Command::calibrate)
    throw ConfigError("'wallfacer calibrate' takes no deck ('" + clip_for_message(argument) +
                      "'); change it with --set");
  if (!cl.deck_path.empty())
    throw ConfigError("more than one deck given ('" + clip_for_message(cl.deck_path) + "' and '" +
                      clip_for_message(argument) + "'); give one deck and change it with --set");
  cl.deck_path = argument;
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
  CommandLine cl;
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "-h" || argument == "--help") {
      cl.help = true;
    } else if (argument == "--version") {
      cl.version = true;
    } else if (auto value = option_value("--set", argc, argv, i)) {
      cl.overrides.push_back(*value);
    } else if (starts_with(argument, "--kokkos-")) {
      if (!is_kokkos_option(argument))
        throw ConfigError("unknown Kokkos option '" + clip_for_message(argument) +
                          "' (Kokkos reads --kokkos-num-threads, --kokkos-device-id, --kokkos-tools-libs, "
                          "--kokkos-help and the others listed in --help)");
    } else if (command_option(cl, argc, argv, i)) {
      continue;
    } else if (starts_with(argument, "-")) {
      throw ConfigError("unknown option '" + clip_for_message(argument) + "' (see --help)");
    } else {
      positional(cl, argument, i == 1);
    }
  }
  if (cl.command == Command::plan && !cl.help && !cl.version) {
    if (cl.deck_path.empty()) throw ConfigError("'wallfacer plan' needs a deck: wallfacer plan DECK.toml --machine FILE");
    if (cl.machine_path.empty()) throw ConfigError("'wallfacer plan' needs --machine FILE (see inputs/machines/)");
  }
  return cl;
}

std::string usage_text() {
  return "Usage: wallfacer DECK.toml [--set section.key=value ...]\n"
         "       wallfacer plan DECK.toml --machine FILE [--ranks P] [--scalar-bytes B] [--csv FILE] [--h5 FILE]\n"
         "                      [--set ...]\n"
         "       wallfacer calibrate [--output FILE] [--set ...]     (under mpiexec -n 2 or more)\n"
         "       wallfacer --help | --version\n"
         "\n"
         "Runs the benchmark problem described by a TOML deck (reference: docs/decks.md).\n"
         "Keys the deck leaves out take their defaults; --set overrides win over the deck.\n"
         "`plan` ranks every plan (schedule, team size, arrangement, rotate side) of the deck's model\n"
         "on a machine file (inputs/machines/, docs/scale.md) by predicted step time; `calibrate`\n"
         "measures this machine (gemm and attention rates, links between ranks) and writes a\n"
         "machine file (default inputs/machines/this_host.toml).\n"
         "\n"
         "Options:\n"
         "  --set section.key=value  override one deck key (repeatable; also "
         "--set=section.key=value)\n"
         "                           value is read as TOML (8, 2.5, true, \"x\") or else as plain "
         "text\n"
         "  --machine FILE           plan: the machine file to plan for\n"
         "  --ranks P                plan: the process count (default: every device of the machine)\n"
         "  --scalar-bytes B         plan: bytes per scalar sent and stored (default: run.precision's;\n"
         "                           2 models bf16 training)\n"
         "  --csv FILE, --h5 FILE    plan: also write the ranked table as CSV or HDF5\n"
         "  --output FILE            calibrate: where to write the machine file\n"
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

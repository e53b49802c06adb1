// Decks: TOML files (plus --set overrides) that fill a RunConfig, and the checks that make
// every mistake in them end the run with one message naming the key. See docs/decks.md.
//
// Every deck key is described once, in the registry returned by deck_keys(); parsing,
// overrides, range checks, to_toml() and the --help table are all driven by it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config/run_config.hpp"
#include "core/error.hpp"

namespace wf::config {

/// \brief A mistake in a deck, an override or the command line (the message names the key).
class ConfigError : public wf::Error {
 public:
  explicit ConfigError(const std::string& what) : wf::Error(what) {}
};

/// \brief The TOML type a deck key takes.
enum class KeyType { integer, floating, boolean, string };

/// \brief A key's value once read (floating keys always hold a double, even from `1`).
using KeyValue = std::variant<std::int64_t, double, bool, std::string>;

/// \brief One deck key: its name, type, allowed values, meaning, and where it lives in RunConfig.
struct DeckKey {
  std::string name;  ///< dotted, e.g. "attention.heads"
  KeyType type = KeyType::integer;
  std::string description;   ///< one line, for --help and docs
  std::int64_t min_int = 0;  ///< integer keys: inclusive range [min_int, max_int]
  std::int64_t max_int = 0;
  double min_float = 0.0;            ///< floating keys: lower bound (values must also be finite)
  bool min_exclusive = false;        ///< floating keys: true for "> min_float", false for ">="
  std::vector<std::string> choices;  ///< string keys: the allowed values
  std::function<KeyValue(const RunConfig&)> get;         ///< reads the key from a config
  std::function<void(RunConfig&, const KeyValue&)> set;  ///< writes an already checked value

  /// \brief The section part of the name ("attention").
  std::string section() const;
  /// \brief The name inside the section ("heads").
  std::string leaf() const;
  /// \brief "integer", "float", "boolean" or "string".
  std::string type_name() const;
  /// \brief The allowed values as text, e.g. "[1, 1024]", "> 0, finite", "\"blas\" | \"fused\"".
  std::string allowed_text() const;
  /// \brief The default (from RunConfig's initialisers) as a TOML value.
  std::string default_text() const;
  /// \brief Range/choice check of one value; the problem as text ("key = v is out of ...").
  std::optional<std::string> check(const KeyValue& value) const;
};

/// \brief The registry: every deck key, grouped by section, in deck order.
const std::vector<DeckKey>& deck_keys();

/// \brief The key called `dotted_name`, or nullptr when there is none.
const DeckKey* find_key(const std::string& dotted_name);

/// \brief A value as TOML text: 8, 2.5, 1.0, true, "fused" (doubles round-trip exactly).
std::string format_value(const KeyValue& value);

/// \brief `text` as it appears in a message: whole up to `limit` characters, else its start and
/// how long it is ("aaaa... (2097152 characters)"), so that a hostile key cannot flood the terminal.
std::string clip_for_message(const std::string& text, std::size_t limit = 80);

/// \brief The largest deck read_deck_text accepts.
inline constexpr std::size_t max_deck_bytes = std::size_t(1) << 20;
/// \brief How long read_deck_text waits for a deck that comes through a pipe or a device.
inline constexpr double max_deck_read_seconds = 10.0;

/// \brief The text of the deck at `path`, read with bounds: at most max_deck_bytes, within
/// max_deck_read_seconds (a pipe nobody writes to, /dev/zero or a directory give one clear
/// ConfigError naming the path).
std::string read_deck_text(const std::string& path);

/// \brief Parses a deck, applies the overrides in order, fills defaults and validates.
///
/// `source_name` prefixes every message (usually the deck's path; "" for defaults only).
/// Overrides are "section.key=value"; value is read as a TOML value, and as a bare string
/// when it is not one (so `attention.impl=fused` needs no quotes). The result has
/// deck_path = source_name and deck_text = to_toml() of the resolved configuration.
/// Throws ConfigError with one message naming the source and the key.
RunConfig config_from_toml(const std::string& toml_text, const std::string& source_name,
                           const std::vector<std::string>& overrides = {});

/// \brief Reads the deck at `deck_path` (read_deck_text) and resolves it as config_from_toml()
/// does. An empty path means defaults plus overrides. A missing or unreadable file throws
/// ConfigError("cannot open deck 'PATH': reason"). The program reads the deck on rank 0 only and
/// broadcasts its text (problems/shared_config.hpp).
RunConfig load_config(const std::string& deck_path, const std::vector<std::string>& overrides = {});

/// \brief Checks every key's range and the cross-key rules; throws ConfigError on the first
/// problem. Messages are prefixed with `source_name`, or with config.deck_path when that is
/// empty, or with nothing when both are.
void validate(const RunConfig& config, const std::string& source_name = "");

/// \brief The configuration as a TOML deck: every key of every section, one per line.
std::string to_toml(const RunConfig& config);

/// \brief A table of every key (key, type, default, allowed values, description) for --help.
std::string describe_keys();

}  // namespace wf::config

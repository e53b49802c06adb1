// Reading decks and --set overrides into a RunConfig, and validating the result.
// Every message is one line: "SOURCE: KEY ...", where SOURCE is the deck path or the override.
#include "config/deck.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "kernels/attention_limits.hpp"

namespace wf::config {
namespace {

/// Where each key's final value came from (deck path or "--set ..."), for error prefixes.
using Sources = std::map<std::string, std::string>;

[[noreturn]] void fail(const std::string& source, const std::string& message) {
  throw ConfigError(source.empty() ? message : source + ": " + message);
}

/// Keys longer than this are no typo of a deck key: no suggestion (and no quadratic search).
constexpr std::size_t longest_key_worth_a_suggestion = 64;

// Optimal string alignment distance: edits, plus swaps of neighbours ("haeds").
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// " (did you mean 'attention.head_dim'?)" for the closest key, or "" when none is close.
// A key under the wrong section (or none) is matched by its last part, with a small penalty.
std::string did_you_mean(const std::string& unknown) {
  if (unknown.size() > longest_key_worth_a_suggestion) return "";
  const std::size_t dot = unknown.find('.');
  const std::string section = dot == std::string::npos ? "" : unknown.substr(0, dot);
  const std::string leaf = dot == std::string::npos ? unknown : unknown.substr(dot + 1);
  const DeckKey* best = nullptr;
  std::size_t best_distance = 0;
  for (const DeckKey& key : deck_keys()) {
    std::size_t distance = edit_distance(unknown, key.name);
    distance = std::min(distance, edit_distance(leaf, key.leaf()) + (section.empty() ? 1 : 2));
    if (best == nullptr || distance < best_distance) {
      best = &key;
      best_distance = distance;
    }
  }
  const std::size_t tolerance = std::max<std::size_t>(2, leaf.size() / 3);
  if (best == nullptr || best_distance > tolerance) return "";
  return " (did you mean '" + best->name + "'?)";
}

std::string did_you_mean_section(const std::string& unknown) {
  if (unknown.size() > longest_key_worth_a_suggestion) return "";
  std::string best;
  std::size_t best_distance = 0;
  for (const DeckKey& key : deck_keys()) {
    const std::size_t distance = edit_distance(unknown, key.section());
    if (best.empty() || distance < best_distance) {
      best = key.section();
      best_distance = distance;
    }
  }
  if (best_distance > std::max<std::size_t>(2, unknown.size() / 3)) return "";
  return " (did you mean [" + best + "]?)";
}

bool is_section(const std::string& name) {
  for (const DeckKey& key : deck_keys())
    if (key.section() == name) return true;
  return false;
}

std::string one_line(std::string_view text) {
  std::string line(text);
  std::replace(line.begin(), line.end(), '\n', ' ');
  return line;
}

/// What a TOML node is, for "got ..." in messages: `a string ("eight")`, `a table`.
std::string describe_node(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string (" + clip_for_message(format_value(node.as_string()->get())) + ")";
    case toml::node_type::integer:
      return "an integer (" + format_value(node.as_integer()->get()) + ")";
    case toml::node_type::floating_point:
      return "a float (" + format_value(node.as_floating_point()->get()) + ")";
    case toml::node_type::boolean:
      return "a boolean (" + format_value(node.as_boolean()->get()) + ")";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

/// Reads `node` as the type of `key` and checks its range; throws naming source and key.
KeyValue read_value(const DeckKey& key, const toml::node& node, const std::string& source) {
  std::optional<KeyValue> value;
  std::string expected;
  switch (key.type) {
    case KeyType::integer:
      expected = "an integer";
      if (node.is_integer()) value = node.as_integer()->get();
      break;
    case KeyType::floating:  // TOML integers are fine here: `scale = 1`
      expected = "a number";
      if (node.is_floating_point()) value = node.as_floating_point()->get();
      if (node.is_integer()) value = static_cast<double>(node.as_integer()->get());
      break;
    case KeyType::boolean:
      expected = "a boolean (true or false)";
      if (node.is_boolean()) value = node.as_boolean()->get();
      break;
    case KeyType::string:
      expected = key.choices.empty() ? "a string" : "a string (" + key.allowed_text() + ")";
      if (node.is_string()) value = node.as_string()->get();
      break;
  }
  if (!value) fail(source, key.name + ": expected " + expected + ", got " + describe_node(node));
  if (auto problem = key.check(*value)) fail(source, *problem);
  return *value;
}

/// Parses TOML text; a syntax error becomes "label:line:col: TOML syntax error: ...".
toml::table parse_deck_text(const std::string& text, const std::string& label) {
  std::string description;
  toml::source_position where{};
#if TOML_EXCEPTIONS
  try {
    return toml::parse(std::string_view(text), std::string_view(label));
  } catch (const toml::parse_error& error) {
    description = one_line(error.description());
    where = error.source().begin;
  }
#else
  toml::parse_result result = toml::parse(std::string_view(text), std::string_view(label));
  if (result) return std::move(result).table();
  description = one_line(result.error().description());
  where = result.error().source().begin;
#endif
  throw ConfigError(label + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                    ": TOML syntax error: " + description);
}

/// The entries of a table in the order they appear in the text (toml++ sorts by name).
std::vector<std::pair<std::string, const toml::node*>> in_text_order(const toml::table& table) {
  std::vector<std::pair<std::string, const toml::node*>> entries;
  for (auto&& [name, node] : table) entries.emplace_back(std::string(name.str()), &node);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    const toml::source_position pa = a.second->source().begin, pb = b.second->source().begin;
    return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
  });
  return entries;
}

void apply_deck(RunConfig& config, const toml::table& deck, const std::string& source,
                Sources& sources) {
  for (const auto& [section, section_node] : in_text_order(deck)) {
    if (!section_node->is_table()) {
      const std::string hint = is_section(section)
                                   ? " (" + section + " is a section: write [" + section + "])"
                                   : did_you_mean(section);
      fail(source, "unknown key '" + clip_for_message(section) + "'" + hint);
    }
    if (!is_section(section))
      fail(source, "unknown section [" + clip_for_message(section) + "]" + did_you_mean_section(section));
    for (const auto& [leaf, node] : in_text_order(*section_node->as_table())) {
      const std::string name = section + "." + leaf;
      const DeckKey* key = find_key(name);
      if (key == nullptr) fail(source, "unknown key '" + clip_for_message(name) + "'" + did_you_mean(name));
      key->set(config, read_value(*key, *node, source));
      sources[name] = source;
    }
  }
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

/// Applies "section.key=value". The value is a TOML value if it parses as one, else raw text.
void apply_override(RunConfig& config, const std::string& override_text, Sources& sources) {
  const std::string source = "--set " + clip_for_message(one_line(override_text));  // one short line
  const std::size_t equals = override_text.find('=');
  if (equals == std::string::npos)
    fail(source, "malformed override: no '=' (expected section.key=value)");
  const std::string name = trim(override_text.substr(0, equals));
  const std::string value_text = trim(override_text.substr(equals + 1));
  if (name.empty()) fail(source, "malformed override: empty key (expected section.key=value)");
  const DeckKey* key = find_key(name);
  if (key == nullptr) fail(source, "unknown key '" + clip_for_message(name) + "'" + did_you_mean(name));

  toml::table parsed;
  try {
    parsed = parse_deck_text("value = " + value_text, source);
  } catch (const ConfigError&) {
    // Not a TOML value: take the text as it is (so `attention.impl=fused` needs no quotes).
  }
  const toml::node* node = parsed.size() == 1 ? parsed.get("value") : nullptr;
  const toml::value<std::string> raw(value_text);
  key->set(config, read_value(*key, node != nullptr ? *node : raw, source));
  sources[name] = source;
}

/// The first problem of a configuration: its message and the keys it is about.
struct DeckProblem {
  std::vector<std::string> keys;
  std::string message;
};

std::string format_bytes(double bytes) {
  std::ostringstream out;
  out.precision(3);
  out << static_cast<std::uint64_t>(bytes) << " bytes";
  if (bytes >= 1024.0 * 1024.0 * 1024.0)
    out << " (" << bytes / (1024.0 * 1024.0 * 1024.0) << " GiB)";
  else if (bytes >= 1024.0 * 1024.0)
    out << " (" << bytes / (1024.0 * 1024.0) << " MiB)";
  else if (bytes >= 1024.0)
    out << " (" << bytes / 1024.0 << " KiB)";
  return out.str();
}

std::string quoted(const char* name) { return std::string("\"") + name + "\""; }

/// Rules between keys of the parallel section and the problem.
std::optional<DeckProblem> schedule_problem(const RunConfig& config) {
  if (config.parallel.schedule == Schedule::ring && config.parallel.team_size != 1)
    return DeckProblem{{"parallel.schedule", "parallel.team_size"},
                   "parallel.schedule = \"ring\" is team_size = 1, but parallel.team_size = " +
                       std::to_string(config.parallel.team_size) + " (use parallel.schedule = \"wallfacer\")"};
  const wf::Problem problem = config.run.problem;
  if ((problem == wf::Problem::attention || problem == wf::Problem::train) && config.attention.impl == TileChoice::both)
    return DeckProblem{{"attention.impl", "run.problem"},
                   "run.problem = " + quoted(name_of(problem)) +
                       " runs one tile path: attention.impl must be \"blas\", \"fused\", \"gemm\" or \"auto\""};
  return std::nullopt;
}

/// parallel.schedule = "auto" plans attention on a machine file.
std::optional<DeckProblem> auto_schedule_problem(const RunConfig& config) {
  if (config.parallel.schedule != Schedule::automatic) return std::nullopt;
  if (config.parallel.machine.empty())
    return DeckProblem{{"parallel.schedule", "parallel.machine"},
                       "parallel.schedule = \"auto\" needs parallel.machine (a machine file, see inputs/machines/)"};
  if (config.run.problem != wf::Problem::attention && config.run.problem != wf::Problem::train)
    return DeckProblem{{"parallel.schedule", "run.problem"},
                       "parallel.schedule = \"auto\" plans attention: run.problem must be \"attention\" or \"train\""};
  return std::nullopt;
}

/// AdamW's moment decays must lie in [0, 1): 1 makes the bias correction divide by zero.
std::optional<DeckProblem> optimizer_problem(const RunConfig& config) {
  const std::pair<const char*, double> betas[] = {{"train.adam_beta1", config.train.adam_beta1},
                                                  {"train.adam_beta2", config.train.adam_beta2}};
  for (const auto& [key, value] : betas)
    if (value >= 1.0)
      return DeckProblem{{key}, std::string(key) + " = " + format_value(value) + " is out of range (expected [0, 1))"};
  return std::nullopt;
}

/// Sizes the kernels cannot take: the fused path's scratch, the dense baseline's N^2 storage.
std::optional<DeckProblem> memory_problem(const RunConfig& config) {
  const AttentionSection& a = config.attention;
  const std::size_t scalar_bytes = config.run.precision == Precision::fp64 ? sizeof(double) : sizeof(float);
  const char* precision = name_of(config.run.precision);
  if (a.impl == TileChoice::fused || a.impl == TileChoice::both) {
    const std::size_t needed = kernels::fused_scratch_bytes(a.q_tile, a.kv_tile, a.head_dim, scalar_bytes);
    if (needed > kernels::fused_scratch_limit_bytes)
      return DeckProblem{{"attention.q_tile", "attention.kv_tile", "attention.head_dim", "attention.impl", "run.precision"},
                     "attention.q_tile = " + std::to_string(a.q_tile) + " and attention.kv_tile = " +
                         std::to_string(a.kv_tile) + " need " + format_bytes(double(needed)) +
                         " of fused-kernel scratch (head_dim " + std::to_string(a.head_dim) + ", " + precision +
                         "), over the limit of " + format_bytes(double(kernels::fused_scratch_limit_bytes)) +
                         "; lower attention.q_tile and/or attention.kv_tile"};
  }
  // The dense baseline stores P of every head plus one N x N gradient: (heads + 1) N^2 scalars.
  constexpr double dense_limit_bytes = 16.0 * 1024 * 1024 * 1024;
  const double dense_bytes = kernels::dense_workspace_scalars(a.heads, a.seq_len) * static_cast<double>(scalar_bytes);
  if (config.run.problem == wf::Problem::kernel && config.bench.dense_baseline && dense_bytes > dense_limit_bytes)
    return DeckProblem{{"bench.dense_baseline", "attention.seq_len", "run.problem", "run.precision"},
                   "bench.dense_baseline = true needs (attention.heads + 1) x attention.seq_len^2 scalars = " +
                       format_bytes(dense_bytes) + " for attention.seq_len = " + std::to_string(a.seq_len) +
                       ", over the limit of " + format_bytes(dense_limit_bytes) +
                       "; set bench.dense_baseline = false or lower attention.seq_len"};
  return std::nullopt;
}

std::optional<DeckProblem> first_problem(const RunConfig& config) {
  for (const DeckKey& key : deck_keys())
    if (auto message = key.check(key.get(config))) return DeckProblem{{key.name}, *message};
  if (auto problem = schedule_problem(config)) return problem;
  const AttentionSection& a = config.attention;
  if (a.kv_heads != 0 && a.heads % a.kv_heads != 0)
    return DeckProblem{{"attention.kv_heads", "attention.heads"},
                   "attention.kv_heads = " + std::to_string(a.kv_heads) + " does not divide attention.heads = " +
                       std::to_string(a.heads) + " (use 0 for kv_heads = heads, or a divisor of heads)"};
  if (auto problem = optimizer_problem(config)) return problem;
  if (auto problem = auto_schedule_problem(config)) return problem;
  return memory_problem(config);
}

}  // namespace

void validate(const RunConfig& config, const std::string& source_name) {
  if (auto problem = first_problem(config))
    fail(source_name.empty() ? config.deck_path : source_name, problem->message);
}

RunConfig config_from_toml(const std::string& toml_text, const std::string& source_name,
                           const std::vector<std::string>& overrides) {
  // Keys nobody set are blamed on the deck, or on the defaults when there is no deck.
  const std::string label =
      !source_name.empty() ? source_name : (toml_text.empty() ? "defaults" : "<deck>");
  RunConfig config;
  Sources sources;
  apply_deck(config, parse_deck_text(toml_text, label), label, sources);
  for (const std::string& override_text : overrides) apply_override(config, override_text, sources);

  if (auto problem = first_problem(config)) {
    // Name every source that set one of the keys involved ("deck.toml, --set x=1"); when
    // they all kept their defaults, the deck (or "defaults") is to blame.
    std::vector<std::string> involved;
    for (const std::string& key : problem->keys) {
      const auto found = sources.find(key);
      if (found != sources.end() &&
          std::find(involved.begin(), involved.end(), found->second) == involved.end())
        involved.push_back(found->second);
    }
    if (involved.empty()) involved.push_back(label);
    std::string prefix;
    for (const std::string& source : involved) prefix += (prefix.empty() ? "" : ", ") + source;
    fail(prefix, problem->message);
  }
  config.deck_path = source_name;
  config.deck_text = to_toml(config);
  return config;
}

RunConfig load_config(const std::string& deck_path, const std::vector<std::string>& overrides) {
  if (deck_path.empty()) return config_from_toml("", "", overrides);
  return config_from_toml(read_deck_text(deck_path), deck_path, overrides);
}

std::string clip_for_message(const std::string& text, std::size_t limit) {
  if (text.size() <= limit) return text;
  return text.substr(0, limit) + "... (" + std::to_string(text.size()) + " characters)";
}

}  // namespace wf::config

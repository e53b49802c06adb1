// RunConfig's deck keys: the one registry that parsing, overrides, checks, to_toml() and the
// --help table are driven by. Adding a key is one line in its section's list below (and a field in
// run_config.hpp, and a row in docs/decks.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "config/deck.hpp"

namespace wf::config {

double RunConfig::attention_scale() const {
  if (attention.scale != 0.0) return attention.scale;
  return 1.0 / std::sqrt(static_cast<double>(attention.head_dim));
}

namespace {

constexpr std::int64_t no_upper_bound = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t two_pow_40 = std::int64_t(1) << 40;

// Large powers of two read better as 2^k in ranges ("[1, 2^40]").
std::string format_bound(std::int64_t bound) {
  if (bound >= (std::int64_t(1) << 20) && (bound & (bound - 1)) == 0) {
    int exponent = 0;
    while ((std::int64_t(1) << exponent) != bound) ++exponent;
    return "2^" + std::to_string(exponent);
  }
  return std::to_string(bound);
}

// Shortest text that reads back as the same double (so to_toml() round-trips exactly).
std::string shortest_double(double value) {
  char buffer[40];
  // Plain decimals where they are short and exact (120.0 rather than 1.2e+02).
  const double magnitude = std::fabs(value);
  if (magnitude >= 1e-4 && magnitude < 1e15) {
    for (int decimals = 0; decimals <= 17; ++decimals) {
      std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
      if (std::strtod(buffer, nullptr) == value) return buffer;
    }
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

std::string quote_toml_string(const std::string& text) {
  std::string quoted = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '\t':
        quoted += "\\t";
        break;
      case '\r':
        quoted += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char escape[8];
          std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(c));
          quoted += escape;
        } else {
          quoted += c;
        }
    }
  }
  return quoted + "\"";
}

// Factories: one call per key in the registry. `section` and `field` locate the value.
template <class Section, class Field>
DeckKey integer_key(const char* name, Section RunConfig::*section, Field Section::*field,
                    std::int64_t min, std::int64_t max, const char* description) {
  DeckKey key;
  key.name = name;
  key.type = KeyType::integer;
  key.description = description;
  key.min_int = min;
  key.max_int = max;
  key.get = [=](const RunConfig& c) {
    return KeyValue(static_cast<std::int64_t>((c.*section).*field));
  };
  key.set = [=](RunConfig& c, const KeyValue& v) {
    (c.*section).*field = static_cast<Field>(std::get<std::int64_t>(v));
  };
  return key;
}

template <class Section>
DeckKey float_key(const char* name, Section RunConfig::*section, double Section::*field, double min,
                  bool min_exclusive, const char* description) {
  DeckKey key;
  key.name = name;
  key.type = KeyType::floating;
  key.description = description;
  key.min_float = min;
  key.min_exclusive = min_exclusive;
  key.get = [=](const RunConfig& c) { return KeyValue((c.*section).*field); };
  key.set = [=](RunConfig& c, const KeyValue& v) { (c.*section).*field = std::get<double>(v); };
  return key;
}

template <class Section>
DeckKey bool_key(const char* name, Section RunConfig::*section, bool Section::*field,
                 const char* description) {
  DeckKey key;
  key.name = name;
  key.type = KeyType::boolean;
  key.description = description;
  key.get = [=](const RunConfig& c) { return KeyValue((c.*section).*field); };
  key.set = [=](RunConfig& c, const KeyValue& v) { (c.*section).*field = std::get<bool>(v); };
  return key;
}

template <class Section>
DeckKey string_key(const char* name, Section RunConfig::*section, std::string Section::*field,
                   std::vector<std::string> choices, const char* description) {
  DeckKey key;
  key.name = name;
  key.type = KeyType::string;
  key.description = description;
  key.choices = std::move(choices);
  key.get = [=](const RunConfig& c) { return KeyValue((c.*section).*field); };
  key.set = [=](RunConfig& c, const KeyValue& v) {
    (c.*section).*field = std::get<std::string>(v);
  };
  return key;
}

/// A string key over an enum field: the allowed values are the enum's names (core/enums.hpp).
template <class Section, class E>
DeckKey enum_key(const char* name, Section RunConfig::*section, E Section::*field, const char* description) {
  DeckKey key;
  key.name = name;
  key.type = KeyType::string;
  key.description = description;
  key.choices = enum_names<E>();
  key.get = [=](const RunConfig& c) { return KeyValue(std::string(name_of((c.*section).*field))); };
  key.set = [=](RunConfig& c, const KeyValue& v) {
    (c.*section).*field = *enum_from_name<E>(std::get<std::string>(v));  // checked against choices
  };
  return key;
}

/// As enum_key, for an optional enum field: "" means none.
template <class Section, class E>
DeckKey optional_enum_key(const char* name, Section RunConfig::*section, std::optional<E> Section::*field,
                          const char* description) {
  DeckKey key;
  key.name = name;
  key.type = KeyType::string;
  key.description = description;
  key.choices = enum_names<E>();
  key.choices.insert(key.choices.begin(), "");
  key.get = [=](const RunConfig& c) {
    const auto& value = (c.*section).*field;
    return KeyValue(value ? std::string(name_of(*value)) : std::string());
  };
  key.set = [=](RunConfig& c, const KeyValue& v) {
    (c.*section).*field = enum_from_name<E>(std::get<std::string>(v));
  };
  return key;
}

/// `key` with one allowed value taken away.
DeckKey without_choice(DeckKey key, const std::string& choice) {
  key.choices.erase(std::remove(key.choices.begin(), key.choices.end(), choice), key.choices.end());
  return key;
}

}  // namespace

namespace {

/// The keys of [run], in deck order.
std::vector<DeckKey> run_keys() {
  using R = RunConfig;
  // clang-format off
  return {
    enum_key("run.problem", &R::run, &RunSection::problem, "what to run: one-process kernels, distributed attention, n-body gravity, or the training benchmark"),
    enum_key("run.precision", &R::run, &RunSection::precision, "scalar type of the timed kernels"),
    integer_key("run.seed", &R::run, &RunSection::seed, 0, no_upper_bound, "seed of every random input"),
    bool_key("run.verify", &R::run, &RunSection::verify, "also check the results against a double-precision reference"),
    bool_key("run.allow_non_finite", &R::run, &RunSection::allow_non_finite, "accept NaN and infinity in inputs, weights, checkpoints and losses (experiments only; by default they stop the run)"),
  };
  // clang-format on
}

/// The keys of [attention], in deck order.
std::vector<DeckKey> attention_keys() {
  using R = RunConfig;
  using A = AttentionSection;
  // clang-format off
  return {
    integer_key("attention.seq_len", &R::attention, &A::seq_len, 1, two_pow_40, "N, tokens in the sequence"),
    integer_key("attention.heads", &R::attention, &A::heads, 1, 1024, "query heads"),
    integer_key("attention.kv_heads", &R::attention, &A::kv_heads, 0, 1024, "key/value heads; 0 means heads, otherwise a divisor of heads"),
    integer_key("attention.head_dim", &R::attention, &A::head_dim, 1, 1024, "size of one head"),
    bool_key("attention.causal", &R::attention, &A::causal, "causal mask (token i sees tokens <= i)"),
    float_key("attention.scale", &R::attention, &A::scale, 0.0, false, "softmax scale; 0 means 1/sqrt(head_dim)"),
    enum_key("attention.impl", &R::attention, &A::impl, "tile path: host BLAS tiles, fused kernel, gemm chunks (any memory), every one (kernel problem), or the faster one measured in the run"),
    integer_key("attention.q_tile", &R::attention, &A::q_tile, 1, 65536, "query rows per tile (both tile paths)"),
    integer_key("attention.kv_tile", &R::attention, &A::kv_tile, 1, 65536, "key rows per tile (both tile paths)"),
    string_key("attention.input", &R::attention, &A::input, {}, "HDF5 file with /input/{q,k,v,do} (attention problem); empty: seeded random inputs"),
    string_key("attention.output", &R::attention, &A::output, {}, "HDF5 file for /output/{o,lse} and /grad/{dq,dk,dv} (attention problem); empty: none"),
  };
  // clang-format on
}

/// The keys of [gravity], in deck order.
std::vector<DeckKey> gravity_keys() {
  using R = RunConfig;
  using G = GravitySection;
  // clang-format off
  return {
    integer_key("gravity.bodies", &R::gravity, &G::bodies, 1, two_pow_40, "number of bodies"),
    float_key("gravity.softening", &R::gravity, &G::softening, 0.0, true, "Plummer softening length"),
    float_key("gravity.gravitational_constant", &R::gravity, &G::gravitational_constant, 0.0, true, "G"),
    integer_key("gravity.tile", &R::gravity, &G::tile, 1, 65536, "source bodies per tile"),
  };
  // clang-format on
}

/// The keys of [parallel], in deck order.
std::vector<DeckKey> parallel_keys() {
  using R = RunConfig;
  using P = ParallelSection;
  // clang-format off
  return {
    enum_key("parallel.schedule", &R::parallel, &P::schedule, "distributed schedule: Ring Attention, WallFacer multi-ring, Ulysses all-to-all, or Ulysses inside head groups with WallFacer across them, or the best plan for parallel.machine"),
    integer_key("parallel.team_size", &R::parallel, &P::team_size, 1, 4096, "c, the replication factor (1 = ring); c^2 must divide the process count"),
    enum_key("parallel.arrangement", &R::parallel, &P::arrangement, "teams on consecutive ranks, or sub-rings on consecutive ranks"),
    enum_key("parallel.rotate", &R::parallel, &P::rotate, "backward: the query side or the key/value side travels the sub-ring"),
    integer_key("parallel.head_group_size", &R::parallel, &P::head_group_size, 1, 4096, "u of ulysses-wallfacer: ranks of a head group (all-to-all over heads); WallFacer runs on the P/u head groups"),
    enum_key("parallel.head_placement", &R::parallel, &P::head_placement, "ulysses-wallfacer: a head group on consecutive ranks (inside a node), or P/u ranks apart"),
    enum_key("parallel.backend", &R::parallel, &P::backend, "communicator backend (nccl needs a GPU build with WF_ENABLE_NCCL)"),
    integer_key("parallel.ranks_per_node", &R::parallel, &P::ranks_per_node, 0, 1 << 20, "ranks per node for link classes; 0 detects it"),
    float_key("parallel.deadline_seconds", &R::parallel, &P::deadline_seconds, 1.0, false, "the longest any wait or blocking collective (reductions, HDF5 calls) may take before the job ends naming the stalled rank"),
    string_key("parallel.machine", &R::parallel, &P::machine, {}, "machine file (inputs/machines/) that schedule = \"auto\" plans for; in the SimGrid build also the compute rates injected"),
  };
  // clang-format on
}

/// The keys of [model], in deck order.
std::vector<DeckKey> model_keys() {
  using R = RunConfig;
  using M = ModelSection;
  // clang-format off
  return {
    enum_key("model.kind", &R::model, &M::kind, "a causal GPT on tokens, or a DiT (bidirectional, patch tokens, timestep modulation, denoising loss)"),
    integer_key("model.vocab", &R::model, &M::vocab, 2, 1 << 24, "vocabulary size (GPT)"),
    integer_key("model.d_model", &R::model, &M::d_model, 1, 1 << 16, "hidden size"),
    integer_key("model.layers", &R::model, &M::layers, 1, 1024, "transformer layers"),
    integer_key("model.mlp_dim", &R::model, &M::mlp_dim, 0, 1 << 18, "MLP inner size; 0 means 4 d_model"),
    float_key("model.rotary_base", &R::model, &M::rotary_base, 0.0, true, "rotary embedding base"),
    enum_key("model.data", &R::model, &M::data, "synthetic data: long-range key-value recall, or uniform tokens"),
    integer_key("model.pairs", &R::model, &M::pairs, 0, 1 << 20, "recall pairs per sample; 0 chooses"),
    string_key("model.weights_in", &R::model, &M::weights_in, {}, "HDF5 file with /params/<PyTorch names> to start from; empty: seeded init"),
    bool_key("model.tokens_from_weights", &R::model, &M::tokens_from_weights, "also read the tokens /data/tokens [N] from model.weights_in"),
    string_key("model.grads_out", &R::model, &M::grads_out, {}, "HDF5 file for /params, /grads and /loss after the first step; empty: none"),
    integer_key("model.patch_dim", &R::model, &M::patch_dim, 1, 1 << 16, "DiT: scalars per patch token"),
    integer_key("model.timestep_dim", &R::model, &M::timestep_dim, 2, 1 << 16, "DiT: frequencies of the sinusoidal timestep embedding (even)"),
    integer_key("model.diffusion_steps", &R::model, &M::diffusion_steps, 2, 1 << 20, "DiT: T, timesteps of the linear noise schedule"),
  };
  // clang-format on
}

/// The keys of [train], in deck order.
std::vector<DeckKey> train_keys() {
  using R = RunConfig;
  using TR = TrainSection;
  // clang-format off
  return {
    integer_key("train.steps", &R::train, &TR::steps, 1, 1 << 24, "timed training steps (after bench.warmup untimed ones)"),
    float_key("train.learning_rate", &R::train, &TR::learning_rate, 0.0, false, "AdamW learning rate"),
    float_key("train.weight_decay", &R::train, &TR::weight_decay, 0.0, false, "AdamW decoupled weight decay"),
    float_key("train.adam_beta1", &R::train, &TR::adam_beta1, 0.0, false, "AdamW beta1 (first-moment decay)"),
    float_key("train.adam_beta2", &R::train, &TR::adam_beta2, 0.0, false, "AdamW beta2 (second-moment decay)"),
    float_key("train.adam_eps", &R::train, &TR::adam_eps, 0.0, true, "AdamW epsilon"),
    float_key("train.clip_norm", &R::train, &TR::clip_norm, 0.0, false, "clip the global gradient norm to this; 0: no clipping"),
    integer_key("train.checkpoint_every", &R::train, &TR::checkpoint_every, 0, 1 << 24, "write a checkpoint every K steps; 0: never"),
    string_key("train.checkpoint_prefix", &R::train, &TR::checkpoint_prefix, {}, "checkpoint files are <prefix>_stepNNNNNN.h5"),
    string_key("train.restart_from", &R::train, &TR::restart_from, {}, "checkpoint file to continue from; empty: start fresh"),
    string_key("train.results", &R::train, &TR::results, {}, "HDF5 results file (summary, steps, timers, trace); empty: none"),
    bool_key("train.trace", &R::train, &TR::trace, "keep every phase and transfer event of every rank in /trace"),
    float_key("train.peak_gflops", &R::train, &TR::peak_gflops, 0.0, false, "peak GFLOP/s per rank for the fraction-of-peak; 0: the gemm rate measured at start"),
    without_choice(optional_enum_key("train.compare_schedule", &R::train, &TR::compare_schedule, "also run the same steps with this schedule and print both tables"), name_of(Schedule::automatic)),
  };
  // clang-format on
}

/// The keys of [bench], in deck order.
std::vector<DeckKey> bench_keys() {
  using R = RunConfig;
  using B = BenchSection;
  // clang-format off
  return {
    integer_key("bench.warmup", &R::bench, &B::warmup, 0, 1000, "untimed repetitions"),
    integer_key("bench.repeats", &R::bench, &B::repeats, 1, 1000, "timed repetitions (best and mean are reported)"),
    integer_key("bench.gemm_size", &R::bench, &B::gemm_size, 16, 16384, "m = n = k of the reference gemm rate"),
    bool_key("bench.dense_baseline", &R::bench, &B::dense_baseline, "also time naive dense attention (N x N scores, P stored per head)"),
  };
  // clang-format on
}

}  // namespace

const std::vector<DeckKey>& deck_keys() {
  static const std::vector<DeckKey> keys = [] {
    std::vector<DeckKey> all;
    for (auto section : {run_keys, attention_keys, gravity_keys, parallel_keys, model_keys, train_keys, bench_keys}) {
      std::vector<DeckKey> keys_of_section = section();
      all.insert(all.end(), keys_of_section.begin(), keys_of_section.end());
    }
    return all;
  }();
  return keys;
}

const DeckKey* find_key(const std::string& dotted_name) {
  for (const DeckKey& key : deck_keys())
    if (key.name == dotted_name) return &key;
  return nullptr;
}

std::string format_value(const KeyValue& value) {
  if (const auto* i = std::get_if<std::int64_t>(&value)) return std::to_string(*i);
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  if (const auto* s = std::get_if<std::string>(&value)) return quote_toml_string(*s);
  const double d = std::get<double>(value);
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  std::string text = shortest_double(d);
  // "1" would read back as an integer; TOML floats need a '.' or an exponent.
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

std::string DeckKey::section() const { return name.substr(0, name.find('.')); }

std::string DeckKey::leaf() const { return name.substr(name.find('.') + 1); }

std::string DeckKey::type_name() const {
  switch (type) {
    case KeyType::integer:
      return "integer";
    case KeyType::floating:
      return "float";
    case KeyType::boolean:
      return "boolean";
    case KeyType::string:
      return "string";
  }
  return "?";
}

std::string DeckKey::allowed_text() const {
  switch (type) {
    case KeyType::integer:
      if (max_int == no_upper_bound) return ">= " + format_bound(min_int);
      return "[" + format_bound(min_int) + ", " + format_bound(max_int) + "]";
    case KeyType::floating:
      return (min_exclusive ? "> " : ">= ") + shortest_double(min_float) + ", finite";
    case KeyType::boolean:
      return "true | false";
    case KeyType::string: {
      std::string text;
      for (const std::string& choice : choices)
        text += (text.empty() ? "" : " | ") + quote_toml_string(choice);
      return text.empty() ? "any string" : text;
    }
  }
  return "";
}

std::string DeckKey::default_text() const { return format_value(get(RunConfig{})); }

std::optional<std::string> DeckKey::check(const KeyValue& value) const {
  bool ok = true;
  switch (type) {
    case KeyType::integer: {
      const std::int64_t v = std::get<std::int64_t>(value);
      ok = v >= min_int && v <= max_int;
      break;
    }
    case KeyType::floating: {
      const double v = std::get<double>(value);
      ok = std::isfinite(v) && (min_exclusive ? v > min_float : v >= min_float);
      break;
    }
    case KeyType::boolean:
      break;
    case KeyType::string:
      ok = choices.empty();
      for (const std::string& choice : choices) ok = ok || choice == std::get<std::string>(value);
      if (!ok)
        return name + " = " + clip_for_message(format_value(value)) + " is not allowed (expected " +
               allowed_text() + ")";
      break;
  }
  if (ok) return std::nullopt;
  const bool bounded = type == KeyType::integer && max_int != no_upper_bound;
  return name + " = " + format_value(value) + " is out of range " +
         (bounded ? allowed_text() : "(expected " + allowed_text() + ")");
}

std::string to_toml(const RunConfig& config) {
  std::ostringstream out;
  out << "# WallFacer run configuration: every key, defaults filled in (see docs/decks.md)\n";
  const std::vector<DeckKey>& keys = deck_keys();
  for (std::size_t first = 0; first < keys.size();) {
    // One [section] at a time, with '=' aligned inside it.
    const std::string section = keys[first].section();
    std::size_t end = first;
    std::size_t width = 0;
    for (; end < keys.size() && keys[end].section() == section; ++end)
      width = std::max(width, keys[end].leaf().size());
    out << "\n[" << section << "]\n";
    for (std::size_t i = first; i < end; ++i) {
      const std::string leaf = keys[i].leaf();
      out << leaf << std::string(width - leaf.size(), ' ') << " = "
          << format_value(keys[i].get(config)) << "\n";
    }
    first = end;
  }
  return out.str();
}

std::string describe_keys() {
  struct Row {
    std::string key, type, default_value, allowed, description;
  };
  std::vector<Row> rows = {{"KEY", "TYPE", "DEFAULT", "ALLOWED", "DESCRIPTION"}};
  for (const DeckKey& key : deck_keys())
    rows.push_back(
        {key.name, key.type_name(), key.default_text(), key.allowed_text(), key.description});
  std::size_t widths[4] = {0, 0, 0, 0};
  for (const Row& row : rows) {
    widths[0] = std::max(widths[0], row.key.size());
    widths[1] = std::max(widths[1], row.type.size());
    widths[2] = std::max(widths[2], row.default_value.size());
    widths[3] = std::max(widths[3], row.allowed.size());
  }
  auto pad = [](const std::string& text, std::size_t width) {
    return text + std::string(width - text.size() + 2, ' ');
  };
  std::ostringstream out;
  for (const Row& row : rows)
    out << "  " << pad(row.key, widths[0]) << pad(row.type, widths[1])
        << pad(row.default_value, widths[2]) << pad(row.allowed, widths[3]) << row.description
        << "\n";
  return out.str();
}

}  // namespace wf::config

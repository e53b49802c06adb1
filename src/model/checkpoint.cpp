#include "model/checkpoint.hpp"

#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <utility>

#include "comm/collective_errors.hpp"
#include "core/error.hpp"
#include "core/region.hpp"
#include "io/checksum.hpp"
#include "io/hdf5.hpp"

namespace wf::model {

namespace {

std::function<void(const std::string&)>& before_commit_hook() {
  static std::function<void(const std::string&)> hook;
  return hook;
}

/// Throws on every rank (one message) unless `ok` on every rank.
void require_all(MPI_Comm comm, bool ok, const std::string& local_message) {
  comm::require_on_all_ranks(comm, ok, local_message);
}

std::string shape_text(const std::vector<std::uint64_t>& dims) {
  if (dims.empty()) return "[] (a scalar)";
  std::string text;
  for (const auto d : dims) text += "[" + std::to_string(d) + "]";
  return text;
}

std::vector<std::uint64_t> torch_dims(const ParameterInfo& info) {
  std::vector<std::uint64_t> dims;
  for (const auto d : info.shape) dims.push_back(static_cast<std::uint64_t>(d));
  return dims;
}

std::string dataset_name(const std::string& group, const std::string& name) {
  std::string g = group;
  while (!g.empty() && g.back() == '/') g.pop_back();
  if (g.empty() || g.front() != '/') g.insert(g.begin(), '/');
  return (g == "/" ? std::string() : g) + "/" + name;
}

std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

template <class T>
constexpr const char* scalar_name() {
  return sizeof(T) == sizeof(float) ? "float" : "double";
}

/// What read_group checks besides shapes and types.
struct ReadChecks {
  bool require_checksums = false;  ///< checkpoints: every dataset must carry one
  bool allow_non_finite = false;   ///< run.allow_non_finite
  bool non_negative = false;       ///< AdamW second moments
};

/// The checksum of a dataset's values: FNV-1a over each value as an IEEE binary64 (so a float32
/// file read into double parameters checks the same), stored as the dataset's attribute "checksum".
template <class T>
std::string values_checksum(const T* values, std::size_t count) {
  std::uint64_t hash = io::checksum_bytes(nullptr, 0);
  for (std::size_t i = 0; i < count; ++i) {
    const double value = static_cast<double>(values[i]);
    hash = io::checksum_bytes(&value, sizeof value, hash);
  }
  return io::checksum_hex(hash);
}

/// "nan at element 3 of /params/x" for the first non-finite value of a group (or a negative one
/// where `non_negative`), or "".
template <class T>
std::string first_bad_value(const std::vector<ParameterInfo>& infos, const std::string& group, const T* host,
                            bool non_negative) {
  for (const auto& info : infos)
    for (std::size_t k = 0; k < info.size; ++k) {
      const T value = host[info.offset + k];
      if (std::isfinite(value) && (!non_negative || value >= T(0))) continue;
      return number_text(static_cast<double>(value)) + " at element " + std::to_string(k) + " of " +
             dataset_name(group, info.name);
    }
  return "";
}

/// Collective: reads `<group>/<name>` for every parameter into `host` (the flat layout), checking
/// existence and shape here, the element type in io::read_all, the checksum where the file has one
/// (`require_checksums`: everywhere), and that every value is finite (unless allowed).
template <class T>
void read_group(io::InputFile& file, const std::vector<ParameterInfo>& infos, const std::string& group,
                Kokkos::View<T*, Kokkos::HostSpace> host, const ReadChecks& checks) {
  const MPI_Comm comm = file.comm();
  for (const auto& info : infos) {
    const std::string name = dataset_name(group, info.name), where = file.path() + ": " + name;
    require_all(comm, io::has_dataset(file, name), where + " not found");
    const auto expected = torch_dims(info);
    const auto dims = io::dataset_dims(file, name);
    require_all(comm, dims == expected,
                where + " has shape " + shape_text(dims) + ", expected " + shape_text(expected));
    const std::vector<T> data = io::read_all<T>(file, name);
    require_all(comm, data.size() == info.size, where + ": unexpected number of elements");
    const bool stored = io::has_attribute(file, name, "checksum");
    require_all(comm, stored || !checks.require_checksums, where + " has no checksum attribute (not a checkpoint "
                                                                   "written by WallFacer, or an older one)");
    if (stored) {
      const std::string expected_sum = io::read_attribute<std::string>(file, name, "checksum");
      const std::string actual = values_checksum(data.data(), data.size());
      require_all(comm, expected_sum == actual, where + ": checksum mismatch (stored " + expected_sum + ", computed " +
                                                    actual + "): the file changed after it was written");
    }
    for (std::size_t k = 0; k < info.size; ++k) host(info.offset + k) = data[k];
  }
  if (checks.allow_non_finite) return;
  const std::string bad = first_bad_value(infos, group, host.data(), checks.non_negative);
  require_all(comm, bad.empty(), file.path() + ": " + bad + (checks.non_negative ? " (values must be finite and >= 0" : " (values must be finite") +
                                     "; run.allow_non_finite = true accepts non-finite ones)");
}

/// Collective: writes `<group>/<name>` for every parameter from the flat buffer `flat`; with
/// `checksums` (checkpoints), each with its checksum attribute.
template <class T>
void write_group(io::OutputFile& file, const std::vector<ParameterInfo>& infos, const std::string& group,
                 const typename Parameters<T>::Flat& flat, bool checksums = false) {
  const auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), flat);
  for (const auto& info : infos) {
    const std::string name = dataset_name(group, info.name);
    io::write_all<T>(file, name, torch_dims(info), host.data() + info.offset);
    if (checksums) io::write_attribute(file, name, "checksum", values_checksum(host.data() + info.offset, info.size));
  }
}

/// Collective: creates `path` (as path.tmp), lets `fill` write it, runs the test hook, commits.
/// Any exception before commit leaves a previous file at `path` untouched.
template <class Fill>
void write_atomically(const std::string& path, MPI_Comm comm, Fill&& fill) {
  auto file = io::OutputFile::create(path, comm);
  std::forward<Fill>(fill)(file);
  if (const auto& hook = before_commit_hook()) {
    bool ok = true;
    std::string local;
    try {
      hook(path);
    } catch (const std::exception& error) {
      ok = false;
      local = error.what();
    }
    require_all(comm, ok, local);
  }
  file.commit();
}

/// The model shape as named integer attributes (rotary_base is separate: a double).
std::vector<std::pair<const char*, std::int64_t>> shape_attributes(const ModelShape& s) {
  return {{"vocab", s.vocab},       {"d_model", s.d_model},   {"layers", s.layers},   {"heads", s.heads},
          {"kv_heads", s.kv_heads}, {"head_dim", s.head_dim}, {"mlp_dim", s.mlp_dim}, {"patch_dim", s.patch_dim},
          {"timestep_dim", s.timestep_dim}};
}

/// The checksum of what a restart takes from the root attributes (step, seed, data position,
/// scalar type, model shape), stored as "state_checksum".
std::string state_checksum(const TrainingState& state, const ModelShape& shape, const char* scalar) {
  std::string text = "step=" + std::to_string(state.step) + ";seed=" + std::to_string(state.seed) +
                     ";data_sample=" + std::to_string(state.data_sample) + ";scalar_type=" + scalar +
                     ";model_kind=" + name_of(shape.kind);
  for (const auto& [name, value] : shape_attributes(shape)) text += ";" + std::string(name) + "=" + std::to_string(value);
  text += ";rotary_base=" + number_text(shape.rotary_base);
  return io::checksum_hex(io::checksum_text(text));
}

/// Collective: step, seed and data position of a checkpoint, checked: not negative, and as the
/// state checksum says (one message naming the file otherwise).
TrainingState read_state(io::InputFile& file, const ModelShape& shape, const char* scalar) {
  const MPI_Comm comm = file.comm();
  const std::string& path = file.path();
  TrainingState state;
  state.step = io::read_attribute<std::int64_t>(file, "/", "step");
  state.seed = static_cast<std::uint64_t>(io::read_attribute<std::int64_t>(file, "/", "seed"));
  state.data_sample = io::read_attribute<std::int64_t>(file, "/", "data_sample");
  require_all(comm, state.step >= 0, path + ": attribute step = " + std::to_string(state.step) + " is negative");
  require_all(comm, state.data_sample >= 0,
              path + ": attribute data_sample = " + std::to_string(state.data_sample) + " is negative");
  require_all(comm, io::has_attribute(file, "/", "state_checksum"),
              path + ": no state_checksum attribute (not a checkpoint written by WallFacer, or an older one)");
  const std::string stored = io::read_attribute<std::string>(file, "/", "state_checksum");
  const std::string actual = state_checksum(state, shape, scalar);
  require_all(comm, stored == actual, path + ": state checksum mismatch (stored " + stored + ", computed " + actual +
                                          "): step, seed, data_sample or the model shape changed after writing");
  return state;
}

}  // namespace

// ---------------------------------------------------------------- weights

template <class T>
void load_weights(Parameters<T>& params, const std::string& path, MPI_Comm comm, bool allow_non_finite) {
  const ProfilingRegion region("IO::load_weights");
  auto file = io::InputFile::open(path, comm);
  auto host = Kokkos::create_mirror(params.values);  // a copy even on the host: values change only at the end
  read_group<T>(file, params.infos(), "/params", host, {false, allow_non_finite, false});
  Kokkos::deep_copy(params.values, host);  // only once everything was read: a failure changes nothing
}

std::vector<std::int64_t> load_tokens(const std::string& path, std::int64_t expected_len, MPI_Comm comm) {
  auto file = io::InputFile::open(path, comm);
  const std::string name = "/data/tokens", where = path + ": " + name;
  require_all(comm, io::has_dataset(file, name), where + " not found");
  const auto dims = io::dataset_dims(file, name);
  const bool one_dimensional = dims.size() == 1;
  if (expected_len >= 0) {
    const std::vector<std::uint64_t> expected{static_cast<std::uint64_t>(expected_len)};
    require_all(comm, dims == expected,
                where + " has shape " + shape_text(dims) + ", expected " + shape_text(expected));
  } else {
    require_all(comm, one_dimensional, where + " has shape " + shape_text(dims) + ", expected one dimension");
  }
  return io::read_all<std::int64_t>(file, name);  // checks the type: an integer type
}

template <class T>
void write_weights(const Parameters<T>& params, const std::string& path, MPI_Comm comm, const std::string& group) {
  write_atomically(path, comm,
                   [&](io::OutputFile& file) { write_group<T>(file, params.infos(), group, params.values); });
}

template <class T>
void write_grads_and_loss(const Parameters<T>& params, double loss, const std::string& path, MPI_Comm comm,
                          const std::vector<NamedDataset>& data) {
  const ProfilingRegion region("IO::write_grads_and_loss");
  write_atomically(path, comm, [&](io::OutputFile& file) {
    write_group<T>(file, params.infos(), "/params", params.values);
    write_group<T>(file, params.infos(), "/grads", params.grads);
    io::write_all<double>(file, "/loss", {}, &loss);
    for (const NamedDataset& dataset : data) io::write_all<double>(file, dataset.name, dataset.dims, dataset.values.data());
  });
}

// ---------------------------------------------------------------- checkpoints

template <class T>
void write_checkpoint(const Parameters<T>& params, const TrainingState& state, const std::string& deck_text,
                      const std::string& path, MPI_Comm comm, bool allow_non_finite) {
  const ProfilingRegion region("IO::write_checkpoint");
  if (!allow_non_finite) {  // every rank holds the same parameters: the same verdict everywhere
    const std::pair<const char*, const typename Parameters<T>::Flat*> groups[] = {
        {"/params", &params.values}, {"/adam/m", &params.adam_m}, {"/adam/v", &params.adam_v}};
    for (const auto& [group, flat] : groups) {
      const auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), *flat);
      const std::string bad = first_bad_value(params.infos(), group, host.data(), false);
      require_all(comm, bad.empty(), "after step " + std::to_string(state.step) + " the model holds " + bad +
                                         ": no checkpoint written to '" + path + "'");
    }
  }
  write_atomically(path, comm, [&](io::OutputFile& file) {
    write_group<T>(file, params.infos(), "/params", params.values, true);
    write_group<T>(file, params.infos(), "/adam/m", params.adam_m, true);
    write_group<T>(file, params.infos(), "/adam/v", params.adam_v, true);
    io::write_attribute(file, "/", "step", state.step);
    // int64 attribute; a seed >= 2^63 is stored as its two's complement (same 64 bits).
    io::write_attribute(file, "/", "seed", static_cast<std::int64_t>(state.seed));
    io::write_attribute(file, "/", "data_sample", state.data_sample);
    io::write_attribute(file, "/", "scalar_type", std::string(scalar_name<T>()));
    io::write_attribute(file, "/", "deck", deck_text);
    io::write_attribute(file, "/", "model_kind", std::string(name_of(params.shape().kind)));
    for (const auto& [name, value] : shape_attributes(params.shape())) io::write_attribute(file, "/", name, value);
    io::write_attribute(file, "/", "rotary_base", params.shape().rotary_base);
    io::write_attribute(file, "/", "state_checksum", state_checksum(state, params.shape(), scalar_name<T>()));
  });
}

template <class T>
TrainingState read_checkpoint(Parameters<T>& params, const std::string& path, MPI_Comm comm, bool allow_non_finite) {
  const ProfilingRegion region("IO::read_checkpoint");
  auto file = io::InputFile::open(path, comm);
  const std::string type = io::read_attribute<std::string>(file, "/", "scalar_type");
  require_all(comm, type == scalar_name<T>(),
              path + ": the checkpoint holds " + type + " parameters, the model uses " + scalar_name<T>());
  const std::string kind = io::read_attribute<std::string>(file, "/", "model_kind");
  require_all(comm, kind == name_of(params.shape().kind),
              path + ": the checkpoint holds a " + kind + " model, the run trains a " + name_of(params.shape().kind));
  for (const auto& [name, expected] : shape_attributes(params.shape())) {
    const std::int64_t stored = io::read_attribute<std::int64_t>(file, "/", name);
    require_all(comm, stored == expected,
                path + ": model shape differs: the checkpoint has " + name + " = " + std::to_string(stored) +
                    ", the model has " + name + " = " + std::to_string(expected));
  }
  const double base = io::read_attribute<double>(file, "/", "rotary_base");
  require_all(comm, base == params.shape().rotary_base,
              path + ": model shape differs: the checkpoint has rotary_base = " + number_text(base) +
                  ", the model has rotary_base = " + number_text(params.shape().rotary_base));

  const TrainingState state = read_state(file, params.shape(), scalar_name<T>());
  auto values = Kokkos::create_mirror(params.values);
  auto m = Kokkos::create_mirror(params.adam_m);
  auto v = Kokkos::create_mirror(params.adam_v);
  read_group<T>(file, params.infos(), "/params", values, {true, allow_non_finite, false});
  read_group<T>(file, params.infos(), "/adam/m", m, {true, allow_non_finite, false});
  read_group<T>(file, params.infos(), "/adam/v", v, {true, allow_non_finite, true});
  // Only once everything was read: a failing read leaves the parameters as they were.
  Kokkos::deep_copy(params.values, values);
  Kokkos::deep_copy(params.adam_m, m);
  Kokkos::deep_copy(params.adam_v, v);
  return state;
}

std::string checkpoint_deck(const std::string& path, MPI_Comm comm) {
  auto file = io::InputFile::open(path, comm);
  return io::read_attribute<std::string>(file, "/", "deck");
}

std::string checkpoint_path(const std::string& directory_or_prefix, std::int64_t step) {
  require(step >= 0, "checkpoint_path: step " + std::to_string(step) + " is negative");
  char digits[32];
  std::snprintf(digits, sizeof digits, "step%06lld.h5", static_cast<long long>(step));
  const std::string& p = directory_or_prefix;
  std::error_code ignored;
  if (!p.empty() && p.back() == '/') return p + digits;
  if (!p.empty() && std::filesystem::is_directory(p, ignored)) return p + "/" + digits;
  return p + "_" + digits;
}

namespace testing {
void set_before_commit_hook(std::function<void(const std::string& path)> hook) {
  before_commit_hook() = std::move(hook);
}
}  // namespace testing

#define WF_CHECKPOINT_INSTANTIATE(T)                                                                      \
  template void load_weights<T>(Parameters<T>&, const std::string&, MPI_Comm, bool);                      \
  template void write_weights<T>(const Parameters<T>&, const std::string&, MPI_Comm, const std::string&); \
  template void write_grads_and_loss<T>(const Parameters<T>&, double, const std::string&, MPI_Comm,       \
                                        const std::vector<NamedDataset>&);                                \
  template void write_checkpoint<T>(const Parameters<T>&, const TrainingState&, const std::string&,       \
                                    const std::string&, MPI_Comm, bool);                                  \
  template TrainingState read_checkpoint<T>(Parameters<T>&, const std::string&, MPI_Comm, bool);
WF_CHECKPOINT_INSTANTIATE(float)
WF_CHECKPOINT_INSTANTIATE(double)
#undef WF_CHECKPOINT_INSTANTIATE

}  // namespace wf::model

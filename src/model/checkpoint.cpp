#include "model/checkpoint.hpp"

#include <cstdio>
#include <exception>
#include <filesystem>
#include <utility>

#include "comm/collective_errors.hpp"
#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "core/region.hpp"

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

template <class T>
constexpr const char* scalar_name() {
  return sizeof(T) == sizeof(float) ? "float" : "double";
}

/// Collective: reads `<group>/<name>` for every parameter into `host` (the flat layout), checking
/// existence and shape here and the element type in io::read_all.
template <class T>
void read_group(io::InputFile& file, const std::vector<ParameterInfo>& infos, const std::string& group,
                Kokkos::View<T*, Kokkos::HostSpace> host) {
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
    for (std::size_t k = 0; k < info.size; ++k) host(info.offset + k) = data[k];
  }
}

/// Collective: writes `<group>/<name>` for every parameter from the flat buffer `flat`.
template <class T>
void write_group(io::OutputFile& file, const std::vector<ParameterInfo>& infos, const std::string& group,
                 const typename Parameters<T>::Flat& flat) {
  const auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), flat);
  for (const auto& info : infos)
    io::write_all<T>(file, dataset_name(group, info.name), torch_dims(info), host.data() + info.offset);
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

std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

}  // namespace

// ---------------------------------------------------------------- weights

template <class T>
void load_weights(Parameters<T>& params, const std::string& path, MPI_Comm comm) {
  const ProfilingRegion region("IO::load_weights");
  auto file = io::InputFile::open(path, comm);
  auto host = Kokkos::create_mirror(params.values);  // a copy even on the host: values change only at the end
  read_group<T>(file, params.infos(), "/params", host);
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
                      const std::string& path, MPI_Comm comm) {
  const ProfilingRegion region("IO::write_checkpoint");
  write_atomically(path, comm, [&](io::OutputFile& file) {
    write_group<T>(file, params.infos(), "/params", params.values);
    write_group<T>(file, params.infos(), "/adam/m", params.adam_m);
    write_group<T>(file, params.infos(), "/adam/v", params.adam_v);
    io::write_attribute(file, "/", "step", state.step);
    // int64 attribute; a seed >= 2^63 is stored as its two's complement (same 64 bits).
    io::write_attribute(file, "/", "seed", static_cast<std::int64_t>(state.seed));
    io::write_attribute(file, "/", "data_sample", state.data_sample);
    io::write_attribute(file, "/", "scalar_type", std::string(scalar_name<T>()));
    io::write_attribute(file, "/", "deck", deck_text);
    io::write_attribute(file, "/", "model_kind", std::string(name_of(params.shape().kind)));
    for (const auto& [name, value] : shape_attributes(params.shape())) io::write_attribute(file, "/", name, value);
    io::write_attribute(file, "/", "rotary_base", params.shape().rotary_base);
  });
}

template <class T>
TrainingState read_checkpoint(Parameters<T>& params, const std::string& path, MPI_Comm comm) {
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

  TrainingState state;
  state.step = io::read_attribute<std::int64_t>(file, "/", "step");
  state.seed = static_cast<std::uint64_t>(io::read_attribute<std::int64_t>(file, "/", "seed"));
  state.data_sample = io::read_attribute<std::int64_t>(file, "/", "data_sample");

  auto values = Kokkos::create_mirror(params.values);
  auto m = Kokkos::create_mirror(params.adam_m);
  auto v = Kokkos::create_mirror(params.adam_v);
  read_group<T>(file, params.infos(), "/params", values);
  read_group<T>(file, params.infos(), "/adam/m", m);
  read_group<T>(file, params.infos(), "/adam/v", v);
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
  template void load_weights<T>(Parameters<T>&, const std::string&, MPI_Comm);                            \
  template void write_weights<T>(const Parameters<T>&, const std::string&, MPI_Comm, const std::string&); \
  template void write_grads_and_loss<T>(const Parameters<T>&, double, const std::string&, MPI_Comm,       \
                                        const std::vector<NamedDataset>&);                                \
  template void write_checkpoint<T>(const Parameters<T>&, const TrainingState&, const std::string&,       \
                                    const std::string&, MPI_Comm);                                        \
  template TrainingState read_checkpoint<T>(Parameters<T>&, const std::string&, MPI_Comm);
WF_CHECKPOINT_INSTANTIATE(float)
WF_CHECKPOINT_INSTANTIATE(double)
#undef WF_CHECKPOINT_INSTANTIATE

}  // namespace wf::model

// Parameter I/O: PyTorch-compatible weights files (exact round trips, conversions, clear errors
// on every rank), token files, gradient dumps, and checkpoints (bitwise restart state, shape and
// type checks, atomic replacement). Runs on 1 and 2 ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "model/checkpoint.hpp"
#include "model_test_util.hpp"
#include "mpi_test_util.hpp"

namespace fs = std::filesystem;
using wf::io::InputFile;
using wf::io::OutputFile;
using wf::model::ModelShape;
using wf::model::Parameters;
using wf::model::TrainingState;

namespace {

const MPI_Comm world = MPI_COMM_WORLD;

using wf::testing::exists_everywhere;
using wf::testing::expect_error;
using wf::testing::TempDir;

ModelShape small_shape() { return wf::testing::tiny_model_shape(5000.0); }

template <class T>
std::vector<T> host_copy(const typename Parameters<T>::Flat& flat) {
  const auto mirror = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), flat);
  return std::vector<T>(mirror.data(), mirror.data() + mirror.extent(0));
}

template <class T>
void fill(typename Parameters<T>::Flat& flat, std::uint64_t seed) {
  auto mirror = Kokkos::create_mirror_view(flat);
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (std::size_t i = 0; i < mirror.extent(0); ++i) mirror(i) = static_cast<T>(normal(gen) * 1e-3 + 1.0 / 3.0);
  Kokkos::deep_copy(flat, mirror);
}

/// Parameters with every buffer filled from `seed` (every bit of T used, same on every rank).
template <class T>
Parameters<T> random_parameters(const ModelShape& shape, std::uint64_t seed) {
  Parameters<T> p(shape);
  fill<T>(p.values, seed);
  fill<T>(p.grads, seed + 1);
  fill<T>(p.adam_m, seed + 2);
  fill<T>(p.adam_v, seed + 3);
  return p;
}

template <class T>
bool bitwise_equal(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <class T>
std::vector<T> slice(const std::vector<T>& flat, const wf::model::ParameterInfo& info) {
  return std::vector<T>(flat.begin() + static_cast<std::ptrdiff_t>(info.offset),
                        flat.begin() + static_cast<std::ptrdiff_t>(info.offset + info.size));
}

std::vector<std::uint64_t> dims_of(const wf::model::ParameterInfo& info) {
  return std::vector<std::uint64_t>(info.shape.begin(), info.shape.end());
}

/// Restores the before-commit hook on scope exit, whatever happens in the test.
struct HookGuard {
  ~HookGuard() { wf::model::testing::set_before_commit_hook({}); }
};

// ---------------------------------------------------------------- weights

template <class T>
void check_weights_round_trip() {
  TempDir dir("checkpoint");
  const std::string path = dir.file("weights.h5");
  const auto written = random_parameters<T>(small_shape(), 7);
  wf::model::write_weights(written, path, world);
  EXPECT_FALSE(exists_everywhere(path + ".tmp"));

  Parameters<T> read(small_shape());
  read.initialize(99);
  wf::model::load_weights(read, path, world);
  const auto expected = host_copy<T>(written.values);
  EXPECT_TRUE(bitwise_equal(host_copy<T>(read.values), expected));

  // Torch names and shapes, stored as T: what load_state_dict needs.
  auto file = InputFile::open(path, world);
  for (const auto& info : written.infos()) {
    EXPECT_EQ(wf::io::dataset_dims(file, "/params/" + info.name), dims_of(info)) << info.name;
    EXPECT_TRUE(bitwise_equal(wf::io::read_all<T>(file, "/params/" + info.name), slice(expected, info))) << info.name;
  }
  EXPECT_EQ(wf::io::dataset_dims(file, "/params/layers.1.attn.wk.weight"), (std::vector<std::uint64_t>{4, 8}));
  EXPECT_EQ(wf::io::dataset_dims(file, "/params/layers.0.mlp.w1.weight"), (std::vector<std::uint64_t>{12, 8}));
  EXPECT_EQ(wf::io::dataset_dims(file, "/params/lm_head.weight"), (std::vector<std::uint64_t>{11, 8}));
  EXPECT_EQ(wf::io::dataset_dims(file, "/params/ln_f.bias"), (std::vector<std::uint64_t>{8}));
}

TEST(Weights, RoundTripFloat) { check_weights_round_trip<float>(); }
TEST(Weights, RoundTripDouble) { check_weights_round_trip<double>(); }

TEST(Weights, FloatFileIntoDoubleParameters) {
  TempDir dir("checkpoint");
  const std::string path = dir.file("float.h5");
  const auto written = random_parameters<float>(small_shape(), 3);
  wf::model::write_weights(written, path, world);
  Parameters<double> read(small_shape());
  wf::model::load_weights(read, path, world);
  const auto expected = host_copy<float>(written.values);
  const auto got = host_copy<double>(read.values);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], static_cast<double>(expected[i])) << i;
}

TEST(Weights, OtherGroupAndExtraDatasetsIgnored) {
  TempDir dir("checkpoint");
  const std::string path = dir.file("extra.h5");
  const auto written = random_parameters<double>(small_shape(), 5);
  {
    auto file = OutputFile::create(path, world);
    const auto values = host_copy<double>(written.values);
    for (const auto& info : written.infos())
      wf::io::write_all<double>(file, "/params/" + info.name, dims_of(info), values.data() + info.offset);
    const std::vector<double> junk(6, 1.0);
    wf::io::write_all<double>(file, "/params/layers.9.extra.weight", {2, 3}, junk.data());
    wf::io::write_all<double>(file, "/optimizer/state", {6}, junk.data());
    file.commit();
  }
  Parameters<double> read(small_shape());
  wf::model::load_weights(read, path, world);
  EXPECT_TRUE(bitwise_equal(host_copy<double>(read.values), host_copy<double>(written.values)));

  // A custom group name for write_weights.
  const std::string other = dir.file("other.h5");
  wf::model::write_weights(written, other, world, "/model/weights");
  auto file = InputFile::open(other, world);
  EXPECT_TRUE(wf::io::has_dataset(file, "/model/weights/embed.weight"));
  EXPECT_FALSE(wf::io::has_dataset(file, "/params/embed.weight"));
}

enum class Defect { missing, wrong_shape, integer };

/// A weights file whose layers.0.attn.wq.weight has `defect`; every other parameter is fine.
void write_defective(const std::string& path, const Parameters<float>& params, Defect defect) {
  auto file = OutputFile::create(path, world);
  const auto values = host_copy<float>(params.values);
  for (const auto& info : params.infos()) {
    const std::string name = "/params/" + info.name;
    if (info.name != "layers.0.attn.wq.weight") {
      wf::io::write_all<float>(file, name, dims_of(info), values.data() + info.offset);
    } else if (defect == Defect::wrong_shape) {
      wf::io::write_all<float>(file, name, {4, 8}, values.data() + info.offset);
    } else if (defect == Defect::integer) {
      const std::vector<std::int64_t> ints(info.size, 1);
      wf::io::write_all<std::int64_t>(file, name, dims_of(info), ints.data());
    }
  }
  file.commit();
}

TEST(Weights, BadFilesFailOnEveryRankAndChangeNothing) {
  TempDir dir("checkpoint");
  const auto good = random_parameters<float>(small_shape(), 11);
  Parameters<float> target(small_shape());
  target.initialize(1);
  const auto before = host_copy<float>(target.values);

  const std::string missing = dir.file("missing.h5");
  write_defective(missing, good, Defect::missing);
  expect_error([&] { wf::model::load_weights(target, missing, world); }, {"not found"},
               missing + ": /params/layers.0.attn.wq.weight not found");

  const std::string shape = dir.file("shape.h5");
  write_defective(shape, good, Defect::wrong_shape);
  expect_error([&] { wf::model::load_weights(target, shape, world); }, {"wq.weight"},
               shape + ": /params/layers.0.attn.wq.weight has shape [4][8], expected [8][8]");

  const std::string integer = dir.file("integer.h5");
  write_defective(integer, good, Defect::integer);
  expect_error([&] { wf::model::load_weights(target, integer, world); },
               {integer, "/params/layers.0.attn.wq.weight", "int64", "float32 or float64"});

  expect_error([&] { wf::model::load_weights(target, dir.file("absent.h5"), world); }, {"absent.h5"});
  EXPECT_TRUE(bitwise_equal(host_copy<float>(target.values), before)) << "a failed load changed the values";
}

// ---------------------------------------------------------------- tokens and gradients

TEST(Tokens, LoadAndErrors) {
  TempDir dir("checkpoint");
  const std::string path = dir.file("tokens.h5");
  const std::vector<std::int64_t> tokens = {5, 0, 10, 3, 3, 7, 1, 2, 9, 4, 6, 8};
  const std::vector<float> reals(12, 1.5f);
  {
    auto file = OutputFile::create(path, world);
    wf::io::write_all<std::int64_t>(file, "/data/tokens", {12}, tokens.data());
    wf::io::write_all<float>(file, "/other/reals", {12}, reals.data());
    wf::io::write_all<std::int64_t>(file, "/other/matrix", {3, 4}, tokens.data());
    file.commit();
  }
  EXPECT_EQ(wf::model::load_tokens(path, 12, world), tokens);
  EXPECT_EQ(wf::model::load_tokens(path, -1, world), tokens);
  expect_error([&] { wf::model::load_tokens(path, 16, world); }, {"[16]"},
               path + ": /data/tokens has shape [12], expected [16]");

  const std::string none = dir.file("none.h5");
  {
    auto file = OutputFile::create(none, world);
    wf::io::write_all<float>(file, "/data/tokens_float", {12}, reals.data());
    file.commit();
  }
  expect_error([&] { wf::model::load_tokens(none, 12, world); }, {"not found"}, none + ": /data/tokens not found");

  const std::string reals_file = dir.file("reals.h5");
  {
    auto file = OutputFile::create(reals_file, world);
    wf::io::write_all<float>(file, "/data/tokens", {12}, reals.data());
    file.commit();
  }
  expect_error([&] { wf::model::load_tokens(reals_file, 12, world); },
               {reals_file, "/data/tokens", "float32", "integer"});

  const std::string matrix = dir.file("matrix.h5");
  {
    auto file = OutputFile::create(matrix, world);
    wf::io::write_all<std::int64_t>(file, "/data/tokens", {3, 4}, tokens.data());
    file.commit();
  }
  expect_error([&] { wf::model::load_tokens(matrix, -1, world); }, {"[3][4]", "one dimension"});
}

TEST(Gradients, ParamsGradsAndLossInOneFile) {
  TempDir dir("checkpoint");
  const std::string path = dir.file("grads.h5");
  const auto params = random_parameters<float>(small_shape(), 21);
  wf::model::write_grads_and_loss(params, 2.718281828459045, path, world);
  auto file = InputFile::open(path, world);
  const auto values = host_copy<float>(params.values), grads = host_copy<float>(params.grads);
  for (const auto& info : params.infos()) {
    EXPECT_EQ(wf::io::dataset_dims(file, "/grads/" + info.name), dims_of(info));
    EXPECT_TRUE(bitwise_equal(wf::io::read_all<float>(file, "/grads/" + info.name), slice(grads, info))) << info.name;
    EXPECT_TRUE(bitwise_equal(wf::io::read_all<float>(file, "/params/" + info.name), slice(values, info)));
  }
  EXPECT_TRUE(wf::io::dataset_dims(file, "/loss").empty());
  EXPECT_EQ(wf::io::read_all<double>(file, "/loss"), std::vector<double>{2.718281828459045});
}

// ---------------------------------------------------------------- checkpoints

const std::string deck = "[run]\nseed = 42\nproblem = \"train\"\n\n[model]\nd_model = 8  # comment \xc3\xa9\n";

template <class T>
void check_checkpoint_round_trip() {
  TempDir dir("checkpoint");
  const std::string path = wf::model::checkpoint_path(dir.path() + "/", 10);
  const auto written = random_parameters<T>(small_shape(), 31);
  TrainingState state;
  state.step = 10;
  state.seed = 0xFFFFFFFFFFFFFFF5ull;  // above 2^63: stored through int64, restored bitwise
  state.data_sample = 1234567890123;
  wf::model::write_checkpoint(written, state, deck, path, world);
  EXPECT_FALSE(exists_everywhere(path + ".tmp"));

  auto read = random_parameters<T>(small_shape(), 77);
  const auto grads_before = host_copy<T>(read.grads);
  const TrainingState restored = wf::model::read_checkpoint(read, path, world);
  EXPECT_EQ(restored.step, state.step);
  EXPECT_EQ(restored.seed, state.seed);
  EXPECT_EQ(restored.data_sample, state.data_sample);
  EXPECT_TRUE(bitwise_equal(host_copy<T>(read.values), host_copy<T>(written.values)));
  EXPECT_TRUE(bitwise_equal(host_copy<T>(read.adam_m), host_copy<T>(written.adam_m)));
  EXPECT_TRUE(bitwise_equal(host_copy<T>(read.adam_v), host_copy<T>(written.adam_v)));
  EXPECT_TRUE(bitwise_equal(host_copy<T>(read.grads), grads_before)) << "gradients are not part of a checkpoint";
  EXPECT_EQ(wf::model::checkpoint_deck(path, world), deck);

  auto file = InputFile::open(path, world);
  EXPECT_EQ(wf::io::read_attribute<std::string>(file, "/", "scalar_type"), sizeof(T) == 4 ? "float" : "double");
  EXPECT_EQ(wf::io::read_attribute<std::int64_t>(file, "/", "kv_heads"), 1);
  EXPECT_EQ(wf::io::read_attribute<std::int64_t>(file, "/", "mlp_dim"), 12);
  EXPECT_EQ(wf::io::read_attribute<double>(file, "/", "rotary_base"), 5000.0);
  EXPECT_EQ(wf::io::dataset_dims(file, "/adam/v/layers.1.attn.wo.weight"), (std::vector<std::uint64_t>{8, 8}));
  // A checkpoint is also a weights file.
  Parameters<T> weights(small_shape());
  wf::model::load_weights(weights, path, world);
  EXPECT_TRUE(bitwise_equal(host_copy<T>(weights.values), host_copy<T>(written.values)));
}

TEST(Checkpoint, RoundTripFloatBitwise) { check_checkpoint_round_trip<float>(); }
TEST(Checkpoint, RoundTripDoubleBitwise) { check_checkpoint_round_trip<double>(); }

TEST(Checkpoint, ShapeOrTypeMismatchFails) {
  TempDir dir("checkpoint");
  const std::string path = dir.file("ckpt.h5");
  wf::model::write_checkpoint(random_parameters<float>(small_shape(), 1), TrainingState{}, deck, path, world);

  ModelShape wider = small_shape();
  wider.d_model = 16;
  wider.mlp_dim = 32;  // d_model differs first
  Parameters<float> a(wider);
  expect_error([&] { wf::model::read_checkpoint(a, path, world); }, {"d_model"},
               path + ": model shape differs: the checkpoint has d_model = 8, the model has d_model = 16");

  ModelShape grouped = small_shape();
  grouped.kv_heads = 2;
  Parameters<float> b(grouped);
  expect_error([&] { wf::model::read_checkpoint(b, path, world); }, {"kv_heads = 1", "kv_heads = 2"});

  ModelShape rotary = small_shape();
  rotary.rotary_base = 10000.0;
  Parameters<float> c(rotary);
  expect_error([&] { wf::model::read_checkpoint(c, path, world); }, {"rotary_base = 5000", "rotary_base = 10000"});

  Parameters<double> d(small_shape());
  expect_error([&] { wf::model::read_checkpoint(d, path, world); }, {"float", "double"},
               path + ": the checkpoint holds float parameters, the model uses double");

  // A weights file is not a checkpoint.
  const std::string weights = dir.file("weights.h5");
  wf::model::write_weights(random_parameters<float>(small_shape(), 1), weights, world);
  Parameters<float> e(small_shape());
  expect_error([&] { wf::model::read_checkpoint(e, weights, world); }, {weights, "scalar_type"});
}

TEST(Checkpoint, FailedWriteKeepsThePreviousCheckpoint) {
  TempDir dir("checkpoint");
  HookGuard guard;
  const std::string path = dir.file("ckpt.h5");
  const auto first = random_parameters<double>(small_shape(), 100);
  const auto second = random_parameters<double>(small_shape(), 200);
  wf::model::write_checkpoint(first, TrainingState{1, 42, 17}, deck, path, world);

  std::vector<std::string> hooked;
  wf::model::testing::set_before_commit_hook([&](const std::string& p) {
    hooked.push_back(p);
    EXPECT_TRUE(fs::exists(p + ".tmp")) << "the hook runs after the data were written";
    throw std::runtime_error("simulated crash while writing " + p);
  });
  expect_error(
      [&] {
        wf::model::write_checkpoint(second, TrainingState{2, 42, 34}, deck, path, world);
      },
      {"simulated crash"});
  expect_error([&] { wf::model::write_weights(second, path, world); }, {"simulated crash"});
  expect_error([&] { wf::model::write_grads_and_loss(second, 1.0, path, world); }, {"simulated crash"});
  EXPECT_EQ(hooked, std::vector<std::string>(3, path));
  wf::model::testing::set_before_commit_hook({});

  EXPECT_FALSE(exists_everywhere(path + ".tmp")) << "the abandoned temporary file was not removed";
  ASSERT_TRUE(exists_everywhere(path));
  Parameters<double> read(small_shape());
  const TrainingState state = wf::model::read_checkpoint(read, path, world);
  EXPECT_EQ(state.step, 1);
  EXPECT_EQ(state.data_sample, 17);
  EXPECT_TRUE(bitwise_equal(host_copy<double>(read.values), host_copy<double>(first.values)));
  EXPECT_TRUE(bitwise_equal(host_copy<double>(read.adam_v), host_copy<double>(first.adam_v)));

  // Without the hook the same write replaces the file.
  wf::model::write_checkpoint(second, TrainingState{2, 42, 34}, deck, path, world);
  EXPECT_EQ(wf::model::read_checkpoint(read, path, world).step, 2);
  EXPECT_TRUE(bitwise_equal(host_copy<double>(read.adam_m), host_copy<double>(second.adam_m)));
}

/// Collective: rank 0 changes the file with raw (serial) HDF5 calls while the others wait.
template <class Change>
void change_file(const std::string& path, Change&& change) {
  MPI_Barrier(world);
  if (wf::testing::world_rank() == 0) {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    change(file);
    H5Fclose(file);
  }
  MPI_Barrier(world);
}

/// Collective: flips one bit in the middle of a dataset's stored values.
void flip_bit(const std::string& path, const std::string& dataset) {
  haddr_t offset = HADDR_UNDEF;
  hsize_t size = 0;
  change_file(path, [&](hid_t file) {
    const hid_t set = H5Dopen2(file, dataset.c_str(), H5P_DEFAULT);
    offset = H5Dget_offset(set);
    size = H5Dget_storage_size(set);
    H5Dclose(set);
  });
  if (wf::testing::world_rank() == 0) {
    std::fstream bytes(path, std::ios::in | std::ios::out | std::ios::binary);
    char byte = 0;
    bytes.seekg(static_cast<std::streamoff>(offset + size / 2));
    bytes.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x01);
    bytes.seekp(static_cast<std::streamoff>(offset + size / 2));
    bytes.write(&byte, 1);
  }
  MPI_Barrier(world);
}

TEST(Checkpoint, ChangedBytesAreFoundByTheChecksums) {
  TempDir dir("checkpoint");
  const std::string path = dir.file("ckpt.h5");
  const auto params = random_parameters<float>(small_shape(), 5);
  wf::model::write_checkpoint(params, TrainingState{3, 42, 9}, deck, path, world);
  flip_bit(path, "/adam/m/layers.0.attn.wq.weight");
  Parameters<float> read(small_shape());
  const auto before = host_copy<float>(read.values);
  expect_error([&] { wf::model::read_checkpoint(read, path, world); },
               {path + ": /adam/m/layers.0.attn.wq.weight: checksum mismatch"});
  EXPECT_TRUE(bitwise_equal(host_copy<float>(read.values), before)) << "a failed read changes nothing";

  wf::model::write_checkpoint(params, TrainingState{3, 42, 9}, deck, path, world);
  change_file(path, [](hid_t file) {
    const hid_t attribute = H5Aopen(file, "data_sample", H5P_DEFAULT);
    const std::int64_t forged = 10;
    H5Awrite(attribute, H5T_NATIVE_INT64, &forged);
    H5Aclose(attribute);
  });
  expect_error([&] { wf::model::read_checkpoint(read, path, world); }, {path + ": state checksum mismatch"});
  change_file(path, [](hid_t file) {
    const hid_t attribute = H5Aopen(file, "step", H5P_DEFAULT);
    const std::int64_t forged = -3;
    H5Awrite(attribute, H5T_NATIVE_INT64, &forged);
    H5Aclose(attribute);
  });
  expect_error([&] { wf::model::read_checkpoint(read, path, world); }, {path + ": attribute step = -3 is negative"});
}

TEST(Checkpoint, NonFiniteValuesAreRefusedUnlessAllowed) {
  TempDir dir("checkpoint");
  const std::string path = dir.file("ckpt.h5");
  auto params = random_parameters<double>(small_shape(), 6);
  auto v = Kokkos::create_mirror_view(params.adam_v);
  Kokkos::deep_copy(v, params.adam_v);
  v(7) = -1.0;  // a negative second moment: finite, but no AdamW state can hold it
  Kokkos::deep_copy(params.adam_v, v);
  wf::model::write_checkpoint(params, TrainingState{3, 42, 9}, deck, path, world);
  Parameters<double> read(small_shape());
  expect_error([&] { wf::model::read_checkpoint(read, path, world); },
               {path + ": -1 at element 7 of /adam/v/embed.weight (values must be finite and >= 0"});

  auto values = Kokkos::create_mirror_view(params.values);
  Kokkos::deep_copy(values, params.values);
  values(3) = std::nan("");
  Kokkos::deep_copy(params.values, values);
  const std::string other = dir.file("nan.h5");
  expect_error([&] { wf::model::write_checkpoint(params, TrainingState{4, 42, 9}, deck, other, world); },
               {"after step 4 the model holds nan at element 3 of /params/embed.weight", "no checkpoint written"});
  EXPECT_FALSE(wf::testing::exists_anywhere(other));
  EXPECT_FALSE(wf::testing::exists_anywhere(other + ".tmp"));
  wf::model::write_checkpoint(params, TrainingState{4, 42, 9}, deck, other, world, true);  // an experiment
  EXPECT_EQ(wf::model::read_checkpoint(read, other, world, true).step, 4);
  expect_error([&] { wf::model::load_weights(read, other, world); }, {other + ": nan at element 3 of /params/embed.weight"});
}

TEST(Checkpoint, PathNames) {
  TempDir dir("checkpoint");
  EXPECT_EQ(wf::model::checkpoint_path("runs/gpt", 10), "runs/gpt_step000010.h5");
  EXPECT_EQ(wf::model::checkpoint_path("runs/", 0), "runs/step000000.h5");
  EXPECT_EQ(wf::model::checkpoint_path(dir.path(), 1234567), dir.path() + "/step1234567.h5");
  EXPECT_THROW(wf::model::checkpoint_path("x", -1), wf::Error);
}

}  // namespace

// Parallel HDF5 module: round trips between shardings (exact), conversions, bad inputs that
// fail on every rank with one message, atomic commit, attributes. Runs on 1, 2 and 4 ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "io/hdf5.hpp"
#include "mpi_test_util.hpp"

using wf::io::InputFile;
using wf::io::OutputFile;
using wf::io::TokenRange;

namespace {

const MPI_Comm world = MPI_COMM_WORLD;

using wf::testing::exists_anywhere;
using wf::testing::exists_everywhere;
using wf::testing::expect_error;
using wf::testing::TempDir;
using wf::testing::world_rank;

std::uint64_t ranks() { return static_cast<std::uint64_t>(wf::testing::world_size()); }

void write_text(const std::string& path, const std::string& text) {
  if (world_rank() == 0) std::ofstream(path) << text;
  MPI_Barrier(world);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ---------------------------------------------------------------- shardings and data

std::uint64_t chunk_begin(std::uint64_t tokens, std::uint64_t chunks, std::uint64_t i) { return tokens * i / chunks; }

TokenRange chunk(std::uint64_t tokens, std::uint64_t chunks, std::uint64_t i) {
  const std::uint64_t begin = chunk_begin(tokens, chunks, i);
  return {begin, chunk_begin(tokens, chunks, i + 1) - begin};
}

/// One block per rank, in rank order.
std::vector<TokenRange> contiguous(std::uint64_t tokens) {
  return {chunk(tokens, ranks(), static_cast<std::uint64_t>(world_rank()))};
}

/// 2P chunks; rank r holds chunks r and 2P-1-r (balances causal attention).
std::vector<TokenRange> zigzag(std::uint64_t tokens) {
  const std::uint64_t chunks = 2 * ranks(), r = static_cast<std::uint64_t>(world_rank());
  return {chunk(tokens, chunks, r), chunk(tokens, chunks, chunks - 1 - r)};
}

/// The value of global element `index` (row-major); needs every bit of a float or double.
template <class T>
T value_at(std::uint64_t index) {
  const double x = static_cast<double>(index);
  return static_cast<T>(std::sin(0.37 * x) * 1000.0 + x / 7.0 - 0.1);
}

/// The elements of `ranges` along `axis` of the global tensor of shape dims, in the module's
/// local layout: row-major, only those tokens, in the order of `ranges`.
template <class T>
std::vector<T> slices_of(const std::vector<std::uint64_t>& dims, int axis, const std::vector<TokenRange>& ranges) {
  std::uint64_t outer = 1, inner = 1;
  const std::size_t a = static_cast<std::size_t>(axis);
  for (std::size_t i = 0; i < a; ++i) outer *= dims[i];
  for (std::size_t i = a + 1; i < dims.size(); ++i) inner *= dims[i];
  std::vector<T> local;
  for (std::uint64_t o = 0; o < outer; ++o)
    for (const auto& r : ranges)
      for (std::uint64_t t = r.begin; t < r.begin + r.count; ++t)
        for (std::uint64_t i = 0; i < inner; ++i) local.push_back(value_at<T>((o * dims[a] + t) * inner + i));
  return local;
}

template <class T>
std::vector<T> everything(const std::vector<std::uint64_t>& dims, int axis) {
  return slices_of<T>(dims, axis, {{0, dims[static_cast<std::size_t>(axis)]}});
}

template <class T>
void write_tensor(const std::string& path, const std::string& dataset, const std::vector<std::uint64_t>& dims, int axis,
                  const std::vector<TokenRange>& ranges) {
  auto file = OutputFile::create(path, world);
  const auto local = slices_of<T>(dims, axis, ranges);
  wf::io::write_token_slices<T>(file, dataset, dims, axis, ranges, local.data());
  file.commit();
}

// ---------------------------------------------------------------- round trips

template <class T>
void check_round_trip(const std::vector<std::uint64_t>& dims, int axis) {
  TempDir dir("hdf5");
  const std::uint64_t tokens = dims[static_cast<std::size_t>(axis)];
  for (const bool write_zigzag : {false, true}) {
    SCOPED_TRACE(write_zigzag ? "written by zigzag, read by contiguous" : "written by contiguous, read by zigzag");
    const auto write_ranges = write_zigzag ? zigzag(tokens) : contiguous(tokens);
    const auto read_ranges = write_zigzag ? contiguous(tokens) : zigzag(tokens);
    const std::string path = dir.file("round_trip.h5");
    write_tensor<T>(path, "/output/o", dims, axis, write_ranges);
    auto file = InputFile::open(path, world);
    const auto expected = slices_of<T>(dims, axis, read_ranges);
    std::vector<T> local(expected.size());
    wf::io::read_token_slices<T>(file, "/output/o", dims, axis, read_ranges, local.data());
    EXPECT_EQ(local, expected);
    EXPECT_EQ(wf::io::read_all<T>(file, "output/o"), (everything<T>(dims, axis)));
    EXPECT_EQ(wf::io::dataset_dims(file, "/output/o"), dims);
  }
}

TEST(Hdf5, TokenAxis0RoundTripFloat) { check_round_trip<float>({37, 3, 5}, 0); }
TEST(Hdf5, TokenAxis0RoundTripDouble) { check_round_trip<double>({37, 3, 5}, 0); }
TEST(Hdf5, TokenAxis1RoundTrip) {
  check_round_trip<float>({3, 37}, 1);
  check_round_trip<double>({3, 37}, 1);
  check_round_trip<double>({2, 29, 3}, 1);
}
TEST(Hdf5, Int64RoundTrip) { check_round_trip<std::int64_t>({41}, 0); }

TEST(Hdf5, ReadConvertsBetweenFloatAndDouble) {
  TempDir dir("hdf5");
  const std::vector<std::uint64_t> dims = {23, 2, 3};
  write_tensor<float>(dir.file("f32.h5"), "/input/q", dims, 0, contiguous(23));
  write_tensor<double>(dir.file("f64.h5"), "/input/q", dims, 0, contiguous(23));
  const auto ranges = zigzag(23);
  const auto floats = slices_of<float>(dims, 0, ranges);
  const auto doubles = slices_of<double>(dims, 0, ranges);
  {
    auto file = InputFile::open(dir.file("f32.h5"), world);
    std::vector<double> local(floats.size());
    wf::io::read_token_slices<double>(file, "/input/q", dims, 0, ranges, local.data());
    for (std::size_t i = 0; i < local.size(); ++i) EXPECT_EQ(local[i], static_cast<double>(floats[i])) << i;
    EXPECT_EQ(wf::io::read_all<double>(file, "/input/q").size(), 23u * 2 * 3);
  }
  {
    auto file = InputFile::open(dir.file("f64.h5"), world);
    std::vector<float> local(doubles.size());
    wf::io::read_token_slices<float>(file, "/input/q", dims, 0, ranges, local.data());
    for (std::size_t i = 0; i < local.size(); ++i) EXPECT_EQ(local[i], static_cast<float>(doubles[i])) << i;
    const auto all = wf::io::read_all<float>(file, "/input/q");
    const auto all_doubles = everything<double>(dims, 0);
    for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<float>(all_doubles[i])) << i;
  }
}

TEST(Hdf5, RangesInAnyOrderAndAdjacent) {
  TempDir dir("hdf5");
  const std::vector<std::uint64_t> dims = {4, 43};
  const std::uint64_t chunks = 2 * ranks(), r = static_cast<std::uint64_t>(world_rank());
  const std::vector<TokenRange> reversed = {chunk(43, chunks, chunks - 1 - r), chunk(43, chunks, r)};
  write_tensor<double>(dir.file("order.h5"), "/t", dims, 1, reversed);
  auto file = InputFile::open(dir.file("order.h5"), world);
  EXPECT_EQ(wf::io::read_all<double>(file, "/t"), (everything<double>(dims, 1)));
  // Contiguous share split in two adjacent halves, second half first.
  const TokenRange mine = contiguous(43).front();
  const std::vector<TokenRange> halves = {{mine.begin + mine.count / 2, mine.count - mine.count / 2},
                                          {mine.begin, mine.count / 2}};
  const auto expected = slices_of<double>(dims, 1, halves);
  std::vector<double> local(expected.size());
  wf::io::read_token_slices<double>(file, "/t", dims, 1, halves, local.data());
  EXPECT_EQ(local, expected);
}

TEST(Hdf5, RankWithoutRangesTakesPart) {
  TempDir dir("hdf5");
  const std::vector<std::uint64_t> dims = {31, 2, 4};
  // The last rank owns nothing (alone, rank 0 owns everything plus an empty range).
  const bool idle = ranks() > 1 && static_cast<std::uint64_t>(world_rank()) == ranks() - 1;
  std::vector<TokenRange> ranges;
  if (ranks() == 1) ranges = {{0, 31}, {31, 0}};
  if (!idle && ranks() > 1) ranges = {chunk(31, ranks() - 1, static_cast<std::uint64_t>(world_rank()))};
  {
    auto file = OutputFile::create(dir.file("idle.h5"), world);
    const auto local = slices_of<float>(dims, 0, ranges);
    wf::io::write_token_slices<float>(file, "/output/o", dims, 0, ranges, idle ? nullptr : local.data());
    file.commit();
  }
  auto file = InputFile::open(dir.file("idle.h5"), world);
  EXPECT_EQ(wf::io::read_all<float>(file, "/output/o"), (everything<float>(dims, 0)));
  const auto expected = slices_of<float>(dims, 0, ranges);
  std::vector<float> local(expected.size());
  wf::io::read_token_slices<float>(file, "/output/o", dims, 0, ranges, idle ? nullptr : local.data());
  EXPECT_EQ(local, expected);
}

TEST(Hdf5, WriteAllAndSmallDatasets) {
  TempDir dir("hdf5");
  const std::vector<std::int64_t> ids = {0, -1, (std::int64_t{1} << 62) + 3, 42, 7};
  const double scalar = 0.1;
  {
    auto file = OutputFile::create(dir.file("small.h5"), world);
    // Only rank 0's data is written; the others pass nothing.
    wf::io::write_all<std::int64_t>(file, "/tokens/ids", {5}, world_rank() == 0 ? ids.data() : nullptr);
    wf::io::write_all<double>(file, "/summary/loss", {}, world_rank() == 0 ? &scalar : nullptr);
    wf::io::write_all<float>(file, "/summary/empty", {0, 3}, nullptr);
    file.commit();
  }
  auto file = InputFile::open(dir.file("small.h5"), world);
  EXPECT_EQ(wf::io::read_all<std::int64_t>(file, "/tokens/ids"), ids);
  EXPECT_EQ(wf::io::read_all<double>(file, "/summary/loss"), std::vector<double>{scalar});
  EXPECT_TRUE(wf::io::dataset_dims(file, "/summary/loss").empty());
  EXPECT_TRUE(wf::io::read_all<float>(file, "/summary/empty").empty());
  EXPECT_EQ(wf::io::dataset_dims(file, "/summary/empty"), (std::vector<std::uint64_t>{0, 3}));
  EXPECT_TRUE(wf::io::has_dataset(file, "/tokens/ids"));
  EXPECT_TRUE(wf::io::has_dataset(file, "summary/loss"));
  EXPECT_FALSE(wf::io::has_dataset(file, "/tokens"));
  EXPECT_FALSE(wf::io::has_dataset(file, "/nothing"));
  EXPECT_FALSE(wf::io::has_dataset(file, "/nothing/deeper"));
  EXPECT_FALSE(wf::io::has_dataset(file, "/tokens/ids/below"));
}

// ---------------------------------------------------------------- bad inputs

TEST(Hdf5, BadFilesFailOnEveryRank) {
  TempDir dir("hdf5");
  const std::string missing = dir.file("missing.h5"), text = dir.file("text.h5");
  testing::internal::CaptureStderr();
  expect_error([&] { InputFile::open(missing, world); }, {"cannot open HDF5 file '" + missing + "': no such file"});
  write_text(text, "not HDF5 at all\n");
  expect_error([&] { InputFile::open(text, world); }, {"cannot open HDF5 file '" + text + "': not an HDF5 file"});
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "") << "HDF5 printed its error stack";
  expect_error([&] { wf::io::FileHandle(H5Fopen(missing.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open " + missing); },
               {"open " + missing + ": "});
}

TEST(Hdf5, BadDatasetsFailOnEveryRank) {
  TempDir dir("hdf5");
  const std::string path = dir.file("x.h5");
  const std::vector<std::uint64_t> dims = {100, 8, 4};
  {
    auto file = OutputFile::create(path, world);
    const auto local = slices_of<float>(dims, 0, contiguous(100));
    wf::io::write_token_slices<float>(file, "/input/q", dims, 0, contiguous(100), local.data());
    std::vector<std::int64_t> ids(100, 3);
    wf::io::write_all<std::int64_t>(file, "/input/ids", {100}, ids.data());
    expect_error([&] { wf::io::write_all<std::int64_t>(file, "/input/ids", {100}, ids.data()); },
                 {path + ": /input/ids already exists"});
    if (ranks() > 1)
      expect_error(
          [&] { wf::io::write_all<double>(file, "/bad", {static_cast<std::uint64_t>(world_rank()) + 1}, nullptr); },
          {path + ": /bad: ranks disagree"});
    file.commit();
  }
  auto file = InputFile::open(path, world);
  const auto mine = contiguous(100);
  std::vector<float> local(slices_of<float>(dims, 0, mine).size());
  auto read = [&](const std::string& dataset, const std::vector<std::uint64_t>& expected,
                  const std::vector<TokenRange>& ranges, int axis = 0) {
    wf::io::read_token_slices<float>(file, dataset, expected, axis, ranges, local.data());
  };
  expect_error([&] { read("/input/k", dims, mine); }, {path + ": dataset /input/k not found"});
  expect_error([&] { read("/nowhere/k", dims, mine); }, {path + ": dataset /nowhere/k not found"});
  expect_error([&] { read("/input", dims, mine); }, {path + ": /input is not a dataset"});
  expect_error(
      [&] {
        read("/input/q", {128, 8, 4}, contiguous(128));
      },
      {path + ": /input/q has shape [100][8][4], expected [128][8][4]"});
  expect_error(
      [&] {
        read("/input/q", {100, 32}, mine);
      },
      {path + ": /input/q has shape [100][8][4], expected [100][32]"});
  expect_error([&] { read("/input/ids", {100}, mine); },
               {path + ": /input/ids has type int64, expected float32 or float64"});
  expect_error([&] { wf::io::read_all<std::int64_t>(file, "/input/q"); },
               {path + ": /input/q has type float32, expected an integer type"});
  expect_error([&] { read("/input/q", dims, mine, 3); },
               {"/input/q: token_axis 3 is out of range for shape [100][8][4]"});
  expect_error(
      [&] {
        read("/input/q", dims, {{0, 10}, {5, 10}});
      },
      {"/input/q: token ranges [0, 10) and [5, 15) overlap"});
  expect_error([&] { wf::io::dataset_dims(file, "/input/v"); }, {path + ": dataset /input/v not found"});
  // A bad range on the last rank only: every rank throws, naming that rank when there are others.
  const bool last = static_cast<std::uint64_t>(world_rank()) == ranks() - 1;
  const std::vector<TokenRange> ranges = last ? std::vector<TokenRange>{{95, 10}} : std::vector<TokenRange>{};
  const std::string culprit = ranks() > 1 ? "rank " + std::to_string(ranks() - 1) + ": " : "";
  expect_error([&] { read("/input/q", dims, ranges); },
               {culprit + path + ": /input/q: token range [95, 105) is outside [0, 100)"});
}

// ---------------------------------------------------------------- atomic write

TEST(Hdf5, UncommittedFileLeavesNothing) {
  TempDir dir("hdf5");
  const std::string path = dir.file("atomic.h5");
  {
    auto file = OutputFile::create(path, world);
    EXPECT_TRUE(exists_everywhere(file.temporary_path()));
    EXPECT_FALSE(exists_anywhere(path));
    wf::io::write_all<double>(file, "/a", {2}, std::vector<double>{1, 2}.data());
  }
  EXPECT_FALSE(exists_anywhere(path));
  EXPECT_FALSE(exists_anywhere(path + ".tmp"));
  // An error half-way (collective, so every rank unwinds) also leaves nothing.
  expect_error(
      [&] {
        auto file = OutputFile::create(path, world);
        wf::io::write_all<double>(file, "/a", {1}, std::vector<double>{1}.data());
        wf::io::write_token_slices<double>(file, "/b", {4}, 0, {{3, 2}}, nullptr);
        file.commit();
      },
      {"/b: token range [3, 5) is outside [0, 4)"});
  EXPECT_FALSE(exists_anywhere(path));
  EXPECT_FALSE(exists_anywhere(path + ".tmp"));
}

TEST(Hdf5, CommitReplacesAnExistingFileOnlyThen) {
  TempDir dir("hdf5");
  const std::string path = dir.file("replace.h5");
  write_text(path, "previous results\n");
  {
    auto file = OutputFile::create(path, world);
    wf::io::write_all<double>(file, "/a", {1}, std::vector<double>{5}.data());
  }  // abandoned: the previous file stays
  EXPECT_EQ(read_text(path), "previous results\n");
  auto file = OutputFile::create(path, world);
  wf::io::write_all<double>(file, "/a", {1}, std::vector<double>{5}.data());
  MPI_Barrier(world);
  EXPECT_EQ(read_text(path), "previous results\n");
  file.commit();
  EXPECT_TRUE(file.committed());
  EXPECT_FALSE(exists_anywhere(path + ".tmp"));
  EXPECT_TRUE(exists_everywhere(path));
  auto input = InputFile::open(path, world);
  EXPECT_EQ(wf::io::read_all<double>(input, "/a"), std::vector<double>{5});
  expect_error([&] { file.commit(); }, {"commit() on a committed"});
  expect_error([&] { wf::io::write_all<double>(file, "/b", {1}, nullptr); }, {"already committed"});
}

// ---------------------------------------------------------------- attributes

TEST(Hdf5, AttributesRoundTrip) {
  TempDir dir("hdf5");
  const std::string path = dir.file("attributes.h5");
  std::string deck = "# deck\n[attention]\nheads = 8\nname = \"grüße\"\n";
  while (deck.size() < 100000) deck += "# a long comment line to push the text past 64 KiB\n";
  {
    auto file = OutputFile::create(path, world);
    wf::io::write_all<float>(file, "/output/lse", {2, 3}, std::vector<float>(6, 1.0f).data());
    wf::io::write_attribute(file, "/", "scale", 1.0);  // replaced below
    wf::io::write_attribute(file, "/", "scale", 0.125);
    wf::io::write_attribute(file, "/", "causal", true);
    wf::io::write_attribute(file, "/", "dropout", false);
    wf::io::write_attribute(file, "/", "ranks", static_cast<int>(ranks()));
    wf::io::write_attribute(file, "/", "tokens", std::uint64_t{1} << 40);
    wf::io::write_attribute(file, "/", "int_flag", 1);
    wf::io::write_attribute(file, "/", "software", "WallFacer");
    wf::io::write_attribute(file, "/", "deck", deck);
    wf::io::write_attribute(file, "/", "empty", std::string());
    wf::io::write_attribute(file, "/", "date", "rank " + std::to_string(world_rank()));  // rank 0's wins
    wf::io::write_attribute(file, "/output/lse", "log", "natural");
    wf::io::write_attribute(file, "output", "count", std::int64_t{-7});
    expect_error([&] { wf::io::write_attribute(file, "/missing", "x", 1.0); }, {path + ": object /missing not found"});
    expect_error([&] { wf::io::write_attribute(file, "/", "huge", ~std::uint64_t{0}); },
                 {"attribute 'huge' on /: the value does not fit in int64"});
    // A fixed-length, space-padded string, as other tools write them.
    const std::string where = "fixed string";
    wf::io::DatatypeHandle type(H5Tcopy(H5T_C_S1), where);
    wf::io::check(H5Tset_size(type.get(), 8), where);
    wf::io::check(H5Tset_strpad(type.get(), H5T_STR_SPACEPAD), where);
    wf::io::DataspaceHandle space(H5Screate(H5S_SCALAR), where);
    wf::io::AttributeHandle attribute(H5Acreate2(file.id(), "fixed", type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                                      where);
    wf::io::check(H5Awrite(attribute.get(), type.get(), "abc     "), where);
    attribute.close(where);
    file.commit();
  }
  auto file = InputFile::open(path, world);
  using wf::io::read_attribute;
  EXPECT_EQ(read_attribute<double>(file, "/", "scale"), 0.125);
  EXPECT_TRUE(read_attribute<bool>(file, "/", "causal"));
  EXPECT_FALSE(read_attribute<bool>(file, "/", "dropout"));
  EXPECT_EQ(read_attribute<std::int64_t>(file, "/", "ranks"), static_cast<std::int64_t>(ranks()));
  EXPECT_EQ(read_attribute<double>(file, "/", "ranks"), static_cast<double>(ranks()));
  EXPECT_TRUE(read_attribute<bool>(file, "/", "int_flag")) << "an integer 0/1 reads as bool";
  EXPECT_EQ(read_attribute<std::int64_t>(file, "/", "tokens"), std::int64_t{1} << 40);
  EXPECT_EQ(read_attribute<std::string>(file, "/", "software"), "WallFacer");
  EXPECT_EQ(read_attribute<std::string>(file, "/", "deck"), deck);
  EXPECT_EQ(read_attribute<std::string>(file, "/", "empty"), "");
  EXPECT_EQ(read_attribute<std::string>(file, "/", "date"), "rank 0");
  EXPECT_EQ(read_attribute<std::string>(file, "/output/lse", "log"), "natural");
  EXPECT_EQ(read_attribute<std::int64_t>(file, "/output", "count"), -7);
  EXPECT_EQ(read_attribute<std::string>(file, "/", "fixed"), "abc");
  expect_error([&] { read_attribute<double>(file, "/", "nope"); }, {path + ": attribute 'nope' not found on /"});
  expect_error([&] { read_attribute<double>(file, "/nope", "scale"); }, {path + ": object /nope not found"});
  expect_error([&] { read_attribute<std::int64_t>(file, "/", "scale"); },
               {path + ": attribute 'scale' on / has type float64, expected int64"});
  expect_error([&] { read_attribute<std::string>(file, "/", "causal"); },
               {"attribute 'causal' on / has type enum, expected string"});
  expect_error([&] { read_attribute<double>(file, "/", "deck"); }, {"'deck' on / has type string, expected float64"});
  expect_error([&] { read_attribute<bool>(file, "/", "tokens"); },
               {"attribute 'tokens' on / has value 1099511627776, expected 0 or 1"});
}

}  // namespace

namespace {

// Runs last (GoogleTest keeps definition order): every test above closed all it opened, errors included.
TEST(Hdf5, NoFileOrObjectLeftOpen) { EXPECT_EQ(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0); }

}  // namespace

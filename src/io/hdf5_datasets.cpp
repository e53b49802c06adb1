#include "io/hdf5.hpp"

#include <algorithm>
#include <numeric>

#include "comm/deadline.hpp"
#include "io/hdf5_detail.hpp"
#include "io/output_path.hpp"

namespace wf::io {

using namespace detail;

namespace {

// ---------------------------------------------------------------- element types

/// How an element type T is stored, read and checked.
template <class T>
struct Element;
template <>
struct Element<float> {
  static hid_t memory() { return H5T_NATIVE_FLOAT; }
  static hid_t file() { return H5T_IEEE_F32LE; }
  static bool accepts(hid_t type) { return is_float32_or_64(type); }
  static constexpr const char* expected = "float32 or float64";
};
template <>
struct Element<double> {
  static hid_t memory() { return H5T_NATIVE_DOUBLE; }
  static hid_t file() { return H5T_IEEE_F64LE; }
  static bool accepts(hid_t type) { return is_float32_or_64(type); }
  static constexpr const char* expected = "float32 or float64";
};
template <>
struct Element<std::int64_t> {
  static hid_t memory() { return H5T_NATIVE_INT64; }
  static hid_t file() { return H5T_STD_I64LE; }
  static bool accepts(hid_t type) { return is_integer(type); }
  static constexpr const char* expected = "an integer type";
};

/// Opens dataset `path` and checks that T can be read from it (and, if given, its shape).
template <class T>
DatasetHandle open_checked(const Location& f, const std::string& path, const std::vector<std::uint64_t>* expected) {
  DatasetHandle dataset = open_dataset(f, path);
  const std::string where = f.name + ": " + path;
  const DatatypeHandle type(H5Dget_type(dataset.get()), where + ": cannot read the type");
  require(Element<T>::accepts(type.get()),
          where + " has type " + type_name(type.get()) + ", expected " + Element<T>::expected);
  if (expected != nullptr) {
    const auto dims = dims_of(dataset.get(), where);
    require(dims == *expected, where + " has shape " + shape_text(dims) + ", expected " + shape_text(*expected));
  }
  return dataset;
}

// ---------------------------------------------------------------- token slices

/// One rank's share of a token-sliced transfer, checked.
struct Slices {
  std::vector<std::uint64_t> dims;
  int axis = 0;
  std::vector<std::size_t> order;  ///< indices of the ranges sorted by begin (file order)
  bool in_file_order = true;
  std::uint64_t outer = 1, inner = 1;  ///< elements before / after the token axis
  std::uint64_t local_tokens = 0, local_elements = 0;
  std::uint64_t total_elements = 0;  ///< of the dataset; 0: nothing to transfer (and no storage)
};

std::string range_text(const TokenRange& r) {
  return "[" + std::to_string(r.begin) + ", " + std::to_string(r.begin + r.count) + ")";
}

Slices plan_slices(const std::string& where, const std::vector<std::uint64_t>& dims, int axis,
                   const std::vector<TokenRange>& ranges) {
  Slices s;
  s.dims = dims;
  s.axis = axis;
  require(!dims.empty(), where + ": a token-sliced dataset needs at least one dimension");
  require(axis >= 0 && static_cast<std::size_t>(axis) < dims.size(),
          where + ": token_axis " + std::to_string(axis) + " is out of range for shape " + shape_text(dims));
  s.total_elements = element_count(dims, where);
  const std::uint64_t tokens = dims[static_cast<std::size_t>(axis)];
  for (int i = 0; i < axis; ++i) s.outer *= dims[static_cast<std::size_t>(i)];
  for (std::size_t i = static_cast<std::size_t>(axis) + 1; i < dims.size(); ++i) s.inner *= dims[i];
  for (const auto& r : ranges) {
    require(r.begin <= tokens && r.count <= tokens - r.begin,
            where + ": token range " + range_text(r) + " is outside [0, " + std::to_string(tokens) + ")");
    s.local_tokens += r.count;
  }
  s.local_elements = s.outer * s.local_tokens * s.inner;  // <= element_count(dims) once ranges are disjoint
  s.order.resize(ranges.size());
  std::iota(s.order.begin(), s.order.end(), std::size_t{0});
  std::stable_sort(s.order.begin(), s.order.end(),
                   [&](std::size_t a, std::size_t b) { return ranges[a].begin < ranges[b].begin; });
  const TokenRange* previous = nullptr;
  for (std::size_t k = 0; k < s.order.size(); ++k) {
    const TokenRange& r = ranges[s.order[k]];
    if (s.order[k] != k) s.in_file_order = false;
    if (r.count == 0) continue;
    if (previous != nullptr && previous->begin + previous->count > r.begin)
      throw Error(where + ": token ranges " + range_text(*previous) + " and " + range_text(r) + " overlap");
    previous = &r;
  }
  return s;
}

/// Copies the local elements between the caller's range order and file (sorted) order.
template <class T>
void reorder(const Slices& s, const std::vector<TokenRange>& ranges, const T* from, T* to, bool to_file_order) {
  std::vector<std::uint64_t> caller_offset(ranges.size()), file_offset(ranges.size());
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    caller_offset[i] = offset;
    offset += ranges[i].count;
  }
  offset = 0;
  for (const std::size_t i : s.order) {
    file_offset[i] = offset;
    offset += ranges[i].count;
  }
  for (std::uint64_t o = 0; o < s.outer; ++o) {
    const std::uint64_t base = o * s.local_tokens * s.inner;
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      const std::uint64_t a = base + caller_offset[i] * s.inner, b = base + file_offset[i] * s.inner;
      const std::uint64_t length = ranges[i].count * s.inner;
      std::copy_n(from + (to_file_order ? a : b), length, to + (to_file_order ? b : a));
    }
  }
}

/// The file selection of this rank: all axes but the token axis, tokens from `ranges`.
DataspaceHandle select_tokens(hid_t dataset, const Slices& s, const std::vector<TokenRange>& ranges,
                              const std::string& where) {
  DataspaceHandle space(H5Dget_space(dataset), where);
  check(H5Sselect_none(space.get()), where);
  std::vector<hsize_t> start(s.dims.size(), 0), count(s.dims.begin(), s.dims.end());
  for (const std::size_t i : s.order) {
    if (ranges[i].count == 0) continue;
    start[static_cast<std::size_t>(s.axis)] = ranges[i].begin;
    count[static_cast<std::size_t>(s.axis)] = ranges[i].count;
    check(H5Sselect_hyperslab(space.get(), H5S_SELECT_OR, start.data(), nullptr, count.data(), nullptr), where);
  }
  return space;
}

/// A failed write in words: the HDF5 reason, and what is wrong with the place (no space, ...).
[[noreturn]] void throw_write_failure(const std::string& where) {
  const std::string reason = hdf5_reason();
  const std::string hint = write_failure_hint(where.substr(0, where.find(": ")));
  throw Error(where + ": cannot write: " + (hint.empty() ? reason : hint + " [" + reason + "]"));
}

/// Collective hyperslab transfer of this rank's slices: writes `out` or reads into `in`.
template <class T>
void transfer_slices(hid_t dataset, const Slices& s, const std::vector<TokenRange>& ranges, bool writing, const T* out,
                     T* in, const std::string& where) {
  if (s.total_elements == 0) return;  // HDF5 1.10 fails on transfers to storage never allocated
  const DataspaceHandle file_space = select_tokens(dataset, s, ranges, where);
  const DataspaceHandle memory = memory_space(s.local_elements, where);
  const PropertyListHandle transfer = collective_transfer(where);
  const bool staged = !s.in_file_order && s.local_elements > 0;
  std::vector<T> staging(staged ? s.local_elements : 0);
  T placeholder{};  // HDF5 wants a buffer even for an empty selection
  if (writing) {
    if (staged) reorder(s, ranges, out, staging.data(), true);
    const T* data = s.local_elements == 0 ? &placeholder : staged ? staging.data() : out;
    if (H5Dwrite(dataset, Element<T>::memory(), memory.get(), file_space.get(), transfer.get(), data) < 0)
      throw_write_failure(where);
  } else {
    T* data = s.local_elements == 0 ? &placeholder : staged ? staging.data() : in;
    check(H5Dread(dataset, Element<T>::memory(), memory.get(), file_space.get(), transfer.get(), data),
          where + ": cannot read");
    if (staged) reorder(s, ranges, staging.data(), in, false);
  }
}

std::string signature(const std::string& path, const std::vector<std::uint64_t>& dims, int axis) {
  return path + "\n" + shape_text(dims) + "\n" + std::to_string(axis);
}

}  // namespace

// ---------------------------------------------------------------- public: datasets

template <class T>
void write_token_slices(OutputFile& file, const std::string& path, const std::vector<std::uint64_t>& dims,
                        int token_axis, const std::vector<TokenRange>& ranges, const T* local) {
  const Location f = location(file);
  const std::string name = absolute(path), where = f.name + ": " + name;
  const comm::DeadlineGuard guard("HDF5 write " + name + " to '" + f.name + "'");
  require_same_on_all_ranks(f.comm, where, signature(name, dims, token_axis));
  Slices s;
  collectively(f.comm, [&] {
    require_open(f);
    s = plan_slices(where, dims, token_axis, ranges);
    require(local != nullptr || s.local_elements == 0, where + ": no local data given for the token ranges");
  });
  DatasetHandle dataset;
  collectively(f.comm, [&] { dataset = create_dataset(f, name, Element<T>::file(), dims); });
  collectively(f.comm, [&] { transfer_slices<T>(dataset.get(), s, ranges, true, local, nullptr, where); });
}

template <class T>
void read_token_slices(InputFile& file, const std::string& path, const std::vector<std::uint64_t>& expected_dims,
                       int token_axis, const std::vector<TokenRange>& ranges, T* local) {
  const Location f = location(file);
  const std::string name = absolute(path), where = f.name + ": " + name;
  const comm::DeadlineGuard guard("HDF5 read " + name + " from '" + f.name + "'");
  require_same_on_all_ranks(f.comm, where, signature(name, expected_dims, token_axis));
  Slices s;
  DatasetHandle dataset;
  collectively(f.comm, [&] {
    s = plan_slices(where, expected_dims, token_axis, ranges);
    require(local != nullptr || s.local_elements == 0, where + ": no local buffer given for the token ranges");
    dataset = open_checked<T>(f, name, &expected_dims);
  });
  collectively(f.comm, [&] { transfer_slices<T>(dataset.get(), s, ranges, false, nullptr, local, where); });
}

template <class T>
std::vector<T> read_all(InputFile& file, const std::string& path) {
  const Location f = location(file);
  const std::string name = absolute(path), where = f.name + ": " + name;
  const comm::DeadlineGuard guard("HDF5 read " + name + " from '" + f.name + "'");
  require_same_on_all_ranks(f.comm, where, name);
  DatasetHandle dataset;
  std::vector<T> values;
  collectively(f.comm, [&] {
    dataset = open_checked<T>(f, name, nullptr);
    values.resize(element_count(dims_of(dataset.get(), where), where));
  });
  if (values.empty()) return values;  // same on every rank: the shape is
  collectively(f.comm, [&] {
    const PropertyListHandle transfer = collective_transfer(where);
    check(H5Dread(dataset.get(), Element<T>::memory(), H5S_ALL, H5S_ALL, transfer.get(), values.data()),
          where + ": cannot read");
  });
  return values;
}

template <class T>
void write_all(OutputFile& file, const std::string& path, const std::vector<std::uint64_t>& dims, const T* data) {
  const Location f = location(file);
  const std::string name = absolute(path), where = f.name + ": " + name;
  const comm::DeadlineGuard guard("HDF5 write " + name + " to '" + f.name + "'");
  require_same_on_all_ranks(f.comm, where, signature(name, dims, 0));
  const bool writer = rank_of(f.comm) == 0;
  std::uint64_t count = 0;
  collectively(f.comm, [&] {
    require_open(f);
    count = element_count(dims, where);
    require(!writer || data != nullptr || count == 0, where + ": no data given on rank 0");
  });
  DatasetHandle dataset;
  collectively(f.comm, [&] { dataset = create_dataset(f, name, Element<T>::file(), dims); });
  if (count == 0) return;  // same on every rank; HDF5 1.10 fails on writes to storage never allocated
  collectively(f.comm, [&] {
    const DataspaceHandle file_space(H5Dget_space(dataset.get()), where);
    check(writer && count > 0 ? H5Sselect_all(file_space.get()) : H5Sselect_none(file_space.get()), where);
    const DataspaceHandle memory = memory_space(writer ? count : 0, where);
    const PropertyListHandle transfer = collective_transfer(where);
    const T placeholder{};
    if (H5Dwrite(dataset.get(), Element<T>::memory(), memory.get(), file_space.get(), transfer.get(),
                 writer ? data : &placeholder) < 0)
      throw_write_failure(where);
  });
}

std::vector<std::uint64_t> dataset_dims(InputFile& file, const std::string& path) {
  const Location f = location(file);
  const std::string name = absolute(path);
  const comm::DeadlineGuard guard("HDF5 read the shape of " + name + " from '" + f.name + "'");
  std::vector<std::uint64_t> dims;
  collectively(f.comm, [&] { dims = dims_of(open_dataset(f, name).get(), f.name + ": " + name); });
  return dims;
}

bool has_dataset(InputFile& file, const std::string& path) {
  const Location f = location(file);
  const std::string name = absolute(path);
  const comm::DeadlineGuard guard("HDF5 look up " + name + " in '" + f.name + "'");
  if (!links_exist(f.file, name)) return false;
  const hid_t object = H5Oopen(f.file, name.c_str(), H5P_DEFAULT);
  if (object < 0) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  const bool is_dataset = H5Iget_type(object) == H5I_DATASET;
  H5Oclose(object);
  return is_dataset;
}

// ---------------------------------------------------------------- instantiations

#define WF_IO_INSTANTIATE(T)                                                                                   \
  template void write_token_slices<T>(OutputFile&, const std::string&, const std::vector<std::uint64_t>&, int, \
                                      const std::vector<TokenRange>&, const T*);                               \
  template void read_token_slices<T>(InputFile&, const std::string&, const std::vector<std::uint64_t>&, int,   \
                                     const std::vector<TokenRange>&, T*);                                      \
  template std::vector<T> read_all<T>(InputFile&, const std::string&);                                         \
  template void write_all<T>(OutputFile&, const std::string&, const std::vector<std::uint64_t>&, const T*);
WF_IO_INSTANTIATE(float)
WF_IO_INSTANTIATE(double)
WF_IO_INSTANTIATE(std::int64_t)
#undef WF_IO_INSTANTIATE

}  // namespace wf::io

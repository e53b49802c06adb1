// Parallel HDF5 I/O: RAII handles, atomically committed output files, and datasets that hold
// distributed tensors in global token order whatever the sharding. See docs/hdf5.md.
//
// Every function here is collective over the file's communicator: all ranks call it, in the
// same order, with the same path, dims and token_axis (the parallel HDF5 metadata rule). Errors
// are collective too: when any rank fails, every rank throws wf::Error with the same message.
// Every call runs under the process deadline (comm::DeadlineGuard): a rank that never arrives
// ends the job with one line naming it, instead of leaving the others in MPI-IO for good.
#pragma once

#include <hdf5.h>
#include <mpi.h>

#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "comm/collective_errors.hpp"
#include "core/error.hpp"

namespace wf::io {

/// \brief The reason of the HDF5 call that just failed (from the HDF5 error stack, then cleared).
std::string hdf5_reason();

/// \brief Throws wf::Error("<what>: <HDF5 reason>") when status < 0; returns status otherwise.
herr_t check(herr_t status, const std::string& what);

/// \brief Owner of one HDF5 identifier, closed with `Close` (H5Fclose, H5Dclose, ...).
template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() = default;
  /// \brief Takes `id`; throws wf::Error("<what>: <HDF5 reason>") when the call that made it failed.
  Handle(hid_t id, const std::string& what) : id_(id) {
    if (id < 0) throw Error(what + ": " + hdf5_reason());
  }
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(other.release()) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = other.release();
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  /// \brief The identifier, for HDF5 calls.
  hid_t get() const { return id_; }
  /// \brief True while an identifier is held.
  bool valid() const { return id_ >= 0; }
  /// \brief Gives up ownership without closing.
  hid_t release() {
    const hid_t id = id_;
    id_ = H5I_INVALID_HID;
    return id;
  }
  /// \brief Closes now, ignoring failure (destructors, error paths).
  void reset() {
    if (id_ >= 0) Close(id_);
    id_ = H5I_INVALID_HID;
  }
  /// \brief Closes now; throws wf::Error("<what>: <HDF5 reason>") when closing fails.
  void close(const std::string& what) { check(Close(release()), what); }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using FileHandle = Handle<H5Fclose>;
using GroupHandle = Handle<H5Gclose>;
using DatasetHandle = Handle<H5Dclose>;
using DataspaceHandle = Handle<H5Sclose>;
using DatatypeHandle = Handle<H5Tclose>;
using PropertyListHandle = Handle<H5Pclose>;
using AttributeHandle = Handle<H5Aclose>;
using ObjectHandle = Handle<H5Oclose>;

/// An output file written collectively under `path + ".tmp"` and renamed to `path` by commit().
/// Destroyed without commit (an exception on every rank, say), it closes and removes the .tmp
/// file: `path` only ever holds a complete file, and an existing one is replaced only by commit.
/// A stale `.tmp` (a crashed run's, or a symlink) is removed, never followed; a directory there
/// is an error. Construction, commit and destruction are collective, each step under the process
/// deadline (comm/deadline.hpp); `comm` must outlive the object.
class OutputFile {
 public:
  /// \brief Collective: creates (truncates) `path + ".tmp"` with the MPI-IO driver on `comm`.
  static OutputFile create(const std::string& path, MPI_Comm comm);
  /// \brief Collective: closes and removes the .tmp file unless committed.
  ~OutputFile();
  OutputFile(OutputFile&& other) noexcept;
  OutputFile& operator=(OutputFile&& other) noexcept;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  /// \brief Collective: closes the file on every rank, then rank 0 renames it to path(); a
  /// barrier follows, so the file is in place on every rank's return.
  void commit();

  /// \brief The HDF5 file identifier (invalid after commit).
  hid_t id() const { return file_.get(); }
  /// \brief The final path (as given to create).
  const std::string& path() const { return path_; }
  /// \brief The path written until commit: path() + ".tmp".
  std::string temporary_path() const { return path_ + ".tmp"; }
  /// \brief The communicator the file was created on.
  MPI_Comm comm() const { return comm_; }
  /// \brief True once commit() succeeded.
  bool committed() const { return committed_; }

 private:
  OutputFile(FileHandle file, std::string path, MPI_Comm comm);
  void abandon() noexcept;

  FileHandle file_;
  std::string path_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  bool committed_ = false;
};

/// A file opened read-only with the MPI-IO driver; closed (collectively) on destruction.
class InputFile {
 public:
  /// \brief Collective: opens `path`; wf::Error("cannot open HDF5 file 'path': <why>") if it is
  /// missing or not HDF5.
  static InputFile open(const std::string& path, MPI_Comm comm);
  /// \brief Collective: closes the file (under the deadline).
  ~InputFile();
  InputFile(InputFile&&) = default;
  InputFile& operator=(InputFile&&) = default;

  /// \brief The HDF5 file identifier.
  hid_t id() const { return file_.get(); }
  /// \brief The path (as given to open).
  const std::string& path() const { return path_; }
  /// \brief The communicator the file was opened on.
  MPI_Comm comm() const { return comm_; }

 private:
  InputFile(FileHandle file, std::string path, MPI_Comm comm);

  FileHandle file_;
  std::string path_;
  MPI_Comm comm_ = MPI_COMM_NULL;
};

/// \brief Tokens [begin, begin + count) of the global sequence.
struct TokenRange {
  std::uint64_t begin = 0;
  std::uint64_t count = 0;
};

/// \brief Collective: creates dataset `path` (and missing groups) of shape `dims` and element type
/// T (float: IEEE F32LE, double: F64LE, std::int64_t: STD I64LE); each rank writes its `ranges`
/// of tokens along `token_axis`, all of every other axis. `local` holds exactly those elements,
/// row-major, shaped like `dims` but with the selected tokens, in the order of `ranges`, along
/// token_axis. Ranks with no ranges (or zero counts) take part with an empty selection and may
/// pass nullptr. Ranges of one rank must not overlap; ranks should write disjoint ranges.
template <class T>
void write_token_slices(OutputFile& file, const std::string& path, const std::vector<std::uint64_t>& dims,
                        int token_axis, const std::vector<TokenRange>& ranges, const T* local);

/// \brief Collective: reads this rank's `ranges` of tokens along `token_axis` of dataset `path`
/// into `local` (laid out as in write_token_slices). The dataset must exist, have exactly
/// `expected_dims`, and be float32/float64 for T = float/double (converted to T) or an integer
/// type for T = std::int64_t; otherwise every rank throws wf::Error naming the file and dataset.
template <class T>
void read_token_slices(InputFile& file, const std::string& path, const std::vector<std::uint64_t>& expected_dims,
                       int token_axis, const std::vector<TokenRange>& ranges, T* local);

/// \brief Collective: the whole dataset `path` on every rank, converted to T (for small datasets);
/// its shape is dataset_dims(file, path).
template <class T>
std::vector<T> read_all(InputFile& file, const std::string& path);

/// \brief Collective: creates dataset `path` of shape `dims` (empty dims: a scalar) and writes
/// `data` (product of dims elements, row-major) from rank 0; other ranks may pass nullptr.
template <class T>
void write_all(OutputFile& file, const std::string& path, const std::vector<std::uint64_t>& dims, const T* data);

/// \brief Collective: the shape of dataset `path` (empty for a scalar); throws if it is missing.
std::vector<std::uint64_t> dataset_dims(InputFile& file, const std::string& path);

/// \brief Collective: true when `path` exists and is a dataset.
bool has_dataset(InputFile& file, const std::string& path);

namespace detail {
void write_attribute_double(OutputFile& file, const std::string& object_path, const std::string& name, double value);
void write_attribute_int64(OutputFile& file, const std::string& object_path, const std::string& name,
                           std::int64_t value, bool representable);
void write_attribute_bool(OutputFile& file, const std::string& object_path, const std::string& name, bool value);
void write_attribute_string(OutputFile& file, const std::string& object_path, const std::string& name,
                            const std::string& value);
template <class>
inline constexpr bool unsupported_attribute = false;
}  // namespace detail

/// \brief Collective: sets attribute `name` on the group or dataset `object_path` ("/" for the
/// root), replacing an existing one. Stored types: floating point -> float64, integers -> int64,
/// bool -> enum {FALSE = 0, TRUE = 1} over int8 (as h5py stores numpy bools), strings ->
/// variable-length UTF-8. Rank 0's value is written (so a per-rank date cannot diverge).
template <class V>
void write_attribute(OutputFile& file, const std::string& object_path, const std::string& name, const V& value) {
  if constexpr (std::is_same_v<V, bool>) {
    detail::write_attribute_bool(file, object_path, name, value);
  } else if constexpr (std::is_integral_v<V>) {
    bool representable = true;
    if constexpr (std::is_unsigned_v<V>)
      representable =
          static_cast<std::uint64_t>(value) <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    detail::write_attribute_int64(file, object_path, name, static_cast<std::int64_t>(value), representable);
  } else if constexpr (std::is_floating_point_v<V>) {
    detail::write_attribute_double(file, object_path, name, static_cast<double>(value));
  } else if constexpr (std::is_convertible_v<const V&, std::string>) {
    detail::write_attribute_string(file, object_path, name, std::string(value));
  } else {
    static_assert(detail::unsupported_attribute<V>, "attributes are double, integer, bool or string");
  }
}

/// \brief Collective: true when the group or dataset `object_path` has an attribute `name`.
bool has_attribute(InputFile& file, const std::string& object_path, const std::string& name);

/// \brief Collective: attribute `name` of `object_path`, for V = double (from any float or
/// integer), std::int64_t (from any integer), bool (from an h5py-style enum or a 0/1 integer) or
/// std::string (variable or fixed length); wf::Error naming file, object and attribute otherwise.
template <class V>
V read_attribute(InputFile& file, const std::string& object_path, const std::string& name);

extern template void write_token_slices<float>(OutputFile&, const std::string&, const std::vector<std::uint64_t>&, int,
                                               const std::vector<TokenRange>&, const float*);
extern template void write_token_slices<double>(OutputFile&, const std::string&, const std::vector<std::uint64_t>&, int,
                                                const std::vector<TokenRange>&, const double*);
extern template void write_token_slices<std::int64_t>(OutputFile&, const std::string&,
                                                      const std::vector<std::uint64_t>&, int,
                                                      const std::vector<TokenRange>&, const std::int64_t*);
extern template void read_token_slices<float>(InputFile&, const std::string&, const std::vector<std::uint64_t>&, int,
                                              const std::vector<TokenRange>&, float*);
extern template void read_token_slices<double>(InputFile&, const std::string&, const std::vector<std::uint64_t>&, int,
                                               const std::vector<TokenRange>&, double*);
extern template void read_token_slices<std::int64_t>(InputFile&, const std::string&, const std::vector<std::uint64_t>&,
                                                     int, const std::vector<TokenRange>&, std::int64_t*);
extern template std::vector<float> read_all<float>(InputFile&, const std::string&);
extern template std::vector<double> read_all<double>(InputFile&, const std::string&);
extern template std::vector<std::int64_t> read_all<std::int64_t>(InputFile&, const std::string&);
extern template void write_all<float>(OutputFile&, const std::string&, const std::vector<std::uint64_t>&, const float*);
extern template void write_all<double>(OutputFile&, const std::string&, const std::vector<std::uint64_t>&,
                                       const double*);
extern template void write_all<std::int64_t>(OutputFile&, const std::string&, const std::vector<std::uint64_t>&,
                                             const std::int64_t*);
extern template double read_attribute<double>(InputFile&, const std::string&, const std::string&);
extern template std::int64_t read_attribute<std::int64_t>(InputFile&, const std::string&, const std::string&);
extern template bool read_attribute<bool>(InputFile&, const std::string&, const std::string&);
extern template std::string read_attribute<std::string>(InputFile&, const std::string&, const std::string&);

}  // namespace wf::io

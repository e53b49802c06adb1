#include "io/hdf5.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <utility>

#include "comm/deadline.hpp"
#include "core/region.hpp"
#include "io/hdf5_detail.hpp"
#include "io/output_path.hpp"

namespace fs = std::filesystem;

namespace wf::io {

using namespace detail;

// ---------------------------------------------------------------- errors and collectives

namespace {

herr_t collect_description(unsigned, const H5E_error2_t* error, void* data) {
  auto* descriptions = static_cast<std::vector<std::string>*>(data);
  if (error->desc != nullptr && error->desc[0] != '\0') descriptions->emplace_back(error->desc);
  return 0;
}

/// HDF5 prints its error stack to stderr by default; we report through wf::Error instead.
void quiet_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

}  // namespace

namespace detail {

void require_same_on_all_ranks(MPI_Comm comm, const std::string& where, const std::string& signature) {
  const bool same = broadcast(comm, signature) == signature;
  collectively(comm, [&] { require(same, where + ": ranks disagree on the dataset path, shape or token axis"); });
}

Location location(OutputFile& file) {
  require(file.comm() != MPI_COMM_NULL, "HDF5 output file '" + file.path() + "' was moved from");
  return {file.id(), file.path(), file.comm()};
}
Location location(InputFile& file) {
  require(file.id() >= 0 && file.comm() != MPI_COMM_NULL, "HDF5 input file '" + file.path() + "' was moved from");
  return {file.id(), file.path(), file.comm()};
}
void require_open(const Location& f) { require(f.file >= 0, f.name + ": the file is closed (already committed)"); }

// ---------------------------------------------------------------- names, shapes and types

std::string absolute(const std::string& path) { return !path.empty() && path[0] == '/' ? path : "/" + path; }

std::string shape_text(const std::vector<std::uint64_t>& dims) {
  std::string text = dims.empty() ? "[] (scalar)" : "";
  for (const auto d : dims) text += "[" + std::to_string(d) + "]";
  return text;
}

std::uint64_t element_count(const std::vector<std::uint64_t>& dims, const std::string& where) {
  std::uint64_t count = 1;
  for (const auto d : dims) {
    require(d == 0 || count <= std::numeric_limits<std::uint64_t>::max() / d,
            where + ": shape " + shape_text(dims) + " has too many elements");
    count *= d;
  }
  return count;
}

std::string type_name(hid_t type) {
  const std::string bits = std::to_string(8 * H5Tget_size(type));
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + bits;
    case H5T_FLOAT:
      return "float" + bits;
    case H5T_STRING:
      return "string";
    case H5T_ENUM:
      return "enum";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ARRAY:
      return "array";
    case H5T_VLEN:
      return "variable-length sequence";
    case H5T_BITFIELD:
      return "bitfield";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_REFERENCE:
      return "reference";
    default:
      return "unknown";
  }
}

bool is_float32_or_64(hid_t type) {
  const std::size_t size = H5Tget_size(type);
  return H5Tget_class(type) == H5T_FLOAT && (size == 4 || size == 8);
}
bool is_integer(hid_t type) { return H5Tget_class(type) == H5T_INTEGER; }

// ---------------------------------------------------------------- objects and datasets

bool links_exist(hid_t file, const std::string& path) {
  for (std::size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    const std::string prefix = path.substr(0, end);
    if (prefix.size() > 1 && prefix.back() != '/' && H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    if (end == std::string::npos) return true;
  }
}

ObjectHandle open_object(const Location& f, const std::string& path, const std::string& purpose) {
  require(links_exist(f.file, path), f.name + ": object " + path + " not found" + purpose);
  return ObjectHandle(H5Oopen(f.file, path.c_str(), H5P_DEFAULT), f.name + ": cannot open " + path);
}

DatasetHandle open_dataset(const Location& f, const std::string& path) {
  require(links_exist(f.file, path), f.name + ": dataset " + path + " not found");
  const ObjectHandle object(H5Oopen(f.file, path.c_str(), H5P_DEFAULT), f.name + ": cannot open " + path);
  require(H5Iget_type(object.get()) == H5I_DATASET, f.name + ": " + path + " is not a dataset");
  return DatasetHandle(H5Dopen2(f.file, path.c_str(), H5P_DEFAULT), f.name + ": cannot open dataset " + path);
}

std::vector<std::uint64_t> dims_of(hid_t dataset, const std::string& where) {
  const DataspaceHandle space(H5Dget_space(dataset), where + ": cannot read the shape");
  const int rank = check(H5Sget_simple_extent_ndims(space.get()), where + ": cannot read the shape");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  check(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), where + ": cannot read the shape");
  return std::vector<std::uint64_t>(dims.begin(), dims.end());
}

namespace {

DataspaceHandle make_space(const std::vector<std::uint64_t>& dims, const std::string& where) {
  if (dims.empty()) return DataspaceHandle(H5Screate(H5S_SCALAR), where);
  const std::vector<hsize_t> extent(dims.begin(), dims.end());
  return DataspaceHandle(H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr), where);
}

}  // namespace

DatasetHandle create_dataset(const Location& f, const std::string& path, hid_t type,
                             const std::vector<std::uint64_t>& dims) {
  const std::string where = f.name + ": cannot create dataset " + path;
  require(!links_exist(f.file, path), f.name + ": " + path + " already exists");
  const DataspaceHandle space = make_space(dims, where);
  const PropertyListHandle links(H5Pcreate(H5P_LINK_CREATE), where);
  check(H5Pset_create_intermediate_group(links.get(), 1), where);
  const PropertyListHandle creation(H5Pcreate(H5P_DATASET_CREATE), where);
  check(H5Pset_fill_time(creation.get(), H5D_FILL_TIME_NEVER), where);  // every element gets written
  return DatasetHandle(H5Dcreate2(f.file, path.c_str(), type, space.get(), links.get(), creation.get(), H5P_DEFAULT),
                       where);
}

PropertyListHandle collective_transfer(const std::string& where) {
  PropertyListHandle transfer(H5Pcreate(H5P_DATASET_XFER), where);
  check(H5Pset_dxpl_mpio(transfer.get(), H5FD_MPIO_COLLECTIVE), where);
  return transfer;
}

DataspaceHandle memory_space(std::uint64_t count, const std::string& where) {
  const hsize_t extent = std::max<hsize_t>(count, 1);
  DataspaceHandle space(H5Screate_simple(1, &extent, nullptr), where);
  if (count == 0) check(H5Sselect_none(space.get()), where);
  return space;
}

}  // namespace detail

// ---------------------------------------------------------------- public: errors

std::string hdf5_reason() {
  std::vector<std::string> descriptions;  // from the API call down to where the error was found
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_description, &descriptions);
  H5Eclear2(H5E_DEFAULT);
  if (descriptions.empty()) return "unknown HDF5 error";
  if (descriptions.size() == 1 || descriptions.front() == descriptions.back()) return descriptions.front();
  return descriptions.front() + " (" + descriptions.back() + ")";
}

herr_t check(herr_t status, const std::string& what) {
  if (status < 0) throw Error(what + ": " + hdf5_reason());
  return status;
}

// ---------------------------------------------------------------- public: files

namespace {

/// MPI-IO on `comm`; closing the file also closes objects left open in it (H5F_CLOSE_STRONG),
/// so that commit and abandon always really close (and flush) the file.
PropertyListHandle parallel_access(MPI_Comm comm, const std::string& what) {
  PropertyListHandle access(H5Pcreate(H5P_FILE_ACCESS), what);
  check(H5Pset_fapl_mpio(access.get(), comm, MPI_INFO_NULL), what);
  check(H5Pset_fclose_degree(access.get(), H5F_CLOSE_STRONG), what);
  return access;
}

}  // namespace

OutputFile::OutputFile(FileHandle file, std::string path, MPI_Comm comm)
    : file_(std::move(file)), path_(std::move(path)), comm_(comm) {}

OutputFile OutputFile::create(const std::string& path, MPI_Comm comm) {
  const ProfilingRegion region("IO::create_file");
  const comm::DeadlineGuard guard("HDF5 create '" + path + ".tmp'");
  quiet_hdf5();
  const std::string temporary = path + ".tmp", what = "cannot create HDF5 file '" + temporary + "'";
  collectively(comm, [&] {
    require(!path.empty(), "cannot create an HDF5 file with an empty path");
    if (rank_of(comm) == 0) prepare_temporary_file(path, temporary);  // plain reasons, no symlink followed
  });
  FileHandle file;
  try {
    collectively(comm, [&] {
      const PropertyListHandle access = parallel_access(comm, what);
      file = FileHandle(H5Fcreate(temporary.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get()), what);
    });
  } catch (const Error&) {
    file.reset();
    std::error_code ignored;
    if (rank_of(comm) == 0) fs::remove(temporary, ignored);
    throw;
  }
  return OutputFile(std::move(file), path, comm);
}

OutputFile::OutputFile(OutputFile&& other) noexcept
    : file_(std::move(other.file_)), path_(std::move(other.path_)), comm_(other.comm_), committed_(other.committed_) {
  other.comm_ = MPI_COMM_NULL;
}

OutputFile& OutputFile::operator=(OutputFile&& other) noexcept {
  if (this != &other) {
    abandon();
    file_ = std::move(other.file_);
    path_ = std::move(other.path_);
    comm_ = other.comm_;
    committed_ = other.committed_;
    other.comm_ = MPI_COMM_NULL;
  }
  return *this;
}

OutputFile::~OutputFile() { abandon(); }

void OutputFile::abandon() noexcept {
  if (comm_ == MPI_COMM_NULL || committed_) return;
  if (comm::mpi_finalized()) return;
  {
    const comm::DeadlineGuard guard("HDF5 close (abandoning) '" + temporary_path() + "'");
    file_.reset();  // collective close, errors ignored: the file is being thrown away
  }
  if (rank_of(comm_) == 0) {
    std::error_code ignored;
    fs::remove(temporary_path(), ignored);
  }
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Ibarrier(comm_, &request);
  comm::wait_with_deadline(request, "barrier after abandoning '" + temporary_path() + "'");
  comm_ = MPI_COMM_NULL;
}

void OutputFile::commit() {
  const ProfilingRegion region("IO::commit_file");
  require(comm_ != MPI_COMM_NULL && !committed_,
          "HDF5 file '" + path_ + "': commit() on a committed or moved-from file");
  const std::string temporary = temporary_path();
  const comm::DeadlineGuard guard("HDF5 close and commit '" + temporary + "'");
  // Everyone closes (and so flushes) first; the all-rank check after it is the barrier.
  collectively(comm_, [&] {
    try {
      file_.close("cannot close HDF5 file '" + temporary + "'");
    } catch (const Error& error) {
      const std::string hint = write_failure_hint(temporary);
      throw Error(hint.empty() ? error.what() : "cannot write '" + temporary + "': " + hint + " [" + error.what() + "]");
    }
  });
  collectively(comm_, [&] {
    if (rank_of(comm_) != 0) return;
    std::error_code error;
    fs::rename(temporary, path_, error);  // POSIX rename: atomically replaces an existing file
    require(!error, "cannot rename '" + temporary + "' to '" + path_ + "': " + error.message());
  });
  committed_ = true;
}

InputFile::InputFile(FileHandle file, std::string path, MPI_Comm comm)
    : file_(std::move(file)), path_(std::move(path)), comm_(comm) {}

InputFile::~InputFile() {
  if (!file_.valid() || comm::mpi_finalized()) return;
  const comm::DeadlineGuard guard("HDF5 close '" + path_ + "'");
  file_.reset();
}

InputFile InputFile::open(const std::string& path, MPI_Comm comm) {
  const ProfilingRegion region("IO::open_file");
  const comm::DeadlineGuard guard("HDF5 open '" + path + "'");
  quiet_hdf5();
  const std::string what = "cannot open HDF5 file '" + path + "'";
  collectively(comm, [&] {  // rank 0 looks first, so that every rank gets the same plain reason
    if (rank_of(comm) != 0) return;
    std::error_code error;
    const auto status = fs::status(path, error);
    require(!error || error == std::errc::no_such_file_or_directory, what + ": " + error.message());
    require(fs::exists(status), what + ": no such file");
    require(!fs::is_directory(status), what + ": it is a directory");
#if H5_VERSION_GE(1, 12, 0)
    const htri_t is_hdf5 = H5Fis_accessible(path.c_str(), H5P_DEFAULT);
#else
    const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
#endif
    require(is_hdf5 != 0, what + ": not an HDF5 file");
    check(is_hdf5, what);
  });
  FileHandle file;
  collectively(comm, [&] {
    const PropertyListHandle access = parallel_access(comm, what);
    file = FileHandle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, access.get()), what);
  });
  return InputFile(std::move(file), path, comm);
}

}  // namespace wf::io

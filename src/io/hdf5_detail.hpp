// Internal helpers shared by the HDF5 I/O sources (hdf5.cpp, hdf5_datasets.cpp and
// hdf5_attributes.cpp). They are defined in hdf5.cpp, except collectively, a template defined
// here. Not part of the public API, which is io/hdf5.hpp.
#pragma once

#include <hdf5.h>
#include <mpi.h>

#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "comm/collective_errors.hpp"
#include "comm/mpi_util.hpp"
#include "core/error.hpp"
#include "io/hdf5.hpp"

namespace wf::io::detail {

// ---------------------------------------------------------------- errors and collectives

using comm::broadcast;
using comm::collectively;
using comm::rank_of;

/// Throws on every rank unless every rank passed the same `signature` (path, shape, axis).
void require_same_on_all_ranks(MPI_Comm comm, const std::string& where, const std::string& signature);

struct Location {
  hid_t file;
  std::string name;
  MPI_Comm comm;
};

Location location(OutputFile& file);
Location location(InputFile& file);
void require_open(const Location& f);

// ---------------------------------------------------------------- names, shapes and types

std::string absolute(const std::string& path);
std::string shape_text(const std::vector<std::uint64_t>& dims);
std::uint64_t element_count(const std::vector<std::uint64_t>& dims, const std::string& where);
std::string type_name(hid_t type);
bool is_float32_or_64(hid_t type);
bool is_integer(hid_t type);

// ---------------------------------------------------------------- objects and datasets

/// True when every link on `path` exists (H5Lexists fails on a missing intermediate group).
bool links_exist(hid_t file, const std::string& path);
ObjectHandle open_object(const Location& f, const std::string& path, const std::string& purpose);
DatasetHandle open_dataset(const Location& f, const std::string& path);
std::vector<std::uint64_t> dims_of(hid_t dataset, const std::string& where);
DatasetHandle create_dataset(const Location& f, const std::string& path, hid_t type,
                             const std::vector<std::uint64_t>& dims);
PropertyListHandle collective_transfer(const std::string& where);
/// A one-dimensional memory space of `count` elements (an empty selection when count is 0).
DataspaceHandle memory_space(std::uint64_t count, const std::string& where);

}  // namespace wf::io::detail

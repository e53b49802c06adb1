#include "io/hdf5.hpp"

#include <cctype>

#include "comm/deadline.hpp"
#include "comm/reductions.hpp"
#include "io/hdf5_detail.hpp"

namespace wf::io {

using namespace detail;

// ---------------------------------------------------------------- attributes

namespace {

std::string attribute_where(const Location& f, const std::string& object, const std::string& name) {
  return f.name + ": attribute '" + name + "' on " + object;
}

/// Collective: (re)creates scalar attribute `name` on `object_path` and writes `value`.
void write_scalar_attribute(OutputFile& file, const std::string& object_path, const std::string& name, hid_t file_type,
                            hid_t memory_type, const void* value, bool valid = true) {
  const Location f = location(file);
  const std::string object_name = absolute(object_path), where = attribute_where(f, object_name, name);
  const comm::DeadlineGuard guard("HDF5 write attribute '" + name + "' of " + object_name + " to '" + f.name + "'");
  collectively(f.comm, [&] {
    require_open(f);
    require(valid, where + ": the value does not fit in int64");
    const ObjectHandle object = open_object(f, object_name, " (writing attribute '" + name + "')");
    if (check(H5Aexists(object.get(), name.c_str()), where) > 0)
      check(H5Adelete(object.get(), name.c_str()), where + ": cannot replace");
    const DataspaceHandle space(H5Screate(H5S_SCALAR), where);
    const AttributeHandle attribute(
        H5Acreate2(object.get(), name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
        where + ": cannot create");
    check(H5Awrite(attribute.get(), memory_type, value), where + ": cannot write");
  });
}

/// The h5py boolean: enum {FALSE = 0, TRUE = 1} over an 8-bit integer.
DatatypeHandle bool_type(hid_t base, const std::string& where) {
  DatatypeHandle type(H5Tenum_create(base), where);
  const std::int8_t no = 0, yes = 1;
  check(H5Tenum_insert(type.get(), "FALSE", &no), where);
  check(H5Tenum_insert(type.get(), "TRUE", &yes), where);
  return type;
}

DatatypeHandle utf8_string_type(const std::string& where) {
  DatatypeHandle type(H5Tcopy(H5T_C_S1), where);
  check(H5Tset_size(type.get(), H5T_VARIABLE), where);
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), where);
  return type;
}

struct OpenAttribute {
  ObjectHandle object;
  AttributeHandle attribute;
  DatatypeHandle type;
  std::string where;

  [[noreturn]] void wrong_type(const std::string& expected) const {
    throw Error(where + " has type " + type_name(type.get()) + ", expected " + expected);
  }
};

OpenAttribute open_attribute(const Location& f, const std::string& object_path, const std::string& name) {
  OpenAttribute a;
  const std::string object_name = absolute(object_path);
  a.where = attribute_where(f, object_name, name);
  a.object = open_object(f, object_name, " (reading attribute '" + name + "')");
  require(check(H5Aexists(a.object.get(), name.c_str()), a.where) > 0,
          f.name + ": attribute '" + name + "' not found on " + object_name);
  a.attribute = AttributeHandle(H5Aopen(a.object.get(), name.c_str(), H5P_DEFAULT), a.where + ": cannot open");
  a.type = DatatypeHandle(H5Aget_type(a.attribute.get()), a.where + ": cannot read the type");
  const DataspaceHandle space(H5Aget_space(a.attribute.get()), a.where);
  const hssize_t points = H5Sget_simple_extent_npoints(space.get());
  require(points == 1, a.where + " holds " + std::to_string(points) + " values, expected one");
  return a;
}

double read_double(const OpenAttribute& a) {
  if (!is_integer(a.type.get()) && H5Tget_class(a.type.get()) != H5T_FLOAT) a.wrong_type("float64");
  double value = 0;
  check(H5Aread(a.attribute.get(), H5T_NATIVE_DOUBLE, &value), a.where + ": cannot read");
  return value;
}

std::int64_t read_int64(const OpenAttribute& a) {
  if (!is_integer(a.type.get())) a.wrong_type("int64");
  std::int64_t value = 0;
  check(H5Aread(a.attribute.get(), H5T_NATIVE_INT64, &value), a.where + ": cannot read");
  return value;
}

bool read_bool(const OpenAttribute& a) {
  if (H5Tget_class(a.type.get()) == H5T_ENUM) {
    const DatatypeHandle native(H5Tget_native_type(a.type.get(), H5T_DIR_ASCEND), a.where);
    std::vector<unsigned char> raw(H5Tget_size(native.get()));
    check(H5Aread(a.attribute.get(), native.get(), raw.data()), a.where + ": cannot read");
    char label[16] = {};
    check(H5Tenum_nameof(native.get(), raw.data(), label, sizeof label), a.where + ": not a TRUE/FALSE enum");
    std::string text(label);
    for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    require(text == "TRUE" || text == "FALSE", a.where + " has enum value '" + label + "', expected TRUE or FALSE");
    return text == "TRUE";
  }
  if (!is_integer(a.type.get())) a.wrong_type("bool");
  const std::int64_t value = read_int64(a);
  require(value == 0 || value == 1, a.where + " has value " + std::to_string(value) + ", expected 0 or 1");
  return value == 1;
}

std::string read_string(const OpenAttribute& a) {
  if (H5Tget_class(a.type.get()) != H5T_STRING) a.wrong_type("string");
  if (check(H5Tis_variable_str(a.type.get()), a.where) > 0) {
    DatatypeHandle memory = utf8_string_type(a.where);
    check(H5Tset_cset(memory.get(), H5Tget_cset(a.type.get())), a.where);
    char* text = nullptr;
    check(H5Aread(a.attribute.get(), memory.get(), &text), a.where + ": cannot read");
    std::string value = text != nullptr ? text : "";
    H5free_memory(text);
    return value;
  }
  const DatatypeHandle memory(H5Tcopy(a.type.get()), a.where);
  std::string value(H5Tget_size(a.type.get()), '\0');
  check(H5Aread(a.attribute.get(), memory.get(), &value[0]), a.where + ": cannot read");
  if (H5Tget_strpad(a.type.get()) == H5T_STR_SPACEPAD) value.erase(value.find_last_not_of(' ') + 1);
  const auto end = value.find('\0');
  return end == std::string::npos ? value : value.substr(0, end);
}

}  // namespace

namespace detail {

void write_attribute_double(OutputFile& file, const std::string& object_path, const std::string& name, double value) {
  value = comm::broadcast_from_root(location(file).comm, value, "broadcast of an attribute value");
  write_scalar_attribute(file, object_path, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

void write_attribute_int64(OutputFile& file, const std::string& object_path, const std::string& name,
                           std::int64_t value, bool representable) {
  const MPI_Comm comm = location(file).comm;
  const std::int64_t shared[2] = {comm::broadcast_from_root(comm, value, "broadcast of an attribute value"),
                                  comm::broadcast_from_root(comm, std::int64_t(representable ? 1 : 0),
                                                            "broadcast of an attribute value")};
  write_scalar_attribute(file, object_path, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &shared[0], shared[1] != 0);
}

void write_attribute_bool(OutputFile& file, const std::string& object_path, const std::string& name, bool value) {
  const std::int64_t shared =
      comm::broadcast_from_root(location(file).comm, std::int64_t(value ? 1 : 0), "broadcast of an attribute value");
  const std::string where = file.path() + ": attribute '" + name + "'";
  const DatatypeHandle stored = bool_type(H5T_STD_I8LE, where), memory = bool_type(H5T_NATIVE_INT8, where);
  const std::int8_t byte = shared != 0 ? 1 : 0;
  write_scalar_attribute(file, object_path, name, stored.get(), memory.get(), &byte);
}

void write_attribute_string(OutputFile& file, const std::string& object_path, const std::string& name,
                            const std::string& value) {
  const std::string shared = broadcast(location(file).comm, value);
  const DatatypeHandle type = utf8_string_type(file.path() + ": attribute '" + name + "'");
  const char* text = shared.c_str();
  write_scalar_attribute(file, object_path, name, type.get(), type.get(), &text);
}

}  // namespace detail

template <class V>
V read_attribute(InputFile& file, const std::string& object_path, const std::string& name) {
  const Location f = location(file);
  const comm::DeadlineGuard guard("HDF5 read attribute '" + name + "' of " + object_path + " from '" + f.name + "'");
  V value{};
  collectively(f.comm, [&] {
    const OpenAttribute a = open_attribute(f, object_path, name);
    if constexpr (std::is_same_v<V, double>) value = read_double(a);
    if constexpr (std::is_same_v<V, std::int64_t>) value = read_int64(a);
    if constexpr (std::is_same_v<V, bool>) value = read_bool(a);
    if constexpr (std::is_same_v<V, std::string>) value = read_string(a);
  });
  return value;
}

bool has_attribute(InputFile& file, const std::string& object_path, const std::string& name) {
  const Location f = location(file);
  const comm::DeadlineGuard guard("HDF5 look up attribute '" + name + "' of " + object_path + " in '" + f.name + "'");
  bool found = false;
  collectively(f.comm, [&] {
    const ObjectHandle object = open_object(f, absolute(object_path), " (looking up attribute '" + name + "')");
    found = check(H5Aexists(object.get(), name.c_str()), attribute_where(f, absolute(object_path), name)) > 0;
  });
  return found;
}

// ---------------------------------------------------------------- instantiations

template double read_attribute<double>(InputFile&, const std::string&, const std::string&);
template std::int64_t read_attribute<std::int64_t>(InputFile&, const std::string&, const std::string&);
template bool read_attribute<bool>(InputFile&, const std::string&, const std::string&);
template std::string read_attribute<std::string>(InputFile&, const std::string&, const std::string&);

}  // namespace wf::io

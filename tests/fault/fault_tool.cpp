// fault_tool: makes the damaged files the fault-injection tests feed the program (serial HDF5
// calls, no MPI):
//   fault_tool attention-inputs FILE SEQ_LEN HEADS KV_HEADS HEAD_DIM [NAN_TOKEN]
//       /input/{q,k,v,do} as float64 [N][heads][d] (seeded values in [-1, 1)); with NAN_TOKEN,
//       q[NAN_TOKEN][0][0] is NaN
//   fault_tool flip FILE DATASET      flips one byte in the middle of DATASET's stored values
//   fault_tool set-int FILE NAME V    sets the int64 root attribute NAME to V (a forged checkpoint)
#include <hdf5.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

int fail(const std::string& message) {
  std::cerr << "fault_tool: " << message << std::endl;
  return 2;
}

bool write_tensor(hid_t file, const char* name, std::size_t n, int rows, int d, std::uint64_t seed, long nan_token) {
  std::vector<double> values(n * static_cast<std::size_t>(rows) * static_cast<std::size_t>(d));
  std::uint64_t x = seed;
  for (double& v : values) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    v = static_cast<double>(x >> 11) * (2.0 / 9007199254740992.0) - 1.0;
  }
  if (nan_token >= 0) values[static_cast<std::size_t>(nan_token) * static_cast<std::size_t>(rows * d)] = std::nan("");
  const hsize_t dims[3] = {n, static_cast<hsize_t>(rows), static_cast<hsize_t>(d)};
  const hid_t space = H5Screate_simple(3, dims, nullptr);
  const hid_t links = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(links, 1);
  const hid_t set = H5Dcreate2(file, name, H5T_IEEE_F64LE, space, links, H5P_DEFAULT, H5P_DEFAULT);
  const bool ok = set >= 0 && H5Dwrite(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0;
  H5Dclose(set);
  H5Pclose(links);
  H5Sclose(space);
  return ok;
}

int attention_inputs(int argc, char** argv) {
  if (argc < 7) return fail("attention-inputs FILE SEQ_LEN HEADS KV_HEADS HEAD_DIM [NAN_TOKEN]");
  const std::size_t n = std::strtoull(argv[3], nullptr, 10);
  const int heads = std::atoi(argv[4]), kv = std::atoi(argv[5]), d = std::atoi(argv[6]);
  const long nan_token = argc > 7 ? std::atol(argv[7]) : -1;
  const hid_t file = H5Fcreate(argv[2], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) return fail(std::string("cannot create ") + argv[2]);
  const bool ok = write_tensor(file, "/input/q", n, heads, d, 1, nan_token) && write_tensor(file, "/input/k", n, kv, d, 2, -1) &&
                  write_tensor(file, "/input/v", n, kv, d, 3, -1) && write_tensor(file, "/input/do", n, heads, d, 4, -1);
  H5Fclose(file);
  return ok ? 0 : fail("cannot write the inputs");
}

int flip(int argc, char** argv) {
  if (argc < 4) return fail("flip FILE DATASET");
  const hid_t file = H5Fopen(argv[2], H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t set = file >= 0 ? H5Dopen2(file, argv[3], H5P_DEFAULT) : -1;
  const haddr_t offset = set >= 0 ? H5Dget_offset(set) : HADDR_UNDEF;
  const hsize_t size = set >= 0 ? H5Dget_storage_size(set) : 0;
  if (set >= 0) H5Dclose(set);
  if (file >= 0) H5Fclose(file);
  if (offset == HADDR_UNDEF || size == 0) return fail(std::string("no contiguous data for ") + argv[3]);
  std::fstream bytes(argv[2], std::ios::in | std::ios::out | std::ios::binary);
  const std::streamoff at = static_cast<std::streamoff>(offset + size / 2);
  char byte = 0;
  bytes.seekg(at);
  bytes.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x10);
  bytes.seekp(at);
  bytes.write(&byte, 1);
  return bytes ? 0 : fail("cannot flip the byte");
}

int set_int(int argc, char** argv) {
  if (argc < 5) return fail("set-int FILE NAME VALUE");
  const hid_t file = H5Fopen(argv[2], H5F_ACC_RDWR, H5P_DEFAULT);
  const hid_t attribute = file >= 0 ? H5Aopen(file, argv[3], H5P_DEFAULT) : -1;
  const std::int64_t value = std::atoll(argv[4]);
  const bool ok = attribute >= 0 && H5Awrite(attribute, H5T_NATIVE_INT64, &value) >= 0;
  if (attribute >= 0) H5Aclose(attribute);
  if (file >= 0) H5Fclose(file);
  return ok ? 0 : fail(std::string("cannot set attribute ") + argv[3]);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "attention-inputs") return attention_inputs(argc, argv);
  if (command == "flip") return flip(argc, argv);
  if (command == "set-int") return set_int(argc, argv);
  return fail("usage: fault_tool attention-inputs|flip|set-int ...");
}

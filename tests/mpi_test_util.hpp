// MPI helpers shared by the tests: rank and size of MPI_COMM_WORLD, strings broadcast from rank 0,
// temporary paths and directories that are the same on every rank, file checks over all ranks,
// and expectations on the wf::Error a call throws.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "core/error.hpp"

namespace wf::testing {

/// \brief This process's rank in MPI_COMM_WORLD.
inline int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

/// \brief The number of ranks in MPI_COMM_WORLD.
inline int world_size() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

/// \brief Collective: rank 0's `text` on every rank.
inline std::string broadcast(std::string text) {
  int length = static_cast<int>(text.size());
  MPI_Bcast(&length, 1, MPI_INT, 0, MPI_COMM_WORLD);
  text.resize(static_cast<std::size_t>(length));
  if (length > 0) MPI_Bcast(&text[0], length, MPI_CHAR, 0, MPI_COMM_WORLD);
  return text;
}

/// \brief Collective: a fresh path in the system temp dir, "wf_test_<name>_<pid>_<random>",
/// chosen by rank 0 and the same on every rank. Nothing is created.
inline std::string shared_temp_path(const std::string& name) {
  std::string path;
  if (world_rank() == 0) {
    std::random_device device;
    path = (std::filesystem::temp_directory_path() /
            ("wf_test_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(device())))
               .string();
  }
  return broadcast(path);
}

/// \brief Collective: shared_temp_path(name) created as a directory by rank 0 before any rank
/// returns. Not removed (see TempDir for one that is).
inline std::string shared_temp_dir(const std::string& name) {
  const std::string path = shared_temp_path(name);
  if (world_rank() == 0) std::filesystem::create_directories(path);
  MPI_Barrier(MPI_COMM_WORLD);
  return path;
}

/// \brief Collective: after a barrier, rank 0 removes `paths` (files or directories, missing ones
/// ignored).
inline void remove_shared(const std::vector<std::string>& paths) {
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() != 0) return;
  std::error_code ignored;
  for (const auto& path : paths) std::filesystem::remove_all(path, ignored);
}

/// \brief A fresh directory under the system temp dir (shared_temp_dir), named by rank 0 for every
/// rank, removed at the end. Construction and destruction are collective.
class TempDir {
 public:
  explicit TempDir(const std::string& name) : path_(shared_temp_dir(name)) {}
  ~TempDir() {
    remove_shared({path_});
    MPI_Barrier(MPI_COMM_WORLD);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// \brief Collective: true on every rank when `path` exists on every rank (after a barrier).
inline bool exists_everywhere(const std::string& path) {
  MPI_Barrier(MPI_COMM_WORLD);
  int found = std::filesystem::exists(path) ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &found, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return found == 1;
}

/// \brief Collective: true on every rank when `path` exists on any rank (after a barrier).
inline bool exists_anywhere(const std::string& path) {
  MPI_Barrier(MPI_COMM_WORLD);
  int found = std::filesystem::exists(path) ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &found, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return found == 1;
}

/// \brief The message of the wf::Error that `body` throws, "(no wf::Error thrown)" if none.
template <class Body>
std::string error_message(Body&& body) {
  try {
    body();
  } catch (const wf::Error& error) {
    return error.what();
  }
  return "(no wf::Error thrown)";
}

/// \brief Expects `body` to throw wf::Error containing every one of `parts` (on this rank);
/// returns its message ("" when nothing was thrown).
template <class Body>
std::string expect_error_containing(Body&& body, const std::vector<std::string>& parts) {
  std::string message;
  try {
    body();
    ADD_FAILURE() << "no wf::Error thrown (expected one mentioning '" << (parts.empty() ? "" : parts.front()) << "')";
  } catch (const wf::Error& error) {
    message = error.what();
  }
  for (const auto& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message << "\n lacks: " << part;
  return message;
}

/// \brief Collective: expects `body` to throw wf::Error with exactly `expected` (when given) and
/// containing every one of `parts`, with the same message on every rank.
template <class Body>
void expect_error(Body&& body, const std::vector<std::string>& parts, const std::string& expected = "") {
  const std::string message = expect_error_containing(body, parts);
  if (!expected.empty()) {
    EXPECT_EQ(message, expected);
  }
  EXPECT_EQ(message, broadcast(message)) << "ranks report different messages";
}

}  // namespace wf::testing

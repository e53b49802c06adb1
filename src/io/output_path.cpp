#include "io/output_path.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"

namespace fs = std::filesystem;

namespace wf::io {
namespace {

/// The directory a path's file goes in ("." for a bare name).
std::string directory_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

/// The first component of `path`'s directory that exists but is not a directory, or "".
std::string blocking_component(const std::string& path) {
  fs::path prefix;
  for (const auto& part : fs::path(directory_of(path))) {
    prefix /= part;
    struct stat info {};
    if (::stat(prefix.c_str(), &info) != 0) return "";
    if (!S_ISDIR(info.st_mode)) return prefix.string();
  }
  return "";
}

std::string size_text(double bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  for (; bytes >= 1024.0 && unit < 4; ++unit) bytes /= 1024.0;
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return text;
}

/// "cannot create 'tmp': <reason>" for a failed open, the reason in words with the culprit named.
[[noreturn]] void cannot_create(const std::string& temporary, int error_number) {
  std::string reason = plain_reason(error_number);
  const std::string directory = directory_of(temporary);
  if (error_number == ENOTDIR) {
    const std::string culprit = blocking_component(temporary);
    reason = "'" + (culprit.empty() ? directory : culprit) + "' is not a directory";
  } else if (error_number == ENOENT) {
    reason = "the directory '" + directory + "' does not exist";
  } else if (error_number == EACCES || error_number == EPERM || error_number == EROFS) {
    reason += " (cannot write in the directory '" + directory + "')";
  }
  throw Error("cannot create '" + temporary + "': " + reason);
}

}  // namespace

std::string plain_reason(int error_number) {
  switch (error_number) {
    case EACCES:
    case EPERM: return "permission denied";
    case ENOTDIR: return "a part of the path is not a directory";
    case ENOENT: return "no such file or directory";
    case ENOSPC: return "no space left on device";
    case EDQUOT: return "disk quota exceeded";
    case EROFS: return "read-only file system";
    case EISDIR: return "it is a directory";
    case ENAMETOOLONG: return "the path is too long";
    default: return std::strerror(error_number);
  }
}

void prepare_temporary_file(const std::string& path, const std::string& temporary) {
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode))
    throw Error("cannot write '" + path + "': it is a directory");
  if (::lstat(temporary.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode))
      throw Error("cannot create '" + temporary + "': a directory of that name is in the way (remove it)");
    // A stale temporary from a crashed run, or a symlink: remove the entry itself, never its target.
    if (::unlink(temporary.c_str()) != 0) cannot_create(temporary, errno);
  }
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0) cannot_create(temporary, errno);
  ::close(fd);
}

std::string write_failure_hint(const std::string& path) {
  const std::string directory = directory_of(path);
  struct statvfs space {};
  if (::statvfs(directory.c_str(), &space) == 0) {
    const double free_bytes = static_cast<double>(space.f_bavail) * static_cast<double>(space.f_frsize);
    if (free_bytes < 64.0 * 1024 * 1024)
      return "no space left on the device of '" + directory + "' (" + size_text(free_bytes) + " free)";
  }
  if (::access(directory.c_str(), W_OK) != 0) return plain_reason(errno) + " (cannot write in '" + directory + "')";
  return "";
}

bool same_file(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  std::error_code error;
  if (fs::exists(a, error) && fs::exists(b, error)) return fs::equivalent(a, b, error) && !error;
  const fs::path left = fs::absolute(a, error).lexically_normal(), right = fs::absolute(b, error).lexically_normal();
  return left == right;
}

}  // namespace wf::io

// Reading a deck file with bounds on its size and on the time it takes: a deck given as a pipe
// nobody writes to, a device such as /dev/zero, or a huge file ends with one clear message.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>

#include "config/deck.hpp"

namespace wf::config {
namespace {

/// Closes a file descriptor on every path out.
struct Descriptor {
  int fd = -1;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

[[noreturn]] void cannot(const std::string& path, const std::string& why) {
  throw ConfigError("cannot read deck '" + clip_for_message(path, 200) + "': " + why);
}

std::string megabytes(std::size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

/// Waits until `fd` has data (or its writer closed it), at most until `deadline`.
void wait_for_data(int fd, const std::string& path, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd watched{fd, POLLIN, 0};
    const int ready = ::poll(&watched, 1, static_cast<int>(left.count()));
    if (ready > 0) return;
    if (ready < 0 && errno != EINTR) cannot(path, std::strerror(errno));
  }
  cannot(path, "no data within " + std::to_string(static_cast<int>(max_deck_read_seconds)) +
                   " s (a pipe or device nobody writes to? give the deck as a file)");
}

}  // namespace

std::string read_deck_text(const std::string& path) {
  Descriptor file;
  file.fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // a FIFO opens without a writer
  if (file.fd < 0) throw ConfigError("cannot open deck '" + clip_for_message(path, 200) + "': " + std::strerror(errno));
  struct stat info {};
  if (::fstat(file.fd, &info) != 0) cannot(path, std::strerror(errno));
  if (S_ISDIR(info.st_mode)) throw ConfigError("cannot open deck '" + clip_for_message(path, 200) + "': it is a directory");
  if (S_ISREG(info.st_mode) && static_cast<std::size_t>(info.st_size) > max_deck_bytes)
    cannot(path, "it has " + std::to_string(info.st_size) + " bytes, more than the " + megabytes(max_deck_bytes) +
                     " a deck may have");
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long>(std::lround(max_deck_read_seconds * 1000)));
  std::string text;
  char buffer[65536];
  for (;;) {
    wait_for_data(file.fd, path, deadline);
    const ssize_t got = ::read(file.fd, buffer, sizeof buffer);
    if (got == 0) break;  // end of file, or the writer of a pipe closed it
    if (got < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      cannot(path, std::strerror(errno));
    }
    text.append(buffer, static_cast<std::size_t>(got));
    if (text.size() > max_deck_bytes)
      cannot(path, "more than " + megabytes(max_deck_bytes) + " of data (a deck is a small TOML file; /dev/zero?)");
  }
  if (text.find('\0') != std::string::npos) cannot(path, "it holds binary data (NUL bytes), not a TOML deck");
  return text;
}

}  // namespace wf::config

// Errors the user can fix. MPI-free: every layer may throw them; agreeing on a failure across
// ranks is the communicator's business (comm/collective_errors.hpp).
#pragma once

#include <stdexcept>
#include <string>

namespace wf {

/// \brief An error the user can fix (bad deck, bad argument, failed verification).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// \brief Throws wf::Error(message) when condition is false.
inline void require(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}

}  // namespace wf

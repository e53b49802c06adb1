// Wall-clock timing that fences Kokkos before reading the clock, so device work is counted.
#pragma once

#include <chrono>
#include <string>

#include "core/compat.hpp"

namespace wf {

/// \brief Seconds since an arbitrary epoch (steady clock).
inline double wall_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

/// \brief Measures one region; stop() fences the default execution space first.
class Stopwatch {
 public:
  explicit Stopwatch(std::string label) : label_(std::move(label)) { start(); }
  void start() {
    compat::fence(label_ + "::start");
    begin_ = wall_seconds();
  }
  /// \brief Fences, returns the seconds since start().
  double stop() {
    compat::fence(label_ + "::stop");
    return wall_seconds() - begin_;
  }

 private:
  std::string label_;
  double begin_ = 0.0;
};

}  // namespace wf

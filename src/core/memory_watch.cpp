#include "core/memory_watch.hpp"

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>

#include "core/types.hpp"

namespace wf {
namespace {

using SpaceHandle = Kokkos_Profiling_SpaceHandle;

/// The counted allocations (only those made after the start: a free of an older one is ignored).
struct Watch {
  std::mutex mutex;
  std::map<const void*, std::uint64_t> alive;
  std::uint64_t bytes = 0, peak = 0;
  bool started = false;
  Kokkos_Profiling_allocateDataFunction previous_allocate = nullptr;
  Kokkos_Profiling_deallocateDataFunction previous_deallocate = nullptr;
};

Watch& watch() {
  static Watch instance;
  return instance;
}

bool counted(const SpaceHandle& handle) { return std::strcmp(handle.name, MemSpace::name()) == 0; }

void on_allocate(const SpaceHandle handle, const char* label, const void* ptr, const std::uint64_t size) {
  Watch& w = watch();
  if (counted(handle)) {
    const std::lock_guard<std::mutex> lock(w.mutex);
    w.alive[ptr] = size;
    w.bytes += size;
    w.peak = std::max(w.peak, w.bytes);
  }
  if (w.previous_allocate) w.previous_allocate(handle, label, ptr, size);
}

void on_deallocate(const SpaceHandle handle, const char* label, const void* ptr, const std::uint64_t size) {
  Watch& w = watch();
  if (counted(handle)) {
    const std::lock_guard<std::mutex> lock(w.mutex);
    const auto it = w.alive.find(ptr);
    if (it != w.alive.end()) {
      w.bytes -= it->second;
      w.alive.erase(it);
    }
  }
  if (w.previous_deallocate) w.previous_deallocate(handle, label, ptr, size);
}

}  // namespace

void start_memory_watch() {
  Watch& w = watch();
  if (w.started) return;
  const auto callbacks = Kokkos::Tools::Experimental::get_callbacks();
  w.previous_allocate = callbacks.allocate_data;
  w.previous_deallocate = callbacks.deallocate_data;
  Kokkos::Tools::Experimental::set_allocate_data_callback(on_allocate);
  Kokkos::Tools::Experimental::set_deallocate_data_callback(on_deallocate);
  w.started = true;
}

std::size_t memory_space_bytes() {
  const std::lock_guard<std::mutex> lock(watch().mutex);
  return static_cast<std::size_t>(watch().bytes);
}

std::size_t memory_space_peak_bytes() {
  const std::lock_guard<std::mutex> lock(watch().mutex);
  return static_cast<std::size_t>(watch().peak);
}

void reset_memory_space_peak() {
  const std::lock_guard<std::mutex> lock(watch().mutex);
  watch().peak = watch().bytes;
}

std::string memory_space_name() { return MemSpace::name(); }

}  // namespace wf

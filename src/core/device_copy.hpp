// Copies between host vectors and device views: the one place where host data enters or
// leaves the memory space of the run.
#pragma once

#include <Kokkos_Core.hpp>

#include <string>
#include <vector>

#include "core/types.hpp"

namespace wf {

template <class T>
using HostUnmanaged = Kokkos::View<T*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

/// \brief A new view in MemSpace holding a copy of `host`.
template <class T>
Kokkos::View<T*, MemSpace> to_device(const std::vector<T>& host, const std::string& label) {
  Kokkos::View<T*, MemSpace> view(label, host.size());
  Kokkos::deep_copy(view, HostUnmanaged<const T>(host.data(), host.size()));
  return view;
}

/// \brief Elements [first, first + count) of a view (any memory space) as a host vector.
template <class View>
std::vector<typename View::non_const_value_type> to_host(const View& view, std::size_t first, std::size_t count) {
  using T = typename View::non_const_value_type;
  std::vector<T> host(count);
  if (count == 0) return host;
  const auto part = Kokkos::subview(view, std::make_pair(first, first + count));
  Kokkos::deep_copy(HostUnmanaged<T>(host.data(), count), part);
  return host;
}

/// \brief The whole of a one-dimensional view as a host vector.
template <class View>
std::vector<typename View::non_const_value_type> to_host(const View& view) {
  return to_host(view, 0, view.extent(0));
}

}  // namespace wf

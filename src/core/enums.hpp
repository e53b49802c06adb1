// The choices a run is made of, as types: problem, precision, schedule, rotate side,
// arrangement, backend, tile path and data. Their names (deck values, reports, file
// attributes) are written once, in the tables below; everything else converts through
// name_of() and enum_from_name().
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wf {

/// \brief What the program runs (run.problem).
enum class Problem { kernel, attention, gravity, train };
/// \brief Scalar type of the timed kernels (run.precision).
enum class Precision { fp32, fp64 };
/// \brief Distributed schedule (parallel.schedule): Ring Attention is WallFacer with c = 1;
/// `automatic` ("auto") is replaced by the best plan for parallel.machine before anything runs.
enum class Schedule { ring, wallfacer, ulysses, automatic };
/// \brief Which side travels the sub-ring in the backward pass (parallel.rotate).
enum class RotateSide { query, key };
/// \brief How teams and sub-rings map to ranks (parallel.arrangement).
enum class Arrangement { team_major, ring_major };
/// \brief Communicator backend (parallel.backend).
enum class Backend { mpi, nccl };
/// \brief Tile implementation of the attention kernels.
enum class TileImpl { blas, fused };
/// \brief The tile paths a deck asks for (attention.impl): one of them, or both (kernel problem).
enum class TileChoice { blas, fused, both };
/// \brief Synthetic training data (model.data).
enum class DataMode { recall, uniform };

/// \brief The name table of an enum: {value, name} pairs in declaration order.
template <class E>
struct EnumNames;

#define WF_ENUM_NAMES(E, ...)                                                         \
  template <>                                                                         \
  struct EnumNames<E> {                                                               \
    static constexpr std::pair<E, const char*> table[] = {__VA_ARGS__};              \
  }
WF_ENUM_NAMES(Problem, {Problem::kernel, "kernel"}, {Problem::attention, "attention"},
              {Problem::gravity, "gravity"}, {Problem::train, "train"});
WF_ENUM_NAMES(Precision, {Precision::fp32, "float"}, {Precision::fp64, "double"});
WF_ENUM_NAMES(Schedule, {Schedule::ring, "ring"}, {Schedule::wallfacer, "wallfacer"}, {Schedule::ulysses, "ulysses"},
              {Schedule::automatic, "auto"});
WF_ENUM_NAMES(RotateSide, {RotateSide::query, "q"}, {RotateSide::key, "kv"});
WF_ENUM_NAMES(Arrangement, {Arrangement::team_major, "team-major"}, {Arrangement::ring_major, "ring-major"});
WF_ENUM_NAMES(Backend, {Backend::mpi, "mpi"}, {Backend::nccl, "nccl"});
WF_ENUM_NAMES(TileImpl, {TileImpl::blas, "blas"}, {TileImpl::fused, "fused"});
WF_ENUM_NAMES(TileChoice, {TileChoice::blas, "blas"}, {TileChoice::fused, "fused"}, {TileChoice::both, "both"});
WF_ENUM_NAMES(DataMode, {DataMode::recall, "recall"}, {DataMode::uniform, "uniform"});
#undef WF_ENUM_NAMES

/// \brief The name of a value ("wallfacer", "team-major", ...).
template <class E>
constexpr const char* name_of(E value) {
  for (const auto& [entry, name] : EnumNames<E>::table)
    if (entry == value) return name;
  return "?";
}

/// \brief The value called `name`, or nothing.
template <class E>
std::optional<E> enum_from_name(std::string_view name) {
  for (const auto& [entry, entry_name] : EnumNames<E>::table)
    if (name == entry_name) return entry;
  return std::nullopt;
}

/// \brief Every name, in declaration order (the allowed deck values).
template <class E>
std::vector<std::string> enum_names() {
  std::vector<std::string> names;
  for (const auto& entry : EnumNames<E>::table) names.emplace_back(entry.second);
  return names;
}

/// \brief The precision of a scalar type.
template <class T>
constexpr Precision precision_of() {
  return sizeof(T) == 4 ? Precision::fp32 : Precision::fp64;
}

/// \brief "float" or "double" for a scalar type.
template <class T>
constexpr const char* precision_name() {
  return name_of(precision_of<T>());
}

}  // namespace wf

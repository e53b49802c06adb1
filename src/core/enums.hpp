// The choices a run is made of, as types: problem, precision, schedule, rotate side,
// arrangement, head placement, backend, tile path, data and model. Their names (deck values, reports, file
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
/// ulysses_wallfacer is Ulysses inside head groups and WallFacer across them; `automatic`
/// ("auto") is replaced by the best plan for parallel.machine before anything runs.
enum class Schedule { ring, wallfacer, ulysses, ulysses_wallfacer, automatic };
/// \brief Which side travels the sub-ring in the backward pass (parallel.rotate).
enum class RotateSide { query, key };
/// \brief How teams and sub-rings map to ranks (parallel.arrangement).
enum class Arrangement { team_major, ring_major };
/// \brief Where the ranks of one head group of ulysses-wallfacer are (parallel.head_placement):
/// consecutive ranks (inside a node), or P / u ranks apart (across nodes).
enum class HeadPlacement { consecutive, strided };
/// \brief Communicator backend (parallel.backend).
enum class Backend { mpi, nccl };
/// \brief Tile implementation of the attention kernels: gemm tiles with host loops (host
/// memory; on device memory it runs as gemm), the fused team kernel, gemm chunks with Kokkos
/// kernels (any memory, cuBLAS on CUDA).
enum class TileImpl { blas, fused, gemm };
/// \brief The tile paths a deck asks for (attention.impl): one of them; every one this build's
/// memory runs (kernel problem); or the faster one of a short measurement in the run.
enum class TileChoice { blas, fused, gemm, both, automatic };
/// \brief Synthetic training data (model.data).
enum class DataMode { recall, uniform };
/// \brief The model the training benchmark trains (model.kind).
enum class ModelKind { gpt, dit };

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
              {Schedule::ulysses_wallfacer, "ulysses-wallfacer"}, {Schedule::automatic, "auto"});
WF_ENUM_NAMES(RotateSide, {RotateSide::query, "q"}, {RotateSide::key, "kv"});
WF_ENUM_NAMES(Arrangement, {Arrangement::team_major, "team-major"}, {Arrangement::ring_major, "ring-major"});
WF_ENUM_NAMES(HeadPlacement, {HeadPlacement::consecutive, "consecutive"}, {HeadPlacement::strided, "strided"});
WF_ENUM_NAMES(Backend, {Backend::mpi, "mpi"}, {Backend::nccl, "nccl"});
WF_ENUM_NAMES(TileImpl, {TileImpl::blas, "blas"}, {TileImpl::fused, "fused"}, {TileImpl::gemm, "gemm"});
WF_ENUM_NAMES(TileChoice, {TileChoice::blas, "blas"}, {TileChoice::fused, "fused"}, {TileChoice::gemm, "gemm"},
              {TileChoice::both, "both"}, {TileChoice::automatic, "auto"});
WF_ENUM_NAMES(DataMode, {DataMode::recall, "recall"}, {DataMode::uniform, "uniform"});
WF_ENUM_NAMES(ModelKind, {ModelKind::gpt, "gpt"}, {ModelKind::dit, "dit"});
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

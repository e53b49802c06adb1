#include "io/results.hpp"

#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <exception>
#include <set>
#include <utility>

#include "comm/collective_errors.hpp"
#include "comm/deadline.hpp"
#include "comm/mpi_util.hpp"
#include "comm/reductions.hpp"
#include "core/kokkos_info.hpp"
#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "wf_config.hpp"
#include "core/region.hpp"

namespace wf::io {

namespace {

constexpr std::size_t phase_count = static_cast<std::size_t>(Phase::count_);

// ---------------------------------------------------------------- MPI helpers

using comm::broadcast;  // the string one
using comm::collectively;
using comm::rank_of;
using comm::size_of;

std::uint64_t broadcast(MPI_Comm comm, std::uint64_t value) {
  return comm::broadcast_from_root(comm, value, "broadcast of the results' sizes");
}

/// Rank 0's summary on every rank (the names become dataset names, which must agree).
std::vector<SummaryValue> broadcast_summary(MPI_Comm comm, const std::vector<SummaryValue>& local) {
  std::vector<SummaryValue> summary(broadcast(comm, static_cast<std::uint64_t>(local.size())));
  if (rank_of(comm) == 0) summary = local;
  for (auto& value : summary) {
    value.name = broadcast(comm, value.name);
    value.unit = broadcast(comm, value.unit);
    value.value = comm::broadcast_from_root(comm, value.value, "broadcast of the summary");
  }
  return summary;
}

// ---------------------------------------------------------------- values of the run

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

void check_summary_names(const std::string& path, const std::vector<SummaryValue>& summary) {
  for (const auto& value : summary)
    require(!value.name.empty() && value.name != "." && value.name != ".." && value.name.find('/') == std::string::npos,
            path + ": summary name '" + value.name + "' is not a valid dataset name (empty, '.', '..' or with '/')");
}

// ---------------------------------------------------------------- raw HDF5 for what hdf5.hpp lacks

/// Collective: creates group `name`; with `track_order`, links are listed in creation order.
void create_group(OutputFile& file, const std::string& name, bool track_order) {
  const std::string where = file.path() + ": cannot create group " + name;
  const comm::DeadlineGuard guard("HDF5 create group " + name + " in '" + file.path() + "'");
  collectively(file.comm(), [&] {
    const PropertyListHandle creation(H5Pcreate(H5P_GROUP_CREATE), where);
    if (track_order)
      check(H5Pset_link_creation_order(creation.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), where);
    GroupHandle group(H5Gcreate2(file.id(), name.c_str(), H5P_DEFAULT, creation.get(), H5P_DEFAULT), where);
    group.close(where);
  });
}

/// Collective: creates the 1-D dataset `name` of `total` elements of `file_type` (int32, int8:
/// types write_token_slices does not store) and writes this rank's `count` elements at `offset`.
void write_column(OutputFile& file, const std::string& name, std::uint64_t total, std::uint64_t offset,
                  std::uint64_t count, hid_t file_type, hid_t memory_type, const void* local) {
  const std::string where = file.path() + ": " + name;
  const comm::DeadlineGuard guard("HDF5 write " + name + " to '" + file.path() + "'");
  DatasetHandle dataset;
  collectively(file.comm(), [&] {
    require(offset <= total && count <= total - offset, where + ": slice outside the dataset");
    const hsize_t extent = total;
    const DataspaceHandle space(H5Screate_simple(1, &extent, nullptr), where);
    const PropertyListHandle creation(H5Pcreate(H5P_DATASET_CREATE), where);
    check(H5Pset_fill_time(creation.get(), H5D_FILL_TIME_NEVER), where);  // every element gets written
    dataset = DatasetHandle(
        H5Dcreate2(file.id(), name.c_str(), file_type, space.get(), H5P_DEFAULT, creation.get(), H5P_DEFAULT),
        where + ": cannot create dataset");
  });
  if (total == 0) return;  // HDF5 1.10 fails on transfers to storage never allocated
  collectively(file.comm(), [&] {
    const DataspaceHandle file_space(H5Dget_space(dataset.get()), where);
    const hsize_t start = offset, length = count, memory_extent = std::max<std::uint64_t>(count, 1);
    if (count > 0)
      check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &length, nullptr), where);
    else
      check(H5Sselect_none(file_space.get()), where);
    const DataspaceHandle memory(H5Screate_simple(1, &memory_extent, nullptr), where);
    if (count == 0) check(H5Sselect_none(memory.get()), where);
    const PropertyListHandle transfer(H5Pcreate(H5P_DATASET_XFER), where);
    check(H5Pset_dxpl_mpio(transfer.get(), H5FD_MPIO_COLLECTIVE), where);
    const std::int64_t placeholder = 0;  // HDF5 wants a buffer even for an empty selection
    check(H5Dwrite(dataset.get(), memory_type, memory.get(), file_space.get(), transfer.get(),
                   count > 0 ? local : &placeholder),
          where + ": cannot write");
  });
}

/// Collective: the names of the links in group `name`, in creation order where it is tracked.
std::vector<std::string> link_names(InputFile& file, const std::string& name) {
  std::vector<std::string> names;
  const std::string where = file.path() + ": " + name;
  const comm::DeadlineGuard guard("HDF5 list " + name + " in '" + file.path() + "'");
  collectively(file.comm(), [&] {
    require(H5Lexists(file.id(), name.c_str(), H5P_DEFAULT) > 0, where + " not found");
    const GroupHandle group(H5Gopen2(file.id(), name.c_str(), H5P_DEFAULT), where + " is not a group");
    const PropertyListHandle creation(H5Gget_create_plist(group.get()), where);
    unsigned order_flags = 0;
    check(H5Pget_link_creation_order(creation.get(), &order_flags), where);
    const H5_index_t index = (order_flags & H5P_CRT_ORDER_INDEXED) != 0 ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
    H5G_info_t info{};
    check(H5Gget_info(group.get(), &info), where);
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      // First the length of the name, then the name (with room for the terminating NUL).
      const auto name_of = [&](char* buffer, std::size_t size) {
        const ssize_t length = H5Lget_name_by_idx(group.get(), ".", index, H5_ITER_INC, i, buffer, size, H5P_DEFAULT);
        check(length < 0 ? -1 : 0, where + ": cannot list the links");
        return static_cast<std::size_t>(length);
      };
      std::string link(name_of(nullptr, 0) + 1, '\0');
      link.resize(name_of(&link[0], link.size()));
      names.push_back(link);
    }
  });
  return names;
}

// ---------------------------------------------------------------- sections

void write_steps(OutputFile& file, const std::vector<StepRecord>& local, std::uint64_t count) {
  // Rank 0's records; the other ranks take part with nothing to write.
  const bool writer = rank_of(file.comm()) == 0;
  std::vector<std::int64_t> step;
  std::vector<double> loss, seconds, tokens_per_second, grad_norm;
  std::vector<std::int8_t> timed;
  if (writer) {
    for (const auto& record : local) {
      step.push_back(record.step);
      loss.push_back(record.loss);
      seconds.push_back(record.seconds);
      tokens_per_second.push_back(record.tokens_per_second);
      grad_norm.push_back(record.grad_norm);
      timed.push_back(record.timed ? 1 : 0);
    }
  }
  write_all<std::int64_t>(file, "/steps/step", {count}, step.data());
  write_all<double>(file, "/steps/loss", {count}, loss.data());
  write_all<double>(file, "/steps/seconds", {count}, seconds.data());
  write_all<double>(file, "/steps/tokens_per_second", {count}, tokens_per_second.data());
  write_all<double>(file, "/steps/grad_norm", {count}, grad_norm.data());
  write_column(file, "/steps/timed", count, 0, writer ? count : 0, H5T_STD_I8LE, H5T_NATIVE_INT8, timed.data());
}

void write_timers(OutputFile& file, const PhaseSeconds& local) {
  const MPI_Comm comm = file.comm();
  const auto ranks = static_cast<std::uint64_t>(size_of(comm)), rank = static_cast<std::uint64_t>(rank_of(comm));
  write_token_slices<double>(file, "/timers/seconds", {ranks, phase_count}, 0, {{rank, 1}}, local.data());
  const auto reduced = comm::reduce_min_avg_max(comm, std::vector<double>(local.begin(), local.end()),
                                                "reduction of the timers for the results file");
  PhaseSeconds min{}, avg{}, max{};
  for (std::size_t p = 0; p < phase_count; ++p) {
    min[p] = reduced[p].min;
    avg[p] = reduced[p].avg;
    max[p] = reduced[p].max;
  }
  write_all<double>(file, "/timers/min", {phase_count}, min.data());
  write_all<double>(file, "/timers/avg", {phase_count}, avg.data());
  write_all<double>(file, "/timers/max", {phase_count}, max.data());
  write_attribute(file, "/timers", "phases", phase_names_text());
}

/// The int32 fields of an event, in file order.
const std::pair<const char*, std::int32_t TraceEvent::*> int_fields[] = {
    {"rank", &TraceEvent::rank},   {"step", &TraceEvent::step},           {"layer", &TraceEvent::layer},
    {"phase", &TraceEvent::phase}, {"ring_step", &TraceEvent::ring_step}, {"peer", &TraceEvent::peer},
};

void write_trace(OutputFile& file, const std::vector<TraceEvent>& local) {
  // Each rank's events go to [offset, offset + count): the exclusive prefix sum of the counts.
  const MPI_Comm comm = file.comm();
  const std::uint64_t count = local.size();
  const std::vector<std::uint64_t> counts = comm::gather_over_ranks(comm, count, "gathering the trace sizes");
  const auto rank = static_cast<std::size_t>(rank_of(comm));
  std::uint64_t offset = 0, total = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    if (r < rank) offset += counts[r];
    total += counts[r];
  }
  const std::vector<TokenRange> mine = count > 0 ? std::vector<TokenRange>{{offset, count}} : std::vector<TokenRange>{};
  std::vector<std::int32_t> ints(local.size());
  for (const auto& [name, member] : int_fields) {
    std::transform(local.begin(), local.end(), ints.begin(), [m = member](const TraceEvent& e) { return e.*m; });
    write_column(file, std::string("/trace/") + name, total, offset, count, H5T_STD_I32LE, H5T_NATIVE_INT32,
                 ints.data());
  }
  std::vector<std::int64_t> bytes(local.size());
  std::transform(local.begin(), local.end(), bytes.begin(),
                 [](const TraceEvent& e) { return static_cast<std::int64_t>(e.bytes); });
  write_token_slices<std::int64_t>(file, "/trace/bytes", {total}, 0, mine, bytes.data());
  std::vector<double> times(local.size());
  std::transform(local.begin(), local.end(), times.begin(), [](const TraceEvent& e) { return e.begin; });
  write_token_slices<double>(file, "/trace/begin", {total}, 0, mine, times.data());
  std::transform(local.begin(), local.end(), times.begin(), [](const TraceEvent& e) { return e.end; });
  write_token_slices<double>(file, "/trace/end", {total}, 0, mine, times.data());
  write_attribute(file, "/trace", "phases", phase_names_text());
}

// ---------------------------------------------------------------- reading

/// Dataset `name` read whole; throws unless it has `length` elements.
template <class T>
std::vector<T> read_column(InputFile& file, const std::string& name, std::size_t length) {
  std::vector<T> values = read_all<T>(file, name);
  // The values are the same on every rank, so this throws on all ranks or none.
  require(values.size() == length, file.path() + ": " + name + " has " + std::to_string(values.size()) +
                                       " elements, expected " + std::to_string(length));
  return values;
}

PhaseSeconds to_phase_seconds(const std::vector<double>& values, std::size_t row) {
  PhaseSeconds seconds{};
  std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(row * phase_count), phase_count, seconds.begin());
  return seconds;
}

void require_our_phases(InputFile& file, const std::string& group) {
  const std::string phases = read_attribute<std::string>(file, group, "phases");
  require(phases == phase_names_text(),
          file.path() + ": " + group + " has phases '" + phases + "', this build has '" + phase_names_text() + "'");
}

}  // namespace

std::string phase_names_text() {
  std::string text;
  for (std::size_t p = 0; p < phase_count; ++p)
    text += (p > 0 ? "\n" : "") + std::string(phase_name(static_cast<Phase>(p)));
  return text;
}

void write_results(const std::string& path, const RunResults& local, MPI_Comm comm) {
  const ProfilingRegion region("IO::write_results");
  const std::vector<SummaryValue> summary = broadcast_summary(comm, local.summary);
  check_summary_names(path, summary);  // rank 0's names on every rank: fails everywhere or nowhere
  const std::uint64_t step_count = broadcast(comm, static_cast<std::uint64_t>(local.steps.size()));

  OutputFile file = OutputFile::create(path, comm);  // removed again if anything below throws
  write_attribute(file, "/", "software", "WallFacer");
  write_attribute(file, "/", "version", WF_VERSION_STRING);
  write_attribute(file, "/", "git_hash", WF_GIT_HASH);
  write_attribute(file, "/", "date", utc_now_iso8601());
  write_attribute(file, "/", "kokkos_backend", kokkos_backend_name());
  write_attribute(file, "/", "ranks", static_cast<std::int64_t>(size_of(comm)));
  write_attribute(file, "/", "problem", local.problem);
  write_attribute(file, "/", "deck", local.deck_text);

  create_group(file, "/summary", true);
  for (const auto& value : summary) {
    write_all<double>(file, "/summary/" + value.name, {}, &value.value);
    write_attribute(file, "/summary/" + value.name, "unit", value.unit);
  }
  create_group(file, "/steps", false);
  write_steps(file, local.steps, step_count);
  create_group(file, "/timers", false);
  write_timers(file, local.phase_seconds);
  create_group(file, "/trace", false);
  write_trace(file, local.events);
  file.commit();
}

RunResults read_results(const std::string& path, MPI_Comm comm) {
  const ProfilingRegion region("IO::read_results");
  InputFile file = InputFile::open(path, comm);
  RunResults results;
  results.software = read_attribute<std::string>(file, "/", "software");
  results.version = read_attribute<std::string>(file, "/", "version");
  results.git_hash = read_attribute<std::string>(file, "/", "git_hash");
  results.date = read_attribute<std::string>(file, "/", "date");
  results.kokkos_backend = read_attribute<std::string>(file, "/", "kokkos_backend");
  results.problem = read_attribute<std::string>(file, "/", "problem");
  results.deck_text = read_attribute<std::string>(file, "/", "deck");
  const std::int64_t ranks = read_attribute<std::int64_t>(file, "/", "ranks");
  require(ranks > 0, path + ": attribute ranks = " + std::to_string(ranks) + " is not positive");
  results.ranks = static_cast<int>(ranks);

  for (const auto& name : link_names(file, "/summary")) {
    const std::string object = "/summary/" + name;
    SummaryValue value;
    value.name = name;
    value.value = read_column<double>(file, object, 1)[0];
    value.unit = read_attribute<std::string>(file, object, "unit");
    results.summary.push_back(value);
  }

  const auto step = read_all<std::int64_t>(file, "/steps/step");
  const auto loss = read_column<double>(file, "/steps/loss", step.size());
  const auto seconds = read_column<double>(file, "/steps/seconds", step.size());
  const auto tokens_per_second = read_column<double>(file, "/steps/tokens_per_second", step.size());
  const auto grad_norm = read_column<double>(file, "/steps/grad_norm", step.size());
  const auto timed = read_column<std::int64_t>(file, "/steps/timed", step.size());
  for (std::size_t i = 0; i < step.size(); ++i)
    results.steps.push_back({step[i], loss[i], seconds[i], tokens_per_second[i], grad_norm[i], timed[i] != 0});

  require_our_phases(file, "/timers");
  const auto table = read_column<double>(file, "/timers/seconds", static_cast<std::size_t>(ranks) * phase_count);
  for (std::size_t r = 0; r < static_cast<std::size_t>(ranks); ++r)
    results.rank_phase_seconds.push_back(to_phase_seconds(table, r));
  const auto me = static_cast<std::size_t>(rank_of(comm));
  if (me < results.rank_phase_seconds.size()) results.phase_seconds = results.rank_phase_seconds[me];
  results.phase_min = to_phase_seconds(read_column<double>(file, "/timers/min", phase_count), 0);
  results.phase_avg = to_phase_seconds(read_column<double>(file, "/timers/avg", phase_count), 0);
  results.phase_max = to_phase_seconds(read_column<double>(file, "/timers/max", phase_count), 0);

  require_our_phases(file, "/trace");
  const auto begin = read_all<double>(file, "/trace/begin");
  const std::size_t events = begin.size();
  const auto end = read_column<double>(file, "/trace/end", events);
  const auto bytes = read_column<std::int64_t>(file, "/trace/bytes", events);
  results.events.resize(events);
  for (const auto& [name, member] : int_fields) {
    const auto values = read_column<std::int64_t>(file, std::string("/trace/") + name, events);
    for (std::size_t i = 0; i < events; ++i) results.events[i].*member = static_cast<std::int32_t>(values[i]);
  }
  for (std::size_t i = 0; i < events; ++i) {
    results.events[i].bytes = static_cast<std::uint64_t>(bytes[i]);
    results.events[i].begin = begin[i];
    results.events[i].end = end[i];
  }
  return results;
}

}  // namespace wf::io

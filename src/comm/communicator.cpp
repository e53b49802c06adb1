// The communicator front end: counting, tags, fault injection, deadlines, and the collectives
// (written once on top of the backends' point-to-point transfers).
#include "comm/communicator.hpp"
#include "comm/posted_collectives.hpp"

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "comm/deadline.hpp"
#include "core/instances.hpp"
#include "core/types.hpp"

namespace wf::comm {

namespace detail {
// Kernels live in a named namespace at file scope: CUDA extended lambdas need an enclosing
// function with external linkage and public access.
template <class T>
using Unmanaged = Kokkos::View<T*, MemSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

template <class T>
void copy_elements(const ExecSpace& space, T* destination, const T* source, std::size_t count) {
  if (count == 0 || destination == source) return;
  Kokkos::deep_copy(space, Unmanaged<T>(destination, count), Unmanaged<const T>(source, count));
}

/// The sum as a Combine on `space`.
template <class T>
Combine<T> add_into(const ExecSpace& space) {
  return [space](T* accumulated, const T* incoming, std::size_t count) {
    Kokkos::parallel_for(
        "Comm::reduce_sum", Kokkos::RangePolicy<ExecSpace>(space, 0, static_cast<std::int64_t>(count)),
        KOKKOS_LAMBDA(const std::int64_t i) { accumulated[i] += incoming[i]; });
  };
}
}  // namespace detail

namespace {
// Tag = step * tag_channels + channel. Point-to-point channels hash the operation name into
// [0, 48); collectives use the reserved channels above, so they never match user transfers.
constexpr int tag_channels = 64;
constexpr int p2p_channels = 48;
enum CollectiveChannel : int {
  channel_all_gather = 48,
  channel_reduce_scatter = 49,
  channel_all_to_all = 50,
  channel_all_reduce_scatter = 51,
  channel_all_reduce_gather = 52,
  channel_barrier = 53,
};

int p2p_channel(const char* operation) {
  std::uint32_t hash = 2166136261u;  // FNV-1a: the same on every rank and every run
  for (const char* c = operation; *c; ++c) hash = (hash ^ static_cast<unsigned char>(*c)) * 16777619u;
  return static_cast<int>(hash % p2p_channels);
}

std::string ring_step_detail(const char* name, int step, int steps) {
  return std::string(name) + " step " + std::to_string(step + 1) + " of " + std::to_string(steps);
}
}  // namespace

// ---- counters and requests -------------------------------------------------------------------

void TrafficCounters::record(int world_peer, LinkClass link, std::uint64_t nbytes) {
  bytes_to_peer[world_peer] += nbytes;
  messages_to_peer[world_peer] += 1;
  bytes[static_cast<int>(link)] += nbytes;
  messages[static_cast<int>(link)] += 1;
}

void TrafficCounters::clear() { *this = TrafficCounters(); }

Request::Request() = default;
Request::Request(std::shared_ptr<State> state) : state_(std::move(state)) {}
Request::~Request() = default;
Request::Request(Request&&) noexcept = default;
Request& Request::operator=(Request&&) noexcept = default;
Request::State::~State() {
  // Unfinished transfers may still be touched by MPI after a cancel or free: never free
  // their memory (a leak on an error path only; the run is ending).
  const bool unfinished = std::any_of(items.begin(), items.end(), [](const Item& i) { return !i.complete; });
  if (unfinished)
    for (auto& owner : owners) new std::shared_ptr<void>(std::move(owner));  // NOLINT: intentional leak
}

void Request::keep_alive(std::shared_ptr<void> owner) {
  if (state_) state_->owners.push_back(std::move(owner));
}

// ---- construction ----------------------------------------------------------------------------

Communicator::Communicator(MPI_Comm world_view, std::vector<int> world_ranks, std::vector<int> node_of_world_rank,
                           std::shared_ptr<const CommOptions> options, std::shared_ptr<TrafficCounters> traffic)
    : mpi_comm_(world_view),
      world_ranks_(std::move(world_ranks)),
      node_of_world_rank_(std::move(node_of_world_rank)),
      options_(std::move(options)),
      traffic_(std::move(traffic)) {
  MPI_Comm_rank(world_view, &rank_);
  MPI_Comm_size(world_view, &size_);
  require(world_ranks_.size() == static_cast<std::size_t>(size_), "Communicator: one world rank per rank needed");
  int* tag_ub = nullptr;
  int found = 0;
  MPI_Comm_get_attr(world_view, MPI_TAG_UB, &tag_ub, &found);
  if (found && tag_ub) tag_upper_bound_ = *tag_ub;
}

Communicator::~Communicator() = default;

void Communicator::validate(const CommOptions& options) {
  require(options.deadline_seconds > 0.0, "communicator deadline_seconds must be > 0, got " +
                                              std::to_string(options.deadline_seconds));
  require(options.ranks_per_node >= 0,
          "communicator ranks_per_node must be >= 0 (0: detect), got " + std::to_string(options.ranks_per_node));
}

int Communicator::fault_drop_step_from_environment() {
  const char* value = std::getenv("WF_FAULT_DROP_SEND");
  if (!value || !*value) return -1;
  int world_rank = -1, step = -1;
  char trailing = 0;
  if (std::sscanf(value, "%d:%d%c", &world_rank, &step, &trailing) != 2 || world_rank < 0 || step < 0)
    throw Error(std::string("WF_FAULT_DROP_SEND must be \"<world rank>:<step>\" (integers >= 0), got \"") +
                value + "\"");
  int me = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  return me == world_rank ? step : -1;
}

std::vector<int> Communicator::gather_world_ranks(MPI_Comm comm) {
  int size = 1, world_rank = 0;
  MPI_Comm_size(comm, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  std::vector<int> ranks(static_cast<std::size_t>(size));
  MPI_Request request = MPI_REQUEST_NULL;
  post_allgather(&world_rank, 1, MPI_INT, ranks.data(), 1, MPI_INT, comm, &request);
  wait_with_deadline(request, "making a communicator (gathering world ranks)");
  return ranks;
}

std::vector<int> Communicator::detect_nodes(MPI_Comm comm, int ranks_per_node) {
  int world_size = 1, world_rank = 0, size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(comm, &size);
  std::vector<int> node(static_cast<std::size_t>(world_size), -1);
  if (ranks_per_node > 0) {
    for (int w = 0; w < world_size; ++w) node[static_cast<std::size_t>(w)] = w / ranks_per_node;
    return node;
  }
  // A node is named by its lowest world rank; nodes are numbered in the order of those.
  MPI_Comm shared = MPI_COMM_NULL;
  {
    const DeadlineGuard guard("making a communicator (MPI_Comm_split_type: node detection)");
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &shared);
  }
  int mine[2] = {world_rank, world_rank};
  MPI_Request request = MPI_REQUEST_NULL;
  post_allreduce(&world_rank, &mine[1], 1, MPI_INT, MPI_MIN, shared, &request);
  wait_with_deadline(request, "making a communicator (lowest rank of the node)");
  MPI_Comm_free(&shared);
  std::vector<int> pairs(2 * static_cast<std::size_t>(size));
  post_allgather(mine, 2, MPI_INT, pairs.data(), 2, MPI_INT, comm, &request);
  wait_with_deadline(request, "making a communicator (gathering nodes)");
  std::vector<int> leaders;
  for (int i = 0; i < size; ++i) leaders.push_back(pairs[2 * static_cast<std::size_t>(i) + 1]);
  std::sort(leaders.begin(), leaders.end());
  leaders.erase(std::unique(leaders.begin(), leaders.end()), leaders.end());
  for (int i = 0; i < size; ++i) {
    const auto at = std::lower_bound(leaders.begin(), leaders.end(), pairs[2 * static_cast<std::size_t>(i) + 1]);
    node[static_cast<std::size_t>(pairs[2 * static_cast<std::size_t>(i)])] = static_cast<int>(at - leaders.begin());
  }
  return node;
}

LinkClass Communicator::link_class(int peer) const {
  const int mine = node_of_world_rank_.at(static_cast<std::size_t>(world_rank(rank_)));
  const int theirs = node_of_world_rank_.at(static_cast<std::size_t>(world_rank(peer)));
  return mine == theirs ? LinkClass::same_node : LinkClass::other_node;
}

void Communicator::order(StreamOrder order, const ExecSpace& compute, const ExecSpace& communication) {
  if (order == StreamOrder::communication_after_compute)
    order_instances(compute, communication);
  else
    order_instances(communication, compute);
}

// ---- point to point --------------------------------------------------------------------------

Request Communicator::post(const std::vector<Transfer>& transfers, Label label, const ExecSpace& space) {
  return post_on_channel(transfers, label, p2p_channel(label.operation ? label.operation : "transfer"), "", space);
}

Request Communicator::isend(const void* data, std::size_t bytes, int peer, Label label, const ExecSpace& space) {
  return post({Transfer{Transfer::send, const_cast<void*>(data), bytes, peer}}, label, space);
}

Request Communicator::irecv(void* data, std::size_t bytes, int peer, Label label, const ExecSpace& space) {
  return post({Transfer{Transfer::recv, data, bytes, peer}}, label, space);
}

Request Communicator::post_on_channel(const std::vector<Transfer>& transfers, Label label, int channel,
                                      const std::string& detail, const ExecSpace& space) {
  const std::string operation = label.operation ? label.operation : "transfer";
  const std::string where = operation + " step " + std::to_string(label.step);
  stop_here_if_asked(where);  // test hook (WF_FAULT_STOP)
  require(label.step >= 0, where + ": the step must be >= 0");
  const int max_step = (tag_upper_bound_ - (tag_channels - 1)) / tag_channels;
  require(label.step <= max_step, where + ": step too large for MPI tags (tag = step * " +
                                      std::to_string(tag_channels) + " + channel <= MPI_TAG_UB = " +
                                      std::to_string(tag_upper_bound_) + " allows steps up to " +
                                      std::to_string(max_step) + ")");
  const bool drop_sends = fault_drop_step_ >= 0 && label.step == fault_drop_step_;  // test hook
  std::vector<Transfer> posted;
  posted.reserve(transfers.size());
  for (const Transfer& t : transfers) {
    require(t.peer >= 0 && t.peer < size_, where + ": peer " + std::to_string(t.peer) +
                                               " is not a rank of this communicator of size " +
                                               std::to_string(size_));
    require(t.bytes == 0 || t.data != nullptr, where + ": null buffer");
    if (t.kind == Transfer::send && drop_sends) continue;
    posted.push_back(t);
  }
  if (posted.empty()) return Request();
  std::shared_ptr<Request::State> state = post_transfers(posted, label.step * tag_channels + channel, space);
  state->operation = operation;
  state->step = label.step;
  state->detail = detail;
  for (const Transfer& t : posted) {
    state->items.push_back({t.kind, t.peer, t.bytes, false});
    if (t.kind == Transfer::send && t.peer != rank_) traffic_->record(world_rank(t.peer), link_class(t.peer), t.bytes);
  }
  return Request(std::move(state));
}

bool Communicator::test(Request& request) {
  if (request.empty()) return true;
  if (!test_state(*request.state())) return false;
  request = Request();
  return true;
}

void Communicator::wait(Request& request) { wait_pending({&request}); }

void Communicator::wait_all(std::vector<Request>& requests) {
  std::vector<Request*> pending;
  for (Request& request : requests) pending.push_back(&request);
  wait_pending(pending);
}

void Communicator::wait_pending(const std::vector<Request*>& requests) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const double deadline = options_->deadline_seconds;
  bool done = true;
  for (Request* request : requests) done = test(*request) && done;
  if (done) return;  // most waits end here: only a real wait is worth a position
  // Where this rank waits, for a roll call (the deadline is enforced below, not by the watchdog).
  const auto first = std::find_if(requests.begin(), requests.end(), [](Request* r) { return !r->empty(); });
  const DeadlineGuard position((*first)->state()->operation + " step " + std::to_string((*first)->state()->step),
                               false);
  for (;;) {
    done = true;
    for (Request* request : requests) done = test(*request) && done;
    if (done) return;
    if (std::chrono::duration<double>(clock::now() - start).count() > deadline) break;
    std::this_thread::yield();  // ranks may outnumber cores (oversubscribed tests)
  }
  std::string message;
  for (Request* request : requests) {
    if (request->empty()) continue;
    message += (message.empty() ? "" : "; ") + describe(*request->state());
    cancel_state(*request->state());
    *request = Request();
  }
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.1f", deadline);
  // In the program the peer may be stopped for good: the watchdog names it and ends the job.
  if (Watchdog::running()) end_job_after_timeout(message + " not complete after " + seconds + " s");
  throw TimeoutError(message + " not complete after " + seconds + " s");
}

std::string Communicator::describe(const Request::State& state) const {
  std::string text = "rank " + std::to_string(rank_);
  if (world_rank(rank_) != rank_) text += " (world " + std::to_string(world_rank(rank_)) + ")";
  text += ": " + state.operation + " step " + std::to_string(state.step);
  if (!state.detail.empty()) text += " (" + state.detail + ")";
  text += ": ";
  const bool any_open = std::any_of(state.items.begin(), state.items.end(), [](const auto& i) { return !i.complete; });
  bool first = true;
  for (const auto& item : state.items) {
    if (item.complete && any_open) continue;
    text += first ? "" : ", ";
    text += item.kind == Transfer::recv ? "receive from rank " : "send to rank ";
    text += std::to_string(item.peer) + " (world " + std::to_string(world_rank(item.peer)) + ")";
    first = false;
  }
  return text;
}

// ---- collectives -----------------------------------------------------------------------------

struct Communicator::Chunks {
  std::vector<std::size_t> offset, count;
  std::size_t largest = 0;
  /// parts chunks of total/parts elements, the first total%parts of them one larger.
  Chunks(std::size_t total, int parts) {
    const std::size_t p = static_cast<std::size_t>(parts), base = total / p, extra = total % p;
    for (std::size_t i = 0, at = 0; i < p; ++i) {
      offset.push_back(at);
      count.push_back(base + (i < extra ? 1 : 0));
      at += count.back();
    }
    largest = base + (extra ? 1 : 0);
  }
};

template <class T>
void Communicator::ring_all_gather(T* data, const Chunks& chunks, Label label, int channel, const char* name,
                                   const ExecSpace& space) {
  const int P = size_, next = (rank_ + 1) % P, prev = (rank_ + P - 1) % P;
  for (int s = 0; s < P - 1; ++s) {
    // Forward the chunk received last step (own chunk first); take the previous one.
    const auto out = static_cast<std::size_t>((rank_ - s + P) % P);
    const auto in = static_cast<std::size_t>((rank_ - s - 1 + 2 * P) % P);
    std::vector<Transfer> group;
    if (chunks.count[out]) group.push_back({Transfer::send, data + chunks.offset[out], chunks.count[out] * sizeof(T), next});
    if (chunks.count[in]) group.push_back({Transfer::recv, data + chunks.offset[in], chunks.count[in] * sizeof(T), prev});
    Request request = post_on_channel(group, label, channel, ring_step_detail(name, s, P - 1), space);
    wait(request);
  }
}

template <class T>
void Communicator::ring_reduce_scatter(const T* contributions, T* result, const Chunks& chunks,
                                       const Combine<T>& combine, Label label, int channel, const char* name,
                                       const ExecSpace& space) {
  const int P = size_, next = (rank_ + 1) % P, prev = (rank_ + P - 1) % P;
  const auto mine = static_cast<std::size_t>(rank_);
  if (P == 1) return detail::copy_elements(space, result, contributions + chunks.offset[0], chunks.count[0]);
  // all_reduce_sum reduces in place: the result is part of the contributions, and must not be
  // overwritten before the last combine reads it.
  const auto address = [](const T* p) { return reinterpret_cast<std::uintptr_t>(p); };
  const bool in_place = address(result) >= address(contributions) &&
                        address(result) < address(contributions + chunks.offset.back() + chunks.count.back());
  Kokkos::View<T*, MemSpace> work;
  T* buffers[2] = {nullptr, nullptr};
  if (P > 2 || in_place) {  // two partials in flight: the one sent and the one received
    work = Kokkos::View<T*, MemSpace>(Kokkos::ViewAllocateWithoutInitializing("Comm::reduce_scatter work"),
                                      2 * chunks.largest);
    buffers[0] = work.data();
    buffers[1] = work.data() + chunks.largest;
  }
  T* last = result;
  for (int s = 0; s < P - 1; ++s) {
    // Partial sums travel rank r+1 -> r+2 -> ... -> r, each adding its own contribution.
    const auto out = static_cast<std::size_t>((rank_ - s - 1 + 2 * P) % P);
    const auto in = static_cast<std::size_t>((rank_ - s - 2 + 2 * P) % P);
    const T* source = s == 0 ? contributions + chunks.offset[out] : buffers[(s - 1) % 2];
    T* target = (s == P - 2 && !in_place) ? result : buffers[s % 2];
    std::vector<Transfer> group;
    if (chunks.count[out]) group.push_back({Transfer::send, const_cast<T*>(source), chunks.count[out] * sizeof(T), next});
    if (chunks.count[in]) group.push_back({Transfer::recv, target, chunks.count[in] * sizeof(T), prev});
    Request request = post_on_channel(group, label, channel, ring_step_detail(name, s, P - 1), space);
    wait(request);
    if (chunks.count[in]) combine(target, contributions + chunks.offset[in], chunks.count[in]);
    last = target;
  }
  if (in_place) detail::copy_elements(space, result, last, chunks.count[mine]);
}

template <class T>
void Communicator::all_gather(const T* send, T* recv, std::size_t count, Label label, const ExecSpace& space) {
  if (count == 0) return;
  detail::copy_elements(space, recv + static_cast<std::size_t>(rank_) * count, send, count);
  if (size_ > 1) ring_all_gather(recv, Chunks(count * static_cast<std::size_t>(size_), size_), label,
                                 channel_all_gather, "all-gather ring", space);
}

template <class T>
void Communicator::reduce_scatter(const T* send, T* recv, std::size_t count, const Combine<T>& combine, Label label,
                                  const ExecSpace& space) {
  if (count == 0) return;
  ring_reduce_scatter(send, recv, Chunks(count * static_cast<std::size_t>(size_), size_), combine, label,
                      channel_reduce_scatter, "reduce-scatter ring", space);
}

template <class T>
void Communicator::reduce_scatter_sum(const T* send, T* recv, std::size_t count, Label label, const ExecSpace& space) {
  reduce_scatter<T>(send, recv, count, detail::add_into<T>(space), label, space);
}

template <class T>
void Communicator::all_to_all(const T* send, T* recv, std::size_t count, Label label, const ExecSpace& space) {
  if (count == 0) return;
  const std::size_t bytes = count * sizeof(T);
  const auto chunk = [count](int p) { return static_cast<std::size_t>(p) * count; };
  detail::copy_elements(space, recv + chunk(rank_), send + chunk(rank_), count);
  if (size_ == 1) return;
  std::vector<Transfer> group;
  for (int d = 1; d < size_; ++d) {
    const int to = (rank_ + d) % size_, from = (rank_ - d + size_) % size_;
    group.push_back({Transfer::send, const_cast<T*>(send + chunk(to)), bytes, to});
    group.push_back({Transfer::recv, recv + chunk(from), bytes, from});
  }
  Request request = post_on_channel(group, label, channel_all_to_all, "all-to-all", space);
  wait(request);
}

template <class T>
void Communicator::all_reduce_sum(T* data, std::size_t count, Label label, const ExecSpace& space) {
  if (count == 0 || size_ == 1) return;
  const Chunks chunks(count, size_);
  ring_reduce_scatter<T>(data, data + chunks.offset[static_cast<std::size_t>(rank_)], chunks, detail::add_into<T>(space),
                         label, channel_all_reduce_scatter, "all-reduce, reduce-scatter ring", space);
  ring_all_gather(data, chunks, label, channel_all_reduce_gather, "all-reduce, all-gather ring", space);
}

void Communicator::barrier(Label label, const ExecSpace& space) {
  if (size_ == 1) return;
  // Dissemination: after round k every rank has heard, directly or not, from 2^(k+1) ranks.
  Kokkos::View<int*, MemSpace> tokens("Comm::barrier tokens", 2);
  int round = 0;
  for (int distance = 1; distance < size_; distance *= 2, ++round) {
    const int to = (rank_ + distance) % size_, from = (rank_ - distance + size_) % size_;
    Request request = post_on_channel({{Transfer::send, tokens.data(), sizeof(int), to},
                                       {Transfer::recv, tokens.data() + 1, sizeof(int), from}},
                                      label, channel_barrier, "barrier round " + std::to_string(round + 1), space);
    wait(request);
  }
}

#define WF_COMM_INSTANTIATE(T)                                                                      \
  template void Communicator::all_gather<T>(const T*, T*, std::size_t, Label, const ExecSpace&);              \
  template void Communicator::reduce_scatter<T>(const T*, T*, std::size_t, const Combine<T>&, Label,         \
                                                const ExecSpace&);                                            \
  template void Communicator::reduce_scatter_sum<T>(const T*, T*, std::size_t, Label, const ExecSpace&);      \
  template void Communicator::all_to_all<T>(const T*, T*, std::size_t, Label, const ExecSpace&);              \
  template void Communicator::all_reduce_sum<T>(T*, std::size_t, Label, const ExecSpace&);
WF_COMM_INSTANTIATE(float)
WF_COMM_INSTANTIATE(double)
WF_COMM_INSTANTIATE(std::int64_t)
#undef WF_COMM_INSTANTIATE

}  // namespace wf::comm

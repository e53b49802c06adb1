// Communicator: one front-end API over two backends (MPI; NCCL when WF_ENABLE_NCCL).
// Backends provide point-to-point transfers only; the collectives are written once here on
// top of them (ring all-gather and reduce-scatter, pairwise all-to-all), so that every byte is
// counted exactly, every wait has a deadline, and both backends behave alike.
//
// Buffers are contiguous and live in wf::MemSpace (device memory on GPU builds). Sizes are in
// bytes for transfers and in elements for collectives. docs/communication.md has the details.
//
// Bytes each process sends (P = size(), s = sizeof(T), counted in traffic()):
//   all_gather, reduce_scatter(_sum), all_to_all:  (P-1) * count * s in P-1 messages
//   all_reduce_sum: (2*count - n(r) - n((r+1) % P)) * s, where n(i) = count/P + (i < count%P)
//     is the chunk of rank i (= 2*(P-1)*count/P * s when P divides count), one message per
//     non-empty chunk sent (2*(P-1) messages when count >= P)
//   barrier: ceil(log2 P) messages of sizeof(int) bytes
//   P == 1 or count == 0: no messages.
#pragma once

#include <mpi.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/types.hpp"

namespace wf::comm {

/// \brief Where a peer is: on this node or another one.
enum class LinkClass : int { same_node = 0, other_node = 1 };
inline const char* link_class_name(LinkClass link) { return link == LinkClass::same_node ? "same-node" : "other-node"; }

/// \brief Bytes and messages this process sent to other processes (self-sends are not counted).
/// One message per Transfer (MPI may split a transfer above 1 GiB into pieces; they count once).
struct TrafficCounters {
  std::map<int, std::uint64_t> bytes_to_peer;     ///< keyed by world rank
  std::map<int, std::uint64_t> messages_to_peer;  ///< keyed by world rank
  std::array<std::uint64_t, 2> bytes{};           ///< indexed by LinkClass
  std::array<std::uint64_t, 2> messages{};        ///< indexed by LinkClass
  std::uint64_t total_bytes() const { return bytes[0] + bytes[1]; }
  std::uint64_t total_messages() const { return messages[0] + messages[1]; }
  /// \brief Adds one message of nbytes to world_peer over link.
  void record(int world_peer, LinkClass link, std::uint64_t nbytes);
  /// \brief Back to zero (every map emptied).
  void clear();
};

/// \brief A wait ran past its deadline. what() names the rank, the peer, the operation, the step.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

/// \brief Run-time settings of every communicator of a run.
struct CommOptions {
  double deadline_seconds = 120.0;  ///< the longest any wait may take
  int ranks_per_node = 0;           ///< 0: detect with MPI_Comm_split_type
};

/// \brief What a transfer is for, carried into tags and error messages.
/// MPI tag = step * 64 + channel, where the channel of point-to-point transfers is a hash of
/// `operation` (0..47) and collectives use reserved channels (48..63).
struct Label {
  const char* operation = "transfer";  ///< e.g. "ring shift K,V", "team all-gather Q"
  int step = 0;                        ///< ring step or phase counter (>= 0)
};

/// \brief One send or receive of a group posted together.
struct Transfer {
  enum Kind { send, recv } kind;
  void* data;          ///< const for sends
  std::size_t bytes;
  int peer;            ///< rank in this communicator
};

/// \brief Handle of posted transfers; complete it with Communicator::wait.
/// A request that completed (test() returned true, or wait() returned) is empty.
class Request {
 public:
  struct State;  // defined below; each backend derives its own
  Request();
  explicit Request(std::shared_ptr<State> state);
  ~Request();
  Request(Request&&) noexcept;
  Request& operator=(Request&&) noexcept;
  bool empty() const { return !state_; }
  State* state() const { return state_.get(); }
  /// \brief Keeps `owner` (e.g. the Kokkos views of the buffers) alive while the transfers
  /// may still touch the memory: released when the request completes, and deliberately
  /// leaked if the request is dropped unfinished (after a timeout MPI may still read a send).
  void keep_alive(std::shared_ptr<void> owner);

 private:
  std::shared_ptr<State> state_;
};

/// \brief What the front end knows of a posted group (for deadlines and messages); backends
/// derive from it and set Item::complete as transfers finish.
struct Request::State {
  struct Item {
    Transfer::Kind kind;
    int peer;  ///< rank in the communicator
    std::size_t bytes;
    bool complete;
  };
  virtual ~State();
  std::string operation;
  int step = 0;
  std::string detail;       ///< e.g. "all-gather ring step 2 of 3" inside collectives
  std::vector<Item> items;  ///< the posted transfers, in order (dropped sends left out)
  std::vector<std::shared_ptr<void>> owners;  ///< see Request::keep_alive
};

/// \brief Combines an incoming chunk into the local one: acc[i] = op(acc[i], incoming[i]) over
/// `count` elements in MemSpace. Used by reduce_scatter (sum, or the lse-aware merge).
/// Run it on the execution space instance given to the collective (the result is sent right
/// after; backends order their sends after that instance's work), or on another instance that
/// the collective's instance is then ordered after (Communicator::order); never on the host
/// unless MemSpace is host memory.
template <class T>
using Combine = std::function<void(T* accumulated, const T* incoming, std::size_t count)>;

/// \brief Which side of an ordering point between compute and communication waits.
enum class StreamOrder {
  communication_after_compute,  ///< transfers posted next may read what compute wrote, overwrite what it read
  compute_after_communication,  ///< compute submitted next may read what a collective received
};

/// \brief The front end. Created by make_mpi_communicator or make_nccl_communicator.
/// Every operation takes the execution space instance `space` it runs on: its transfers are
/// ordered after that instance's work (MPI: a fence of it; NCCL: enqueued on its stream), its
/// local copies and combines run on it, and its received data is complete for that instance's
/// later work when the call (collectives) or wait() (point-to-point) returns. It defaults to the
/// default instance. Schedules pass their communication instance and order it against their
/// compute instance with order() exactly where data flows between the two (docs/communication.md).
/// Every collective must be called by all ranks of the communicator in the same order with
/// the same count; send and recv buffers of one call must not overlap unless stated.
class Communicator {
 public:
  virtual ~Communicator();
  int rank() const { return rank_; }
  int size() const { return size_; }
  /// \brief World rank of `peer` (a rank of this communicator).
  int world_rank(int peer) const { return world_ranks_.at(static_cast<std::size_t>(peer)); }
  /// \brief same_node when `peer` runs on this process's node.
  LinkClass link_class(int peer) const;
  const CommOptions& options() const { return *options_; }
  /// \brief Counters shared by this communicator and every communicator split from it.
  TrafficCounters& traffic() const { return *traffic_; }
  /// \brief An MPI communicator of exactly these processes in this order (owned by this object),
  /// for host-side collectives that are not counted: parallel file I/O, report reductions.
  MPI_Comm mpi_comm() const { return mpi_comm_; }
  /// \brief "mpi" or "nccl", and for MPI whether device buffers go directly or through host staging.
  virtual std::string backend_description() const = 0;

  /// \brief Collective: a new communicator of the ranks with the same color, ordered by key.
  /// Same backend, options, counters and fault injection; nullptr for color MPI_UNDEFINED.
  virtual std::unique_ptr<Communicator> split(int color, int key) const = 0;

  /// \brief Posts a group of sends and receives at once (NCCL needs a matched group); counts
  /// the sent bytes. Nothing is complete until wait() returns. Sends to self are posted (and
  /// must be matched by a receive from self) but not counted. Peers see the messages of one
  /// (operation, step) in posting order: post them in the same order on both sides.
  Request post(const std::vector<Transfer>& transfers, Label label, const ExecSpace& space = ExecSpace());
  /// \brief post() of one send.
  Request isend(const void* data, std::size_t bytes, int peer, Label label, const ExecSpace& space = ExecSpace());
  /// \brief post() of one receive.
  Request irecv(void* data, std::size_t bytes, int peer, Label label, const ExecSpace& space = ExecSpace());
  /// \brief Progress without blocking; true when every transfer of the request completed
  /// (the request is then empty). An empty request is complete.
  bool test(Request& request);
  /// \brief Blocks until done, at most options().deadline_seconds; throws TimeoutError (the
  /// unfinished transfers are cancelled or abandoned first, so the process can go on or abort).
  void wait(Request& request);
  /// \brief wait() for all of them under one deadline; the error lists every unfinished one.
  void wait_all(std::vector<Request>& requests);

  /// \brief Ring all-gather: recv holds size() chunks of `count` elements, chunk r from rank r.
  /// `send` may be recv + rank() * count (in place). Sends (P-1) * count * sizeof(T) bytes.
  template <class T>
  void all_gather(const T* send, T* recv, std::size_t count, Label label, const ExecSpace& space = ExecSpace());
  /// \brief Ring reduce-scatter: send holds size() chunks of `count`; rank r ends with chunk r
  /// combined over all ranks in recv. The order of combination is fixed (deterministic):
  /// acc = chunk r of rank r+1; then acc = combine(acc, chunk r of rank r+j) for j = 2..P
  /// (ranks mod P; the last one is r itself). Sends (P-1) * count * sizeof(T) bytes.
  template <class T>
  void reduce_scatter(const T* send, T* recv, std::size_t count, const Combine<T>& combine, Label label,
                      const ExecSpace& space = ExecSpace());
  /// \brief reduce_scatter with the sum (a Kokkos kernel on the default execution space).
  template <class T>
  void reduce_scatter_sum(const T* send, T* recv, std::size_t count, Label label, const ExecSpace& space = ExecSpace());
  /// \brief Pairwise all-to-all: chunk p of send goes to rank p, chunk q of recv comes from q.
  /// All P-1 sends and receives are one group. Sends (P-1) * count * sizeof(T) bytes.
  template <class T>
  void all_to_all(const T* send, T* recv, std::size_t count, Label label, const ExecSpace& space = ExecSpace());
  /// \brief Sum over ranks, in place (any count): ring reduce-scatter of P nearly equal chunks
  /// (chunk i has count/P + (i < count%P) elements, same order as reduce_scatter), then ring
  /// all-gather. Sends (2*count - n(r) - n((r+1)%P)) * sizeof(T) bytes (see top of file).
  template <class T>
  void all_reduce_sum(T* data, std::size_t count, Label label, const ExecSpace& space = ExecSpace());
  /// \brief Every rank waits for every other (dissemination, ceil(log2 P) rounds of one int,
  /// each under the deadline).
  void barrier(Label label, const ExecSpace& space = ExecSpace());

  /// \brief An ordering point between the compute and communication instances (local: no
  /// message). communication_after_compute: transfers posted on `communication` from now on start
  /// after the work submitted to `compute` so far; compute_after_communication: the reverse.
  /// CUDA: an event, the host does not block; host backends: a fence (core/instances.hpp).
  /// Virtual so that a test can record where a schedule puts its ordering points.
  virtual void order(StreamOrder order, const ExecSpace& compute, const ExecSpace& communication);

  /// \brief Parses WF_FAULT_DROP_SEND="<world rank>:<step>" (a test hook): the step at which
  /// this process drops the sends it posts, or -1. Throws wf::Error when malformed. Read when a
  /// communicator is made by make_*_communicator; split communicators inherit the setting.
  static int fault_drop_step_from_environment();

 protected:
  /// Throws wf::Error unless deadline_seconds > 0 and ranks_per_node >= 0.
  static void validate(const CommOptions& options);
  /// `world_view`: an MPI communicator of exactly this communicator's processes, in order
  /// (rank, size and MPI_TAG_UB are read from it).
  Communicator(MPI_Comm world_view, std::vector<int> world_ranks, std::vector<int> node_of_world_rank,
               std::shared_ptr<const CommOptions> options, std::shared_ptr<TrafficCounters> traffic);
  /// Backend hooks. post_transfers gets the transfers that remain after fault injection.
  virtual std::shared_ptr<Request::State> post_transfers(const std::vector<Transfer>& transfers, int tag,
                                                         const ExecSpace& space) = 0;
  virtual bool test_state(Request::State& state) = 0;
  /// Called after a deadline passed: cancel or abandon what is unfinished (must not block).
  virtual void cancel_state(Request::State& state) = 0;
  /// Message naming rank, peers, operation and step, for timeouts.
  std::string describe(const Request::State& state) const;

  /// Collective over comm: world rank of each of its ranks.
  static std::vector<int> gather_world_ranks(MPI_Comm comm);
  /// Collective over comm: node index of every world rank (-1 for world ranks outside comm),
  /// by MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), or world_rank / ranks_per_node when > 0.
  static std::vector<int> detect_nodes(MPI_Comm comm, int ranks_per_node);

  int rank_ = 0, size_ = 1;
  MPI_Comm mpi_comm_ = MPI_COMM_NULL;
  std::vector<int> world_ranks_;          ///< world rank of each rank of this communicator
  std::vector<int> node_of_world_rank_;   ///< node index of every world rank
  std::shared_ptr<const CommOptions> options_;
  std::shared_ptr<TrafficCounters> traffic_;
  int fault_drop_step_ = -1;  ///< from fault_drop_step_from_environment(); inherited by split
  int tag_upper_bound_ = 32767;

 private:
  struct Chunks;  // offsets and counts of the P chunks of a collective
  Request post_on_channel(const std::vector<Transfer>& transfers, Label label, int channel,
                          const std::string& detail, const ExecSpace& space);
  void wait_pending(const std::vector<Request*>& requests);
  template <class T>
  void ring_all_gather(T* data, const Chunks& chunks, Label label, int channel, const char* name, const ExecSpace& space);
  template <class T>
  void ring_reduce_scatter(const T* contributions, T* result, const Chunks& chunks, const Combine<T>& combine,
                           Label label, int channel, const char* name, const ExecSpace& space);
};

/// \brief MPI backend on a duplicate of `parent` (collective over parent).
std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm parent, const CommOptions& options);

/// \brief NCCL backend (ncclUniqueId broadcast over MPI; operations on the stream of the
/// execution space instance they are given). Throws wf::Error when the build has no NCCL or no GPU is visible.
std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm parent, const CommOptions& options);

/// \brief True when this build has the NCCL backend and a GPU is visible.
bool nccl_available();

}  // namespace wf::comm

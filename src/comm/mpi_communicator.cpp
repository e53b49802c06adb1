// MPI backend: nonblocking point-to-point on a duplicate of the parent communicator.
// Device buffers go to MPI directly when it is CUDA-aware, otherwise through host copies.
// MPI is driven by the host: a post fences the instance it is given (the schedules'
// communication instance, ordered after their compute by Communicator::order) before MPI or a
// host copy reads a send buffer; host copies of device data run on that instance too.
#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>

#include "comm/communicator.hpp"
#include "comm/posted_collectives.hpp"
#include "comm/deadline.hpp"
#include "comm/mpi_util.hpp"
#include "core/types.hpp"
#include "wf_config.hpp"

#if defined(OPEN_MPI) && OPEN_MPI
#include <mpi-ext.h>  // MPIX_CUDA_AWARE_SUPPORT, MPIX_Query_cuda_support
#endif

namespace wf::comm {
namespace {

// MPI counts are int: a transfer above this is sent as several messages with the same tag
// (MPI keeps their order); the counters still see one message.
constexpr std::size_t max_piece_bytes = std::size_t{1} << 30;

void check(int code, const std::string& what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(what + ": MPI error: " + std::string(text, static_cast<std::size_t>(length)));
}

/// Can MPI read device memory? WF_MPI_GPU_AWARE=0/1 overrides the query (for MPI libraries
/// that cannot be asked, or to force host staging).
bool mpi_reads_device_memory() {
  if (const char* forced = std::getenv("WF_MPI_GPU_AWARE")) return std::string(forced) == "1";
#if defined(MPIX_CUDA_AWARE_SUPPORT) && MPIX_CUDA_AWARE_SUPPORT
  return MPIX_Query_cuda_support() == 1;
#else
  return false;
#endif
}

enum class Path { host_memory, gpu_aware, host_staging };

Path choose_path() {
  // Test hook: stage through host copies even for host memory, so host-only builds test that path.
  if (const char* forced = std::getenv("WF_COMM_FORCE_HOST_STAGING"); forced && std::string(forced) == "1")
    return Path::host_staging;
  if (Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemSpace>::accessible) return Path::host_memory;
  return mpi_reads_device_memory() ? Path::gpu_aware : Path::host_staging;
}

using HostBytes = Kokkos::View<char*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
using DeviceBytes = Kokkos::View<char*, MemSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

struct MpiState final : Request::State {
  std::vector<MPI_Request> requests;            // every piece of every transfer
  std::vector<std::size_t> first;               // transfer i owns requests [first[i], first[i+1])
  std::vector<Transfer> transfers;              // as posted (user buffers)
  std::vector<std::unique_ptr<char[]>> staging;  // host copy per transfer (host-staging path)
  ExecSpace space;                              // the instance the copies of the staging path run on

  bool pending(std::size_t i) const {
    return std::any_of(requests.begin() + static_cast<std::ptrdiff_t>(first[i]),
                       requests.begin() + static_cast<std::ptrdiff_t>(first[i + 1]),
                       [](MPI_Request r) { return r != MPI_REQUEST_NULL; });
  }
  /// Stops what is unfinished without blocking: receives are cancelled (then MPI_Wait is
  /// local, by the standard), sends are freed (Open MPI cannot cancel them) and their host
  /// copies abandoned, since MPI may still read them.
  void release() {
    for (std::size_t i = 0; i + 1 < first.size(); ++i) {
      if (!pending(i)) continue;
      for (std::size_t k = first[i]; k < first[i + 1]; ++k) {
        if (requests[k] == MPI_REQUEST_NULL) continue;
        if (transfers[i].kind == Transfer::recv) {
          MPI_Cancel(&requests[k]);
          MPI_Wait(&requests[k], MPI_STATUS_IGNORE);
        } else {
          MPI_Request_free(&requests[k]);
        }
      }
      if (transfers[i].kind == Transfer::send && staging[i]) (void)staging[i].release();
    }
  }
  ~MpiState() override {
    if (!mpi_finalized()) release();
  }
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, std::vector<int> nodes, std::shared_ptr<const CommOptions> options,
                  std::shared_ptr<TrafficCounters> traffic, Path path)
      : Communicator(comm, gather_world_ranks(comm), std::move(nodes), std::move(options), std::move(traffic)),
        comm_(comm),
        path_(path) {}

  ~MpiCommunicator() override {
    if (!mpi_finalized()) MPI_Comm_free(&comm_);
  }

  static std::unique_ptr<Communicator> create(MPI_Comm parent, const CommOptions& options) {
    validate(options);
    const int drop_step = fault_drop_step_from_environment();  // before any collective call
    MPI_Comm comm = MPI_COMM_NULL;
    MPI_Request request = MPI_REQUEST_NULL;
    check(post_comm_dup(parent, &comm, &request), "make_mpi_communicator: MPI_Comm_idup");
    wait_with_deadline(request, "making a communicator (MPI_Comm_idup)");
    // Errors come back as codes and become wf::Error with a message, not an abort.
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    std::vector<int> nodes = detect_nodes(comm, options.ranks_per_node);
    auto created = std::make_unique<MpiCommunicator>(comm, std::move(nodes), std::make_shared<const CommOptions>(options),
                                                     std::make_shared<TrafficCounters>(), choose_path());
    created->fault_drop_step_ = drop_step;
    return created;
  }

  std::string backend_description() const override {
    switch (path_) {
      case Path::host_memory: return "mpi, host memory";
      case Path::gpu_aware: return "mpi, CUDA-aware";
      case Path::host_staging: break;
    }
    return "mpi, host staging";
  }

  std::unique_ptr<Communicator> split(int color, int key) const override {
    MPI_Comm child = MPI_COMM_NULL;
    {
      const DeadlineGuard guard("splitting a communicator (MPI_Comm_split)");  // no non-blocking split in MPI
      check(MPI_Comm_split(comm_, color, key, &child), "Communicator::split: MPI_Comm_split");
    }
    if (child == MPI_COMM_NULL) return nullptr;
    auto created = std::make_unique<MpiCommunicator>(child, node_of_world_rank_, options_, traffic_, path_);
    created->fault_drop_step_ = fault_drop_step_;
    return created;
  }

 protected:
  std::shared_ptr<Request::State> post_transfers(const std::vector<Transfer>& transfers, int tag,
                                                 const ExecSpace& space) override {
    auto state = std::make_shared<MpiState>();
    state->space = space;
    const bool staged = path_ == Path::host_staging;
    // Kernels that wrote the send buffers must be done before MPI (or the host copy) reads them.
    if (std::any_of(transfers.begin(), transfers.end(), [](const Transfer& t) { return t.kind == Transfer::send; }))
      space.fence();
    for (const Transfer& t : transfers) {
      state->first.push_back(state->requests.size());
      state->transfers.push_back(t);
      char* buffer = static_cast<char*>(t.data);
      std::unique_ptr<char[]> host;
      if (staged && t.bytes > 0) {
        host.reset(new char[t.bytes]);
        if (t.kind == Transfer::send) {
          Kokkos::deep_copy(space, HostBytes(host.get(), t.bytes), DeviceBytes(buffer, t.bytes));
          space.fence();
        }
        buffer = host.get();
      }
      state->staging.push_back(std::move(host));
      std::size_t offset = 0;
      do {
        const int piece = static_cast<int>(std::min(max_piece_bytes, t.bytes - offset));
        MPI_Request request = MPI_REQUEST_NULL;
        const int code = t.kind == Transfer::send
                             ? MPI_Isend(buffer + offset, piece, MPI_BYTE, t.peer, tag, comm_, &request)
                             : MPI_Irecv(buffer + offset, piece, MPI_BYTE, t.peer, tag, comm_, &request);
        state->requests.push_back(request);
        if (code != MPI_SUCCESS) {
          state->first.push_back(state->requests.size());
          state->release();
          check(code, "rank " + std::to_string(rank_) + ": posting a transfer to or from rank " + std::to_string(t.peer));
        }
        offset += static_cast<std::size_t>(piece);
      } while (offset < t.bytes);
    }
    state->first.push_back(state->requests.size());
    return state;
  }

  bool test_state(Request::State& base) override {
    auto& state = static_cast<MpiState&>(base);
    const int n = static_cast<int>(state.requests.size());
    std::vector<int> indices(state.requests.size());
    std::vector<MPI_Status> statuses(state.requests.size());
    int completed = 0;
#if WF_SIMGRID
    // Simulated time advances only while a rank blocks, and SMPI charges every failing test
    // (smpi/test) and polls in MPI_Waitsome: under SimGrid a test waits for every transfer.
    const int code = MPI_Waitall(n, state.requests.data(), statuses.data());
    completed = n;
#else
    const int code = MPI_Testsome(n, state.requests.data(), &completed, indices.data(), statuses.data());
#endif
    if (code != MPI_SUCCESS) {
      // Name the failing transfer (a size mismatch shows up here as MPI_ERR_TRUNCATE).
      int detail = code;
      for (int k = 0; code == MPI_ERR_IN_STATUS && k < completed; ++k)
        if (statuses[static_cast<std::size_t>(k)].MPI_ERROR != MPI_SUCCESS) detail = statuses[static_cast<std::size_t>(k)].MPI_ERROR;
      check(detail, describe(state));
    }
    bool all_done = true;
    for (std::size_t i = 0; i < state.transfers.size(); ++i) {
      if (state.items[i].complete) continue;
      if (state.pending(i)) {
        all_done = false;
        continue;
      }
      const Transfer& t = state.transfers[i];
      if (t.kind == Transfer::recv && state.staging[i]) {
        Kokkos::deep_copy(state.space, DeviceBytes(static_cast<char*>(t.data), t.bytes),
                          HostBytes(state.staging[i].get(), t.bytes));
        state.space.fence();  // complete for every instance once test() says so
        state.staging[i].reset();
      }
      state.items[i].complete = true;
    }
    return all_done;
  }

  void cancel_state(Request::State& base) override { static_cast<MpiState&>(base).release(); }

 private:
  MPI_Comm comm_;
  Path path_;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(MPI_Comm parent, const CommOptions& options) {
  return MpiCommunicator::create(parent, options);
}

}  // namespace wf::comm

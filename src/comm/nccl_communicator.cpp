// NCCL backend: each posted group is one ncclGroupStart/End of ncclSend/ncclRecv on a CUDA
// stream, followed by a cudaEvent that test() queries. With a CUDA Kokkos the stream is the one
// of the instance the operation is given: the schedules' communication instance, its own stream,
// ordered after their compute stream by events (Communicator::order), so a ring shift runs while
// the compute stream works (docs/communication.md, "Streams"). With a host Kokkos, buffers are
// staged through device memory on a stream of the communicator's own.
#include "comm/collective_errors.hpp"
#include "comm/communicator.hpp"
#include "comm/deadline.hpp"
#include "wf_config.hpp"

#if WF_ENABLE_NCCL

#include <cuda_runtime.h>
#include <nccl.h>

#include <Kokkos_Core.hpp>

#include <string>
#include <type_traits>

#include "comm/mpi_util.hpp"
#include "core/types.hpp"

#if CUDART_VERSION < 11020
#error "the NCCL backend needs CUDA >= 11.2 (stream-ordered cudaMallocAsync)"
#endif

namespace wf::comm {
namespace {

void check_cuda(cudaError_t code, const std::string& what) {
  if (code != cudaSuccess) throw Error(what + ": CUDA error: " + cudaGetErrorString(code));
}

void check_nccl(ncclResult_t code, const std::string& what) {
  if (code != ncclSuccess) throw Error(what + ": NCCL error: " + ncclGetErrorString(code));
}

/// Host memory must be staged through device buffers; CUDA memory goes to NCCL directly.
constexpr bool host_memory = Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemSpace>::accessible;

/// The default execution space's stream, or nullptr when that space is not CUDA.
cudaStream_t execution_space_stream() {
#if defined(KOKKOS_ENABLE_CUDA)
  if constexpr (std::is_same_v<ExecSpace, Kokkos::Cuda>) return ExecSpace().cuda_stream();
#endif
  return nullptr;
}

/// The stream transfers ordered after `space` go on: its own with a CUDA Kokkos, else `fallback`.
cudaStream_t stream_for(const ExecSpace& space, cudaStream_t fallback) {
#if defined(KOKKOS_ENABLE_CUDA)
  if constexpr (std::is_same_v<ExecSpace, Kokkos::Cuda>) return space.cuda_stream();
#endif
  (void)space;
  return fallback;
}

/// An NCCL communicator and its stream, kept alive by the requests posted on it.
struct NcclComm {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  bool own_stream = false;
  bool aborted = false;  // after a timeout: the communicator cannot be used again
  ~NcclComm() {
    if (comm && !aborted) ncclCommDestroy(comm);
    if (own_stream && stream) cudaStreamDestroy(stream);
  }
};

struct NcclState final : Request::State {
  std::shared_ptr<NcclComm> nccl;
  cudaEvent_t done = nullptr;
  struct Staged {
    void* host;
    void* device;
    std::size_t bytes;
  };
  std::vector<Staged> received;        // device -> host copies once the group completed
  std::vector<void*> device_buffers;   // staging buffers, freed in stream order
  ~NcclState() override {
    // Stream-ordered frees never block, even if the group never completes.
    for (void* buffer : device_buffers) cudaFreeAsync(buffer, nccl ? nccl->stream : nullptr);
    if (done) cudaEventDestroy(done);
  }
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(MPI_Comm comm, std::vector<int> nodes, std::shared_ptr<const CommOptions> options,
                   std::shared_ptr<TrafficCounters> traffic, std::shared_ptr<NcclComm> nccl)
      : Communicator(comm, gather_world_ranks(comm), std::move(nodes), std::move(options), std::move(traffic)),
        comm_(comm),
        nccl_(std::move(nccl)) {}

  ~NcclCommunicator() override {
    nccl_.reset();
    if (!mpi_finalized()) MPI_Comm_free(&comm_);
  }

  static std::unique_ptr<Communicator> create(MPI_Comm parent, const CommOptions& options) {
    validate(options);
    const int drop_step = fault_drop_step_from_environment();
    int devices = 0;
    const bool visible = cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
    const bool supported = host_memory || execution_space_stream() != nullptr;
    std::string message;
    const std::string local = !visible ? "make_nccl_communicator: no CUDA device is visible"
                                       : "make_nccl_communicator: NCCL needs CUDA or host Kokkos memory, not " +
                                             std::string(MemSpace::name());
    if (!all_ranks_ok(parent, visible && supported, local, message)) throw Error(message);
    MPI_Comm comm = MPI_COMM_NULL;
    MPI_Request duplicated = MPI_REQUEST_NULL;
    MPI_Comm_idup(parent, &comm, &duplicated);
    wait_with_deadline(duplicated, "making the NCCL communicator (MPI_Comm_idup)");
    if (host_memory) {
      // With a host Kokkos nobody chose the device: one per rank of the node, round robin.
      MPI_Comm node = MPI_COMM_NULL;
      int local_rank = 0;
      const DeadlineGuard guard("making the NCCL communicator (MPI_Comm_split_type)");
      MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
      MPI_Comm_rank(node, &local_rank);
      MPI_Comm_free(&node);
      check_cuda(cudaSetDevice(local_rank % devices), "make_nccl_communicator: cudaSetDevice");
    }
    std::vector<int> nodes = detect_nodes(comm, options.ranks_per_node);
    auto created = std::make_unique<NcclCommunicator>(comm, std::move(nodes), std::make_shared<const CommOptions>(options),
                                                      std::make_shared<TrafficCounters>(), connect(comm));
    created->fault_drop_step_ = drop_step;
    return created;
  }

  std::string backend_description() const override {
    return host_memory ? "nccl, host staging through device buffers" : "nccl";
  }

  std::unique_ptr<Communicator> split(int color, int key) const override {
    MPI_Comm child = MPI_COMM_NULL;
    {
      const DeadlineGuard guard("splitting the NCCL communicator (MPI_Comm_split)");
      MPI_Comm_split(comm_, color, key, &child);
    }
    if (child == MPI_COMM_NULL) return nullptr;
    auto created = std::make_unique<NcclCommunicator>(child, node_of_world_rank_, options_, traffic_, connect(child));
    created->fault_drop_step_ = fault_drop_step_;
    return created;
  }

 protected:
  std::shared_ptr<Request::State> post_transfers(const std::vector<Transfer>& transfers, int /*tag*/,
                                                 const ExecSpace& space) override {
    // NCCL has no tags: messages between two ranks match in posting order.
    NcclComm& nccl = *nccl_;
    require(!nccl.aborted, "rank " + std::to_string(rank_) + ": this NCCL communicator was aborted after a timeout");
    auto state = std::make_shared<NcclState>();
    state->nccl = nccl_;
    const std::string where = "rank " + std::to_string(rank_) + ": NCCL transfer";
    if (host_memory) space.fence();  // host kernels that wrote the send buffers are done
    const cudaStream_t stream = stream_for(space, nccl.stream);
    std::vector<const void*> device(transfers.size(), nullptr);
    for (std::size_t i = 0; i < transfers.size(); ++i) {
      const Transfer& t = transfers[i];
      device[i] = t.data;
      if (!host_memory || t.bytes == 0) continue;
      void* buffer = nullptr;
      check_cuda(cudaMallocAsync(&buffer, t.bytes, stream), where + ": cudaMallocAsync");
      state->device_buffers.push_back(buffer);
      device[i] = buffer;
      if (t.kind == Transfer::send)
        check_cuda(cudaMemcpyAsync(buffer, t.data, t.bytes, cudaMemcpyHostToDevice, stream), where + ": copy to device");
      else
        state->received.push_back({t.data, buffer, t.bytes});
    }
    // Zero-byte transfers are left out: NCCL would do nothing for them anyway.
    ncclResult_t first_error = ncclGroupStart();
    for (std::size_t i = 0; i < transfers.size() && first_error == ncclSuccess; ++i) {
      const Transfer& t = transfers[i];
      if (t.bytes == 0) continue;
      first_error = t.kind == Transfer::send
                        ? ncclSend(device[i], t.bytes, ncclUint8, t.peer, nccl.comm, stream)
                        : ncclRecv(const_cast<void*>(device[i]), t.bytes, ncclUint8, t.peer, nccl.comm, stream);
    }
    const ncclResult_t end = ncclGroupEnd();  // always close the group
    check_nccl(first_error != ncclSuccess ? first_error : end, where + ": posting the group");
    check_cuda(cudaEventCreateWithFlags(&state->done, cudaEventDisableTiming), where + ": cudaEventCreate");
    check_cuda(cudaEventRecord(state->done, stream), where + ": cudaEventRecord");
    return state;
  }

  bool test_state(Request::State& base) override {
    auto& state = static_cast<NcclState&>(base);
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(state.nccl->comm, &async);
    if (async != ncclSuccess && async != ncclInProgress) check_nccl(async, describe(state));
    const cudaError_t query = cudaEventQuery(state.done);
    if (query == cudaErrorNotReady) return false;
    check_cuda(query, describe(state));
    // The group is complete: a synchronous copy cannot block on a peer any more.
    for (const auto& r : state.received)
      check_cuda(cudaMemcpy(r.host, r.device, r.bytes, cudaMemcpyDeviceToHost), describe(state) + ": copy to host");
    state.received.clear();
    for (auto& item : state.items) item.complete = true;
    return true;
  }

  void cancel_state(Request::State& base) override {
    // A group whose peer never comes blocks the stream for good; aborting the communicator is
    // the only way to free it.
    NcclComm& nccl = *static_cast<NcclState&>(base).nccl;
    if (!nccl.aborted) ncclCommAbort(nccl.comm);
    nccl.aborted = true;
  }

 private:
  /// Collective over comm: a new NCCL communicator (unique id from rank 0 over MPI).
  static std::shared_ptr<NcclComm> connect(MPI_Comm comm) {
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    ncclUniqueId id{};
    int ok = rank != 0 || ncclGetUniqueId(&id) == ncclSuccess;
    MPI_Request request = MPI_REQUEST_NULL;
    MPI_Ibcast(&ok, 1, MPI_INT, 0, comm, &request);  // rank 0's failure reaches every rank
    wait_with_deadline(request, "making the NCCL communicator (broadcast of the unique id)");
    require(ok != 0, "make_nccl_communicator: ncclGetUniqueId failed on rank 0");
    MPI_Ibcast(&id, static_cast<int>(sizeof id), MPI_BYTE, 0, comm, &request);
    wait_with_deadline(request, "making the NCCL communicator (broadcast of the unique id)");
    auto nccl = std::make_shared<NcclComm>();
    nccl->stream = execution_space_stream();
    if (!nccl->stream) {
      check_cuda(cudaStreamCreateWithFlags(&nccl->stream, cudaStreamNonBlocking), "make_nccl_communicator: stream");
      nccl->own_stream = true;
    }
    const DeadlineGuard guard("making the NCCL communicator (ncclCommInitRank)");
    check_nccl(ncclCommInitRank(&nccl->comm, size, id, rank), "make_nccl_communicator: ncclCommInitRank");
    return nccl;
  }

  MPI_Comm comm_;
  std::shared_ptr<NcclComm> nccl_;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm parent, const CommOptions& options) {
  return NcclCommunicator::create(parent, options);
}

bool nccl_available() {
  int devices = 0;
  return cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
}

}  // namespace wf::comm

#else  // !WF_ENABLE_NCCL

namespace wf::comm {

std::unique_ptr<Communicator> make_nccl_communicator(MPI_Comm, const CommOptions&) {
  throw Error("the NCCL backend is not in this build: configure with -DWF_ENABLE_NCCL=ON "
              "(needs the CUDA toolkit with nccl.h and libnccl)");
}

bool nccl_available() { return false; }

}  // namespace wf::comm

#endif

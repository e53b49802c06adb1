// The non-blocking MPI collectives the deadlines wait on (comm/deadline.hpp), posted through one
// place: under SimGrid SMPI (WF_SIMGRID) they run blocking and leave MPI_REQUEST_NULL, because
// SMPI lacks MPI_Comm_idup and its non-blocking collectives cost O(P^2) per rank (hours at 1024
// simulated ranks); the simulator reports a lost rank as a deadlock itself.
#pragma once

#include <mpi.h>

#include "wf_config.hpp"

namespace wf::comm {

inline int post_comm_dup(MPI_Comm parent, MPI_Comm* child, MPI_Request* request) {
#if WF_SIMGRID
  *request = MPI_REQUEST_NULL;
  return MPI_Comm_dup(parent, child);
#else
  return MPI_Comm_idup(parent, child, request);
#endif
}

inline int post_allreduce(const void* send, void* recv, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                          MPI_Request* request) {
#if WF_SIMGRID
  *request = MPI_REQUEST_NULL;
  return MPI_Allreduce(send, recv, count, type, op, comm);
#else
  return MPI_Iallreduce(send, recv, count, type, op, comm, request);
#endif
}

inline int post_bcast(void* buffer, int count, MPI_Datatype type, int root, MPI_Comm comm, MPI_Request* request) {
#if WF_SIMGRID
  *request = MPI_REQUEST_NULL;
  return MPI_Bcast(buffer, count, type, root, comm);
#else
  return MPI_Ibcast(buffer, count, type, root, comm, request);
#endif
}

inline int post_allgather(const void* send, int send_count, MPI_Datatype send_type, void* recv, int recv_count,
                          MPI_Datatype recv_type, MPI_Comm comm, MPI_Request* request) {
#if WF_SIMGRID
  *request = MPI_REQUEST_NULL;
  return MPI_Allgather(send, send_count, send_type, recv, recv_count, recv_type, comm);
#else
  return MPI_Iallgather(send, send_count, send_type, recv, recv_count, recv_type, comm, request);
#endif
}

}  // namespace wf::comm

// The report of the attention problem: time per phase over ranks, exposed communication and
// overlap, bytes and messages per link class next to the traffic model, verification.
#pragma once

#include <mpi.h>

#include <optional>
#include "comm/process_grid.hpp"
#include "comm/transfer_cost.hpp"
#include "config/run_config.hpp"

#include "problems/parallel_setup.hpp"
#include "nbody/schedule.hpp"
#include "perf/cost_model.hpp"
#include "perf/traffic_model.hpp"
#include "problems/attention_data.hpp"
#include "problems/attention_pairs.hpp"

namespace wf::problems {

/// \brief What one rank measured in its best repetition.
struct AttentionReport {
  Schedule kind = Schedule::ring;
  RotateSide side = RotateSide::query;
  double forward_seconds = 0, backward_seconds = 0;
  nbody::ScheduleTimes forward_times, backward_times;
  comm::TrafficCounters traffic;
  std::uint64_t forward_bytes = 0;  ///< counted during the forward alone
  perf::Traffic predicted, predicted_forward;
  comm::TransferCost transfer;      ///< a ring exchange timed alone (zero when nothing moves)
  PairCount pairs;                  ///< over the job: what the tiles compute against what the mask needs
  std::optional<perf::AttentionCost> model;  ///< the cost model on parallel.machine, when the deck names one
};

/// \brief Prints the report on rank 0; false when a rank's counters differ from the model.
bool print_attention_report(const config::RunConfig& cfg, const ScheduleChoice& choice, const AttentionReport& r,
                            MPI_Comm comm);

/// \brief Compares with the single-process result, prints on rank 0, true when within
/// tolerance on every rank (double: 1e-12; float: 64 eps, relative 2-norm per tensor).
template <class T>
bool print_verification(const AttentionOutputs<T>& got, const AttentionOutputs<T>& expected, double eps,
                        MPI_Comm comm);

}  // namespace wf::problems

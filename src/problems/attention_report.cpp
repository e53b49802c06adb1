#include "problems/attention_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "comm/log.hpp"
#include "comm/reductions.hpp"
#include "core/timer.hpp"
#include "perf/report.hpp"
#include "problems/result_comparison.hpp"

namespace wf::problems {
namespace {

std::string sci(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3e", v);
  return text;
}

void add_phase_rows(perf::Table& table, MPI_Comm comm, const char* name, double total, const nbody::ScheduleTimes& t) {
  const std::pair<const char*, double> rows[] = {{"total", total},
                                                 {"  compute", t.compute},
                                                 {"  exposed point-to-point wait", t.ring_wait},
                                                 {"  collectives", t.collectives},
                                                 {"  exposed: bytes in flight", t.exposed_total().in_flight},
                                                 {"  exposed: waiting for a neighbour", t.exposed_total().neighbour()},
                                                 {"  reorders and copies", t.other}};
  for (const auto& [label, value] : rows) {
    const auto s = comm::reduce_min_avg_max(comm, value);
    table.add_row({std::string(name) + " " + label, perf::fixed(s.min, 4), perf::fixed(s.avg, 4), perf::fixed(s.max, 4)});
  }
}


template <class T>
std::vector<double> widen(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

/// Seconds per phase of the best repetition, min/avg/max over ranks.
std::string phase_table(const AttentionReport& r, MPI_Comm comm) {
  perf::Table phases({"seconds (best repetition)", "min", "avg", "max"});
  add_phase_rows(phases, comm, "forward", r.forward_seconds, r.forward_times);
  add_phase_rows(phases, comm, "backward", r.backward_seconds, r.backward_times);
  return phases.str();
}

/// This rank's point-to-point bytes, their exposed wait, the time they take alone, and the
/// share of that time hidden behind compute (1 when nothing moved).
struct Overlap {
  double bytes, exposed, alone, hidden;
  explicit Overlap(const AttentionReport& r)
      : bytes(r.forward_times.p2p_bytes + r.backward_times.p2p_bytes),
        exposed(r.forward_times.ring_wait + r.backward_times.ring_wait),
        alone(r.transfer.alone(bytes, r.forward_times.ring_transfers + r.backward_times.ring_transfers)),
        hidden(alone > 0 ? std::clamp(1.0 - exposed / alone, 0.0, 1.0) : 1.0) {}
};

/// Exposed wait against the time the same point-to-point bytes take alone.
std::string overlap_line(const AttentionReport& r, MPI_Comm comm) {
  const Overlap o(r);
  const auto hidden = comm::reduce_min_avg_max(comm, o.hidden);
  return "point-to-point: " + perf::fixed(comm::reduce_min_avg_max(comm, o.bytes).avg / 1e6, 3) +
         " MB per rank (avg), " + perf::fixed(comm::reduce_min_avg_max(comm, o.exposed).avg, 4) + " s exposed of " +
         perf::fixed(comm::reduce_min_avg_max(comm, o.alone).avg, 4) + " s when timed alone: overlap " +
         perf::fixed(100 * hidden.avg, 1) + " % (min over ranks " + perf::fixed(100 * hidden.min, 1) + " %)";
}

/// Bytes and messages per link class, measured against the model; `all_equal` is the verdict
/// of every rank and both counts.
std::string traffic_table(const AttentionReport& r, MPI_Comm comm, bool& all_equal) {
  perf::Table traffic({"sent per rank", "measured min", "measured avg", "measured max", "model avg", "equal"});
  all_equal = true;
  auto add = [&](const std::string& what, double measured, double model) {
    const bool equal = comm::true_on_all_ranks(comm, measured == model);
    all_equal = all_equal && equal;
    const auto m = comm::reduce_min_avg_max(comm, measured);
    traffic.add_row({what, perf::fixed(m.min, 0), perf::fixed(m.avg, 0), perf::fixed(m.max, 0),
                     perf::fixed(comm::reduce_min_avg_max(comm, model).avg, 0), equal ? "yes" : "NO"});
  };
  for (int cls = 0; cls < 2; ++cls) {
    const std::string link = comm::link_class_name(static_cast<comm::LinkClass>(cls));
    add(link + " bytes", double(r.traffic.bytes[cls]), double(r.predicted.bytes[cls]));
    add(link + " messages", double(r.traffic.messages[cls]), double(r.predicted.messages[cls]));
  }
  return traffic.str();
}

std::string performance_line(const config::RunConfig& cfg, const ScheduleChoice& choice, const AttentionReport& r,
                             MPI_Comm comm, bool all_equal) {
  const comm::ProcessGrid& grid = choice.grid;
  const Overlap o(r);
  const auto layer = comm::reduce_min_avg_max(comm, r.forward_seconds + r.backward_seconds);
  perf::PerformanceLine line;
  line.add("problem", "attention").add("schedule", name_of(r.kind));
  line.add("team_size", std::to_string(grid.team_size())).add("ranks", std::to_string(choice.processes()));
  line.add("head_group_size", std::to_string(choice.head_group_size()));
  line.add("arrangement", name_of(grid.arrangement())).add("rotate", name_of(r.side));
  line.add("N", std::to_string(cfg.attention.seq_len)).add("heads", std::to_string(cfg.attention.heads));
  line.add("kv_heads", std::to_string(cfg.kv_heads())).add("head_dim", std::to_string(cfg.attention.head_dim));
  line.add("causal", cfg.attention.causal ? "1" : "0").add("precision", name_of(cfg.run.precision));
  line.add("fwd_s", comm::reduce_min_avg_max(comm, r.forward_seconds).max, 6);
  line.add("bwd_s", comm::reduce_min_avg_max(comm, r.backward_seconds).max, 6);
  if (r.model) {
    line.add("model_fwd_s", r.model->forward, 6).add("model_bwd_s", r.model->backward, 6);
    line.add("model_exact", r.model->contention ? "0" : "1");
  }
  line.add("tokens_per_s", static_cast<double>(cfg.attention.seq_len) / layer.max, 1);
  line.add("exposed_s", comm::reduce_min_avg_max(comm, o.exposed).avg, 4);
  line.add("overlap", comm::reduce_min_avg_max(comm, o.hidden).avg, 3);
  line.add("bytes_per_rank", comm::reduce_min_avg_max(comm, double(r.traffic.total_bytes())).avg, 0);
  line.add("fwd_bytes_per_rank", comm::reduce_min_avg_max(comm, double(r.forward_bytes)).avg, 0);
  line.add("fwd_p2p_bytes_per_rank", comm::reduce_min_avg_max(comm, r.forward_times.p2p_bytes).avg, 0);
  line.add("traffic_matches_model", all_equal ? "1" : "0");
  if (r.pairs.counted) line.add("pairs_needed", r.pairs.needed, 0).add("pairs_computed", r.pairs.computed, 0);
  return line.str();
}

}  // namespace

bool print_attention_report(const config::RunConfig& cfg, const ScheduleChoice& choice, const AttentionReport& r,
                            MPI_Comm comm) {
  comm::log_root("\n" + phase_table(r, comm));
  comm::log_root(overlap_line(r, comm));
  bool all_equal = true;
  const std::string traffic = traffic_table(r, comm, all_equal);
  const auto forward_model = comm::reduce_min_avg_max(comm, double(r.predicted_forward.total_bytes()));
  const auto forward_counted = comm::reduce_min_avg_max(comm, double(r.forward_bytes));
  const auto forward_p2p = comm::reduce_min_avg_max(comm, r.forward_times.p2p_bytes);
  const bool forward_equal = comm::true_on_all_ranks(comm, r.forward_bytes == r.predicted_forward.total_bytes());
  all_equal = all_equal && forward_equal;
  comm::log_root("\nbytes and messages sent by each rank (forward + backward; model: docs/communication-formulas.md)\n" +
                 traffic + "forward alone: " + perf::fixed(forward_counted.avg, 0) + " bytes per rank (avg; model " +
                 perf::fixed(forward_model.avg, 0) + ", " + (forward_equal ? "equal" : "NOT EQUAL") + "), of which " +
                 "point-to-point " + perf::fixed(forward_p2p.avg, 0) + " (min " + perf::fixed(forward_p2p.min, 0) +
                 ", max " + perf::fixed(forward_p2p.max, 0) + ")");
  if (!all_equal) comm::log_root("ERROR: measured traffic differs from the model on some rank");
  if (r.pairs.counted)
    comm::log_root("(query, key) pairs of one pass over every head: " + perf::fixed(r.pairs.computed, 0) +
                   " computed, " + perf::fixed(r.pairs.needed, 0) + " needed by the mask (" +
                   perf::fixed(100 * (r.pairs.computed / std::max(r.pairs.needed, 1.0) - 1), 2) + " % more)");
  // Collective on every rank; the model is rank 0's (it prints).
  const double forward_max = comm::reduce_min_avg_max(comm, r.forward_seconds).max;
  const double backward_max = comm::reduce_min_avg_max(comm, r.backward_seconds).max;
  if (r.model)
    comm::log_root("cost model on " + cfg.parallel.machine + ": forward " + perf::fixed(r.model->forward, 6) +
                   " s, backward " + perf::fixed(r.model->backward, 6) + " s (measured, slowest rank: " +
                   perf::fixed(forward_max, 6) + " s, " + perf::fixed(backward_max, 6) + " s); " +
                   (r.model->contention ? "links shared between ranks: the model is approximate"
                                        : "no link shared between ranks"));
  comm::log_root(performance_line(cfg, choice, r, comm, all_equal));
  return all_equal;
}

template <class T>
bool print_verification(const AttentionOutputs<T>& got, const AttentionOutputs<T>& expected, double eps,
                        MPI_Comm comm) {
  const double tolerance = eps < 1e-10 ? 1e-12 : 64 * eps;
  const std::pair<const char*, double> errors[] = {
      {"O", relative_error(widen(got.o), widen(expected.o))},
      {"lse", relative_error(widen(got.lse), widen(expected.lse))},
      {"dQ", relative_error(widen(got.dq), widen(expected.dq))},
      {"dK", relative_error(widen(got.dk), widen(expected.dk))},
      {"dV", relative_error(widen(got.dv), widen(expected.dv))}};
  perf::Table table({"tensor", "max over ranks of the relative 2-norm error"});
  int ok = 1;
  for (const auto& [name, error] : errors) {
    const double worst = comm::reduce_min_avg_max(comm, std::isnan(error) ? 1e300 : error).max;
    ok = ok && worst <= tolerance;
    table.add_row({name, sci(worst)});
  }
  comm::log_root("\nverification against the single-process result\n" + table.str() + "verification " +
           (ok ? "passed" : "FAILED") + ": tolerance " + sci(tolerance));
  return ok;
}

template bool print_verification<float>(const AttentionOutputs<float>&, const AttentionOutputs<float>&, double, MPI_Comm);
template bool print_verification<double>(const AttentionOutputs<double>&, const AttentionOutputs<double>&, double,
                                         MPI_Comm);

}  // namespace wf::problems

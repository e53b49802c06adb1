#include "problems/attention_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/log.hpp"
#include "core/timer.hpp"
#include "perf/report.hpp"

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
                                                 {"  reorders and copies", t.other}};
  for (const auto& [label, value] : rows) {
    const auto s = perf::reduce_min_avg_max(comm, value);
    table.add_row({std::string(name) + " " + label, perf::fixed(s.min, 4), perf::fixed(s.avg, 4), perf::fixed(s.max, 4)});
  }
}

double relative_error(const std::vector<double>& got, const std::vector<double>& ref) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = got[i] == ref[i] ? 0.0 : got[i] - ref[i];  // -inf == -inf is exact
    diff += d * d;
    norm += std::isfinite(ref[i]) ? ref[i] * ref[i] : 0.0;
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

template <class T>
std::vector<double> widen(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

}  // namespace

template <class T>
double measure_p2p_seconds_per_byte(nbody::ScheduleContext& ctx, std::size_t scalars) {
  comm::Communicator& world = ctx.world();
  const int p = world.size();
  if (p == 1 || scalars == 0) return 0.0;
  const comm::TrafficCounters saved = world.traffic();
  nbody::Buffer<T> send("Report::probe_send", scalars), recv("Report::probe_recv", scalars);
  double best = 1e30;
  for (int trial = 0; trial < 3; ++trial) {
    world.barrier({"transfer probe", trial});
    Stopwatch watch("Report::transfer_probe");
    comm::Request request =
        world.post({{comm::Transfer::send, send.data(), scalars * sizeof(T), (world.rank() + 1) % p},
                    {comm::Transfer::recv, recv.data(), scalars * sizeof(T), (world.rank() + p - 1) % p}},
                   {"transfer probe", trial});
    world.wait(request);
    best = std::min(best, watch.stop());
  }
  world.traffic() = saved;
  return best / static_cast<double>(scalars * sizeof(T));
}

bool print_attention_report(const config::RunConfig& cfg, const comm::ProcessGrid& grid, const AttentionReport& r,
                            MPI_Comm comm) {
  perf::Table phases({"seconds (best repetition)", "min", "avg", "max"});
  add_phase_rows(phases, comm, "forward", r.forward_seconds, r.forward_times);
  add_phase_rows(phases, comm, "backward", r.backward_seconds, r.backward_times);

  // Overlap: exposed wait against the time the same point-to-point bytes take alone.
  const double p2p_bytes = r.forward_times.p2p_bytes + r.backward_times.p2p_bytes;
  const double p2p_alone = p2p_bytes * r.p2p_seconds_per_byte;
  const double exposed = r.forward_times.ring_wait + r.backward_times.ring_wait;
  const double overlap = p2p_alone > 0 ? std::clamp(1.0 - exposed / p2p_alone, 0.0, 1.0) : 1.0;
  const auto overlap_s = perf::reduce_min_avg_max(comm, overlap);
  const auto p2p_alone_s = perf::reduce_min_avg_max(comm, p2p_alone);
  const auto exposed_s = perf::reduce_min_avg_max(comm, exposed);

  perf::Table traffic({"sent per rank", "measured min", "measured avg", "measured max", "model avg", "equal"});
  int all_equal = 1;
  for (int cls = 0; cls < 2; ++cls) {
    const auto link = static_cast<comm::LinkClass>(cls);
    const bool bytes_equal = r.traffic.bytes[cls] == r.predicted.bytes[cls];
    const bool messages_equal = r.traffic.messages[cls] == r.predicted.messages[cls];
    int equal[2] = {bytes_equal ? 1 : 0, messages_equal ? 1 : 0};
    MPI_Allreduce(MPI_IN_PLACE, equal, 2, MPI_INT, MPI_MIN, comm);
    all_equal = std::min({all_equal, equal[0], equal[1]});
    const auto b = perf::reduce_min_avg_max(comm, double(r.traffic.bytes[cls]));
    const auto bm = perf::reduce_min_avg_max(comm, double(r.predicted.bytes[cls]));
    const auto m = perf::reduce_min_avg_max(comm, double(r.traffic.messages[cls]));
    const auto mm = perf::reduce_min_avg_max(comm, double(r.predicted.messages[cls]));
    traffic.add_row({std::string(comm::link_class_name(link)) + " bytes", perf::fixed(b.min, 0), perf::fixed(b.avg, 0),
                     perf::fixed(b.max, 0), perf::fixed(bm.avg, 0), equal[0] ? "yes" : "NO"});
    traffic.add_row({std::string(comm::link_class_name(link)) + " messages", perf::fixed(m.min, 0),
                     perf::fixed(m.avg, 0), perf::fixed(m.max, 0), perf::fixed(mm.avg, 0), equal[1] ? "yes" : "NO"});
  }
  const auto forward_model = perf::reduce_min_avg_max(comm, double(r.predicted_forward.total_bytes()));
  const auto forward_counted = perf::reduce_min_avg_max(comm, double(r.forward_bytes));
  const auto forward_p2p = perf::reduce_min_avg_max(comm, r.forward_times.p2p_bytes);
  int forward_equal = r.forward_bytes == r.predicted_forward.total_bytes() ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &forward_equal, 1, MPI_INT, MPI_MIN, comm);
  all_equal = std::min(all_equal, forward_equal);
  const double seconds = r.forward_seconds + r.backward_seconds;
  const auto layer = perf::reduce_min_avg_max(comm, seconds);
  const double tokens_per_second = static_cast<double>(cfg.attention.seq_len) / layer.max;

  log_root("\n" + phases.str());
  const auto p2p_bytes_s = perf::reduce_min_avg_max(comm, p2p_bytes);
  log_root("point-to-point: " + perf::fixed(p2p_bytes_s.avg / 1e6, 3) + " MB per rank (avg), " +
           perf::fixed(exposed_s.avg, 4) + " s exposed of " + perf::fixed(p2p_alone_s.avg, 4) +
           " s when timed alone: overlap " + perf::fixed(100 * overlap_s.avg, 1) + " % (min over ranks " +
           perf::fixed(100 * overlap_s.min, 1) + " %)");
  log_root("\nbytes and messages sent by each rank (forward + backward; model: docs/communication-formulas.md)\n" +
           traffic.str() + "forward alone: " + perf::fixed(forward_counted.avg, 0) + " bytes per rank (avg; model " +
           perf::fixed(forward_model.avg, 0) + ", " + (forward_equal ? "equal" : "NOT EQUAL") + "), of which " +
           "point-to-point " + perf::fixed(forward_p2p.avg, 0) + " (min " + perf::fixed(forward_p2p.min, 0) + ", max " +
           perf::fixed(forward_p2p.max, 0) + ")");
  if (!all_equal) log_root("ERROR: measured traffic differs from the model on some rank");
  perf::PerformanceLine line;
  line.add("problem", "attention").add("schedule", nbody::schedule_name(r.kind));
  line.add("team_size", std::to_string(grid.team_size())).add("ranks", std::to_string(grid.processes()));
  line.add("arrangement", comm::arrangement_name(grid.arrangement())).add("rotate", nbody::rotate_side_name(r.side));
  line.add("N", std::to_string(cfg.attention.seq_len)).add("heads", std::to_string(cfg.attention.heads));
  line.add("kv_heads", std::to_string(cfg.kv_heads())).add("head_dim", std::to_string(cfg.attention.head_dim));
  line.add("causal", cfg.attention.causal ? "1" : "0").add("precision", cfg.run.precision);
  line.add("fwd_s", perf::reduce_min_avg_max(comm, r.forward_seconds).max, 4);
  line.add("bwd_s", perf::reduce_min_avg_max(comm, r.backward_seconds).max, 4);
  line.add("tokens_per_s", tokens_per_second, 1).add("exposed_s", exposed_s.avg, 4);
  line.add("overlap", overlap_s.avg, 3);
  line.add("bytes_per_rank", perf::reduce_min_avg_max(comm, double(r.traffic.total_bytes())).avg, 0);
  line.add("fwd_bytes_per_rank", forward_counted.avg, 0).add("fwd_p2p_bytes_per_rank", forward_p2p.avg, 0);
  line.add("traffic_matches_model", all_equal ? "1" : "0");
  log_root(line.str());
  return all_equal == 1;
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
    const double worst = perf::reduce_min_avg_max(comm, std::isnan(error) ? 1e300 : error).max;
    ok = ok && worst <= tolerance;
    table.add_row({name, sci(worst)});
  }
  log_root("\nverification against the single-process result\n" + table.str() + "verification " +
           (ok ? "passed" : "FAILED") + ": tolerance " + sci(tolerance));
  return ok;
}

template double measure_p2p_seconds_per_byte<float>(nbody::ScheduleContext&, std::size_t);
template double measure_p2p_seconds_per_byte<double>(nbody::ScheduleContext&, std::size_t);
template bool print_verification<float>(const AttentionOutputs<float>&, const AttentionOutputs<float>&, double, MPI_Comm);
template bool print_verification<double>(const AttentionOutputs<double>&, const AttentionOutputs<double>&, double,
                                         MPI_Comm);

}  // namespace wf::problems

#include "perf/plan_report.hpp"

#include <sstream>

#include "perf/report.hpp"

namespace wf::perf {
namespace {

constexpr double gigabyte = 1e9;

std::vector<std::string> cells(std::size_t index, const PlanPrediction& p) {
  return {std::to_string(index + 1),
          describe_plan(p.plan),
          fixed(p.step_seconds, 6),
          fixed(p.tokens_per_second, 1),
          fixed(p.exposed_seconds(), 6),
          fixed(p.attention.bytes[0] / gigabyte, 4),
          fixed(p.attention.bytes[1] / gigabyte, 4),
          fixed(p.memory_gib, 2),
          p.fits ? "yes" : "NO"};
}

const std::vector<std::string>& header() {
  static const std::vector<std::string> names = {
      "rank", "plan", "step_s", "tokens_per_s", "exposed_comm_s", "same_node_GB", "other_node_GB", "memory_GiB", "fits"};
  return names;
}

}  // namespace

std::string plan_table(const std::vector<PlanPrediction>& ranked) {
  Table table(header());
  for (std::size_t i = 0; i < ranked.size(); ++i) table.add_row(cells(i, ranked[i]));
  return table.str();
}

std::string plan_csv(const std::vector<PlanPrediction>& ranked) {
  std::ostringstream out;
  const auto line = [&](std::vector<std::string> row, std::vector<std::string> more) {
    row.insert(row.end(), more.begin(), more.end());
    for (std::size_t c = 0; c < row.size(); ++c) out << (c ? "," : "") << row[c];
    out << '\n';
  };
  // The parts of the step too, for scripts that swap in a simulated layer time.
  line(header(), {"attention_forward_s", "attention_backward_s", "dense_s", "allreduce_s", "schedule", "team_size",
                  "arrangement", "rotate"});
  for (std::size_t i = 0; i < ranked.size(); ++i) {
    const PlanPrediction& p = ranked[i];
    line(cells(i, p), {fixed(p.attention.forward, 9), fixed(p.attention.backward, 9), fixed(p.dense_seconds, 9),
                       fixed(p.allreduce_seconds, 9), name_of(p.plan.schedule), std::to_string(p.plan.team_size),
                       name_of(p.plan.arrangement), name_of(p.plan.rotate)});
  }
  return out.str();
}

}  // namespace wf::perf

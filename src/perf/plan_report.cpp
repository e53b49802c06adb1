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
  const auto line = [&](const std::vector<std::string>& row) {
    for (std::size_t c = 0; c < row.size(); ++c) out << (c ? "," : "") << row[c];
    out << '\n';
  };
  line(header());
  for (std::size_t i = 0; i < ranked.size(); ++i) line(cells(i, ranked[i]));
  return out.str();
}

}  // namespace wf::perf

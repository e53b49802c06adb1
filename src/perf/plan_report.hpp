// The planner's ranked plans as text: an aligned table for people, CSV for scripts.
#pragma once

#include <string>
#include <vector>

#include "perf/planner.hpp"

namespace wf::perf {

/// \brief The ranked plans, one row each: plan, predicted step time, tokens/s, exposed
/// communication, bytes per rank and layer per link class, memory per device, fits.
std::string plan_table(const std::vector<PlanPrediction>& ranked);

/// \brief The same as CSV (one header line, one line per plan, rank order).
std::string plan_csv(const std::vector<PlanPrediction>& ranked);

}  // namespace wf::perf

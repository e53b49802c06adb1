#include "perf/shared_port.hpp"

#include <algorithm>
#include <limits>

namespace wf::perf {

int SharedPort::post(double time, double bytes) {
  while (now_ < time) now_ = step_towards(time);
  flows_.push_back({time + latency_, bytes});
  if (bytes <= 0.0) flows_.back().end = time + latency_;
  return static_cast<int>(flows_.size()) - 1;
}

double SharedPort::finish(int id) {
  while (flows_[static_cast<std::size_t>(id)].end < 0.0) now_ = step_towards(std::numeric_limits<double>::infinity());
  return flows_[static_cast<std::size_t>(id)].end;
}

double SharedPort::step_towards(double time) {
  int moving = 0;
  double next = time;
  for (const Flow& f : flows_) {
    if (f.end >= 0.0) continue;
    if (f.moving_from > now_) next = std::min(next, f.moving_from);  // a flow starts moving
    else ++moving;
  }
  const double share = moving ? rate_ / moving : 0.0;
  for (const Flow& f : flows_)
    if (f.end < 0.0 && f.moving_from <= now_) next = std::min(next, now_ + f.remaining / share);  // one arrives
  if (next == std::numeric_limits<double>::infinity()) return now_;  // nothing in flight
  for (Flow& f : flows_) {
    if (f.end >= 0.0 || f.moving_from > now_) continue;
    f.remaining -= share * (next - now_);
    if (f.remaining <= 1e-9 * share) {  // arrived (within rounding)
      f.remaining = 0.0;
      f.end = next;
    }
  }
  return next;
}

}  // namespace wf::perf

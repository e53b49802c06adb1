// The one clock every timer and trace reads: the steady clock, or SimGrid's simulated clock in
// the SimGrid build (so the program's timers report simulated seconds unchanged).
#pragma once

namespace wf {

/// \brief Seconds since an arbitrary epoch (steady clock; simulated time under SimGrid SMPI).
double clock_seconds();

}  // namespace wf

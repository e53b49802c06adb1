// The roll call's reasoning, apart from its MPI mechanics (watchdog.cpp): what each rank says
// about itself, and the one line that names the ranks that stalled.
#pragma once

#include <string>
#include <vector>

namespace wf::comm {

/// \brief Where one rank is, as it answers a roll call.
struct RankPosition {
  enum Kind : char { computing = 'C', waiting = 'W', failing = 'F' };
  Kind kind = computing;
  std::string text;      ///< the operation waited in (or last completed), or the failure message
  double seconds = 0.0;  ///< how long it has waited, or since the last operation ended

  /// \brief One line, e.g. "W 4.10 team all-gather Q" (what travels in the reply).
  std::string encode() const;
  /// \brief The inverse of encode (a garbled reply becomes a computing rank with the raw text).
  static RankPosition decode(const std::string& line);
  /// \brief For humans: "waiting in 'x' for 4.1 s", "computing (last: 'x' 0.3 s ago)", ...
  std::string describe() const;
};

/// \brief One rank's answer, or none (`responded` false: stopped, hung or gone).
struct RollCallReply {
  bool responded = false;
  RankPosition position;
};

/// \brief The one line that ends the job. `me` timed out waiting for `what` (which names the
/// operation and the deadline); replies[r] is rank r's answer (replies[me] is me). Stopped ranks
/// come first, then a rank's own error, then the ranks that never arrived in a wait.
std::string compose_verdict(int me, const std::string& what, double roll_call_seconds,
                            const std::vector<RollCallReply>& replies);

/// \brief The rank that prints the verdict: the lowest rank that answered (or `me`).
int choose_reporter(int me, const std::vector<RollCallReply>& replies);

/// \brief Seconds with one decimal ("4.0"), as every deadline message writes them.
std::string seconds_text(double seconds);

/// \brief "rank 3", "ranks 1, 3 and 5" (at most 16 named, then how many more).
std::string rank_list(const std::vector<int>& ranks);

}  // namespace wf::comm
